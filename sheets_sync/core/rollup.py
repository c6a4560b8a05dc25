"""The company rollup as plain data: the sheets a rollup workbook or spreadsheet holds."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from .alignment import Company, alignment_tree
from .model import CellValue, Coverage, Finding
from .parse import Row, Unit
from .writeback import check_text

Dependency = tuple[Unit, Row, str, Unit | None, Row | None]

# How a writer formats a column: plain text, whole number, 0.00 score, percentage, status band.
ColumnKind = Literal["text", "int", "score", "percent", "status", "severity"]


@dataclass
class RollupSheet:
    """One sheet of the rollup: headers, per-column kinds and rows of plain values."""

    name: str
    headers: list[str]
    kinds: list[ColumnKind]
    rows: list[list[CellValue]] = field(default_factory=list)
    # Alignment only: tree depth of each row, for indenting the ID/Objective columns.
    depths: list[int] | None = None


@dataclass
class RollupBook:
    """The whole rollup; sheets in order: Rollup, Units, Alignment, Issues, Dependencies."""

    sheets: list[RollupSheet]
    company_score: float | None = None
    as_of: str = ""
    # Key results measured behind the company score (the company unit's), and across every unit.
    company_coverage: Coverage | None = None
    total_coverage: Coverage | None = None

    def sheet(self, name: str) -> RollupSheet:
        """The sheet with this name."""
        for s in self.sheets:
            if s.name == name:
                return s
        raise KeyError(name)

    def fingerprint(self) -> str:
        """A digest of the content, so a writer can skip a rollup that has not changed."""
        payload = [[s.name, s.headers, s.rows, s.depths] for s in self.sheets]
        blob = json.dumps(payload, default=str, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# The rollup's sheets and columns; every rollup writer (xlsx, Google) lays them out in this order.
ROLLUP_SHEETS: dict[str, list[tuple[str, ColumnKind]]] = {
    "Rollup": [
        ("Unit", "text"), ("Level", "text"), ("Type", "text"), ("ID", "text"),
        ("Objective / Key result", "text"), ("Owner", "text"), ("Aligns to", "text"),
        ("Progress", "percent"), ("Score", "score"), ("Status", "status"), ("Check", "text"),
        ("Measured", "text"),
    ],
    "Units": [
        ("Unit", "text"), ("Name", "text"), ("Level", "text"), ("Parent unit", "text"),
        ("Objectives", "int"), ("Key results", "int"), ("Score", "score"),
        ("Errors", "int"), ("Warnings", "int"), ("Source", "text"),
        ("On track", "int"), ("At risk", "int"), ("Off track", "int"), ("Done", "int"),
        ("No data", "int"), ("Measured", "int"),
    ],
    "Alignment": [
        ("ID", "text"), ("Objective", "text"), ("Unit", "text"), ("Score", "score"),
        ("Aligned score", "score"), ("Status", "status"),
    ],
    "Issues": [
        ("Severity", "severity"), ("Rule", "text"), ("Where", "text"), ("Message", "text"),
        ("Unit", "text"),
    ],
    "Dependencies": [
        ("From", "text"), ("To", "text"), ("To's status", "status"), ("Note", "text"),
    ],
}


def empty_sheet(name: str) -> RollupSheet:
    """A rollup sheet with the standard headers and no rows."""
    columns = ROLLUP_SHEETS[name]
    return RollupSheet(name, [c for c, _ in columns], [k for _, k in columns])


def build_rollup(
    units: list[Unit],
    company: Company,
    edges: list[Dependency],
    as_of: str,
    failed: list[Finding] | None = None,
) -> RollupBook:
    """Consolidate every unit into the rollup's sheets."""
    sheets = {name: empty_sheet(name) for name in ROLLUP_SHEETS}
    ordered = sorted(units, key=lambda u: (company.rank(u), u.code or "", u.source))
    for unit in ordered:
        level = unit.settings.level or ""
        for row in unit.rows:
            sheets["Rollup"].rows.append([
                unit.code, level, row.kind, unit.global_id(row) if row.local_id else None,
                row.text, row.owner, row.aligns_to, row.progress, row.score,
                row.status, check_text(unit, row), measured_text(row),
            ])
        counts = Counter(r.status for r in unit.rows if r.kind)
        sheets["Units"].rows.append([
            unit.code, unit.settings.unit_name, level, unit.settings.parent,
            len(unit.objectives), len(unit.krs), unit.score,
            sum(1 for f in unit.findings if f.severity == "error"),
            sum(1 for f in unit.findings if f.severity == "warning"),
            unit.source,
            counts["on track"], counts["at risk"], counts["off track"], counts["done"],
            counts["no data"], unit.coverage.measured if unit.coverage else 0,
        ])
    alignment = sheets["Alignment"]
    alignment.depths = []
    for depth, unit, objective in alignment_tree(company):
        alignment.rows.append([unit.global_id(objective), objective.text, unit.code,
                               objective.score, objective.aligned_score, objective.status])
        alignment.depths.append(depth)
    for finding in [f for u in ordered for f in u.findings] + list(failed or []):
        sheets["Issues"].rows.append([finding.severity, finding.rule, str(finding.place),
                                      finding.message, finding.unit])
    for unit, row, target, target_unit, target_row in edges:
        if target_row is None or target_unit is None:
            note = "unknown ID"
            status = None
        else:
            status = target_row.status
            note = "off track: talk to the owner" if target_row.status == "off track" else ""
        sheets["Dependencies"].rows.append([unit.global_id(row), target, status, note])
    companies = [u for u in ordered if u.settings.level == "company" and not u.unusable and u.coverage]
    scored = [u for u in companies if u.score is not None]
    head = scored[0] if scored else (companies[0] if companies else None)
    covered = [u.coverage for u in ordered if u.coverage and not u.unusable]
    return RollupBook(list(sheets.values()), company_score=head.score if head else None, as_of=as_of,
                      company_coverage=head.coverage if head else None,
                      total_coverage=Coverage(sum(c.measured for c in covered), sum(c.total for c in covered)))


def measured_text(row: Row) -> str | None:
    """The rollup's Measured cell: "2 of 3" on an objective, yes / no on a key result."""
    if row.is_objective and row.coverage is not None:
        return f"{row.coverage.measured} of {row.coverage.total}"
    if row.is_kr:
        return "yes" if row.measured else "no"
    return None

