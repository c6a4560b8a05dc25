"""The `okr-sync` command: each command builds objects, calls one library function and maps errors.

Exit codes: 0 all clean; 1 validation errors were found; 2 a unit could not be read or written,
or the command itself could not run (bad path, bad config, bad option); 3 another sync is running.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .cli_common import _guarded, as_of_option, json_option
from .errors import ConfigError

if TYPE_CHECKING:
    from .report import SyncReport

# The demo company's cycle is 2026-Q4; scoring it mid-cycle keeps its statuses meaningful in any year.
DEMO_AS_OF = dt.date(2026, 11, 15)
EXIT_CODES = """\b
Exit codes: 0 clean · 1 validation errors found · 2 a unit could not be read or
written, or bad input · 3 another sync is running."""


cycle_option = click.option(
    "--cycle", metavar="CYCLE",
    help="Work on this cycle, e.g. 2026-Q4 (default: the one whose dates hold the as-of day).")


@click.group(epilog=EXIT_CODES)
@click.version_option(package_name="okr-sync")
def cli() -> None:
    """Turn OKR spreadsheets (Excel or Google Sheets) into a working OKR system.

    \b
    Start here:  okr-sync demo ./okr-demo
    """
    from . import errorlog

    errorlog.install()  # warnings and tracebacks go to the error log, never to the terminal


def _print_findings(report: SyncReport, limit: int | None = None) -> None:
    for unit in report.units:
        if unit.error:
            click.secho(f"FAILED  {unit.error}", fg="red")
    # A failed unit is its FAILED line above; its other findings follow with everyone else's.
    findings = sorted((f for u in report.units for f in u.findings),
                      key=lambda f: (f.severity != "error", str(f.place)))
    for item in findings[:limit]:
        colour = "red" if item.severity == "error" else "yellow"
        label = click.style(f"{item.severity.upper():7} ", fg=colour)
        click.echo(f"{label}[{item.rule}] {item.place}: {item.message}")
    if limit is not None and len(findings) > limit:
        click.echo(f"… and {len(findings) - limit} more (see the Issues sheet of the rollup)")


def _summary(report: SyncReport, ending: str | None = None) -> None:
    units = len(report.units)
    errors = report.error_count
    warnings = report.warning_count
    score = report.company_score
    coverage = report.coverage
    from .core.messages import coverage_text

    measured = f" ({coverage_text(coverage.measured, coverage.total, 'en')})" if coverage else ""
    for note in report.notes:
        click.secho(f"NOTE    {note}", fg="yellow")
    if report.cycle is not None and len(report.cycles) > 1:
        others = ", ".join(c.name for c in report.cycles if c.name != report.cycle.name)
        click.echo(f"cycle {report.cycle.name}" + (" (closed)" if report.cycle_closed else "")
                   + f" · set aside: {others} (--cycle works on another)")
    # A dry run or a validation writes nothing: its last line says so instead of "0 cell(s) written".
    written = "" if ending else f"{report.cells_written} cell(s) written · "
    click.echo(
        f"{units} unit(s) · {errors} error(s) · {warnings} warning(s) · "
        f"{written}company score "
        f"{'—' if score is None else f'{score:.2f}'}{measured} · as of {report.as_of.isoformat()}"
    )
    if report.skipped:
        click.echo(f"skipped {len(report.skipped)} workbook(s) with no Settings or OKRs sheet (not units): "
                   + ", ".join(report.skipped))
    if report.rollup_error:
        click.secho(f"FAILED  rollup: {report.rollup_error}", fg="red")
    elif report.rollup_location:
        state = "written" if report.rollup_written else "unchanged"
        click.echo(f"rollup: {report.rollup_location} ({state})")
    if ending:
        click.echo(ending)


def _emit(report: SyncReport, as_json: bool, ending: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_findings(report)
        _summary(report, ending)


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default="okr-demo")
@as_of_option
@_guarded
def demo(folder: Path, as_of: dt.date | None) -> None:
    """Write a demo company into FOLDER, sync it and show where to look.

    \b
    Example:  okr-sync demo ./okr-demo
    """
    from . import demo as demo_company
    from . import operations
    from .workspace import Workspace

    if folder.exists() and any(folder.iterdir()):
        raise ConfigError(f"{folder}: the folder is not empty; give a new or empty folder for the demo.")
    paths = demo_company.write_demo_company(folder)
    config = demo_company.write_demo_config(folder)
    previous = demo_company.PREVIOUS_CYCLE
    demo_company.write_previous_cycle(folder)
    click.echo(f"Wrote a demo company of {len(paths)} unit workbooks into {folder}/:")
    for path in paths:
        click.echo(f"  {path.name}")
    click.echo(f"  {config.name} (its people list is the People sheet of co.xlsx)")
    click.echo(f"and its previous quarter, {previous}, into {folder}/{previous}/ (closed: final grades)")
    # The previous quarter is closed first, so the dashboard shows a trend across cycles.
    closing = operations.close_cycle(Workspace.from_path(folder, cycle=previous), as_of or DEMO_AS_OF)
    report = operations.sync(Workspace.from_path(folder), as_of=as_of or DEMO_AS_OF)
    _print_findings(report)
    _summary(report)
    click.echo("")
    click.echo("Where to look:")
    click.echo(f"  • Scores, status and checks were written into each unit's OKRs sheet, e.g. {paths[0]}")
    sheets = ", ".join(report.rollup.sheet_names) if report.rollup else ""
    click.echo(f"  • The company view: {report.rollup_location} ({sheets})")
    click.echo(f"  • Last quarter's final grades: {closing.rollup_location}, and a Retrospective sheet in each "
               f"workbook of {folder}/{previous}/ (docs/cycles.md: the quarterly rhythm)")
    click.echo(f"  • The deliberate mistake: {demo_company.DEMO_MISTAKE}")
    # The same day as the demo's own sync, so the follow-up shows the same statuses.
    click.echo(f"  • Fix it, then run:  okr-sync sync {folder} --as-of {report.as_of.isoformat()}")
    week_later = report.as_of + dt.timedelta(days=7)
    click.echo(f"  • A week without check-ins:  okr-sync remind {folder} --as-of {week_later.isoformat()} --dry-run")
    click.echo(f"  • The leaders' digest:  okr-sync digest {folder} --as-of {report.as_of.isoformat()} --dry-run")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@as_of_option
@cycle_option
@json_option
@_guarded
def validate(paths: tuple[Path, ...], as_of: dt.date | None, cycle: str | None, as_json: bool) -> None:
    """Check workbooks, folders or an okr-sync.toml and print every finding; writes nothing.

    A lone workbook is checked against the other workbooks of its folder, so
    alignment to the company's objectives can be checked too.

    \b
    Example:  okr-sync validate okrs/ marketing.xlsx
    """
    from . import operations

    report = operations.validate(list(paths), as_of, cycle)
    _emit(report, as_json, ending="nothing written")
    sys.exit(report.exit_code)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--rollup", "rollup", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the company rollup (default PATH/okr-rollup.xlsx; okr-rollup-CYCLE.xlsx "
                   "once PATH holds several cycles).")
@as_of_option
@cycle_option
@click.option("--dry-run", is_flag=True, help="Print each cell that would change (old → new); write nothing.")
@json_option
@_guarded
def sync(path: Path, rollup: Path | None, as_of: dt.date | None, cycle: str | None, dry_run: bool,
         as_json: bool) -> None:
    """Validate, score, write back into every unit workbook and write the company rollup.

    PATH is a folder of unit workbooks, one workbook, or an okr-sync.toml config.

    \b
    Examples:  okr-sync sync okrs/
               okr-sync sync okrs/ --as-of 2026-11-15 --dry-run
               okr-sync sync okr-sync.toml
    """
    from . import operations
    from .workspace import Workspace

    report = operations.sync(Workspace.from_path(path, rollup, cycle=cycle), as_of=as_of, dry_run=dry_run)
    run_id = report.run_id
    ending = None
    if dry_run and not as_json:
        for unit in report.units:
            for change in unit.changes.updates:
                what = f" ({change.row_id} {change.column})" if change.row_id and change.column else \
                    f" ({change.column})" if change.column else ""
                click.echo(f"{unit.source} › {change.sheet} › {change.a1}{what}: "
                           f"{_show(change.old)} → {_show(change.new)}")
            for owned in unit.changes.appends:
                if owned.rows:
                    click.echo(f"{unit.source} › {owned.name}: +{_count(len(owned.rows), 'row')}")
        ending = _would_write(report)
    _emit(report, as_json, ending=ending)
    if run_id is not None and not as_json and not report.cycle_closed:
        click.echo(f"run {run_id} recorded; undo it with: okr-sync undo {run_id} {path}")
    sys.exit(report.exit_code)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _would_write(report: SyncReport) -> str:
    """A dry run's last line: "would write 21 cells in 3 workbooks"."""
    cells = sum(len(u.changes.updates) for u in report.units)
    rows = sum(len(a.rows) for u in report.units for a in u.changes.appends)
    books = sum(1 for u in report.units if not u.changes.empty)
    line = f"would write {_count(cells, 'cell')} in {_count(books, 'workbook')}"
    if rows:
        line += f" and append {_count(rows, 'History row')}"
    return line + " (dry run: nothing written)"


