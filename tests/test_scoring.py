"""Scoring and status exactly as the standard says, through the engine on in-memory workbooks."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from builders import kr, o, unit
from conftest import MID_CYCLE, run_memory

from sheets_sync.core.scoring import expected_progress, status_for

START, END = dt.date(2026, 10, 1), dt.date(2026, 12, 31)


def written(backend: Any, book: str, row: int, header: str) -> Any:
    """The value in `header`'s column of a sheet row after the sync."""
    grid = backend.workbooks[book]["OKRs"]
    return grid[row - 1][grid[0].index(header)]


def one_kr(**fields: Any) -> tuple[Any, Any]:
    books = {"co.xlsx": unit("CO", "company", [o("O1", "Objective"), kr("KR1.1", "Key result", **fields)])}
    return run_memory(books)


@pytest.mark.parametrize(
    ("fields", "progress", "score"),
    [
        ({"start": 0, "target": 100, "current": 50}, 0.5, 0.5),
        ({"start": 100, "target": 200, "current": 250}, 1.5, 1.0),  # progress may pass 100%
        ({"start": 30, "target": 20, "current": 25}, 0.5, 0.5),  # going down needs no extra column
        ({"start": 30, "target": 20, "current": 35}, 0.0, 0.0),  # below 0 counts as 0
        ({"metric": "percent", "start": "20%", "target": "40%", "current": "35%"}, 0.75, 0.75),
        ({"metric": "currency", "target": "¥1.5万", "current": "¥5,000"}, 0.33, 0.33),
        ({"target": 3, "current": 1}, 0.33, 0.33),
        ({"target": 3, "current": 2}, 0.67, 0.67),
        ({"target": 8, "current": 1}, 0.13, 0.13),  # 0.125 rounds half up
        ({"metric": "yes-no", "current": "完成"}, 1.0, 1.0),
        ({"metric": "yes-no", "current": "not yet"}, 0.0, 0.0),
        ({"metric": "milestone", "current": "60%"}, 0.6, 0.6),
        ({"metric": "milestone", "current": 0.45}, 0.45, 0.45),
        ({"metric": "milestone", "current": -0.2}, 0.0, 0.0),
        ({"metric": "stay above", "target": 95, "current": 96}, 1.0, 1.0),
        ({"metric": "stay above", "target": 95, "current": 94}, 0.0, 0.0),
        ({"metric": "stay below", "target": 2, "current": 2}, 1.0, 1.0),
        ({"metric": "stay below", "target": 2, "current": 3}, 0.0, 0.0),
    ],
)
def test_kr_progress_and_score(fields: dict[str, Any], progress: float, score: float) -> None:
    _, backend = one_kr(**fields)
    assert written(backend, "co.xlsx", 3, "Progress") == progress
    assert written(backend, "co.xlsx", 3, "Score") == score


def test_blank_current_leaves_score_blank_with_no_data() -> None:
    # Issue 11: a key result that is not measured keeps a blank Score (it was 0.00, drawn red).
    report, backend = one_kr(target=10)
    assert written(backend, "co.xlsx", 3, "Score") is None
    assert written(backend, "co.xlsx", 3, "Status") == "no data"
    assert written(backend, "co.xlsx", 2, "Score") is None  # nothing measured: the objective too
    assert written(backend, "co.xlsx", 2, "Status") == "no data"
    assert report.units[0].score is None


def test_target_equal_to_start_is_an_error_and_unscored() -> None:
    report, backend = one_kr(start=5, target=5, current=5)
    assert written(backend, "co.xlsx", 3, "Score") is None
    assert [f.rule for f in report.findings if f.severity == "error"] == ["target-equals-start"]


def test_expected_progress_counts_days_and_clamps() -> None:
    assert expected_progress(START, END, START) == 0.0
    assert expected_progress(START, END, END) == 1.0
    assert expected_progress(START, END, dt.date(2027, 3, 1)) == 1.0
    assert expected_progress(START, END, dt.date(2026, 9, 1)) == 0.0
    assert expected_progress(START, END, MID_CYCLE) == pytest.approx(45 / 91)


@pytest.mark.parametrize(
    ("score", "commitment", "expected", "status"),
    [
        (0.7, "aspirational", 1.0, "on track"), (0.69, "aspirational", 1.0, "at risk"),
        (0.4, "aspirational", 1.0, "at risk"), (0.39, "aspirational", 1.0, "off track"),
        (0.35, "aspirational", 0.5, "on track"), (0.34, "aspirational", 0.5, "at risk"),
        (0.99, "committed", 1.0, "at risk"), (0.7, "committed", 1.0, "at risk"),
        (0.69, "committed", 1.0, "off track"), (0.5, "committed", 0.5, "on track"),
        (1.0, "committed", 1.0, "done"), (1.0, "aspirational", 0.1, "done"), (0.0, "aspirational", 0.0, "on track"),
    ],
)
def test_status_bands(score: float, commitment: str, expected: float, status: str) -> None:
    assert status_for(score, commitment, expected) == status


