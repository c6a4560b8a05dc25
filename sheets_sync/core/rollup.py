"""The company rollup as plain data: the sheets a rollup workbook or spreadsheet holds."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from . import bands, scoring
from .alignment import Company, alignment_tree
from .model import CellValue, Coverage, Finding
from .parse import Row, Unit
from .writeback import check_text

Dependency = tuple[Unit, Row, str, Unit | None, Row | None]

# How a writer formats a column: plain text, whole number, 0.00 score, percentage, status band.
# The first sheet of every rollup (xlsx and Google), built from the model's sheets by RollupBook.summary().
SUMMARY_SHEET = "Summary"
ColumnKind = Literal["text", "int", "number", "score", "percent", "status", "severity"]
# Kinds of the cells that take a row's tone (its one colour).
TONED: frozenset[str] = frozenset({"score", "percent", "status", "severity"})
SEVERITY_TONES: dict[str, str] = {"error": "red", "warning": "yellow", "错误": "red", "警告": "yellow"}
_STATUS_WORDS = {w.strip().casefold(): s for s, labels in bands.STATUS_LABELS.items() for w in (s, *labels)}


def canonical_status(value: object) -> str | None:
    """'有风险' or ' At risk' -> 'at risk'; None for anything that is not a status."""
    return _STATUS_WORDS.get(value.strip().casefold()) if isinstance(value, str) else None


def severity_tone(value: object) -> str | None:
    """The colour of a finding's severity (error red, warning yellow), None for anything else."""
    return SEVERITY_TONES.get(value.strip().casefold()) if isinstance(value, str) else None


@dataclass
class RollupSheet:
    """One sheet of the rollup: column keys, headers, kinds and rows of plain values.

    Readers find a column by its key, never by its title, which may be renamed or translated.
    """

    name: str
    headers: list[str]
    kinds: list[ColumnKind]
    rows: list[list[CellValue]] = field(default_factory=list)
    # Alignment only: tree depth of each row, for indenting the ID/Objective columns.
    depths: list[int] | None = None
    keys: list[str] = field(default_factory=list)
    # Each row's one colour (a bands.PALETTE name) for its toned cells; None: worked out from the row (in cycle).
    tones: list[str | None] | None = None
    # Rows set apart (objective rows of the Rollup sheet).
    strong: list[bool] | None = None

    def col(self, key: str) -> int | None:
        """The index of the column with this key, None when the sheet has none."""
        return self.keys.index(key) if key in self.keys else None

    def value(self, row: list[CellValue], key: str) -> CellValue:
        """A row's value in the column with this key (None when absent)."""
        col = self.col(key)
        return row[col] if col is not None and col < len(row) else None

    def tone(self, index: int) -> str | None:
        """The colour of a row's toned cells (Progress, Score, Status, Severity), None for none."""
        if self.tones is not None and index < len(self.tones):
            return self.tones[index]
        return row_tone(self, self.rows[index], ended=False)

    def is_strong(self, index: int) -> bool:
        """Whether a row is set apart (bold, shaded)."""
        return bool(self.strong and index < len(self.strong) and self.strong[index])


def row_tone(sheet: RollupSheet, row: list[CellValue], ended: bool) -> str | None:
    """A row's one colour: its severity's, else bands.tone of its status and score; None without either."""
    if sheet.col("severity") is not None:
        return severity_tone(sheet.value(row, "severity"))
    if sheet.col("status") is None and sheet.col("score") is None:
        return None
    score = sheet.value(row, "score")
    number = float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None
    return bands.tone(canonical_status(sheet.value(row, "status")), number, ended)