def _show(value: object) -> str:
    if value is None or value == "":
        return "(blank)"
    text = str(value).replace("\n", " ⏎ ")
    return text if len(text) <= 60 else text[:57] + "…"


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The rollup workbook to write ({cycle} in the name is replaced by the cycle).")
@as_of_option
@cycle_option
@json_option
@_guarded
def rollup(path: Path, output: Path, as_of: dt.date | None, cycle: str | None, as_json: bool) -> None:
    """Consolidate every unit under PATH into one company workbook; unit workbooks are not touched.

    \b
    Example:  okr-sync rollup departments/ -o company.xlsx
    """
    from . import operations
    from .workspace import Workspace

    workspace = Workspace.from_path(path, output, cycle=cycle)
    if sys.stderr.isatty() and not as_json:
        with click.progressbar(length=1, label="Reading units", file=sys.stderr) as bar:

            def progress(done: int, total: int, _name: str) -> None:
                bar.length = total
                bar.update(done - bar.pos)

            report = operations.rollup(workspace, as_of, progress=progress)
    else:
        report = operations.rollup(workspace, as_of)
    _emit(report, as_json)
    sys.exit(report.exit_code)


@cli.command()
@click.argument("target", required=False)
@click.option("--level", type=click.Choice(["company", "department", "team", "individual"]), required=True)
@click.option("--code", required=True, help="The unit's short code, e.g. MKT-SEO.")
@click.option("--parent", help="Code of the unit above (blank for the company).")
@click.option("--name", help="Display name of the unit.")
@click.option("--owner", help="Who owns these OKRs.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@click.option("--cycle", help="2026-Q4, 2026-H1 or 2026 (default: the current quarter).")
@click.option("--google", is_flag=True, help="Create a Google spreadsheet instead of a file.")
@click.option("--share", multiple=True, metavar="EMAIL", help="With --google: share with this person.")
@click.option("--credentials", type=click.Path(dir_okay=False), help="With --google: key file.")
@click.option("--sharepoint", "sharepoint", metavar="URL",
              help="Create the workbook in this SharePoint/OneDrive folder (or as this .xlsx link).")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path), default="okr-sync.toml",
              show_default=True, help="With --sharepoint: the okr-sync.toml holding [microsoft].")