def test_committed_objective_uses_stricter_thresholds() -> None:
    rows = [o("O1", "Aspirational"), kr("KR1.1", "a", target=100, current=40),
            o("O2", "Committed", commitment="committed"), kr("KR2.1", "b", target=100, current=40),
            o("O3", "Committed", commitment="committed"), kr("KR3.1", "c", target=100, current=30)]
    _, backend = run_memory({"co.xlsx": unit("CO", "company", rows)})
    # expected = 45/91 ≈ 0.495. Aspirational: on track from 0.7 × 0.495 = 0.35.
    # Committed: on track from 0.495, at risk from 0.35, so 0.40 is at risk and 0.30 off track.
    assert written(backend, "co.xlsx", 3, "Status") == "on track"
    assert written(backend, "co.xlsx", 5, "Status") == "at risk"
    assert written(backend, "co.xlsx", 7, "Status") == "off track"


def test_objective_score_is_the_weighted_mean_of_rounded_kr_scores() -> None:
    rows = [o("O1", "Grow"),
            kr("KR1.1", "a", target=3, current=1, weight=1),       # 0.33
            kr("KR1.2", "b", target=3, current=2, weight=2),       # 0.67
            kr("KR1.3", "c", target="TBD", current=1)]             # unscored: counts as 0
    report, backend = run_memory({"co.xlsx": unit("CO", "company", rows)})
    # (0.33 + 2 × 0.67 + 0) / 4 = 0.4175 → 0.42 (over the rounded figures, as a formula would see them).
    # Before issue 11 the unscored KR dropped out and the objective read 0.56.
    assert written(backend, "co.xlsx", 2, "Score") == 0.42
    check = written(backend, "co.xlsx", 2, "Check")
    assert "2 of 3 key results measured; not measured: KR1.3" in check
    assert report.units[0].score == 0.42


def test_objective_without_a_scored_kr_has_no_score() -> None:
    rows = [o("O1", "Grow"), kr("KR1.1", "a", target="TBD")]
    _, backend = run_memory({"co.xlsx": unit("CO", "company", rows)})
    assert written(backend, "co.xlsx", 2, "Score") is None
    assert written(backend, "co.xlsx", 2, "Status") == "no data"


def test_unit_score_is_weighted_over_objectives() -> None:
    rows = [o("O1", "A", weight=3), kr("KR1.1", "a", target=10, current=10),
            o("O2", "B"), kr("KR2.1", "b", target=10, current=2)]
    report, _ = run_memory({"co.xlsx": unit("CO", "company", rows)})
    assert report.units[0].score == 0.8  # (3 × 1.0 + 0.2) / 4


def test_statuses_are_written_in_the_workbooks_language() -> None:
    rows = [o("O1", "增长"), kr("KR1.1", "收入", target=100, current=100)]
    _, backend = run_memory({"co.xlsx": unit("CO", "company", rows, lang="zh")})
    grid = backend.workbooks["co.xlsx"]["OKRs"]
    assert grid[2][grid[0].index("状态")] == "完成"


def test_aligned_score_is_the_mean_of_objectives_aligned_to_an_objective_or_its_krs() -> None:
    books = {
        "co.xlsx": unit("CO", "company", [o("O1", "Company"), kr("KR1.1", "k", target=10, current=5)]),
        "a.xlsx": unit("A", "department", [o("O1", "A", aligns_to="CO/O1"), kr("KR1.1", "k", target=10, current=8)],
                       parent="CO"),
        "b.xlsx": unit("B", "department", [o("O1", "B", aligns_to="co/kr1.1"),
                                           kr("KR1.1", "k", target=10, current=3)], parent="CO"),
    }
    _, backend = run_memory(books)
    assert written(backend, "co.xlsx", 2, "Aligned score") == 0.55  # (0.8 + 0.3) / 2
    assert written(backend, "a.xlsx", 2, "Aligned score") is None


def test_as_of_changes_status_not_score() -> None:
    rows = [o("O1", "A"), kr("KR1.1", "a", target=100, current=40)]
    early, b1 = run_memory({"co.xlsx": unit("CO", "company", rows)}, as_of=dt.date(2026, 10, 15))
    late, b2 = run_memory({"co.xlsx": unit("CO", "company", rows)}, as_of=dt.date(2026, 12, 31))
    assert written(b1, "co.xlsx", 3, "Score") == written(b2, "co.xlsx", 3, "Score") == 0.4
    assert written(b1, "co.xlsx", 3, "Status") == "on track"
    assert written(b2, "co.xlsx", 3, "Status") == "at risk"
