"""Progress, score and status exactly as the standard's scoring section says."""

from __future__ import annotations

import datetime as dt

from .bands import GRADE_GREEN, GRADE_YELLOW
from .messages import column_name, coverage_text
from .model import Coverage
from .parse import NUMERIC_METRICS, Row, Unit
from .values import (
    Unreadable,
    as_text,
    is_blank,
    parse_number,
    parse_yes_no,
    round2,
    typed_with,
    weighted_mean,
)

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


# Errors on an objective's own row that concern its measurement; others (Aligns to...) leave its score.
_MEASUREMENT_KEYS = frozenset({"type", "id", "weight", ""})
PROGRESS_WARNING = 2.0  # progress above 200% is most often a typo
PERCENT_PLAIN_LIMIT = 1.5  # a percent figure typed plain above this is meant as "93%", not 9300%
_UNIT_SCALE = 1000  # Current below a thousandth of a 万-typed Target is most often missing its 万


def kr_progress(kr: Row, unit: Unit) -> float | None:
    """A key result's raw progress (unrounded, may pass 1), or None when it cannot be scored."""
    current = kr.current
    if is_blank(current):
        return None
    if kr.metric == "yes-no":
        return parse_yes_no(current)
    if isinstance(current, dt.date):
        unit.report("date-in-number", kr, "current", column=column_name("current", unit.lang),
                    value=as_text(current))
        return None
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
    if kr.metric == "percent" and not _percent_scale_ok(kr, unit, value):
        return None
    if kr.metric == "stay above":
        return 1.0 if value >= kr.target else 0.0
    if kr.metric == "stay below":
        return 1.0 if value <= kr.target else 0.0
    if kr.target == kr.start:
        return None
    progress = max((value - kr.start) / (kr.target - kr.start), 0.0)
    _scale_warnings(kr, unit, value, progress)
    return progress


def _percent_scale_ok(kr: Row, unit: Unit, current: float) -> bool:
    """Percent figures on one scale: with 88% and 97% about, a plain 93 is an error, not 9300%."""
    figures = {"start": (kr.typed.get("start"), kr.start), "target": (kr.typed.get("target"), kr.target),
               "current": (kr.typed.get("current", kr.current), current)}
    if kr.source and kr.source_value is not None:
        figures["current"] = (kr.source_value, current)
    # A figure is a percentage when typed with % or a fraction (a %-formatted cell holds 0.88).
    fractions = any(typed_with(raw) == "%" or (value is not None and 0 < abs(value) < 1)
                    for raw, value in figures.values() if not is_blank(raw))
    if not fractions:
        return True  # all on one scale (percentage points: 0 → 100), read as typed
    ok = True
    for key, (raw, value) in figures.items():
        if is_blank(raw) or value is None or typed_with(raw) == "%" or abs(value) <= PERCENT_PLAIN_LIMIT:
            continue
        shown = f"{value:g}"
        unit.report("percent-scale", kr, key, column=column_name(key, unit.lang), value=shown,
                    percent=f"{value * 100:,.0f}%", fraction=f"{value / 100:g}")
        ok = False
    return ok


def _scale_warnings(kr: Row, unit: Unit, current: float, progress: float) -> None:
    """Figures that read but look mistyped: progress over 200%, a Current missing the 万 of its Target."""
    lang = unit.lang
    typed_current = kr.source_value if kr.source and kr.source_value is not None else kr.typed.get("current")
    for key in ("target", "start"):
        suffix = typed_with(kr.typed.get(key))
        reference = kr.target if key == "target" else kr.start
        if suffix in ("万", "亿") and typed_with(typed_current) is None and reference \
                and 0 < abs(current) < abs(reference) / _UNIT_SCALE:
            unit.report("unit-scale", kr, "current", column=column_name("current", lang),
                        value=f"{current:g}", suffix=suffix, other=column_name(key, lang),
                        progress=_percent(progress))
            return
    if progress > PROGRESS_WARNING:
        unit.report("progress-over-2", kr, "current", progress=_percent(progress),
                    start=as_text(kr.typed.get("start")) or "0", target=as_text(kr.typed.get("target")) or "",
                    current=as_text(typed_current) or f"{current:g}")


