"""What a sync writes into a unit's workbook: computed cells, sourced Current, History rows."""

from __future__ import annotations

import datetime as dt
import re

from . import schema
from .messages import column_name, coverage_text
from .model import CellUpdate, CellValue, OwnedSheet, WorkbookChanges
from .parse import Row, Unit
from .values import Unreadable, as_text, clean_float, is_blank, parse_number, same_value

CHECK_MARKS = {"error": "✖", "warning": "⚠"}
# The unit's own summary sits above the OKRs table: labels in the Progress column of the two rows above the
# header, the service's figures in the Score and Check columns beside them (the standard's "Unit summary").
SUMMARY_SCORE_LABEL = ("Unit score", "单元得分")
SUMMARY_AS_OF_LABEL = ("As of", "截至")


# Wrapped text: points per line of 11-pt text, and how many average characters fit one unit of column width.
# Both err on the generous side, so a row is never too short in Excel (Calibri) or LibreOffice (Carlito).
LINE_POINTS = 15.0
CHARS_PER_WIDTH = 1.0


def _char_units(ch: str) -> float:
    """The width of one character in average-character units: CJK and symbols are about two."""
    return 2.2 if ord(ch) >= 0x2E80 or ch in CHECK_MARKS.values() else 1.0


def wrapped_lines(text: object, width: float) -> int:
    """How many lines a wrapped cell of a column width shows: each line of the text, word-wrapped."""
    if text is None or text == "":
        return 1
    room = max(1.0, width * CHARS_PER_WIDTH)
    lines = 0
    for paragraph in str(text).split("\n"):
        lines += 1
        used = 0.0
        # Words break at spaces; CJK text can break between any two characters.
        for word in re.findall(r"[\u2e80-\uffff]|[^\s\u2e80-\uffff]+\s*|\s+", paragraph):
            size = sum(_char_units(ch) for ch in word.rstrip())
            if used and used + size > room:
                lines += 1
                used = 0.0
            while size > room:  # a word longer than the line breaks inside
                size -= room
                lines += 1
            used += size + (len(word) - len(word.rstrip()))
    return lines


def row_height(text: object, width: float) -> float:
    """The row height in points that shows every line of a wrapped cell."""
    return wrapped_lines(text, width) * LINE_POINTS + 3


def status_counts_text(unit: Unit) -> str:
    """How many key results are in each status, in the standard's order and the workbook's language."""
    counts = {s: 0 for s in schema.STATUSES}
    for kr in unit.krs:
        counts[kr.status if kr.status in counts else "no data"] += 1
    if unit.lang == "zh":
        return " · ".join(f"{schema.label(schema.STATUSES, s, 'zh')} {n}" for s, n in counts.items())
    return " · ".join(f"{n} {s}" for s, n in counts.items())


# What each summary cell is, for a dry run's "(Unit score)".
SUMMARY_NAMES: dict[str, tuple[str, str]] = {
    "score": ("Unit score", "单元得分"), "coverage": ("Measured", "已衡量"),
    "as_of": ("As of", "截至"), "counts": ("Key results by status", "关键结果状态"),
}


def summary_cells(unit: Unit, as_of: dt.date) -> dict[tuple[int, int], tuple[str, CellValue]] | None:
    """The unit summary's cells {(row, col): (what, value)}, or None when the workbook has no summary labels."""
    header, cols = unit.header_row, unit.columns
    if header is None or header < 3 or unit.okrs_sheet is None:
        return None
    if not all(k in cols for k in ("progress", "score", "check")):
        return None
    grid = unit.raw.sheets[unit.okrs_sheet]

    def label(row: int) -> str:
        line = grid[row - 1] if row <= len(grid) else []
        col = cols["progress"]
        return schema.normalize(as_text(line[col - 1]) or "") if col <= len(line) else ""

    wanted = {schema.normalize(x) for x in SUMMARY_SCORE_LABEL}, {schema.normalize(x) for x in SUMMARY_AS_OF_LABEL}
    if label(header - 2) not in wanted[0] or label(header - 1) not in wanted[1]:
        return None
    coverage = unit.coverage
    return {
        (header - 2, cols["score"]): ("score", unit.score),
        (header - 2, cols["check"]): ("coverage", coverage_text(coverage.measured, coverage.total, unit.lang)
                                      if coverage else None),
        (header - 1, cols["score"]): ("as_of", as_of),
        (header - 1, cols["check"]): ("counts", status_counts_text(unit)),
    }  # fmt: skip


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


