"""Several cycles in one workspace: closed, current and next quarter side by side, in English and Chinese."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import jsonschema
import openpyxl
import pytest
from builders import kr, o, unit, write_xlsx
from click.testing import CliRunner
from conftest import AUTH, SERVER_TOKEN
from python_calamine import CalamineWorkbook

from sheets_sync import operations
from sheets_sync.cli import cli
from sheets_sync.core.retrospective import SHEET as RETRO_SHEET
from sheets_sync.errors import ConfigError
from sheets_sync.operations.cycles import next_cycle_path
from sheets_sync.runlog import store
from sheets_sync.workspace import Workspace

MID_Q4 = dt.date(2026, 11, 15)
CYCLES = {
    "2026-Q3": (dt.date(2026, 7, 1), dt.date(2026, 9, 30), "-2026-Q3"),
    "2026-Q4": (dt.date(2026, 10, 1), dt.date(2026, 12, 31), ""),
    "2027-Q1": (dt.date(2027, 1, 1), dt.date(2027, 3, 31), "-2027-Q1"),
}
CARRY = {"en": "Carry over", "zh": "延续"}


def _books(cycle: str, lang: str, current: float) -> dict[str, dict[str, Any]]:
    start, end, _ = CYCLES[cycle]
    settings = dict(cycle=cycle, start=start, end=end, lang=lang)
    co = unit("CO", "company", [o("O1", f"Grow {cycle}"), kr("KR1.1", "Revenue", target=100, current=current),
                                kr("KR1.2", "Margin", target=10, current=current / 10),
                                o("O2", "Hire"), kr("KR2.1", "People", target=20, current=5)], **settings)
    mkt = unit("MKT", "department", [o("O1", "Leads", aligns_to="CO/O1", depends_on="CO/KR1.2"),
                                     kr("KR1.1", "Leads", target=10, current=current / 10, depends_on="CO/KR2.1"),
                                     kr("KR1.2", "Events", target=4, current=1)], parent="CO", **settings)
    return {"co": co, "mkt": mkt}


def write_three_cycles(folder: Path, lang: str = "en") -> None:
    """CO and MKT in 2026-Q3 (to be closed), 2026-Q4 (current) and 2027-Q1 (next), side by side."""
    folder.mkdir(parents=True, exist_ok=True)
    for cycle, current in (("2026-Q3", 80.0), ("2026-Q4", 50.0), ("2027-Q1", 0.0)):
        suffix = CYCLES[cycle][2]
        for name, book in _books(cycle, lang, current).items():
            write_xlsx(folder / f"{name}{suffix}.xlsx", book)


def units_sheet_sources(path: Path) -> list[str]:
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Units").to_python()
    col = rows[0].index("Source")
    return sorted(str(r[col]) for r in rows[1:] if r[col])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.xlsx"))}


@pytest.fixture(params=["en", "zh"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def three(tmp_path: Path, lang: str) -> Path:
    folder = tmp_path / "okrs"
    write_three_cycles(folder, lang)
    return folder


def test_each_cycle_is_its_own_company_no_duplicates_one_rollup_each(three: Path) -> None:
    report = operations.sync(Workspace.from_path(three), MID_Q4)
    assert report.cycle is not None and report.cycle.name == "2026-Q4"
    assert [c.name for c in report.cycles] == ["2026-Q3", "2026-Q4", "2027-Q1"]
    assert sorted(u.source for u in report.units) == ["co.xlsx", "mkt.xlsx"]
    assert not [f for f in report.findings if f.severity == "error"], [str(f) for f in report.findings]
    assert not [f for f in report.findings if f.rule in ("duplicate-unit", "dependency-unknown", "align-unknown")]
    assert units_sheet_sources(three / "okr-rollup-2026-Q4.xlsx") == ["co.xlsx", "mkt.xlsx"]

    nxt = operations.sync(Workspace.from_path(three, cycle="2027-q1"), MID_Q4)
    assert nxt.cycle is not None and nxt.cycle.name == "2027-Q1"
    assert units_sheet_sources(three / "okr-rollup-2027-Q1.xlsx") == ["co-2027-Q1.xlsx", "mkt-2027-Q1.xlsx"]
    assert not (three / "okr-rollup.xlsx").exists()
    body = report.to_json()
    assert body["cycle"] == {"name": "2026-Q4", "start": "2026-10-01", "end": "2026-12-31"}
    assert [c["name"] for c in body["cycles"]] == ["2026-Q3", "2026-Q4", "2027-Q1"]
    schema = json.loads((Path(__file__).resolve().parents[1] / "docs" / "report.schema.json").read_text("utf-8"))
    jsonschema.validate(body, schema)


def test_the_default_cycle_follows_the_as_of_day(three: Path) -> None:
    ws = Workspace.from_path(three)
    assert operations.preview(ws, dt.date(2027, 2, 1)).cycle.name == "2027-Q1"  # type: ignore[union-attr]
    assert operations.preview(ws, dt.date(2026, 8, 1)).cycle.name == "2026-Q3"  # type: ignore[union-attr]
    # Before every cycle: the first; after every cycle: the latest that has started.
    assert operations.preview(ws, dt.date(2025, 1, 1)).cycle.name == "2026-Q3"  # type: ignore[union-attr]
    assert operations.preview(ws, dt.date(2028, 1, 1)).cycle.name == "2027-Q1"  # type: ignore[union-attr]


def test_close_cycle_grades_at_the_end_writes_a_retrospective_and_freezes(three: Path, lang: str) -> None:
    closing = operations.close_cycle(Workspace.from_path(three), MID_Q4)  # the newest cycle that has ended
    assert closing.cycle is not None and closing.cycle.name == "2026-Q3"
    assert closing.as_of == dt.date(2026, 9, 30) and closing.cells_written > 0
    assert sorted(u.source for u in closing.units) == ["co-2026-Q3.xlsx", "mkt-2026-Q3.xlsx"]
    book = openpyxl.load_workbook(three / "co-2026-Q3.xlsx")
    retro = book[RETRO_SHEET[lang]]  # type: ignore[index]
    lines = list(retro.iter_rows(values_only=True))
    assert [line[1] for line in lines[1:]] == ["O1", "O2"]
    assert lines[1][0] == "2026-Q3" and lines[1][4] == 0.8
    assert lines[2][4] == 0.25 and ("0.4" in str(lines[2][7]))  # below 0.4: the retrospective prompt
    assert store.closed_cycles(three).keys() == {"2026-Q3"}

    before = snapshot(three)
    frozen = operations.sync(Workspace.from_path(three, cycle="2026-Q3"))
    assert frozen.cycle_closed and frozen.cells_written == 0 and not frozen.rollup_written
    assert any("is closed" in n for n in frozen.notes)
    assert frozen.as_of == dt.date(2026, 9, 30)  # final grades, whatever today is
    assert snapshot(three) == before  # neither the units nor the rollup of the closed cycle

    # The closing run cannot be undone while the cycle is closed.
    with pytest.raises(ConfigError, match="closed"):
        operations.undo(Workspace.from_path(three), closing.run_id)
    # The current cycle still syncs.
    current = operations.sync(Workspace.from_path(three), MID_Q4)
    assert current.cycle is not None and current.cycle.name == "2026-Q4" and current.cells_written > 0

    assert "open again" in operations.reopen_cycle(Workspace.from_path(three, cycle="2026-Q3"))
    reopened = operations.sync(Workspace.from_path(three, cycle="2026-Q3"), dt.date(2026, 9, 30))
    assert not reopened.cycle_closed and not any("is closed" in n for n in reopened.notes)


def test_close_a_cycle_again_keeps_it_closed_and_says_so(three: Path) -> None:
    operations.close_cycle(Workspace.from_path(three, cycle="2026-Q3"))
    before = snapshot(three)
    again = operations.close_cycle(Workspace.from_path(three, cycle="2026-Q3"))
    assert again.cycle_closed and again.cells_written == 0
    assert snapshot(three) == before


def _mark(path: Path, marks: dict[str, str], header: str) -> None:
    wb = openpyxl.load_workbook(path)
    ws = wb["OKRs"]
    col = ws.max_column + 1
    ws.cell(1, col, header)
    for r in range(2, ws.max_row + 1):
        if ws.cell(r, 2).value in marks:
            ws.cell(r, col, marks[ws.cell(r, 2).value])
    wb.save(path)


def _rows(path: Path) -> list[tuple[Any, ...]]:
    from sheets_sync.templates import HEADER_ROW

    ws = openpyxl.load_workbook(path)["OKRs"]
    return [r for r in ws.iter_rows(min_row=HEADER_ROW + 1, values_only=True) if any(v is not None for v in r[2:])]


def test_new_cycle_carries_what_was_marked_and_nothing_else(three: Path, lang: str) -> None:
    operations.sync(Workspace.from_path(three), MID_Q4)
    yes = "是" if lang == "zh" else "yes"
    _mark(three / "co.xlsx", {"O1": yes}, CARRY[lang])  # an objective: with all its key results
    _mark(three / "mkt.xlsx", {"KR1.1": "x"}, CARRY[lang])  # one key result: with its objective's row only
    result = operations.new_cycle(Workspace.from_path(three), "2026-Q4", "2027-Q2")
    assert sorted((u, Path(w).name, n) for u, w, n in result.written) == [
        ("CO", "co-2027-Q2.xlsx", 3), ("MKT", "mkt-2027-Q2.xlsx", 2)]
    co = _rows(three / "co-2027-Q2.xlsx")
    assert [(r[0], r[1]) for r in co] == [("O", "O1"), ("KR", "KR1.1"), ("KR", "KR1.2")]
    assert co[1][9] == 50 and co[1][10] == 100 and co[1][11] is None  # the latest Current is the new Start
    mkt = _rows(three / "mkt-2027-Q2.xlsx")
    assert [r[1] for r in mkt] == ["O1", "KR1.1"]
    assert mkt[0][4] == "CO/O1"  # carried on both sides: kept
    assert mkt[0][5] == "CO/KR1.2"  # Depends on a carried key result: kept
    assert mkt[1][11] is None and mkt[1][9] == 5  # Current left to write; Start from the latest Current
    assert mkt[1][5] is None  # Depends on CO/KR2.1, which is not carried: dropped, not left dangling
    settings = openpyxl.load_workbook(three / "co-2027-Q2.xlsx").worksheets[-1]
    values = {r[0]: r[1] for r in settings.iter_rows(values_only=True)}
    cycle_key = "周期" if lang == "zh" else "Cycle"
    assert values[cycle_key] == "2027-Q2"
    # Both cycles side by side; the new one is a cycle of its own.
    report = operations.preview(Workspace.from_path(three, cycle="2027-Q2"))
    assert sorted(u.source for u in report.units) == ["co-2027-Q2.xlsx", "mkt-2027-Q2.xlsx"]
    assert not [f for f in report.findings if f.severity == "error"], [str(f) for f in report.findings]


def test_new_cycle_never_overwrites_nor_doubles_a_unit(three: Path) -> None:
    before = snapshot(three)
    result = operations.new_cycle(Workspace.from_path(three), "2026-Q4", "2027-Q1")
    assert result.written == [] and len(result.skipped) == 2
    assert all("already" in line for line in result.skipped)
    assert snapshot(three) == before


def test_next_cycle_file_names_keep_both_cycles() -> None:
    assert next_cycle_path(Path("a/hr.xlsx"), "2026-Q4", "2027-Q1") == Path("a/hr-2027-Q1.xlsx")
    assert next_cycle_path(Path("hr-2026q4.xlsx"), "2026-Q4", "2027-Q1") == Path("hr-2027-Q1.xlsx")
    assert next_cycle_path(Path("hr_2026_Q4_okrs.xlsx"), "2026-Q4", "2027-Q1") == Path("hr_2027-Q1_okrs.xlsx")


def test_a_single_cycle_workspace_keeps_okr_rollup_xlsx(tmp_path: Path) -> None:
    folder = tmp_path / "one"
    folder.mkdir()
    for name, book in _books("2026-Q4", "en", 50).items():
        write_xlsx(folder / f"{name}.xlsx", book)
    report = operations.sync(Workspace.from_path(folder), MID_Q4)
    assert Path(report.rollup_location or "").name == "okr-rollup.xlsx" and report.rollup_written
    assert [c.name for c in report.cycles] == ["2026-Q4"]


def test_a_named_rollup_wins_and_may_carry_the_cycle(three: Path, tmp_path: Path) -> None:
    named = tmp_path / "company.xlsx"
    report = operations.sync(Workspace.from_path(three, named), MID_Q4)
    assert report.rollup_location == str(named) and named.exists()
    config = tmp_path / "okr-sync.toml"
    config.write_text(f'[[sources]]\npath = "{three}"\n[rollup]\npath = "rollups/q-{{cycle}}.xlsx"\n')
    (tmp_path / "rollups").mkdir()
    report = operations.sync(Workspace.from_path(config, cycle="2027-Q1"), MID_Q4)
    assert (tmp_path / "rollups" / "q-2027-Q1.xlsx").exists()


def test_an_unknown_cycle_is_one_clear_line(three: Path) -> None:
    result = CliRunner().invoke(cli, ["sync", str(three), "--cycle", "2030-Q1"])
    assert result.exit_code == 2
    assert "no unit workbook is of cycle 2030-Q1" in result.output
    assert "2026-Q3, 2026-Q4, 2027-Q1" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["validate", str(three), "--as-of", "2026-11-15"])
    assert "cycle 2026-Q4 · set aside: 2026-Q3, 2027-Q1 (--cycle works on another)" in result.output


def test_the_command_line_carries_the_cycle_through_log_undo_and_json(three: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["close-cycle", str(three), "--cycle", "2026-Q3"])
    assert result.exit_code == 0, result.output
    assert "cycle 2026-Q3 is closed" in result.output
    result = runner.invoke(cli, ["sync", str(three), "--as-of", "2026-11-15", "--json"])
    assert json.loads(result.output)["cycle"]["name"] == "2026-Q4"
    result = runner.invoke(cli, ["sync", str(three), "--cycle", "2026-Q3"])
    assert result.exit_code == 0 and "is closed" in result.output and "0 cell(s) written" in result.output
    assert "undo it with" not in result.output  # a frozen cycle's run wrote nothing to undo
    result = runner.invoke(cli, ["log", str(three), "--cycle", "2026-q3", "--json"])
    runs = json.loads(result.output)
    assert {r["cycle"] for r in runs} == {"2026-Q3"} and [r["kind"] for r in runs] == ["sync", "close"]
    assert "2026-Q4" in runner.invoke(cli, ["log", str(three)]).output
    result = runner.invoke(cli, ["undo", str(three), "--cycle", "2026-Q4"])
    assert result.exit_code == 0, result.output
    undo_run = store.list_runs(three, 1)[0]
    assert undo_run.kind == "undo" and undo_run.cycle == "2026-Q4"
    result = runner.invoke(cli, ["close-cycle", str(three), "--reopen"])
    assert result.exit_code == 0 and "2026-Q3 is open again" in result.output


def test_an_old_run_log_migrates_in_place_and_keeps_its_runs(tmp_path: Path) -> None:
    folder = tmp_path / "okrs"
    write_three_cycles(folder)
    db = folder / ".okr-sync" / "state.db"
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for number, script in enumerate(store.MIGRATIONS[:3], start=1):
        conn.executescript(script)
        conn.execute("INSERT INTO schema_version(version) VALUES (?)", (number,))
    conn.execute("INSERT INTO runs(kind, trigger, started, as_of, status, units) "
                 "VALUES ('sync', 'cli', '2026-11-01T10:00:00', '2026-11-01', 'ok', 2)")
    conn.execute("INSERT INTO unit_scores(run_id, as_of, unit_code, score) VALUES (1, '2026-11-01', 'CO', 0.4)")
    conn.commit()
    conn.close()
    store._migrated.clear()
    ws = Workspace.from_path(folder)
    operations.sync(ws, MID_Q4)
    runs = operations.log(ws)
    assert [(r.id, r.cycle) for r in runs] == [(2, "2026-Q4"), (1, None)]
    # A run from before cycles is read by its as-of day: it belongs to 2026-Q4, not to 2026-Q3.
    q4 = operations.cycle_span(ws, "2026-Q4")
    assert q4 == ("2026-Q4", "2026-10-01", "2026-12-31")
    assert [r.id for r in operations.log(ws, cycle=q4)] == [2, 1]
    assert operations.log(ws, cycle=("2026-Q3", "2026-07-01", "2026-09-30")) == []
    assert [d for d, _ in operations.trends(ws, cycle=q4)["CO"]] == ["2026-11-01", "2026-11-15"]


def test_cycle_scores_hold_final_grades_of_closed_cycles(three: Path) -> None:
    operations.close_cycle(Workspace.from_path(three, cycle="2026-Q3"))
    operations.sync(Workspace.from_path(three), MID_Q4)
    scores = operations.cycle_scores(Workspace.from_path(three))
    assert scores["2026-Q3"]["CO"] == (0.53, True)  # the final grade, as of the cycle end
    assert scores["2026-Q4"]["CO"][1] is False
    assert set(scores) == {"2026-Q3", "2026-Q4"}


def test_the_dashboard_selects_a_cycle_shows_final_grades_and_the_trend_across_cycles(three: Path) -> None:
    from sheets_sync.server import create_app

    operations.close_cycle(Workspace.from_path(three, cycle="2026-Q3"))
    operations.sync(Workspace.from_path(three), MID_Q4)
    client = create_app({"WORKSPACE": str(three), "TOKENS": [SERVER_TOKEN], "TESTING": True}).test_client()
    auth = AUTH
    page = client.get("/?lang=en", headers=auth).get_data(as_text=True)
    assert 'id="cycle-selector"' in page and "2026-Q3 · closed" in page and "2027-Q1" in page
    assert 'aria-current="page">2026-Q4' in page and 'id="final-grades"' not in page
    assert 'id="cycle-trend"' in page and "2026-Q3: 0.53 (final)" in page and "2026-Q4: 0.38<" in page
    closed = client.get("/?cycle=2026-q3&lang=en", headers=auth).get_data(as_text=True)
    assert 'aria-current="page">2026-Q3' in closed
    assert "Cycle 2026-Q3 is closed: these are its final grades, as of 2026-09-30." in closed
    units = client.get("/api/units?cycle=2026-Q3", headers=auth).get_json()
    assert sorted(u["source"] for u in units["units"]) == ["co-2026-Q3.xlsx", "mkt-2026-Q3.xlsx"]
    assert client.get("/api/units?cycle=%3Cscript%3E", headers=auth).status_code == 400
    assert client.get("/api/units?cycle=1999-Q1", headers=auth).status_code == 404
    answer = client.post("/api/sync", json={"cycle": "2027-Q1", "as_of": "2026-11-15"}, headers=auth).get_json()
    assert answer["cycle"]["name"] == "2027-Q1" and answer["cells_written"] > 0
    # A cycle the workspace does not hold is the request's mistake, not the server's.
    unknown = client.post("/api/sync", json={"cycle": "1999-Q1"}, headers=auth)
    assert unknown.status_code == 400 and "the workspace holds: " in unknown.get_json()["message"]


def test_a_workbook_named_on_its_own_is_checked_in_its_own_cycle(three: Path) -> None:
    report = operations.validate([three / "mkt-2027-Q1.xlsx"], MID_Q4)
    assert report.cycle is not None and report.cycle.name == "2027-Q1"
    assert [u.source for u in report.units] == ["mkt-2027-Q1.xlsx"] and not report.failed_units
    mixed = operations.validate([three / "mkt.xlsx", three / "mkt-2027-Q1.xlsx"], MID_Q4)
    failed = [u.error for u in mixed.failed_units]
    assert failed == ["mkt-2027-Q1.xlsx: a workbook of cycle 2027-Q1, not 2026-Q4; check it on its own or with "
                      "--cycle 2027-Q1"]


def test_serve_cycle_pins_the_dashboard_and_the_api_sync(three: Path) -> None:
    from sheets_sync.server import create_app

    app = create_app({"WORKSPACE": str(three), "TOKENS": [SERVER_TOKEN], "TESTING": True, "CYCLE": "2027-Q1"})
    client = app.test_client()
    auth = AUTH
    answer = client.post("/api/sync", json={"as_of": "2026-11-15"}, headers=auth).get_json()
    assert answer["cycle"]["name"] == "2027-Q1"
    page = client.get("/?lang=en", headers=auth).get_data(as_text=True)
    assert 'aria-current="page">2027-Q1' in page


def test_closing_last_quarter_does_not_hide_this_quarter_on_the_dashboard(three: Path) -> None:
    ws = Workspace.from_path(three)
    operations.sync(ws, MID_Q4)
    operations.close_cycle(Workspace.from_path(three, cycle="2026-Q3"))  # the newest run is the close
    latest = operations.latest_report(ws)
    assert latest is not None and latest[1]["cycle"]["name"] == "2026-Q4"
    closed = operations.latest_report(ws, operations.cycle_span(ws, "2026-Q3"))
    assert closed is not None and closed[0].kind == "close"