@dataclass(frozen=True)
class Summary:
    """The rollup's Summary sheet: the company's figures, the same in every rollup writer."""

    company_score: float | None
    company_tone: str
    as_of: str
    units: int
    objectives: int
    key_results: int
    statuses: dict[str, int]  # canonical status -> objectives and key results, in bands.STATUS_ORDER
    errors: int
    warnings: int


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

    def find(self, name: str) -> RollupSheet | None:
        """The sheet with this name, None when there is none."""
        return next((s for s in self.sheets if s.name == name), None)

    @property
    def sheet_names(self) -> list[str]:
        """Every sheet a rollup writer lays out, in order: the Summary first, then the model's sheets."""
        return [SUMMARY_SHEET, *(s.name for s in self.sheets)]

    def summary(self) -> Summary:
        """The Summary figures, counted from the sheets by column key."""
        units = self.find("Units")
        issues = self.find("Issues")

        def total(sheet: RollupSheet | None, key: str) -> int:
            if sheet is None:
                return 0
            return int(sum(_number(sheet.value(row, key)) for row in sheet.rows))

        def severities(tone: str) -> int:
            if issues is None:
                return 0
            return sum(1 for row in issues.rows if severity_tone(issues.value(row, "severity")) == tone)

        score = self.company_score if self.company_score is None or math.isfinite(self.company_score) else None
        company_tone = bands.tone(None, score, ended=score is not None)
        if units is not None:
            for i, row in enumerate(units.rows):
                if units.value(row, "level") == "company":
                    company_tone = units.tone(i) or company_tone
                    break
        return Summary(
            company_score=score,
            company_tone=company_tone,
            as_of=self.as_of,
            units=len(units.rows) if units else 0,
            objectives=total(units, "objectives"),
            key_results=total(units, "key_results"),
            statuses={s: total(units, STATUS_COUNT_KEYS[s]) for s in bands.STATUS_ORDER},
            errors=severities("red"),
            warnings=severities("yellow"),
        )

    def fingerprint(self) -> str:
        """A digest of the content, so a writer can skip a rollup that has not changed."""
        payload = [[s.name, s.headers, s.rows, s.depths, [s.tone(i) for i in range(len(s.rows))], s.strong]
                   for s in self.sheets]
        blob = json.dumps(payload, default=str, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _number(value: CellValue) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0.0
    return float(value)


# The Units columns that count rows per status, by canonical status.
STATUS_COUNT_KEYS: dict[str, str] = {s: s.replace(" ", "_") for s in bands.STATUS_ORDER}

# The rollup's sheets and columns (key, title, kind); every rollup writer (xlsx, Google) lays them out in
# this order. Keys are stable: readers (the Summary, the dashboard) use them, so a title may change.
ROLLUP_SHEETS: dict[str, list[tuple[str, str, ColumnKind]]] = {
    "Rollup": [
        ("unit", "Unit", "text"), ("level", "Level", "text"), ("type", "Type", "text"), ("id", "ID", "text"),
        ("text", "Objective / Key result", "text"), ("owner", "Owner", "text"), ("aligns_to", "Aligns to", "text"),
        ("progress", "Progress", "percent"), ("score", "Score", "score"), ("status", "Status", "status"),
        ("check", "Check", "text"), ("measured", "Measured", "text"),
        # What reviewers ask for next to a score; after the scored columns so those keep their letters.
        ("metric", "Metric", "text"), ("start", "Start", "number"), ("target", "Target", "number"),
        ("current", "Current", "number"), ("confidence", "Confidence", "number"), ("due", "Due", "text"),
        ("notes", "Notes", "text"),
    ],
    "Units": [
        ("unit", "Unit", "text"), ("name", "Name", "text"), ("level", "Level", "text"),
        ("parent", "Parent unit", "text"), ("objectives", "Objectives", "int"), ("key_results", "Key results", "int"),
        ("score", "Score", "score"), ("errors", "Errors", "int"), ("warnings", "Warnings", "int"),
        ("source", "Source", "text"),
        ("on_track", "On track", "int"), ("at_risk", "At risk", "int"), ("off_track", "Off track", "int"),
        ("done", "Done", "int"), ("no_data", "No data", "int"),
        ("status", "Status", "status"), ("measured", "Measured", "int"),
    ],
    "Alignment": [
        ("id", "ID", "text"), ("objective", "Objective", "text"), ("unit", "Unit", "text"),
        ("score", "Score", "score"), ("aligned_score", "Aligned score", "score"), ("status", "Status", "status"),
    ],
    "Issues": [
        ("severity", "Severity", "severity"), ("rule", "Rule", "text"), ("where", "Where", "text"),
        ("message", "Message", "text"), ("unit", "Unit", "text"),
    ],
    "Dependencies": [
        ("from", "From", "text"), ("to", "To", "text"), ("status", "To's status", "status"), ("note", "Note", "text"),
    ],
}


def empty_sheet(name: str) -> RollupSheet:
    """A rollup sheet with the standard keys, headers and kinds and no rows."""
    columns = ROLLUP_SHEETS[name]
    return RollupSheet(name, [t for _, t, _ in columns], [k for _, _, k in columns],
                       keys=[key for key, _, _ in columns])


def unit_status(unit: Unit, as_of: dt.date) -> str:
    """A unit's own pace status, from its score and how far its cycle has gone (no data without a score)."""
    if unit.score is None:
        return "no data"
    start, end = unit.settings.cycle_start, unit.settings.cycle_end
    expected = scoring.expected_progress(start, end, as_of) if start and end else 0.0
    return scoring.status_for(unit.score, "aspirational", expected)


def cycle_ended(unit: Unit, as_of: dt.date) -> bool:
    """Whether a unit's cycle is over on as-of: Score then takes the grade bands."""
    end = unit.settings.cycle_end
    return end is not None and as_of >= end


def _add(sheet: RollupSheet, ended: bool, strong: bool, values: dict[str, CellValue]) -> None:
    """Append one row given by column key, with its tone and whether it is set apart."""
    row = [values.get(key) for key in sheet.keys]
    sheet.rows.append(row)
    assert sheet.tones is not None and sheet.strong is not None
    sheet.tones.append(row_tone(sheet, row, ended))
    sheet.strong.append(strong)


def build_rollup(
    units: list[Unit],
    company: Company,
    edges: list[Dependency],
    as_of: str,
    failed: list[Finding] | None = None,
) -> RollupBook:
    """Consolidate every unit into the rollup's sheets."""
    sheets = {name: empty_sheet(name) for name in ROLLUP_SHEETS}
    for sheet in sheets.values():
        sheet.tones, sheet.strong = [], []
    day = dt.date.fromisoformat(as_of)
    ordered = sorted(units, key=lambda u: (company.rank(u), u.code or "", u.source))
    for unit in ordered:
        level = unit.settings.level or ""
        ended = cycle_ended(unit, day)
        for row in unit.rows:
            _add(sheets["Rollup"], ended, row.kind == "O", {
                "unit": unit.code, "level": level, "type": row.kind,
                "id": unit.global_id(row) if row.local_id else None, "text": row.text, "owner": row.owner,
                "aligns_to": row.aligns_to, **_figures(row), "progress": row.progress, "score": row.score,
                "status": row.status, "measured": measured_text(row), "check": check_text(unit, row),
                "notes": row.notes,
            })
        counts = Counter(r.status for r in unit.rows if r.kind)
        _add(sheets["Units"], ended, False, {
            "unit": unit.code, "name": unit.settings.unit_name, "level": level, "parent": unit.settings.parent,
            "objectives": len(unit.objectives), "key_results": len(unit.krs), "score": unit.score,
            "measured": unit.coverage.measured if unit.coverage else 0,
            "errors": sum(1 for f in unit.findings if f.severity == "error"),
            "warnings": sum(1 for f in unit.findings if f.severity == "warning"),
            "source": unit.source,
            **{key: counts[status] for status, key in STATUS_COUNT_KEYS.items()},
            "status": unit_status(unit, day),
        })
    alignment = sheets["Alignment"]
    alignment.depths = []
    for depth, unit, objective in alignment_tree(company):
        _add(alignment, cycle_ended(unit, day), False, {
            "id": unit.global_id(objective), "objective": objective.text, "unit": unit.code,
            "score": objective.score, "aligned_score": objective.aligned_score, "status": objective.status,
        })
        alignment.depths.append(depth)
    for finding in [f for u in ordered for f in u.findings] + list(failed or []):
        _add(sheets["Issues"], False, False, {
            "severity": finding.severity, "rule": finding.rule, "where": str(finding.place),
            "message": finding.message, "unit": finding.unit,
        })
    for unit, row, target, target_unit, target_row in edges:
        if target_row is None or target_unit is None:
            note = "unknown ID"
            status = None
        else:
            status = target_row.status
            note = "off track: talk to the owner" if target_row.status == "off track" else ""
        # The status of what is depended on is the pace of work still to come: always in-cycle colours.
        _add(sheets["Dependencies"], False, False,
             {"from": unit.global_id(row), "to": target, "status": status, "note": note})
    companies = [u for u in ordered if u.settings.level == "company" and not u.unusable and u.coverage]
    scored = [u for u in companies if u.score is not None]
    head = scored[0] if scored else (companies[0] if companies else None)
    covered = [u.coverage for u in ordered if u.coverage and not u.unusable]
    return RollupBook(list(sheets.values()), company_score=head.score if head else None, as_of=as_of,
                      company_coverage=head.coverage if head else None,
                      total_coverage=Coverage(sum(c.measured for c in covered), sum(c.total for c in covered)))


def _figures(row: Row) -> dict[str, CellValue]:
    """What reviewers ask for next to a key result's score: its metric and figures as typed and read."""
    # Due as ISO text: the same cell in every rollup backend (Google keeps dates as text).
    due = row.due.isoformat() if row.due else None
    if not row.is_kr:
        return {"confidence": row.confidence, "due": due}
    current = row.current if isinstance(row.current, int | float | str) and not isinstance(row.current, bool) \
        else None
    return {"metric": row.metric, "start": row.start, "target": row.target, "current": current,
            "confidence": row.confidence, "due": due}


def measured_text(row: Row) -> str | None:
    """The rollup's Measured cell: "2 of 3" on an objective, yes / no on a key result."""
    if row.is_objective and row.coverage is not None:
        return f"{row.coverage.measured} of {row.coverage.total}"
    if row.is_kr:
        return "yes" if row.measured else "no"
    return None

