"""Google writes that stay right when answers are lost or rows move: a non-idempotent call is
never retried blind, nothing written is reported failed, no row keeps figures not its own, and
each spreadsheet costs a bounded number of calls."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from builders import kr, o, unit
from conftest_google import *  # noqa: F403
from conftest_google import GoogleApi
from google_emulator import GoogleEmulator
from google_emulator_model import READ_METHODS

from sheets_sync.backends.google import GoogleBackend, GoogleRollupTarget
from sheets_sync.backends.google_client import Limits
from sheets_sync.core.rollup import ROLLUP_SHEETS
from sheets_sync.engine import sync
from sheets_sync.workspace import Workspace

AS_OF = dt.date(2026, 11, 15)
FAST = Limits(backoff=0.001, backoff_cap=0.01, attempts=4, timeout=5)
COMPUTED = ("Progress", "Score", "Status", "Check", "Aligned score")


def company(emu: GoogleEmulator, title: str = "Company OKRs", code: str = "CO") -> str:
    rows = [
        o("O1", "Grow revenue", aligns_to=None if code == "CO" else "CO/O1"),
        kr("KR1.1", "Revenue", start=0, target=100, current=50),
        kr("KR1.2", "Customers", start=10, target=20, current=20),
        kr("KR1.3", "Churn", start=30, target=20, current=25),
    ]
    if code == "CO":
        return emu.add_spreadsheet(title, unit("CO", "company", rows))
    return emu.add_spreadsheet(title, unit(code, "team", rows, parent="CO"))


def lines(emu: GoogleEmulator, key: str) -> list[dict[str, Any]]:
    """Every OKRs row below the header as {column: value}."""
    grid = emu.values(key, "OKRs")
    header = grid[0]
    return [dict(zip(header, r + [None] * (len(header) - len(r)), strict=True)) for r in grid[1:]]


def by_id(emu: GoogleEmulator, key: str) -> dict[str, dict[str, Any]]:
    return {r["ID"]: r for r in lines(emu, key) if r["ID"]}


def per_key(emu: GoogleEmulator, key: str) -> tuple[int, int]:
    """(reads, writes) the emulator counted for one spreadsheet."""
    reads = sum(1 for m, k, _ in emu.call_log if k == key and m in READ_METHODS)
    return reads, emu.write_calls(key)


def run(keys: list[str], **kw: Any) -> Any:
    return sync(Workspace([GoogleBackend(keys, **kw)]), AS_OF, write_rollup=False)


# ---------------------------------------------------------------- lost answers


@pytest.mark.parametrize("how", ["503 after applying", "timeout after applying"])
def test_lost_answer_to_history_creation_is_looked_at_not_retried_blind(google_api: GoogleApi, how: str) -> None:
    emu = google_api.emulator
    key = company(emu)
    if how.startswith("503"):
        emu.lose("spreadsheets.batchUpdate", spreadsheet=key)
        limits = FAST
    else:
        emu.lose("spreadsheets.batchUpdate", spreadsheet=key, status=0, delay=0.8)
        limits = Limits(backoff=0.001, backoff_cap=0.01, attempts=4, timeout=0.4)
    report = run([key], limits=limits)
    assert not report.failed_units, report.failed_units[0].error
    assert report.units[0].written
    # The bind and History creation happened once; the figures and History rows followed.
    assert [s.title for s in emu.book(key).sheets] == ["Settings", "OKRs", "History"]
    assert len(emu.values(key, "History")) == 5  # header + the objective and its 3 KRs, once
    rows = by_id(emu, key)
    assert rows["KR1.1"]["Score"] == 0.5 and rows["KR1.2"]["Status"] == "done"
    assert emu.calls["spreadsheets.batchUpdate"] == 1  # looked, saw it applied, never sent again
    # The next sync finds nothing to do.
    emu.reset_counts()
    assert run([key]).cells_written == 0 and emu.write_calls() == 0


def test_lost_answer_to_binding_a_new_row_is_not_sent_again(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = company(emu)
    run([key])
    # A person adds KR1.4 below: the next sync binds that row (History exists: no sheet to make).
    for col, value in zip("ABCKL", ["KR", "KR1.4", "Retention", 10, 5], strict=True):
        emu.set_cell(key, "OKRs", f"{col}6", value)
    emu.lose("spreadsheets.batchUpdate", spreadsheet=key)
    emu.reset_counts()
    report = run([key], limits=FAST)
    assert not report.failed_units
    assert emu.calls["spreadsheets.batchUpdate"] == 1
    assert by_id(emu, key)["KR1.4"]["Progress"] == 0.5
    # One more row for KR1.4 and one for O1, whose score moved: each once.
    assert [r[2] for r in emu.values(key, "History")[5:]] == ["O1", "KR1.4"]


def test_an_unanswered_write_that_was_not_applied_is_sent_again(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = company(emu)
    emu.fail("spreadsheets.batchUpdate", 503, spreadsheet=key)  # refused before applying
    report = run([key], limits=FAST)
    assert not report.failed_units
    assert emu.calls["spreadsheets.batchUpdate"] == 2
    assert len(emu.values(key, "History")) == 5
    assert by_id(emu, key)["KR1.3"]["Progress"] == 0.5


def test_lost_answer_to_the_rollup_swap_is_not_a_failure(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = company(emu)
    roll = emu.add_spreadsheet("Company rollup", {"Sheet1": [["old"]]})
    emu.lose("spreadsheets.batchUpdate", spreadsheet=roll)
    ws = Workspace([GoogleBackend([key], limits=FAST)], GoogleRollupTarget(roll, limits=FAST))
    report = sync(ws, AS_OF)
    assert report.rollup_error is None and report.rollup_written
    assert [s.title for s in emu.book(roll).sheets] == ["Summary", *ROLLUP_SHEETS]
    assert [m for m, k, _ in emu.call_log if k == roll] == [
        "spreadsheets.get",
        "spreadsheets.batchUpdate",
        "spreadsheets.get",  # the look after the lost answer: the new fingerprint is there
    ]
    emu.reset_counts()
    assert not sync(ws, AS_OF).rollup_written and emu.write_calls(roll) == 0


# ---------------------------------------------------------------- rows that move


def _insert_blank_row_and_sort(emu: GoogleEmulator, key: str) -> None:
    """A person inserts a blank row above the KRs, then sorts the KRs by their text: values move,
    the rows (and the metadata on them) stay, and the blank row ends up last."""
    sheet = emu.book(key).sheet_by_title("OKRs")
    assert sheet is not None
    sid = sheet.sheet_id
    insert = {"range": {"sheetId": sid, "dimension": "ROWS", "startIndex": 2, "endIndex": 3}}
    emu.edit(key, [{"insertDimension": insert}])
    rng = {"sheetId": sid, "startRowIndex": 2, "endRowIndex": 6, "startColumnIndex": 0, "endColumnIndex": 21}
    emu.edit(key, [{"sortRange": {"range": rng, "sortSpecs": [{"dimensionIndex": 2, "sortOrder": "ASCENDING"}]}}])


def test_rows_inserted_and_sorted_between_read_and_write_leave_no_stale_figures(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = company(emu)
    run([key])  # binds the rows
    emu.set_cell(key, "OKRs", "L3", 80)  # KR1.1 Current
    emu.set_cell(key, "OKRs", "L5", 22)  # KR1.3 Current
    emu.before("values.batchUpdateByDataFilter", lambda e: _insert_blank_row_and_sort(e, key), key)
    report = run([key])
    assert not report.failed_units
    after = lines(emu, key)
    # The blank row the sort left last holds nothing at all (no stale Status, Check or Score):
    # the sheet's used rows end with KR1.1.
    assert [r["ID"] for r in after] == ["O1", "KR1.3", "KR1.2", "KR1.1"]
    sheet = emu.book(key).sheet_by_title("OKRs")
    assert sheet is not None and not [c for (r, _), c in sheet.cells.items() if r == 5 and not c.empty]
    rows = by_id(emu, key)
    assert rows["KR1.1"]["Score"] == 0.8 and rows["KR1.3"]["Progress"] == 0.8
    assert rows["KR1.2"]["Status"] == "done"
    # People's cells are as they left them.
    assert [rows[i]["Current"] for i in ("KR1.1", "KR1.2", "KR1.3")] == [80, 20, 22]
    assert [rows[i]["Objective / Key result"] for i in ("KR1.1", "KR1.2", "KR1.3")] == [
        "Revenue",
        "Customers",
        "Churn",
    ]


def test_a_row_a_person_emptied_loses_the_figures_left_on_it(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = company(emu)
    run([key])
    # A person clears KR1.2's inputs (Type, ID, text … Due), not the row, and keeps a note on it.
    sheet = emu.book(key).sheet_by_title("OKRs")
    assert sheet is not None
    for col in range(15):
        sheet.cells.pop((3, col), None)
    emu.set_cell(key, "OKRs", "P4", "kept: a person's note")
    assert lines(emu, key)[2]["Status"] == "done"  # the figures the last sync left there
    report = run([key])
    assert not report.failed_units
    row = lines(emu, key)[2]
    assert {k: v for k, v in row.items() if v is not None} == {"Notes": "kept: a person's note"}


# ---------------------------------------------------------------- calls per spreadsheet


def test_calls_per_spreadsheet_first_sync_and_nothing_new(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    keys = [company(emu, code, code) for code in ("CO", "T1", "T2")]
    emu.reset_counts()
    report = run(keys)
    assert not report.failed_units
    for key in keys:
        # Metadata, values, one look before binding; the binding's own answer is the look after.
        assert per_key(emu, key) == (3, 2)
        assert len(emu.values(key, "History")) == 5
    emu.reset_counts()
    report = run(keys)
    assert report.cells_written == 0
    for key in keys:
        reads, writes = per_key(emu, key)
        assert 1 <= reads <= 2 and writes == 0
    # One KR changed in one team: rows are bound, so no binding call; the other team is untouched.
    emu.set_cell(keys[2], "OKRs", "L3", 70)
    emu.reset_counts()
    run(keys)
    assert per_key(emu, keys[2]) == (3, 1)
    assert per_key(emu, keys[1]) == (2, 0)
