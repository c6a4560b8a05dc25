"""Several cycles on Google spreadsheets mixed with local workbooks: one company per cycle, one rollup each."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from builders import write_xlsx
from conftest_google import *  # noqa: F403
from conftest_google import GoogleApi
from test_cycles import CARRY, CYCLES, MID_Q4, _books

from sheets_sync import operations
from sheets_sync.core.retrospective import SHEET as RETRO_SHEET
from sheets_sync.workspace import Workspace


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_three_cycles_on_google_and_xlsx(google_api: GoogleApi, tmp_path: Path, lang: str) -> None:
    emu = google_api.emulator
    folder = emu.add_folder("OKRs")
    keys: dict[str, str] = {}
    for cycle, current in (("2026-Q3", 80.0), ("2026-Q4", 50.0), ("2027-Q1", 0.0)):
        books = _books(cycle, lang, current)
        co = books["co"]
        if cycle == "2026-Q4":  # CO/O1 is marked to carry over into the next cycle
            okrs = co["OKRs"]
            okrs[0].append(CARRY[lang])
            for line in okrs[1:]:
                line.append("yes" if line[1] == "O1" else None)
        keys[cycle] = emu.add_spreadsheet(f"CO OKRs {cycle}", co, folder=folder)
        (tmp_path / "local").mkdir(exist_ok=True)
        write_xlsx(tmp_path / "local" / f"mkt{CYCLES[cycle][2]}.xlsx", books["mkt"])
    rollups = {c: emu.add_spreadsheet(f"Rollup {c}", {"Sheet1": [[]]}) for c in ("2026-Q3", "2026-Q4")}
    config = tmp_path / "okr-sync.toml"
    config.write_text(
        f'credentials = "{google_api.key_path}"\n[[sources]]\npath = "local/"\n'
        f'[[sources]]\ngoogle_folder = "{folder}"\n'
        f'[rollup.google]\n"2026-Q3" = "{rollups["2026-Q3"]}"\n"2026-q4" = "{rollups["2026-Q4"]}"\n',
        encoding="utf-8")

    report = operations.sync(Workspace.from_path(config), MID_Q4)
    assert report.cycle is not None and report.cycle.name == "2026-Q4"
    assert sorted(u.source for u in report.units) == ["CO OKRs 2026-Q4", "mkt.xlsx"]
    assert not [f for f in report.findings if f.severity == "error"], [str(f) for f in report.findings]
    assert report.rollup_written and report.rollup_location == rollups["2026-Q4"]
    units = emu.values(rollups["2026-Q4"], "Units")
    sources = {line[units[0].index("Source")] for line in units[1:]}
    assert sources == {"CO OKRs 2026-Q4", "mkt.xlsx"}  # only its own cycle
    assert emu.values(rollups["2026-Q3"], "Sheet1") == []  # another cycle's rollup is not touched

    nxt = operations.sync(Workspace.from_path(config, cycle="2027-Q1"), MID_Q4)
    assert not nxt.rollup_written and any("no Google rollup is named for cycle 2027-Q1" in n for n in nxt.notes)
    assert sorted(u.source for u in nxt.units) == ["CO OKRs 2027-Q1", "mkt-2027-Q1.xlsx"]

    closing = operations.close_cycle(Workspace.from_path(config, cycle="2026-Q3"))
    assert closing.cells_written > 0 and closing.rollup_written
    retro = emu.values(keys["2026-Q3"], RETRO_SHEET[lang])  # type: ignore[index]
    assert [line[1] for line in retro[1:]] == ["O1", "O2"]
    writes = emu.write_calls()
    frozen = operations.sync(Workspace.from_path(config, cycle="2026-Q3"))
    assert frozen.cycle_closed and emu.write_calls() == writes  # a closed cycle is not rewritten

    result = operations.new_cycle(Workspace.from_path(config), "2026-Q4", "2027-Q2")
    written = {u: w for u, w, _ in result.written}
    assert Path(written["MKT"]).name == "mkt-2027-Q2.xlsx"
    key = written["CO"].split("/d/")[1].split("/")[0]
    okrs = emu.values(key, "OKRs")
    ids = [line[1] for line in okrs[3:] if len(line) > 2 and line[2]]
    assert ids == ["O1", "KR1.1", "KR1.2"]  # what was marked, with its key results, and nothing else
    settings = {line[0]: line[1] for line in emu.values(key, "设置" if lang == "zh" else "Settings") if line}
    assert settings["周期" if lang == "zh" else "Cycle"] == "2027-Q2"
    start = settings["周期开始" if lang == "zh" else "Cycle start"]
    assert start == (dt.date(2027, 4, 1) - dt.date(1899, 12, 30)).days  # a serial date, as Sheets keeps it