def _percent(value: float) -> str:
    return f"{value * 100:,.0f}%"


def score_unit(unit: Unit, as_of: dt.date) -> None:
    """Fill progress, score, status and coverage on every row, and the unit's score and coverage."""
    settings = unit.settings
    unit.as_of = as_of
    expected = 0.0
    if settings.cycle_start and settings.cycle_end:
        expected = expected_progress(settings.cycle_start, settings.cycle_end, as_of)
    for kr in unit.krs:
        _score_kr(kr, unit, expected, as_of)
    for objective in unit.objectives:
        _score_objective(objective, unit, expected)
    unit.score = mean_counting_unscored([(o.score, o.weight) for o in unit.objectives])
    unit.coverage = Coverage(sum(1 for kr in unit.krs if kr.measured), len(unit.krs))


def mean_counting_unscored(pairs: list[tuple[float | None, float]]) -> float | None:
    """Weighted mean where a missing score counts as 0; None when nothing has a score."""
    if all(score is None for score, _ in pairs):
        return None
    return weighted_mean([(score or 0.0, weight) for score, weight in pairs])


def _keep_level_ended(kr: Row, unit: Unit, as_of: dt.date) -> bool:
    """Whether a keep-level KR's period is over: its Due date, or else the cycle's end, has come."""
    end = kr.due or unit.settings.cycle_end
    return end is not None and as_of >= end


def _score_kr(kr: Row, unit: Unit, expected: float, as_of: dt.date) -> None:
    kr.status = "no data"
    if kr.has_error:
        return
    if kr.metric in NUMERIC_METRICS or kr.metric.startswith("stay"):
        if kr.target is None:
            return
    progress = kr_progress(kr, unit)
    if progress is None or kr.has_error:
        return
    kr.progress = round2(progress)
    kr.score = round2(min(progress, 1.0))
    kr.measured = True
    if kr.metric.startswith("stay"):
        # A level must be held to the end: held is on pace, not done, until the period is over.
        if kr.score < 1.0:
            kr.status = "off track"
        else:
            kr.status = "done" if _keep_level_ended(kr, unit, as_of) else "on track"
        return
    commitment = kr.objective.commitment if kr.objective else "aspirational"
    kr.status = status_for(kr.score, commitment, expected)


def _score_objective(objective: Row, unit: Unit, expected: float) -> None:
    krs = objective.krs
    objective.coverage = Coverage(sum(1 for kr in krs if kr.measured), len(krs))
    objective.status = "no data"
    unmeasured = [kr for kr in krs if not kr.measured]
    if krs and unmeasured:
        unit.report("unscored-krs", objective, "id",
                    coverage=coverage_text(objective.coverage.measured, len(krs), unit.lang),
                    ids=", ".join(kr.local_id or "?" for kr in unmeasured))
    if objective.error_keys & _MEASUREMENT_KEYS or not objective.coverage.measured:
        return
    # Every key result counts: an unmeasured one as 0, so a missing figure never raises the score.
    objective.score = weighted_mean([(kr.score or 0.0, kr.weight) for kr in krs])
    objective.progress = weighted_mean([(min(kr.progress or 0.0, 1.0), kr.weight) for kr in krs])
    assert objective.score is not None
    status = status_for(objective.score, objective.commitment, expected)
    if status == "done" and any(kr.status != "done" for kr in krs):
        status = "on track"  # at 1.0 but a level still to hold: done only when every key result is
    objective.status = status


def end_of_cycle_findings(unit: Unit, as_of: dt.date) -> None:
    """At the cycle's end: committed below 1.0, aspirational at 1.0, anything below the yellow grade band."""
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
        if score < GRADE_YELLOW:
            unit.report("objective-below-0.4", objective, "score", id=objective.local_id,
                        score=f"{score:.2f}", floor=f"{GRADE_YELLOW:.1f}")
