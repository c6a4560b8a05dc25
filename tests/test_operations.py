"""The operations layer: every front end goes through it, every write is locked and logged, one report form."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from sheets_sync import locking, operations
from sheets_sync.cli import cli
from sheets_sync.runlog import store
from sheets_sync.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "report.schema.json").read_text(encoding="utf-8"))
TOKEN = "t" * 40
AS_OF = "2026-11-15"


def validate_report(body: dict[str, Any]) -> None:
    jsonschema.validate(body, SCHEMA)


def validate_status(body: dict[str, Any]) -> None:
    jsonschema.validate(body, {"$defs": SCHEMA["$defs"], "$ref": "#/$defs/status"})


def test_rollup_while_a_sync_holds_the_lock_exits_3_and_writes_nothing(company: Path) -> None:
    target = company / "okr-rollup.xlsx"
    with locking.hold(Workspace.from_path(company).lock_homes, who="schedule"):
        result = CliRunner().invoke(cli, ["rollup", str(company), "-o", str(target), "--as-of", AS_OF])
    assert result.exit_code == 3, result.output
    assert "already running" in result.output and not target.exists()


def test_every_operation_that_writes_shows_in_the_log(company: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["sync", str(company), "--as-of", AS_OF]).exit_code == 1
    out = company / "hr-view.xlsx"
    assert runner.invoke(cli, ["rollup", str(company), "-o", str(out), "--as-of", AS_OF]).exit_code == 1
    assert runner.invoke(cli, ["undo", str(company)]).exit_code == 0
    from sheets_sync.backends.xlsx import XlsxBackend

    raw = XlsxBackend(company).read(str(company / "mkt.xlsx"))
    operations.score_workbook(raw, None, workspace=Workspace.from_path(company))
    kinds = [r.kind for r in operations.log(Workspace.from_path(company))]
    assert kinds == ["addin", "undo", "rollup", "sync"]
    listed = runner.invoke(cli, ["log", str(company)]).output
    for kind in ("sync", "rollup", "undo", "addin"):
        assert f" {kind} " in listed


def test_a_sync_and_the_same_folder_through_a_config_share_one_lock(company: Path) -> None:
    config = company.parent / "okr-sync.toml"
    config.write_text('[[sources]]\npath = "okrs"\n', encoding="utf-8")
    direct, configured = Workspace.from_path(company), Workspace.from_path(config)
    assert direct.state_home == configured.state_home
    with locking.hold(direct.lock_homes, who="cli"):
        result = CliRunner().invoke(cli, ["sync", str(config), "--as-of", AS_OF])
    assert result.exit_code == 3


def broken_company(company: Path) -> Path:
    (company / "eng.xlsx").write_bytes(b"this is not a workbook")
    return company


def test_one_run_with_a_broken_workbook_agrees_everywhere(company: Path) -> None:
    from sheets_sync.server import create_app

    broken_company(company)
    cli_body = json.loads(CliRunner().invoke(cli, ["sync", str(company), "--as-of", AS_OF, "--json"]).output)
    validate_report(cli_body)
    # The same workbooks again through the API, from the same starting point.
    second = company.parent / "again"
    shutil.copytree(company, second, ignore=shutil.ignore_patterns(".okr-sync", "okr-rollup.xlsx"))
    app = create_app({"TESTING": True, "WORKSPACE": str(second), "TOKENS": [TOKEN]})
    client = app.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    api_body = client.post("/api/sync", headers=auth, json={"as_of": AS_OF}).json
    validate_report(api_body)
    status = client.get("/api/status", headers=auth).json
    validate_status(status)
    summary = operations.SUMMARY_FIELDS
    assert {k: api_body[k] for k in summary} == {k: status[k] for k in summary}
    for key in ("unit_count", "errors", "warnings", "exit_code", "company_score", "coverage", "status"):
        assert cli_body[key] == api_body[key], key
    assert [f["rule"] for f in cli_body["findings"]] == [f["rule"] for f in api_body["findings"]]
    assert api_body["errors"] == sum(1 for f in api_body["findings"] if f["severity"] == "error")
    assert [u["source"] for u in api_body["failed_units"]] == ["eng.xlsx"]
    assert api_body["failed_units"][0]["error"] and cli_body["failed_units"] == api_body["failed_units"]
    # The dashboard shows the same counts.
    page = client.get("/", headers=auth).get_data(as_text=True)
    assert "eng.xlsx" in page and f"{api_body['company_score']:.2f}" in page


def test_no_answer_carries_an_absolute_path(company: Path) -> None:
    body = json.loads(CliRunner().invoke(cli, ["sync", str(company), "--as-of", AS_OF, "--json"]).output)
    assert all(not u["path"].startswith("/") for u in body["units"])


FRONT_ENDS = ["sheets_sync/cli.py", "sheets_sync/excel.py", *sorted(str(p.relative_to(ROOT))
                                                                   for p in (ROOT / "server").glob("*.py"))]


@pytest.mark.parametrize("path", FRONT_ENDS)
def test_front_ends_reach_the_engine_only_through_operations(path: str) -> None:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    forbidden = {"engine", "runlog", "store", "locking"}
    allowed_locking = {"LockHolder", "current_holder", "wait_idle"}  # reading who holds it, never taking it
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = (node.module or "").split(".")
            names = {a.name for a in node.names}
            assert "engine" not in module and "engine" not in names, f"{path} imports the engine"
            assert "store" not in module and "runner" not in names and "state" not in names, path
            if "locking" in module:
                assert names <= allowed_locking, f"{path} takes the lock itself"
        elif isinstance(node, ast.Import):
            assert not any(a.name.split(".")[-1] in forbidden for a in node.names), path


def test_everything_imports_and_syncs_without_fcntl(company: Path) -> None:
    script = textwrap.dedent(f"""
        import sys, pkgutil, importlib, datetime
        sys.modules["fcntl"] = None  # as on Windows
        import sheets_sync
        for info in pkgutil.walk_packages(sheets_sync.__path__, "sheets_sync."):
            if info.name.endswith("__main__"):
                continue
            importlib.import_module(info.name)
        from sheets_sync import operations
        from sheets_sync.workspace import Workspace
        import filelock
        assert filelock.FileLock is filelock.SoftFileLock
        report = operations.sync(Workspace.from_path({str(company)!r}), datetime.date(2026, 11, 15))
        assert report.cells_written > 0 and report.run_id == 1, report.to_json()
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_a_soft_lock_left_by_a_killed_process_is_recovered(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import os, sys
        sys.modules["fcntl"] = None
        from sheets_sync import locking
        with locking.hold([{str(tmp_path)!r}], who="doomed"):
            os._exit(9)  # killed while holding it: the lock file and the note stay behind
    """)
    subprocess.run([sys.executable, "-W", "ignore", "-c", script], timeout=60)
    assert (tmp_path / ".okr-sync" / "sync.lock").exists()
    script = textwrap.dedent(f"""
        import sys
        sys.modules["fcntl"] = None
        from sheets_sync import locking
        with locking.hold([{str(tmp_path)!r}], who="next"):
            print("recovered")
    """)
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "recovered", result.stderr


BLOCK = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}")
        return None
sys.meta_path.insert(0, Block())
import importlib.util
_find = importlib.util.find_spec
def find_spec(name, package=None):
    if name.split(".")[0] in {blocked!r}:
        return None
    return _find(name, package)
importlib.util.find_spec = find_spec
from sheets_sync.cli import main
sys.argv = ["okr-sync", *{argv!r}]
main()
"""


@pytest.mark.parametrize(("blocked", "argv", "extra"), [
    ({"flask", "waitress"}, ["serve", "{folder}"], "server"),
    ({"xlwings"}, ["excel", "install", "--dir", "{folder}/addin"], "excel"),
    ({"gspread"}, ["new", "--google", "--level", "team", "--code", "OPS"], "google"),
])
def test_a_missing_extra_is_one_line_naming_it(company: Path, blocked: set[str], argv: list[str],
                                                extra: str) -> None:
    argv = [a.replace("{folder}", str(company)) for a in argv]
    before = sorted(p.name for p in company.iterdir())
    result = subprocess.run([sys.executable, "-c", BLOCK.format(blocked=blocked, argv=argv)],
                            capture_output=True, text=True, timeout=60, env={**os.environ, "OKR_SYNC_TOKENS": TOKEN})
    assert result.returncode == 2, result.stderr
    assert f"okr-sync[{extra}]" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in company.iterdir()) == before  # nothing written outside --dir either


