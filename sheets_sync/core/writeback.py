"""What a sync writes into a unit's workbook: computed cells, sourced Current, History rows."""

from __future__ import annotations

import datetime as dt

from . import schema
from .model import CellUpdate, CellValue, OwnedSheet, WorkbookChanges
from .parse import Row, Unit
from .values import Unreadable, as_text, is_blank, parse_number, same_value

CHECK_MARKS = {"error": "✖", "warning": "⚠"}


def check_text(unit: Unit, row: Row) -> str | None:
    """The row's Check cell: one line per finding, the cell it concerns first."""
    lines = []
    for item in row.findings:
        cell = item.place.cell
        prefix = f"{cell}: " if cell and item.place.col else ""
        lines.append(f"{CHECK_MARKS[item.severity]} {prefix}{item.message}")
    return "\n".join(lines) or None


def computed_values(unit: Unit, row: Row) -> dict[str, CellValue]:
    """The computed columns of one row, as they should read after the sync."""
    status = schema.label(schema.STATUSES, row.status, unit.lang) if row.status else None
    values: dict[str, CellValue] = {
        "progress": row.progress,
        "score": row.score,
        "status": status,
        "check": check_text(unit, row),
    }
    if row.is_objective:
        values["aligned_score"] = row.aligned_score
    return values


def plan_changes(unit: Unit) -> WorkbookChanges:
    """Every cell whose value must change, compared with what the workbook holds now."""
    changes = WorkbookChanges(id_col=unit.columns.get("id"), okrs_sheet=unit.okrs_sheet)
    if unit.okrs_sheet is None or unit.header_row is None:
        return changes
    grid = unit.raw.sheets[unit.okrs_sheet]
    guarded = unit.raw.protected.get(unit.okrs_sheet, {})
    for row in unit.rows:
        line = grid[row.sheet_row - 1]
        wanted = computed_values(unit, row)
        if row.is_kr and row.source and row.source_value is not None:
            wanted["current"] = row.source_value
        for key, new in wanted.items():
            col = unit.columns.get(key)
            if col is None or (row.sheet_row, col) in guarded:
                continue  # no such column, or inside someone's array formula (the row's Check says so)
            old = line[col - 1] if col <= len(line) else None
            if not same_value(old, new):
                changes.updates.append(
                    CellUpdate(unit.okrs_sheet, row.sheet_row, col, old, new, row.local_id))
    history = history_rows(unit)
    if history:
        name = schema.match_sheet(list(unit.raw.sheets), schema.SHEET_HISTORY) or \
            schema.sheet_label(schema.SHEET_HISTORY, unit.lang)
        changes.appends.append(OwnedSheet(name, list(schema.HISTORY_HEADERS[unit.lang]), history))
    return changes


def _comparable(value: CellValue) -> object:
    """A History cell reduced to what decides whether anything changed."""
    if is_blank(value):
        return None
    try:
        return round(parse_number(value), 6)
    except Unreadable:
        return as_text(value)


def last_history(unit: Unit) -> dict[str, tuple[object, object, object]]:
    """The last (current, confidence, score) recorded in History for each KR ID."""
    name = schema.match_sheet(list(unit.raw.sheets), schema.SHEET_HISTORY)
    latest: dict[str, tuple[object, object, object]] = {}
    if name is None:
        return latest
    for line in unit.raw.sheets[name][1:]:
        cells = list(line) + [None] * (7 - len(line))
        row_id = as_text(cells[1])
        if row_id:
            latest[row_id.upper()] = (_comparable(cells[2]), _comparable(cells[3]),
                                      _comparable(cells[5]))
    return latest


def history_rows(unit: Unit, now: dt.datetime | None = None) -> list[list[CellValue]]:
    """One row per KR whose Current, Confidence or Score changed since History last saw it."""
    stamp = (now or dt.datetime.now()).replace(microsecond=0)
    previous = last_history(unit)
    rows: list[list[CellValue]] = []
    for kr in unit.krs:
        if not kr.local_id or kr.has_error:
            continue
        current = kr.source_value if kr.source and kr.source_value is not None else kr.current
        snapshot = (_comparable(current), _comparable(kr.confidence), _comparable(kr.score))
        before = previous.get(kr.local_id.upper())
        if before is None and snapshot[0] is None and snapshot[1] is None:
            continue
        if before == snapshot:
            continue
        status = schema.label(schema.STATUSES, kr.status, unit.lang) if kr.status else None
        rows.append([stamp.strftime("%Y-%m-%d %H:%M:%S"), kr.local_id, _plain(current),
                     kr.confidence, kr.progress, kr.score, status])
    return rows


def _plain(value: CellValue) -> CellValue:
    """A value as History stores it: numbers as numbers (1,500 → 1500), everything else as text."""
    if isinstance(value, bool):
        return str(value).upper()
    try:
        return parse_number(value)
    except Unreadable:
        return as_text(value)