def plan_changes(unit: Unit, as_of: dt.date | None = None,
                 checkins: dict[str, tuple[str | None, str | None]] | None = None) -> WorkbookChanges:
    """Every cell whose value must change, compared with what the workbook holds now.

    With as_of, the unit summary above the table too; its as-of date moves only with another change,
    so a sync with nothing new writes nothing. `checkins` maps a KR's local ID (upper case) to (who, comment)
    of the check-in seen this run, for its History row.
    """
    changes = WorkbookChanges(id_col=unit.columns.get("id"), okrs_sheet=unit.okrs_sheet,
                              wrap_col=unit.columns.get("check"))
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
                changes.updates.append(CellUpdate(unit.okrs_sheet, row.sheet_row, col, old, new, row.local_id,
                                                  column_name(key, unit.lang)))
    header = _history_header(unit)
    history = history_rows(unit, keys=set(header_keys(header)), checkins=checkins)
    if as_of is not None:
        _plan_summary(unit, as_of, changes, bool(history))
    if history:
        name = schema.match_sheet(list(unit.raw.sheets), schema.SHEET_HISTORY) or \
            schema.sheet_label(schema.SHEET_HISTORY, unit.lang)
        rows = [[record.get(key) for key in header_keys(header)] for record in history]
        changes.appends.append(OwnedSheet(name, header, rows))
    return changes


def _plan_summary(unit: Unit, as_of: dt.date, changes: WorkbookChanges, history: bool) -> None:
    cells = summary_cells(unit, as_of)
    if cells is None or unit.okrs_sheet is None:
        return
    grid = unit.raw.sheets[unit.okrs_sheet]
    pending: list[CellUpdate] = []
    date_update: CellUpdate | None = None
    for (r, c), (what, new) in cells.items():
        line = grid[r - 1] if r <= len(grid) else []
        old = line[c - 1] if c <= len(line) else None
        if what == "as_of" and isinstance(old, dt.datetime):
            old = old.date()
        if same_value(old, new):
            continue
        name = SUMMARY_NAMES[what]
        update = CellUpdate(unit.okrs_sheet, r, c, old, new, column=name[1] if unit.lang == "zh" else name[0])
        if what == "as_of":
            date_update = update
        else:
            pending.append(update)
    if date_update is not None and (pending or changes.updates or history):
        pending.append(date_update)
    changes.updates.extend(pending)
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
    if type(value) is float or type(value) is int:
        return round(float(value), 6)
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


def history_rows(unit: Unit, now: dt.datetime | None = None, keys: set[str] | None = None,
                 checkins: dict[str, tuple[str | None, str | None]] | None = None) -> list[dict[str, CellValue]]:
    """One record per KR whose Current, Confidence or Score changed, and per objective whose Score or
    coverage changed, since History last saw it; one per KR someone checked in (a comment alone is worth a
    row), with who and why. `keys`: the History columns there are (all by default)."""
    stamp = (now or dt.datetime.now()).replace(microsecond=0)
    previous = last_history(unit)
    records: list[dict[str, CellValue]] = []
    if keys is not None and not {"by", "comment"} & keys:
        checkins = None  # a History made before By and Comment keeps its columns: a check-in alone is no row
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
        checked_in = row.is_kr and row.local_id.upper() in (checkins or {})
        who, comment = (checkins or {}).get(row.local_id.upper(), (None, None)) if checked_in else (None, None)
        if before is None and (snapshot[:3] == (None, None, None)) and not checked_in:
            continue  # nothing to record yet
        if before == snapshot and not checked_in:
            continue
        status = schema.label(schema.STATUSES, row.status, unit.lang) if row.status else None
        records.append({
            "time": stamp, "as_of": unit.as_of, "id": row.local_id, "current": _plain(current),
            "confidence": row.confidence, "progress": row.progress, "score": row.score, "status": status,
            "measured": measured, "by": who, "comment": comment,
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