def test_log_and_undo_outside_a_workspace_create_nothing(tmp_path: Path) -> None:
    runner = CliRunner()
    logged = runner.invoke(cli, ["log", str(tmp_path)])
    assert logged.exit_code == 0 and "no runs yet" in logged.output
    undone = runner.invoke(cli, ["undo", str(tmp_path)])
    assert undone.exit_code == 2 and "has not synced here" in undone.output
    assert not (tmp_path / ".okr-sync").exists()


def test_the_next_run_settles_an_interrupted_one_and_removes_its_temp_files(company: Path) -> None:
    workspace = Workspace.from_path(company)
    report = operations.sync(workspace, None)
    # A run that died after journalling mkt.xlsx but before writing it, leaving a temp file behind.
    dead, _ = store.start_run(workspace.state_home, "sync", "schedule")
    unit = next(u for u in report.units if u.source == "mkt.xlsx")
    fake = [type(c)(c.sheet, c.row, c.col, c.new, "typed by the killed run", c.row_id) for c in unit.changes.updates]
    store.journal_planned(workspace.state_home, dead, unit.locator, unit.source, fake[:2], unit.changes.id_col)
    (company / ".~okr-sync-abc123.tmp").write_bytes(b"half a workbook")
    again = operations.sync(workspace, None)
    assert any(f"run {dead} was interrupted" in n for n in again.notes)
    assert any("temporary file" in n for n in again.notes)
    assert not (company / ".~okr-sync-abc123.tmp").exists()
    record = store.get_run(workspace.state_home, dead)
    assert record is not None and record.status == "interrupted"
    # Nothing of it reached the workbook, so nothing of it stays on record for undo.
    assert store.run_cells(workspace.state_home, dead) == []


