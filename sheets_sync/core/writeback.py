"""What a sync writes into a unit's workbook: computed cells, sourced Current, History rows."""

from __future__ import annotations

import datetime as dt

from . import schema
from .messages import column_name, coverage_text
from .model import CellUpdate, CellValue, OwnedSheet, WorkbookChanges
from .parse import Row, Unit
from .values import Unreadable, as_text, clean_float, is_blank, parse_number, same_value

CHECK_MARKS = {"error": "✖", "warning": "⚠"}


def check_text(unit: Unit, row: Row) -> str | None:
    """The row's Check cell: one line per finding, the cell it concerns first.

    An objective's Check always says how much of its score is measured: the unscored-krs warning when
    some key result is not, else a plain first line "3 of 3 key results measured".
    """
    lines = []
    coverage = row.coverage
    if row.is_objective and coverage and coverage.total and coverage.complete:
        lines.append(coverage_text(coverage.measured, coverage.total, unit.lang))
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
    for row in unit.rows:
        line = grid[row.sheet_row - 1]
        wanted = computed_values(unit, row)
        if row.is_kr and row.source and row.source_value is not None:
            wanted["current"] = row.source_value
        for key, new in wanted.items():
            col = unit.columns.get(key)
            if col is None:
                continue
            old = line[col - 1] if col <= len(line) else None
            if not same_value(old, new):
                changes.updates.append(CellUpdate(unit.okrs_sheet, row.sheet_row, col, old, new, row.local_id,
                                                  column_name(key, unit.lang)))
    header = _history_header(unit)
    history = history_rows(unit, keys=set(header_keys(header)))
    if history:
        name = schema.match_sheet(list(unit.raw.sheets), schema.SHEET_HISTORY) or \
            schema.sheet_label(schema.SHEET_HISTORY, unit.lang)
        rows = [[record.get(key) for key in header_keys(header)] for record in history]
        changes.appends.append(OwnedSheet(name, header, rows))
    return changes


def header_keys(header: list[str]) -> list[str]:
    """The History key of each header cell (an unknown header gets a key no record carries)."""
    lookup = {schema.normalize(h): k for headers in schema.HISTORY_HEADERS.values()
              for h, k in zip(headers, schema.HISTORY_KEYS, strict=True)}
    return [lookup.get(schema.normalize(h), f"?{i}") for i, h in enumerate(header)]


def _history_header(unit: Unit) -> list[str]:
    """The existing History sheet's header (an earlier layout is kept), or the standard one."""
    name = schema.match_sheet(list(unit.raw.sheets), schema.SHEET_HISTORY)
    grid = unit.raw.sheets.get(name or "") or []
    existing = [as_text(v) or "" for v in grid[0]] if grid else []
    if existing and "id" in header_keys(existing):
        return existing
    return list(schema.HISTORY_HEADERS[unit.lang])


def _comparable(value: CellValue) -> object:
    """A History cell reduced to what decides whether anything changed."""
    if is_blank(value):
        return None
    try:
        return round(parse_number(value), 6)
    except Unreadable:
        return as_text(value)


Snapshot = tuple[object, object, object, object]


def last_history(unit: Unit) -> dict[str, Snapshot]:
    """The last (current, confidence, score, measured) recorded in History for each ID."""
    name = schema.match_sheet(list(unit.raw.sheets), schema.SHEET_HISTORY)
    latest: dict[str, Snapshot] = {}
    if name is None or not unit.raw.sheets[name]:
        return latest
    grid = unit.raw.sheets[name]
    keys = header_keys([as_text(v) or "" for v in grid[0]])
    for line in grid[1:]:
        record = dict(zip(keys, line, strict=False))
        row_id = as_text(record.get("id"))
        if row_id:
            latest[row_id.upper()] = (_comparable(record.get("current")), _comparable(record.get("confidence")),
                                      _comparable(record.get("score")), as_text(record.get("measured")))
    return latest


def history_rows(unit: Unit, now: dt.datetime | None = None,
                 keys: set[str] | None = None) -> list[dict[str, CellValue]]:
    """One record per KR whose Current, Confidence or Score changed, and per objective whose Score or
    coverage changed, since History last saw it. `keys`: the History columns there are (all by default)."""
    stamp = (now or dt.datetime.now()).replace(microsecond=0)
    previous = last_history(unit)
    records: list[dict[str, CellValue]] = []
    for row in unit.objectives + unit.krs:
        if not row.local_id or (row.is_kr and row.has_error):
            continue
        current = row.source_value if row.source and row.source_value is not None else row.current
        if row.is_objective:
            current = None
        cover = row.coverage
        measured = f"{cover.measured}/{cover.total}" if row.is_objective and cover and cover.total else None
        if keys is not None and "measured" not in keys:
            measured = None  # a History without the column cannot tell whether it changed
        snapshot = (_comparable(current), _comparable(row.confidence), _comparable(row.score), measured)
        before = previous.get(row.local_id.upper())
        if before is None and (snapshot[:3] == (None, None, None)):
            continue  # nothing to record yet
        if before == snapshot:
            continue
        status = schema.label(schema.STATUSES, row.status, unit.lang) if row.status else None
        records.append({
            "time": stamp, "as_of": unit.as_of, "id": row.local_id, "current": _plain(current),
            "confidence": row.confidence, "progress": row.progress, "score": row.score, "status": status,
            "measured": measured,
        })
    return records


def _plain(value: CellValue) -> CellValue:
    """A value as History stores it: numbers as numbers (1,500 → 1500, 82% → 0.82), else text."""
    if isinstance(value, bool):
        return str(value).upper()
    try:
        return clean_float(parse_number(value))
    except Unreadable:
        return as_text(value)
