"""What `new-cycle` carries into the next cycle: the objectives and key results marked in the Carry over column."""

from __future__ import annotations

import re
from typing import Any

from . import schema
from .model import CellValue
from .parse import NUMERIC_METRICS, Row, Unit
from .values import is_blank

# The optional input column (docs/okr-workbook-standard.md, Cycles), matched like every header.
HEADERS = ("Carry over", "延续")
_HEADER_KEYS = {schema.normalize(h) for h in (*HEADERS, "carryover", "carry", "结转")}
_YES = {schema.normalize(v) for v in ("yes", "y", "x", "✓", "✔", "true", "1", "是", "延续", "结转", "carry")}
# Columns copied as typed; Current, Confidence, Due, Notes and the computed ones start blank.
_COPIED = ("type", "id", "text", "owner", "commitment", "weight", "metric", "target", "source")


def carry_column(unit: Unit) -> int | None:
    """The 1-based column of Carry over in the unit's OKRs sheet, None without one."""
    if unit.okrs_sheet is None or unit.header_row is None:
        return None
    header = unit.raw.sheets.get(unit.okrs_sheet, [])[unit.header_row - 1]
    for col, value in enumerate(header, start=1):
        if isinstance(value, str) and schema.normalize(value) in _HEADER_KEYS:
            return col
    return None


def _marked(value: CellValue) -> bool:
    if value is True:
        return True
    if is_blank(value) or isinstance(value, bool):
        return False
    return schema.normalize(str(value)) in _YES


def marked_rows(unit: Unit) -> list[Row]:
    """The rows to carry, in sheet order: a marked objective with all its key results; a marked key result with
    its objective's row."""
    col = carry_column(unit)
    if col is None or unit.okrs_sheet is None:
        return []
    grid = unit.raw.sheets[unit.okrs_sheet]

    def cell(row: Row) -> CellValue:
        line = grid[row.sheet_row - 1] if row.sheet_row <= len(grid) else []
        return line[col - 1] if col <= len(line) else None

    keep: set[int] = set()
    for row in unit.rows:
        if row.has_error or not row.kind or not _marked(cell(row)):
            continue
        keep.add(row.sheet_row)
        if row.is_objective:
            keep.update(kr.sheet_row for kr in row.krs)
        elif row.objective is not None:
            keep.add(row.objective.sheet_row)
    return [r for r in unit.rows if r.sheet_row in keep]


def carried_cells(unit: Unit, row: Row, carried_ids: set[str]) -> dict[str, Any]:
    """The row's cells in the next cycle's workbook: as typed, with the latest Current as the new Start.

    Aligns to and Depends on are kept only where their target is carried too (else they would point at
    nothing); everything else is left for people to write.
    """
    assert unit.okrs_sheet is not None
    line = unit.raw.sheets[unit.okrs_sheet][row.sheet_row - 1]
    out: dict[str, Any] = {}
    for key in _COPIED:
        col = unit.columns.get(key)
        value = line[col - 1] if col and col <= len(line) else None
        if not is_blank(value):
            out[key] = value
    if row.is_kr:
        if row.metric in NUMERIC_METRICS and isinstance(row.current, (int, float)) and \
                not isinstance(row.current, bool):
            out["start"] = row.current
        elif not is_blank(row.start):
            out["start"] = row.start
    if row.aligns_to and _norm(row.aligns_to) in carried_ids:
        out["aligns_to"] = row.aligns_to
    kept = [t for t in row.depends_on if _norm(t) in carried_ids]
    if kept:
        out["depends_on"] = ", ".join(kept)
    return out


def _norm(global_id: str) -> str:
    return re.sub(r"\s+", "", global_id).upper()


def global_ids(unit: Unit, rows: list[Row]) -> set[str]:
    """The normalized global IDs of carried rows."""
    return {_norm(f"{unit.code}/{r.local_id}") for r in rows if unit.code and r.local_id}