@_guarded
def new(target: str | None, level: str, code: str, parent: str | None, name: str | None, owner: str | None,
        lang: str, cycle: str | None, google: bool, share: tuple[str, ...], credentials: str | None,
        sharepoint: str | None, config: Path) -> None:
    """Write a ready-to-fill OKR workbook (TARGET.xlsx) or, with --google, a spreadsheet, or with
    --sharepoint, a workbook in SharePoint/OneDrive.

    \b
    Examples:  okr-sync new --level team --code MKT-SEO --parent MKT mkt-seo.xlsx
               okr-sync new --level department --code SALES --parent CO --lang zh sales.xlsx
               okr-sync new --google --level team --code OPS --parent CO --share lee@example.com
               okr-sync new --sharepoint "https://contoso.sharepoint.com/sites/HR/Shared Documents/OKRs" \\
                   --level team --code HR-TA --parent HR
    """
    options: dict[str, Any] = dict(level=level, code=code, parent=parent, name=name, owner=owner,
                                   lang=lang, cycle=cycle)
    if sharepoint:
        from .backends.microsoft import create_workbook

        settings, home = _microsoft_settings(config)
        url = create_workbook(sharepoint, settings, home, **options)
        click.echo(f"Created {url}")
        return
    if google:
        from .backends.google import create_spreadsheet

        url = create_spreadsheet(**options, share=share, credentials=credentials)
        click.echo(f"Created {url}")
        return
    if not target:
        raise ConfigError("give the file to write, e.g. okr-sync new --level team --code OPS ops.xlsx")
    from .templates import write_template

    path = write_template(Path(target), **options)
    click.echo(f"Wrote {path}: fill in the OKRs sheet, then run okr-sync validate {path}")


@cli.group(hidden=True)
def templates() -> None:
    """Maintain the files the repository ships in templates/ (for developers)."""


@templates.command("build")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default="templates")
@click.option("--check", is_flag=True, help="Only compare the folder with what the generator makes; exit 1 on drift.")
@_guarded
def templates_build(folder: Path, check: bool) -> None:
    """Regenerate the shipped templates in FOLDER (default: templates), byte for byte, or --check them."""
    from .shipped import check_shipped, write_shipped

    if not check:
        for path in write_shipped(folder):
            click.echo(path)
        return
    problems = check_shipped(folder)
    for line in problems:
        click.echo(line, err=True)
    if problems:
        click.echo(f"Run: okr-sync templates build {folder}", err=True)
        sys.exit(1)


