"""The rollup spreadsheet, KR Source links and `new --google` against the emulator."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from builders import kr, o, unit
from conftest_google import *  # noqa: F403
from conftest_google import GoogleApi
from google_emulator import GoogleEmulator

from sheets_sync.backends.google import (
    GoogleBackend,
    GoogleRollupTarget,
    create_spreadsheet,
    parse_source,
    read_sources,
)
from sheets_sync.backends.google_client import Limits
from sheets_sync.backends.google_rollup import rgb
from sheets_sync.backends.xlsx_rollup import XlsxRollupTarget
from sheets_sync.core import bands, schema
from sheets_sync.core.rollup import ROLLUP_SHEETS
from sheets_sync.engine import sync
from sheets_sync.errors import ConfigError, RemoteError
from sheets_sync.workspace import Workspace

AS_OF = dt.date(2026, 11, 15)


def two_units(emu: GoogleEmulator) -> list[str]:
    co = emu.add_spreadsheet(
        "Company", unit("CO", "company", [o("O1", "=Grow revenue"), kr("KR1.1", "Revenue", target=100, current=80)])
    )
    mkt = emu.add_spreadsheet(
        "Marketing",
        unit(
            "MKT",
            "department",
            [o("O1", "Leads", aligns_to="CO/O1"), kr("KR1.1", "Leads", target=10, current=2)],
            parent="CO",
        ),
    )
    return [co, mkt]


def test_rollup_sheets_charts_bands_and_fingerprint(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    units = two_units(emu)
    # The objective's text begins with "=": typed as text in the unit (RAW), kept as text.
    emu.set_cell(units[0], "OKRs", "C2", "placeholder")
    emu.book(units[0]).sheet_by_title("OKRs").cells[(1, 2)].value = "=Grow revenue"  # type: ignore[union-attr]
    roll = emu.add_spreadsheet("Company rollup", {"Sheet1": [["old"]]})
    ws = Workspace([GoogleBackend(units)], GoogleRollupTarget(roll))
    emu.reset_counts()
    report = sync(ws, AS_OF)
    assert report.rollup_written and not report.failed_units
    book = emu.book(roll)
    assert [s.title for s in book.sheets] == ["Summary", *ROLLUP_SHEETS]
    for name, columns in ROLLUP_SHEETS.items():
        assert emu.values(roll, name)[0] == [title for _, title, _ in columns]
    rollup = emu.values(roll, "Rollup")
    texts = [r[4] for r in rollup[1:]]
    assert "=Grow revenue" in texts
    rollup_sheet = book.sheet_by_title("Rollup")
    assert rollup_sheet is not None
    assert all(c.formula is None for c in rollup_sheet.cells.values())
    summary_sheet = book.sheet_by_title("Summary")
    assert summary_sheet is not None
    titles = {c["spec"]["title"] for c in summary_sheet.charts}
    assert titles == {"Unit scores · 单元得分", "Status per unit · 各单元状态"}
    assert rollup_sheet.frozen_rows == 1
    # One colour per row: Progress, Score and Status share the status colour (pace) during the cycle.
    header = emu.values(roll, "Rollup")[0]
    for r, line in enumerate(emu.values(roll, "Rollup")[1:], start=1):
        status = line[header.index("Status")]
        want = rgb(bands.PALETTE[bands.STATUS_COLOUR_NAMES[status]].fill)
        for title in ("Progress", "Score", "Status"):
            assert rollup_sheet.cells[(r, header.index(title))].fmt["backgroundColor"] == want
    # Objective rows are set apart from key results.
    kinds = {r: line[header.index("Type")] for r, line in enumerate(emu.values(roll, "Rollup")[1:], start=1)}
    bold = {r: rollup_sheet.cells[(r, header.index("ID"))].fmt.get("textFormat", {}).get("bold") for r in kinds}
    assert all(bool(bold[r]) == (kind == "O") for r, kind in kinds.items())
    scores = {r[0]: r[6] for r in emu.values(roll, "Units")[1:]}
    assert scores == {"CO": 0.8, "MKT": 0.2}
    # The swap is one spreadsheets:batchUpdate after one read.
    writes = [m for m, k, _ in emu.call_log if k == roll and m != "spreadsheets.get"]
    assert writes == ["spreadsheets.batchUpdate"]
    emu.reset_counts()
    report = sync(ws, AS_OF)
    assert not report.rollup_written
    assert emu.write_calls(roll) == 0
    # New content: every tab keeps its id, so links to a tab survive the swap.
    gids = {s.title: s.sheet_id for s in emu.book(roll).sheets}
    emu.set_cell(units[1], "OKRs", "L3", 9)
    assert sync(ws, AS_OF).rollup_written
    assert {s.title: s.sheet_id for s in emu.book(roll).sheets} == gids
    assert {r[0]: r[6] for r in emu.values(roll, "Units")[1:]}["MKT"] == 0.9


def test_rollup_is_never_half_written(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    units = two_units(emu)
    roll = emu.add_spreadsheet("Company rollup", {"Sheet1": [["old"]]})
    target = GoogleRollupTarget(roll, limits=Limits(backoff=0.001, attempts=2))
    report = sync(Workspace([GoogleBackend(units)]), AS_OF, write_rollup=False)
    assert report.rollup is not None
    assert target.write_rollup(report.rollup)
    before = emu.values(roll, "Units")
    emu.set_cell(units[1], "OKRs", "L3", 9)
    report = sync(Workspace([GoogleBackend(units)]), AS_OF, write_rollup=False)
    assert report.rollup is not None
    emu.fail("spreadsheets.batchUpdate", 503, times=2, spreadsheet=roll)
    with pytest.raises(RemoteError):
        target.write_rollup(report.rollup)
    assert [s.title for s in emu.book(roll).sheets] == ["Summary", *ROLLUP_SHEETS]
    assert emu.values(roll, "Units") == before
    assert target.write_rollup(report.rollup)
    assert {r[0]: r[6] for r in emu.values(roll, "Units")[1:]}["MKT"] == 0.9


def test_google_and_xlsx_rollups_carry_the_same_summary(google_api: GoogleApi, tmp_path: Any) -> None:
    from python_calamine import CalamineWorkbook

    emu = google_api.emulator
    report = sync(Workspace([GoogleBackend(two_units(emu))]), AS_OF, write_rollup=False)
    assert report.rollup is not None
    roll = emu.add_spreadsheet("Company rollup", {"Sheet1": [["old"]]})
    GoogleRollupTarget(roll).write_rollup(report.rollup)
    XlsxRollupTarget(tmp_path / "rollup.xlsx").write_rollup(report.rollup)
    xlsx = CalamineWorkbook.from_path(str(tmp_path / "rollup.xlsx")).get_sheet_by_name("Summary").to_python()

    def figures(grid: list[list[Any]]) -> dict[str, Any]:
        return {str(r[0]): (r[1] if len(r) > 1 and r[1] != "" else None) for r in grid if r and r[0]}

    google = figures(emu.values(roll, "Summary"))
    assert google == figures(xlsx)
    assert google["Units · 单元"] == 2 and google["Key results · 关键结果"] == 2
    assert google["Company score · 公司得分"] == report.rollup.summary().company_score


def test_parse_source_forms() -> None:
    key = "abcdefghijklmnop"
    link = f"https://docs.google.com/spreadsheets/d/{key}/edit"
    assert parse_source(f"{link}#gid=7&range=C4") == (
        key,
        {"gridRange": {"sheetId": 7, "startRowIndex": 3, "endRowIndex": 4, "startColumnIndex": 2, "endColumnIndex": 3}},
    )
    assert parse_source(f"{link}#range=%27My%20Data%27!B2") == (key, {"a1Range": "'My Data'!B2"})
    assert parse_source(f"{link} › It's › b2") == (key, {"a1Range": "'It''s'!B2"})
    with pytest.raises(ConfigError, match="Get link to this cell"):
        parse_source(link)


def test_read_sources_one_call_per_spreadsheet(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    data = emu.add_spreadsheet(
        "Sales", {"Summary": [["x"]], "My Data": [["Revenue", 1500], ["Date", dt.date(2026, 10, 2)], ["Bad", "=1/0"]]}
    )
    gid = emu.book(data).sheets[1].sheet_id
    link = f"https://docs.google.com/spreadsheets/d/{data}/edit"
    specs = [
        f"{link}#gid={gid}&range=B1",
        f"{link} › My Data › B2",
        f"{link} › My Data › B3",
        f"{link} › My Data › Z99",
        f"{link} › Nope › A1",
    ]
    emu.reset_counts()
    found = read_sources(specs[:4])
    assert emu.calls["values.batchGetByDataFilter"] == 1
    assert found[specs[0]] == 1500 and found[specs[1]] == 46297
    assert str(found[specs[2]]) == "#DIV/0!"
    assert found[specs[3]] is None
    # A bad sheet name fails Google's whole batch; then each cell is asked alone.
    found = read_sources(specs)
    assert found[specs[0]] == 1500
    assert isinstance(found[specs[4]], RemoteError) and "Nope" in str(found[specs[4]])


def test_sync_reads_a_google_source_into_current(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    data = emu.add_spreadsheet("Sales", {"Data": [["Revenue", 64]]})
    source = f"https://docs.google.com/spreadsheets/d/{data}/edit › Data › B1"
    key = emu.add_spreadsheet(
        "Company", unit("CO", "company", [o("O1", "Grow"), kr("KR1.1", "Revenue", target=80, source=source)])
    )
    # Sales is not a unit: a Source may read it only because the operator allows it (docs/security.md).
    refused = sync(Workspace([GoogleBackend([key])]), AS_OF, write_rollup=False, dry_run=True)
    (finding,) = [f for f in refused.findings if f.rule == "source-unreadable"]
    assert "outside the workspace" in finding.message
    report = sync(Workspace([GoogleBackend([key])], config={"allow_sources": [data]}), AS_OF, write_rollup=False)
    assert not report.failed_units
    grid = emu.values(key, "OKRs")
    header = grid[0]
    row = dict(zip(header, grid[2] + [None] * (len(header) - len(grid[2])), strict=True))
    assert row["Current"] == 64 and row["Score"] == 0.8


def _cells(emu: GoogleEmulator, key: str, sheet: str) -> dict[tuple[int, int], Any]:
    s = emu.book(key).sheet_by_title(sheet)
    assert s is not None
    return s.cells


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_new_google_spreadsheet_from_the_template(google_api: GoogleApi, lang: str) -> None:
    emu = google_api.emulator
    url = create_spreadsheet(
        level="team", code="OPS", parent="CO", lang=lang, cycle="2026-Q4", share=["lee@example.com", "kim@example.com"]
    )
    key = url.split("/d/")[1].split("/")[0]
    book = emu.book(key)
    okrs_name = schema.sheet_label(schema.SHEET_OKRS, lang)  # type: ignore[arg-type]
    settings_name = schema.sheet_label(schema.SHEET_SETTINGS, lang)  # type: ignore[arg-type]
    assert okrs_name in [s.title for s in book.sheets]
    settings = {r[0]: r[1] for r in emu.values(key, settings_name) if len(r) > 1}
    code_key = "单元代码" if lang == "zh" else "Unit code"
    assert settings[code_key] == "OPS"
    okrs = book.sheet_by_title(okrs_name)
    assert okrs is not None
    header_row = next(
        i for i, r in enumerate(emu.values(key, okrs_name)) if schema.COLUMNS_BY_KEY["type"].header(lang) in r
    )  # type: ignore[arg-type]
    assert okrs.frozen_rows == header_row + 1
    header = emu.values(key, okrs_name)[header_row]
    type_col = header.index(schema.COLUMNS_BY_KEY["type"].header(lang))  # type: ignore[arg-type]
    validation = okrs.cells[(header_row + 1, type_col)].validation
    assert validation["condition"]["type"] == "ONE_OF_LIST" and validation["strict"] is False
    assert len(okrs.protected) == 1 and okrs.protected[0]["warningOnly"] is True
    score_col = header.index(schema.COLUMNS_BY_KEY["score"].header(lang))  # type: ignore[arg-type]
    prot = okrs.protected[0]["range"]
    assert prot["startColumnIndex"] <= score_col < prot["endColumnIndex"]
    # The template's colour rules, translated one for one: one colour language in both kinds of template.
    from sheets_sync.templates import build_template

    template = build_template(level="department", code="OPS", lang=lang)
    xlsx_okrs = template[schema.sheet_label(schema.SHEET_OKRS, lang)]
    xlsx_rules = [r for cf in xlsx_okrs.conditional_formatting for r in cf.rules if r.type == "expression"]
    assert len(okrs.conditional) == len(xlsx_rules) > 0
    assert all(r["booleanRule"]["condition"]["type"] == "CUSTOM_FORMULA" for r in okrs.conditional)
    fills = {str(sorted(rgb((r.dxf.fill.bgColor.rgb or r.dxf.fill.fgColor.rgb)[-6:]).items()))
             for r in xlsx_rules if r.dxf.fill}
    google = {str(sorted(r["booleanRule"]["format"]["backgroundColor"].items()))
              for r in okrs.conditional if "backgroundColor" in r["booleanRule"]["format"]}
    assert fills == google
    emails = {p.get("emailAddress") for p in book.permissions}
    assert {"lee@example.com", "kim@example.com", google_api.email} <= emails
    # The new spreadsheet is a unit the sync reads without failing.
    report = sync(Workspace([GoogleBackend([url])]), AS_OF, write_rollup=False)
    assert not report.failed_units and report.units[0].unit_code == "OPS"
