"""The unit's own score, coverage, status counts and as-of date, above its OKRs table, written by the sync."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from sheets_sync import engine
from sheets_sync.core import schema
from sheets_sync.core.model import column_letter
from sheets_sync.demo import company_units
from sheets_sync.templates import HEADER_ROW, build_template, save_workbook
from sheets_sync.workspace import Workspace

AS_OF = dt.date(2026, 11, 15)
COL = {c.key: i for i, c in enumerate(schema.ALL_COLUMNS, start=1)}


def _cell(key: str, row: int) -> str:
    return f"{column_letter(COL[key])}{row}"


def _company(folder: Path, lang: str) -> Path:
    folder.mkdir()
    for unit in company_units(lang=lang):  # type: ignore[arg-type]
        save_workbook(unit.build("2026-Q4"), folder / unit.file_name)
    return folder


def _values(path: Path) -> dict[str, object]:
    ws = openpyxl.load_workbook(path)["OKRs"]
    return {c.coordinate: c.value for row in ws.iter_rows() for c in row if c.value is not None}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_template_carries_the_summary_labels(lang: str) -> None:
    ws = build_template(level="team", code="T", lang=lang, cycle="2026-Q4")["OKRs"]
    labels = [ws[_cell("progress", HEADER_ROW - 2)].value, ws[_cell("progress", HEADER_ROW - 1)].value]
    assert labels == (["单元得分", "截至"] if lang == "zh" else ["Unit score", "As of"])
    assert ws[_cell("score", HEADER_ROW - 2)].number_format == "0.00"
    assert ws[_cell("score", HEADER_ROW - 1)].number_format == "yyyy-mm-dd"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_sync_writes_the_units_figures_in_its_language(tmp_path: Path, lang: str) -> None:
    folder = _company(tmp_path / "co", lang)
    before = _values(folder / "mkt-seo.xlsx")
    report = engine.sync(Workspace.from_path(folder), as_of=AS_OF)
    unit = next(u for u in report.units if u.source == "mkt-seo.xlsx")
    after = _values(folder / "mkt-seo.xlsx")

    score = after[_cell("score", HEADER_ROW - 2)]
    assert isinstance(score, float) and score == pytest.approx(unit.score)
    assert after[_cell("score", HEADER_ROW - 1)] == dt.datetime(2026, 11, 15)
    coverage = after[_cell("check", HEADER_ROW - 2)]
    counts = after[_cell("check", HEADER_ROW - 1)]
    ws = openpyxl.load_workbook(folder / "mkt-seo.xlsx")["OKRs"]
    statuses = [ws[_cell("status", r)].value for r in range(HEADER_ROW + 1, ws.max_row + 1)
                if str(ws[_cell("id", r)].value or "").startswith("KR")]  # fmt: skip
    if lang == "zh":
        assert coverage == f"{len(statuses)} 个关键结果中已衡量 {len(statuses)} 个"
        assert counts == " · ".join(f"{schema.STATUSES[s][1]} {sum(x == schema.STATUSES[s][1] for x in statuses)}"
                                    for s in schema.STATUSES)  # fmt: skip
    else:
        assert coverage == f"{len(statuses)} of {len(statuses)} key results measured"
        assert counts == " · ".join(f"{sum(x == s for x in statuses)} {s}" for s in schema.STATUSES)

    # The service wrote its own cells and nothing else.
    owned_cols = {column_letter(COL[c.key]) for c in schema.COMPUTED_COLUMNS}
    summary = {_cell(k, r) for k in ("score", "check") for r in (HEADER_ROW - 2, HEADER_ROW - 1)}
    for ref in set(before) | set(after):
        if before.get(ref) != after.get(ref):
            col = ref.rstrip("0123456789")
            assert ref in summary or (col in owned_cols and int(ref[len(col):]) > HEADER_ROW), ref

    # Nothing new: nothing written, not even a later as-of date.
    again = engine.sync(Workspace.from_path(folder), as_of=AS_OF + dt.timedelta(days=1))
    quiet = next(u for u in again.units if u.source == "mkt-seo.xlsx")
    assert not quiet.written and quiet.changes is not None and quiet.changes.empty
    assert _values(folder / "mkt-seo.xlsx") == after


def test_the_as_of_date_moves_with_a_new_figure(tmp_path: Path) -> None:
    folder = _company(tmp_path / "co", "en")
    engine.sync(Workspace.from_path(folder), as_of=AS_OF)
    wb = openpyxl.load_workbook(folder / "mkt-seo.xlsx")
    ws = wb["OKRs"]
    ws[_cell("current", HEADER_ROW + 2)] = 30  # KR1.1: a new Current
    wb.save(folder / "mkt-seo.xlsx")
    engine.sync(Workspace.from_path(folder), as_of=AS_OF + dt.timedelta(days=3))
    assert _values(folder / "mkt-seo.xlsx")[_cell("score", HEADER_ROW - 1)] == dt.datetime(2026, 11, 18)


def test_a_workbook_without_the_labels_gets_no_summary(tmp_path: Path) -> None:
    folder = _company(tmp_path / "co", "en")
    wb = openpyxl.load_workbook(folder / "mkt-seo.xlsx")
    ws = wb["OKRs"]
    ws[_cell("progress", HEADER_ROW - 2)] = "My own note"  # a person's text where the label was
    wb.save(folder / "mkt-seo.xlsx")
    engine.sync(Workspace.from_path(folder), as_of=AS_OF)
    after = _values(folder / "mkt-seo.xlsx")
    for key in ("score", "check"):
        for row in (HEADER_ROW - 2, HEADER_ROW - 1):
            assert _cell(key, row) not in after
