"""Progress, score and status exactly as the standard's scoring section says."""

from __future__ import annotations

import datetime as dt

from .bands import GRADE_GREEN, GRADE_YELLOW
from .messages import column_name
from .model import Coverage
from .parse import NUMERIC_METRICS, Row, Unit
from .values import Unreadable, is_blank, parse_number, parse_yes_no, round2, weighted_mean

# (on-track factor, at-risk factor) of expected progress, by commitment.
THRESHOLDS = {"aspirational": (GRADE_GREEN, GRADE_YELLOW), "committed": (1.0, GRADE_GREEN)}
_EPSILON = 1e-9


def expected_progress(start: dt.date, end: dt.date, as_of: dt.date) -> float:
    """How far through the cycle as-of is, in days, clamped to 0–1."""
    span = (end - start).days
    if span <= 0:
        return 1.0
    return min(max((as_of - start).days / span, 0.0), 1.0)


def status_for(score: float, commitment: str, expected: float) -> str:
    """on track / at risk / off track / done from a score and how far the cycle has gone."""
    if score >= 1.0:
        return "done"
    on_track, at_risk = THRESHOLDS.get(commitment, THRESHOLDS["aspirational"])
    if score + _EPSILON >= on_track * expected:
        return "on track"
    if score + _EPSILON >= at_risk * expected:
        return "at risk"
    return "off track"


def kr_progress(kr: Row, unit: Unit) -> float | None:
    """A key result's raw progress (unrounded, may pass 1), or None when it cannot be scored."""
    current = kr.current
    if is_blank(current):
        return 0.0
    if kr.metric == "yes-no":
        return parse_yes_no(current)
    try:
        value = parse_number(current)
    except Unreadable:
        unit.report("bad-number", kr, "current", column=column_name("current", unit.lang), value=str(current))
        return None
    if kr.metric == "milestone":
        if value > 1:
            unit.report("milestone-over-1", kr, "current", value=f"{value:g}")
        return min(max(value, 0.0), 1.0)
    if kr.target is None:
        return None
    if kr.metric == "stay above":
        return 1.0 if value >= kr.target else 0.0
    if kr.metric == "stay below":
        return 1.0 if value <= kr.target else 0.0
    if kr.target == kr.start:
        return None
    return max((value - kr.start) / (kr.target - kr.start), 0.0)


def score_unit(unit: Unit, as_of: dt.date) -> None:
    """Fill progress, score and status on every row and the unit's score."""
    settings = unit.settings
    expected = 0.0
    if settings.cycle_start and settings.cycle_end:
        expected = expected_progress(settings.cycle_start, settings.cycle_end, as_of)
    for kr in unit.krs:
        _score_kr(kr, unit, expected)
    objective_scores: list[tuple[float, float]] = []
    for objective in unit.objectives:
        _score_objective(objective, unit, expected)
        if objective.score is not None:
            objective_scores.append((objective.score, objective.weight))
    unit.score = weighted_mean(objective_scores)
    unit.coverage = Coverage(sum(o.coverage.measured for o in unit.objectives if o.coverage),
                             sum(o.coverage.total for o in unit.objectives if o.coverage))


def _score_kr(kr: Row, unit: Unit, expected: float) -> None:
    if kr.has_error:
        kr.status = "no data"
        return
    if kr.metric in NUMERIC_METRICS or kr.metric.startswith("stay"):
        if kr.target is None:
            kr.status = "no data"
            return
    progress = kr_progress(kr, unit)
    if progress is None or kr.has_error:
        kr.status = "no data"
        return
    kr.progress = round2(progress)
    kr.score = round2(min(progress, 1.0))
    if is_blank(kr.current):
        kr.status = "no data"
        return
    commitment = kr.objective.commitment if kr.objective else "aspirational"
    kr.status = status_for(kr.score, commitment, expected)


def _measured(kr: Row) -> bool:
    """A key result counts as measured when it has a score from a Current someone typed or sourced."""
    return kr.score is not None and not is_blank(kr.current)


def _score_objective(objective: Row, unit: Unit, expected: float) -> None:
    objective.coverage = Coverage(sum(1 for kr in objective.krs if _measured(kr)), len(objective.krs))
    scored = [kr for kr in objective.krs if kr.score is not None]
    unscored = [kr for kr in objective.krs if kr.score is None]
    if unscored:
        unit.report("unscored-krs", objective, "id", count=len(unscored),
                    ids=", ".join(kr.local_id or "?" for kr in unscored))
    if objective.has_error or not scored:
        objective.status = "no data"
        return
    objective.score = weighted_mean([(kr.score or 0.0, kr.weight) for kr in scored])
    objective.progress = weighted_mean([(min(kr.progress or 0.0, 1.0), kr.weight) for kr in scored])
    if all(is_blank(kr.current) for kr in scored):
        objective.status = "no data"
    else:
        assert objective.score is not None
        objective.status = status_for(objective.score, objective.commitment, expected)


def end_of_cycle_findings(unit: Unit, as_of: dt.date) -> None:
    """At the cycle's end: committed below 1.0, aspirational at 1.0, anything below 0.4."""
    end = unit.settings.cycle_end
    if end is None or as_of < end:
        return
    for objective in unit.objectives:
        score = objective.score
        if score is None:
            continue
        if objective.commitment == "committed" and score < 1.0:
            unit.report("committed-below-1", objective, "score", id=objective.local_id,
                        score=f"{score:.2f}")
        if objective.commitment == "aspirational" and score >= 1.0:
            unit.report("aspirational-at-1", objective, "score", id=objective.local_id)
        if score < 0.4:
            unit.report("objective-below-0.4", objective, "score", id=objective.local_id,
                        score=f"{score:.2f}")