def test_a_corrupt_run_log_is_one_line_with_the_recovery_step(company: Path) -> None:
    (company / ".okr-sync").mkdir()
    (company / ".okr-sync" / "state.db").write_bytes(b"this is not a database" * 100)
    result = CliRunner().invoke(cli, ["sync", str(company), "--as-of", AS_OF])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert "run log is damaged" in line and "mv " in line and "state.db.broken" in line
    assert "Traceback" not in result.output


def test_an_unexpected_error_is_one_line_and_the_details_go_to_a_log_file(
        company: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from sheets_sync import engine

    def broken(*args: object, **kw: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(engine, "sync", broken)
    monkeypatch.setenv("OKR_SYNC_ERROR_LOG", str(tmp_path / "errors.log"))
    result = CliRunner().invoke(cli, ["sync", str(company)])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert "Traceback" not in line and "errors.log" in line
    assert "Traceback" in (tmp_path / "errors.log").read_text(encoding="utf-8")
    [run] = operations.log(Workspace.from_path(company))
    assert run.status == "failed" and "ZeroDivisionError" in (run.reason or "")


def test_a_folder_with_its_own_config_means_that_config(company: Path) -> None:
    (company / "okr-sync.toml").write_text(f'[[sources]]\npath = "."\n\n[server]\ntokens = ["{TOKEN}"]\n',
                                           encoding="utf-8")
    workspace = Workspace.from_path(company)
    assert workspace.config_path == company / "okr-sync.toml"
    from sheets_sync.server.serve import build_app

    app = build_app(company)  # `okr-sync serve FOLDER` takes the folder's tokens
    assert TOKEN in app.config["TOKENS"]


def test_the_demo_prints_a_follow_up_with_its_own_as_of(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", str(tmp_path / "demo"), "--as-of", "2026-12-01"])
    assert result.exit_code == 0, result.output
    assert f"okr-sync sync {tmp_path / 'demo'} --as-of 2026-12-01" in result.output


def test_every_score_says_how_much_of_it_is_measured(company: Path) -> None:
    from sheets_sync.server import create_app

    body = json.loads(CliRunner().invoke(cli, ["sync", str(company), "--as-of", AS_OF, "--json"]).output)
    assert body["coverage"] == {"measured": 9, "total": 9}  # the company unit's own key results
    assert body["total_coverage"] == {"measured": 34, "total": 35}  # MKT-SEO's KR2.2 has a Target of 'TBD'
    seo = next(u for u in body["units"] if u["unit"] == "MKT-SEO")
    assert seo["coverage"] == {"measured": 5, "total": 6}
    app = create_app({"TESTING": True, "WORKSPACE": str(company), "TOKENS": [TOKEN]})
    client = app.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    page = client.get("/?lang=en", headers=auth).get_data(as_text=True)
    assert "9 of 9 key results measured" in page and "5 of 6 key results measured" in page
    assert "6 个关键结果中已衡量 5 个" in client.get("/?lang=zh", headers=auth).get_data(as_text=True)
    from sheets_sync.backends.xlsx import XlsxBackend

    raw = XlsxBackend(company).read(str(company / "mkt-seo.xlsx"))
    assert operations.score_workbook(raw, None).to_json()["coverage"] == {"measured": 5, "total": 6}
