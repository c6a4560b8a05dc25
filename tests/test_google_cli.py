"""The command line on Google spreadsheets: sync a mixed okr-sync.toml, dry runs, new --google."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from builders import kr, o, unit, write_xlsx
from click.testing import CliRunner
from conftest_google import *  # noqa: F403
from conftest_google import GoogleApi

from sheets_sync.backends.google import GoogleBackend
from sheets_sync.cli import cli
from sheets_sync.engine import sync
from sheets_sync.workspace import Workspace


def _workspace(api: GoogleApi, tmp: Path, shared: bool = True) -> tuple[Path, str, str]:
    emu = api.emulator
    co = emu.add_spreadsheet(
        "Company OKRs", unit("CO", "company", [o("O1", "Grow"), kr("KR1.1", "Revenue", target=100, current=30)])
    )
    mkt = emu.add_spreadsheet(
        "Marketing OKRs",
        unit(
            "MKT",
            "department",
            [o("O1", "Leads", aligns_to="CO/O1"), kr("KR1.1", "Leads", target=10, current=5)],
            parent="CO",
        ),
        shared_with=None if shared else {"boss@example.com"},
    )
    (tmp / "local").mkdir()
    write_xlsx(
        tmp / "local" / "ops.xlsx",
        unit(
            "OPS",
            "department",
            [o("O1", "Run well", aligns_to="CO/O1"), kr("KR1.1", "Uptime", target=1, current=1, metric="milestone")],
            parent="CO",
        ),
    )
    config = tmp / "okr-sync.toml"
    config.write_text(
        f'credentials = "{api.key_path}"\n[[sources]]\npath = "local/"\n'
        f'[[sources]]\ngoogle = "https://docs.google.com/spreadsheets/d/{co}/edit#gid=0"\n'
        f'[[sources]]\ngoogle = "{mkt}"\n[rollup]\npath = "rollup.xlsx"\n',
        encoding="utf-8",
    )
    return config, co, mkt


def test_sync_a_mixed_config_dry_run_then_for_real(google_api: GoogleApi, tmp_path: Path) -> None:
    config, co, _ = _workspace(google_api, tmp_path)
    emu = google_api.emulator
    runner = CliRunner()
    result = runner.invoke(cli, ["sync", str(config), "--as-of", "2026-11-15", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Company OKRs › OKRs › R3 (KR1.1 Score): (blank) → 0.3" in result.output
    assert result.output.strip().splitlines()[-1].startswith("would write 22 cells in 3 workbooks")
    assert "Traceback" not in result.output
    assert emu.write_calls() == 0
    result = runner.invoke(cli, ["sync", str(config), "--as-of", "2026-11-15"])
    assert result.exit_code == 0, result.output
    grid = emu.values(co, "OKRs")
    assert grid[2][17] == 0.3 and grid[1][20] == 0.75  # KR score; O1 aligned: MKT 0.5, OPS 1
    assert (tmp_path / "rollup.xlsx").exists()


def test_unshared_spreadsheet_exit_code_and_message(google_api: GoogleApi, tmp_path: Path) -> None:
    config, co, _ = _workspace(google_api, tmp_path, shared=False)
    result = CliRunner().invoke(cli, ["sync", str(config), "--as-of", "2026-11-15"])
    assert result.exit_code == 2
    assert f"Share the spreadsheet with {google_api.email}" in result.output
    assert "Traceback" not in result.output
    assert google_api.emulator.values(co, "OKRs")[2][17] == 0.3  # the others were synced


def test_new_google_prints_the_link(google_api: GoogleApi) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "new",
            "--google",
            "--level",
            "team",
            "--code",
            "OPS",
            "--parent",
            "CO",
            "--lang",
            "zh",
            "--share",
            "lee@example.com",
            "--credentials",
            str(google_api.key_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "https://docs.google.com/spreadsheets/d/" in result.output
    key = result.output.split("/d/")[1].split("/")[0]
    book = google_api.emulator.book(key)
    assert book.title.startswith("OKRs OPS")
    assert any(p.get("emailAddress") == "lee@example.com" for p in book.permissions)


def test_columns_moved_during_the_sync_write_nothing(google_api: GoogleApi, tmp_path: Path) -> None:
    _, co, mkt = _workspace(google_api, tmp_path)
    emu = google_api.emulator
    sheet = emu.book(co).sheet_by_title("OKRs")
    assert sheet is not None
    insert = [
        {
            "insertDimension": {
                "range": {"sheetId": sheet.sheet_id, "dimension": "COLUMNS", "startIndex": 3, "endIndex": 4}
            }
        }
    ]
    # After the values read, before the bind check: someone inserts a column.
    emu.before(
        "values.batchGet",
        lambda e: e.before("spreadsheets.get", lambda e2: e2.edit(co, insert), spreadsheet=co),
        spreadsheet=co,
    )
    backend = GoogleBackend([co, mkt])
    report = sync(Workspace([backend]), dt.date(2026, 11, 15), write_rollup=False)
    failed = {u.locator: u.error for u in report.failed_units}
    assert "columns were inserted" in (failed.get(co) or "")
    assert all(v is None for v in emu.values(co, "OKRs")[2][17:])
    report = sync(Workspace([GoogleBackend([co, mkt])]), dt.date(2026, 11, 15), write_rollup=False)
    assert not report.failed_units
    assert emu.values(co, "OKRs")[2][18] == 0.3  # one column further right now


def test_undo_puts_back_the_cells_of_a_google_run(google_api: GoogleApi, tmp_path: Path) -> None:
    config, co, _ = _workspace(google_api, tmp_path)
    emu = google_api.emulator
    runner = CliRunner()
    result = runner.invoke(cli, ["sync", str(config), "--as-of", "2026-11-15"])
    assert result.exit_code == 0, result.output
    assert emu.values(co, "OKRs")[2][17] == 0.3
    # Someone inserts a row above meanwhile: undo still finds each cell by its row's ID.
    sheet = emu.book(co).sheet_by_title("OKRs")
    assert sheet is not None
    emu.edit(
        co,
        [
            {
                "insertDimension": {
                    "range": {"sheetId": sheet.sheet_id, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}
                }
            }
        ],
    )
    run_id = result.output.split("okr-sync undo ")[1].split()[0]
    result = runner.invoke(cli, ["undo", run_id, str(config)])
    assert result.exit_code == 0, result.output
    grid = emu.values(co, "OKRs")
    assert grid[3][1] == "KR1.1" and all(v is None for v in grid[3][16:])
    assert all(v is None for v in grid[2][16:])
