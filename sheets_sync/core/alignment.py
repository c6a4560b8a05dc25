"""Alignment across units: vertical (Aligns to, aligned score, the tree) and horizontal (Depends on)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from . import schema
from .messages import finding
from .model import Finding, Place
from .parse import Row, Unit
from .values import round2


@dataclass
class Company:
    """Every usable unit of a sync, indexed by unit code and by global ID."""

    units: list[Unit]
    by_code: dict[str, Unit] = field(default_factory=dict)
    by_global_id: dict[str, tuple[Unit, Row]] = field(default_factory=dict)
    # Objectives aligned to each objective (directly or through one of its KRs), by the target's global ID.
    children: dict[str, list[tuple[Unit, Row]]] = field(default_factory=lambda: defaultdict(list))
    # The cycle these units belong to, and the global IDs of other cycles' units (normalized -> cycle name), so
    # a reference into another cycle is named as such instead of "unknown".
    cycle: str | None = None
    other_cycles: dict[str, str] = field(default_factory=dict)

    @classmethod
    def index(cls, units: list[Unit]) -> Company:
        """Index units by code (first one wins; duplicates are reported) and rows by global ID."""
        company = cls(units)
        for unit in units:
            code = (unit.code or "").upper()
            if not code:
                continue
            if code in company.by_code:
                other = company.by_code[code]
                unit.findings.append(_settings_finding(unit, "duplicate-unit", "unit_code",
                                                       code=unit.code, other=other.source))
                unit.unusable = True
                continue
            company.by_code[code] = unit
            for row in unit.rows:
                if row.local_id and row.kind:
                    company.by_global_id.setdefault(_key(unit.code or "", row.local_id), (unit, row))
        return company

    def elsewhere(self, global_id: str) -> str | None:
        """The other cycle a global ID belongs to, if it is none of this cycle's."""
        code, _, local = global_id.partition("/")
        return self.other_cycles.get(_key(code, local)) if local else None

    def lookup(self, global_id: str) -> tuple[Unit, Row] | None:
        """The unit and row of a global ID such as MKT/KR1.2 (case-insensitive)."""
        code, _, local = global_id.partition("/")
        if not local:
            return None
        return self.by_global_id.get(_key(code, local))

    def rank(self, unit: Unit) -> int:
        return schema.LEVEL_RANK.get(unit.settings.level or "", 99)


def _key(code: str, local_id: str) -> str:
    return f"{code.strip().upper()}/{local_id.strip().upper()}"


def _settings_finding(unit: Unit, rule: str, key: str, **values: Any) -> Finding:
    """A finding on a Settings row (unit code, parent unit)."""
    row = unit.settings.rows.get(key)
    place = Place(unit.source, unit.settings_sheet, row, 2 if row else None)
    return finding(rule, place, unit.lang, unit=unit.code, **values)


def check_alignment(company: Company) -> None:
    """Report unknown parents, bad Aligns to and Depends on, cycles, unaligned and copied objectives."""
    for unit in company.units:
        if unit.unusable:
            continue
        parent = unit.settings.parent
        if parent and parent.upper() not in company.by_code:
            unit.findings.append(_settings_finding(unit, "parent-unknown", "parent", parent=parent))
        elif parent:
            _check_parent_dates(unit, company.by_code[parent.upper()])
        for objective in unit.objectives:
            _check_aligns_to(company, unit, objective)
        for row in unit.rows:
            for target in row.depends_on:
                found = company.lookup(target)
                other = company.elsewhere(target) if found is None else None
                if other is not None:
                    unit.report("dependency-other-cycle", row, "depends_on", target=target, other=other,
                                cycle=company.cycle or "?")
                elif found is None or found[0] is unit:
                    unit.report("dependency-unknown", row, "depends_on", target=target)
    _check_cycles(company)


def _check_parent_dates(unit: Unit, parent: Unit) -> None:
    """A unit of the same cycle as its parent whose Cycle start or end differ from the parent's: a warning."""
    mine, theirs = unit.settings, parent.settings
    if None in (mine.cycle_start, mine.cycle_end, theirs.cycle_start, theirs.cycle_end):
        return
    if (mine.cycle_start, mine.cycle_end) == (theirs.cycle_start, theirs.cycle_end):
        return
    assert mine.cycle_start and mine.cycle_end and theirs.cycle_start and theirs.cycle_end
    unit.findings.append(_settings_finding(
        unit, "cycle-dates-differ", "cycle_start", cycle=mine.cycle or "", start=mine.cycle_start.isoformat(),
        end=mine.cycle_end.isoformat(), parent=parent.code, parent_start=theirs.cycle_start.isoformat(),
        parent_end=theirs.cycle_end.isoformat()))


