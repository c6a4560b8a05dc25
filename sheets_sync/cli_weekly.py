"""The weekly loop's commands: `okr-sync remind` and `okr-sync digest` (cli.py adds them to the main group)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .cli_common import _guarded, as_of_option, json_option

if TYPE_CHECKING:
    from .operations.notify import NotifyResult


def _show(result: NotifyResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    for message in result.messages if result.dry_run else []:
        click.secho(f"── {message.channel} to {message.recipient} ── {message.subject}", bold=True)
        click.echo(message.payload.get("text") or "\n".join(f"- {line}" for line in message.payload.get("lines", [])))
    for line in result.unreachable:
        click.secho(f"NOT SENT {line}", fg="yellow")
    if result.dry_run:
        click.echo(f"dry run: {len(result.messages)} message(s) for {result.period} shown, none sent")
        return
    for line in result.failed:
        click.secho(f"FAILED  {line} — kept, and retried on the next run", fg="red")
    click.echo(f"{result.kind} {result.period}: {result.queued} new message(s), {result.already_sent} already sent "
               f"before, {result.sent} delivered now, {len(result.failed)} failed")


@click.command()
@click.argument("config", type=click.Path(path_type=Path), default=".")
@as_of_option
@click.option("--dry-run", is_flag=True, help="Print the reminders instead of sending them.")
@json_option
@_guarded
def remind(config: Path, as_of: object, dry_run: bool, as_json: bool) -> None:
    """Remind each owner of their key results with no check-in for a week (final grades in a cycle's last week).

    \b
    Example:  okr-sync remind okr-sync.toml --dry-run
    """
    from .operations import notify
    from .workspace import Workspace

    _show(notify.remind(Workspace.from_path(config), as_of, dry_run=dry_run), as_json)  # type: ignore[arg-type]


@click.command()
@click.argument("config", type=click.Path(path_type=Path), default=".")
@as_of_option
@click.option("--since", default="7d", show_default=True, help="The span the digest covers: 7d, 2w.")
@click.option("--to", "to", multiple=True, metavar="EMAIL", help="Send to this address (repeatable).")
@click.option("--dry-run", is_flag=True, help="Print the digest instead of sending it.")
@json_option
@_guarded
def digest(config: Path, as_of: object, since: str, to: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Send leaders the week's digest: scores and changes, off track, blockers, missing check-ins, comments.

    \b
    Example:  okr-sync digest okr-sync.toml --to ceo@example.com --dry-run
    """
    from .operations import notify
    from .workspace import Workspace

    result = notify.digest(Workspace.from_path(config), as_of, since=since, to=list(to),  # type: ignore[arg-type]
                           dry_run=dry_run)
    _show(result, as_json)
