"""The validator's rules that need only one unit: IDs, structure, measurability, dates."""

from __future__ import annotations

import re
from collections import defaultdict

from .messages import finding
from .model import Place
from .parse import NUMERIC_METRICS, Row, Unit

MAX_OBJECTIVES = 5
MAX_KRS = 5
_OBJECTIVE_NUMBER = re.compile(r"(?i)O(\d+)")
_KR_NUMBER = re.compile(r"(?i)KR(\d+)")


def objective_id_for(kr_id: str) -> str | None:
    """KR2.3 → O2: a key result belongs to the objective whose number it starts with."""
    match = _KR_NUMBER.match(kr_id)
    return f"O{int(match.group(1))}" if match else None


def _id_key(local_id: str) -> str:
    return local_id.upper()


def link_rows(unit: Unit) -> None:
    """Attach each key result to its objective; report duplicate IDs and orphan key results."""
    by_id: dict[str, list[Row]] = defaultdict(list)
    for row in unit.rows:
        if row.local_id:
            by_id[_id_key(row.local_id)].append(row)
    for rows in by_id.values():
        if len(rows) > 1:
            numbers = ", ".join(str(r.sheet_row) for r in rows)
            for row in rows:
                unit.report("duplicate-id", row, "id", id=row.local_id, rows=numbers)
    objectives: dict[int, Row] = {}
    for row in unit.objectives:
        match = _OBJECTIVE_NUMBER.fullmatch(row.local_id or "")
        if match and int(match.group(1)) not in objectives:
            objectives[int(match.group(1))] = row
    for kr in unit.krs:
        if not kr.local_id:
            continue
        match = _KR_NUMBER.match(kr.local_id)
        parent = objectives.get(int(match.group(1))) if match else None
        if parent is None:
            wanted = objective_id_for(kr.local_id) or "O?"
            unit.report("kr-without-objective", kr, "id", id=kr.local_id, objective=wanted)
            continue
        kr.objective = parent
        parent.krs.append(kr)


def check_unit(unit: Unit) -> None:
    """Every single-unit rule: structure, measurability, alignment placement, dates."""
    link_rows(unit)
    objectives = unit.objectives
    if not unit.rows:
        place = Place(unit.source, unit.okrs_sheet, unit.header_row)
        unit.findings.append(finding("no-objectives", place, unit.lang, unit=unit.code))
    if len(objectives) > MAX_OBJECTIVES:
        unit.report("too-many-objectives", objectives[MAX_OBJECTIVES], "id", count=len(objectives))
    for objective in objectives:
        if not objective.krs:
            unit.report("objective-without-krs", objective, "id", id=objective.local_id)
        elif len(objective.krs) > MAX_KRS:
            unit.report("too-many-krs", objective, "id", id=objective.local_id,
                        count=len(objective.krs))
    settings = unit.settings
    for kr in unit.krs:
        if kr.aligns_to:
            unit.report("align-on-kr", kr, "aligns_to", id=kr.local_id)
        measured_by_target = kr.metric in NUMERIC_METRICS or kr.metric.startswith("stay")
        # Without a Target column the header row carries one missing-input-column error instead.
        if measured_by_target and kr.target is None and "target" in unit.columns \
                and not _cell_has_error(unit, kr, "target"):
            unit.report("kr-not-measurable", kr, "target", id=kr.local_id)
        if kr.metric in NUMERIC_METRICS and kr.target is not None and kr.target == kr.start:
            unit.report("target-equals-start", kr, "target", value=f"{kr.target:g}")
        if kr.due and settings.cycle_start and settings.cycle_end and not (
            settings.cycle_start <= kr.due <= settings.cycle_end
        ):
            unit.report("due-outside-cycle", kr, "due", due=kr.due.isoformat(),
                        start=settings.cycle_start.isoformat(), end=settings.cycle_end.isoformat())


def _cell_has_error(unit: Unit, row: Row, key: str) -> bool:
    """Whether a cell already carries an error, so a derived finding would only add noise."""
    col = unit.columns.get(key)
    return any(f.severity == "error" and f.place.col == col for f in row.findings)