@cli.command()
@click.argument("args", nargs=-1, metavar="[RUN] [PATH]")
@click.option("--cycle", metavar="CYCLE", help="Undo the newest run of this cycle (default: the newest run).")
@_guarded
def undo(args: tuple[str, ...], cycle: str | None) -> None:
    """Put back the cells a run wrote (default: the last run), unless a person has changed them since.

    PATH (default: the current folder) is the folder or okr-sync.toml the run synced.

    \b
    Examples:  okr-sync undo okrs/
               okr-sync undo 12 okrs/
    """
    from . import operations
    from .workspace import Workspace

    run_id: int | None = None
    rest = list(args)
    if rest and rest[0].isdigit():
        run_id = int(rest.pop(0))
    if len(rest) > 1:
        raise ConfigError("give at most a run number and one PATH, e.g. okr-sync undo 12 okrs/")
    workspace = Workspace.from_path(Path(rest[0]) if rest else Path("."))
    result = operations.undo(workspace, run_id, cycle=operations.cycle_span(workspace, cycle))
    click.echo(str(result))


@cli.command(name="log")
@click.argument("path", type=click.Path(path_type=Path), default=".")
@click.option("-n", "--limit", default=20, show_default=True, help="How many runs to list.")
@click.option("--cycle", metavar="CYCLE", help="Only the runs of this cycle (default: every run).")
@json_option
@_guarded
def log_command(path: Path, limit: int, cycle: str | None, as_json: bool) -> None:
    """List recent sync runs: when, who started them, what they wrote and found.

    \b
    Example:  okr-sync log okrs/
    """
    from . import operations
    from .workspace import Workspace

    workspace = Workspace.from_path(path)
    runs = operations.log(workspace, limit=limit, cycle=operations.cycle_span(workspace, cycle))
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in runs], ensure_ascii=False, indent=2))
        return
    if not runs:
        click.echo("no runs yet")
    for run in runs:
        click.echo(str(run))
    from .operations.notify import pending_failures

    for failed in pending_failures(Workspace.from_path(path)):
        click.secho(f"NOT SENT {failed['kind']} {failed['period']} to {failed['recipient']} after "
                    f"{failed['attempts']} attempt(s): {failed['error']} — retried on the next run", fg="red")


@cli.command(name="close-cycle")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--cycle", metavar="CYCLE",
              help="The cycle to close (default: the newest open cycle that has ended, else the current one).")
@click.option("--reopen", is_flag=True, help="Open a closed cycle again (default: the newest closed one).")
@as_of_option
@json_option
@_guarded
def close_cycle(path: Path, cycle: str | None, reopen: bool, as_of: dt.date | None, as_json: bool) -> None:
    """Grade a cycle as of its end, write a Retrospective sheet into each unit and freeze it.

    Later syncs of a closed cycle write nothing and say so; --reopen undoes that.

    \b
    Examples:  okr-sync close-cycle okrs/
               okr-sync close-cycle --cycle 2026-Q4 okrs/
               okr-sync close-cycle --reopen --cycle 2026-Q4 okrs/
    """
    from . import operations
    from .workspace import Workspace

    workspace = Workspace.from_path(path, cycle=cycle)
    if reopen:
        message = operations.reopen_cycle(workspace)
        click.echo(json.dumps({"kind": "reopen", "message": message}) if as_json else message)
        return
    report = operations.close_cycle(workspace, as_of)
    _emit(report, as_json)
    sys.exit(report.exit_code if report.exit_code == 2 else 0)


@cli.command(name="new-cycle")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--from", "source", required=True, metavar="CYCLE", help="The cycle to carry from, e.g. 2026-Q4.")
@click.option("--to", "target", required=True, metavar="CYCLE", help="The new cycle, e.g. 2027-Q1.")
@click.option("--share", multiple=True, metavar="EMAIL", help="Google: share each new spreadsheet with this person.")
@json_option
@_guarded
def new_cycle(path: Path, source: str, target: str, share: tuple[str, ...], as_json: bool) -> None:
    """Write each unit's workbook for the next cycle, carrying over the rows marked in its Carry over column.

    New workbooks go beside the old ones (hr.xlsx -> hr-2027-Q1.xlsx); a Google unit gets a new spreadsheet.
    Nothing is ever overwritten.

    \b
    Example:  okr-sync new-cycle --from 2026-Q4 --to 2027-Q1 okrs/
    """
    from . import operations
    from .workspace import Workspace

    result = operations.new_cycle(Workspace.from_path(path), source, target, share=share)
    click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2) if as_json else str(result))


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, help="Port (default 8080; 8443 with --cert).")
@click.option("--every", metavar="INTERVAL", help="Also sync on a schedule inside the server, e.g. 30m.")
@click.option("--cert", type=click.Path(path_type=Path), help="PEM certificate: serve HTTPS (the add-in).")
@click.option("--key", type=click.Path(path_type=Path), help="PEM private key of --cert.")
@click.option("--cycle", metavar="CYCLE",
              help="Pin the cycle the dashboard opens on and the API and --every sync (default: by date).")
