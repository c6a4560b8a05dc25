"""The rollup model: stable column keys, one tone per row by phase of the cycle, the Summary."""

from __future__ import annotations

import datetime as dt

from builders import kr, o, unit
from conftest import MID_CYCLE, run_memory

from sheets_sync.core.rollup import ROLLUP_SHEETS, STATUS_COUNT_KEYS, RollupBook

END = dt.date(2027, 1, 5)  # 2026-Q4 is over


def company() -> dict[str, dict[str, list[list[object]]]]:
    # At mid-cycle 0.38 is on pace (expected ≈ 0.49, on track from 0.7 × 0.49 ≈ 0.35); graded red at the end.
    return {
        "co.xlsx": unit("CO", "company", [
            o("O1", "Grow"), kr("KR1.1", "Revenue", start=0, target=100, current=38),
            kr("KR1.2", "Launch", metric="yes-no", current="yes"),
        ]),
    }  # fmt: skip


def book(as_of: dt.date) -> RollupBook:
    report, _ = run_memory(company(), as_of)
    assert report.rollup is not None
    return report.rollup


def test_every_column_has_a_unique_stable_key() -> None:
    for name, columns in ROLLUP_SHEETS.items():
        keys = [key for key, _, _ in columns]
        assert len(keys) == len(set(keys)), name
        assert all(key.isidentifier() and key.islower() for key in keys), name
    units = {key for key, _, _ in ROLLUP_SHEETS["Units"]}
    assert set(STATUS_COUNT_KEYS.values()) <= units and {"unit", "parent", "score", "status"} <= units


def test_score_and_status_share_the_status_colour_in_the_cycle_and_the_grade_after() -> None:
    for as_of, want in ((MID_CYCLE, {"KR1.1": "green", "KR1.2": "blue"}), (END, {"KR1.1": "red", "KR1.2": "green"})):
        rollup = book(as_of).sheet("Rollup")
        tones = {str(rollup.value(row, "id")).split("/")[1]: rollup.tone(i) for i, row in enumerate(rollup.rows)}
        assert {k: tones[k] for k in want} == want, as_of
        assert [rollup.is_strong(i) for i in range(len(rollup.rows))] == [True, False, False]


def test_units_carry_their_own_status_and_the_summary_counts_by_key() -> None:
    mid = book(MID_CYCLE)
    units = mid.sheet("Units")
    (row,) = units.rows
    assert units.value(row, "status") == "on track" and units.tone(0) == "green"
    summary = mid.summary()
    assert summary.units == 1 and summary.objectives == 1 and summary.key_results == 2
    assert summary.statuses["done"] == 1 and sum(summary.statuses.values()) == 3
    assert summary.company_score == mid.company_score and summary.company_tone == "green"
    # Once the cycle is over the company's 0.69 is graded: yellow.
    after = book(END).summary()
    assert after.company_score == 0.69 and after.company_tone == "yellow"