def _check_aligns_to(company: Company, unit: Unit, objective: Row) -> None:
    target = objective.aligns_to
    if not target:
        if unit.settings.level != "company":
            unit.report("objective-unaligned", objective, "aligns_to", id=objective.local_id)
        return
    found = company.lookup(target)
    if found is None:
        other = company.elsewhere(target)
        if other is not None:
            unit.report("align-other-cycle", objective, "aligns_to", target=target, other=other,
                        cycle=company.cycle or "?")
        else:
            unit.report("align-unknown", objective, "aligns_to", target=target)
        return
    target_unit, target_row = found
    if target_unit is unit or company.rank(target_unit) >= company.rank(unit):
        level = schema.label(schema.LEVELS, target_unit.settings.level or "company", unit.lang) \
            if target_unit.settings.level else "?"
        unit.report("align-not-above", objective, "aligns_to", target=target,
                    target_unit=target_unit.code, level=level)
        return
    if target_row.is_kr and objective.text and target_row.text and \
            schema.normalize(objective.text) == schema.normalize(target_row.text):
        unit.report("copies-parent-kr", objective, "text", id=objective.local_id, target=target)
    parent_objective = target_row if target_row.is_objective else target_row.objective
    if parent_objective is not None:
        company.children[company_key(target_unit, parent_objective)].append((unit, objective))


def company_key(unit: Unit, row: Row) -> str:
    """Normalized global ID of a row."""
    return _key(unit.code or "", row.local_id or "")


def _check_cycles(company: Company) -> None:
    """Follow Aligns to upward from every objective; a walk that returns to itself is a cycle."""
    for unit in company.units:
        for objective in unit.objectives:
            path = [company_key(unit, objective)]
            current: tuple[Unit, Row] | None = (unit, objective)
            while current is not None:
                row = current[1]
                if not row.aligns_to:
                    break
                found = company.lookup(row.aligns_to)
                if found is None:
                    break
                target_unit, target_row = found
                owner = target_row if target_row.is_objective else target_row.objective
                if owner is None:
                    break
                key = company_key(target_unit, owner)
                if key == path[0]:
                    unit.report("align-cycle", objective, "aligns_to", path=" → ".join(path + [key]))
                    break
                if key in path:
                    break
                path.append(key)
                current = (target_unit, owner)


def fill_aligned_scores(company: Company) -> None:
    """Aligned score = plain mean of the scores of the objectives aligned to an objective or its KRs."""
    for unit in company.units:
        for objective in unit.objectives:
            children = company.children.get(company_key(unit, objective), [])
            # An aligned objective without a score counts as 0: a missing figure never raises the mean.
            scores = [row.score for _, row in children]
            measured = any(score is not None for score in scores)
            objective.aligned_score = round2(sum(s or 0.0 for s in scores) / len(scores)) if measured else None


def dependency_findings(company: Company) -> list[tuple[Unit, Row, str, Unit | None, Row | None]]:
    """Warn where something depended on is off track; return every dependency for the rollup."""
    edges: list[tuple[Unit, Row, str, Unit | None, Row | None]] = []
    for unit in company.units:
        for row in unit.rows:
            for target in row.depends_on:
                found = company.lookup(target)
                if found is None or found[0] is unit:
                    edges.append((unit, row, target, None, None))
                    continue
                target_unit, target_row = found
                edges.append((unit, row, target, target_unit, target_row))
                if target_row.status == "off track":
                    unit.report("dependency-off-track", row, "depends_on", target=target,
                                score=f"{target_row.score:.2f}" if target_row.score is not None else "-",
                                target_unit=target_unit.code)
    return edges


def alignment_tree(company: Company) -> list[tuple[int, Unit, Row]]:
    """Objectives as a tree from the company down (depth, unit, objective); unaligned ones last."""
    out: list[tuple[int, Unit, Row]] = []
    seen: set[str] = set()

    def walk(unit: Unit, objective: Row, depth: int) -> None:
        key = company_key(unit, objective)
        if key in seen:
            return
        seen.add(key)
        out.append((depth, unit, objective))
        for child_unit, child in company.children.get(key, []):
            walk(child_unit, child, depth + 1)

    ordered = sorted(company.by_code.values(), key=lambda u: (company.rank(u), u.code or ""))
    for unit in ordered:
        if unit.settings.level == "company":
            for objective in unit.objectives:
                walk(unit, objective, 0)
    for unit in ordered:
        for objective in unit.objectives:
            walk(unit, objective, 0)
    return out