@_guarded
def serve(config: Path, host: str, port: int | None, every: str | None, cert: Path | None, key: Path | None,
          cycle: str | None) -> None:
    """Serve the dashboard, the JSON API and the Excel add-in (waitress; HTTPS with --cert and --key).

    \b
    Example:  OKR_SYNC_TOKENS=<token of 32+ characters> okr-sync serve okr-sync.toml --every 30m
              okr-sync serve ./okr --cert localhost.pem --key localhost-key.pem   (https://localhost:8443)
    """
    from . import extras

    extras.require("server", "okr-sync serve")
    if (cert is None) != (key is None):
        raise ConfigError("give both --cert and --key to serve HTTPS (see docs/excel-addin.md to make them).")
    if cert is not None and key is not None:
        for path in (cert, key):
            if not path.is_file():
                raise ConfigError(f"{path}: no such file; see docs/excel-addin.md to make a certificate.")
        from sheets_sync.server.addin import serve_https

        serve_https(str(config), str(cert), str(key), host, port or 8443)
        return
    from sheets_sync.server.serve import serve as run_server

    run_server(config, host, port or 8080, every=every, cycle=cycle)


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--every", metavar="INTERVAL", help="How often to sync: 90s, 30m, 1h.")
@_guarded
def schedule(config: Path, every: str | None) -> None:
    """Sync on a schedule, and send the [notify] reminders and digest at their times, until stopped.

    SIGTERM finishes the current run first.

    \b
    Example:  okr-sync schedule --every 30m okr-sync.toml
    """
    from . import extras

    extras.require("server", "okr-sync schedule")
    from sheets_sync.server.scheduler import run_forever

    run_forever(config, every)


def _microsoft_settings(config: Path) -> tuple[Any, Path]:
    """The [microsoft] table of an okr-sync.toml, and the folder it lives in."""
    import tomllib

    from .backends.microsoft_client import MicrosoftSettings

    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{config}: no such config file; give the okr-sync.toml with a [microsoft] table "
                          "(--config)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config}: not valid TOML ({exc}). Fix the file and run again.") from None
    home = config.resolve().parent
    return MicrosoftSettings.from_config(data.get("microsoft"), home, str(config)), home


@cli.command()
@click.argument("service", type=click.Choice(["microsoft"]))
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path), default="okr-sync.toml")
@_guarded
def login(service: str, config: Path) -> None:
    """Sign the service account in once (Microsoft 365 device code); later syncs refresh silently.

    \b
    Example:  okr-sync login microsoft okr-sync.toml
    """
    settings, _ = _microsoft_settings(config)
    if settings.app_only:
        raise ConfigError(f"{config}: [microsoft] is in app-only mode (certificate or client secret), which "
                          "signs in by itself; `login` is for the service-account mode")
    who = settings.client().auth.login(click.echo)
    click.echo(f"Signed in as {who}; the token cache is {settings.token_cache} (readable only by you). "
               "Syncs, the scheduler and the server now refresh the sign-in by themselves.")


@cli.group()
def excel() -> None:
    """Desktop Excel (xlwings) buttons: Validate, Score cycle, Roll up."""


@excel.command()
@click.option("--dir", "target_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to put the add-in files (default: a folder in your home).")
@_guarded
def install(target_dir: Path | None) -> None:
    """Install the OKR buttons for desktop Excel (needs xlwings and a local Python).

    \b
    Example:  okr-sync excel install
    """
    from . import extras

    extras.require("excel", "okr-sync excel install")
    from .excel import install as install_addin

    for path in install_addin(target_dir):
        click.echo(f"installed {path}")


from .cli_weekly import digest, remind  # noqa: E402 - the weekly loop's commands, kept in their own module

cli.add_command(remind)
cli.add_command(digest)


def main() -> None:
    """Console entry point."""
    cli(prog_name="okr-sync")
