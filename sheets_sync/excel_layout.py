"""What both Excel routes (Office add-in, xlwings) share: cell plans, colours, rollup sheets."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from .core import bands, parse, schema
from .core.model import (
    CellError,
    CellUpdate,
    CellValue,
    Finding,
    Grid,
    NoCachedValue,
    RawWorkbook,
    a1,
)
from .core.rollup import TONED, RollupBook, cycle_ended, unit_status
from .core.schema import Lang

# Notes the add-in writes start with this, so the next run can tell them from people's own notes.
NOTE_MARK = "okr-sync: "



def fill(tone: str | None) -> str | None:
    """The '#RRGGBB' background of a bands.PALETTE colour name, None for none."""
    return fill_hex(bands.PALETTE[tone].fill) if tone else None


def fill_hex(colour: str) -> str:
    """'RRGGBB' -> '#RRGGBB', as Excel's JavaScript API and the pane take colours."""
    return f"#{colour}"


GREY = f"#{bands.PALETTE['grey'].fill}"
# Number formats of the computed columns the add-in writes.
NUMBER_FORMATS: dict[str, str] = {"progress": "0%", "score": "0.00", "aligned_score": "0.00"}
KIND_FORMATS: dict[str, str] = {"percent": "0%", "score": "0.00", "int": "0"}

# Error values as Excel shows them; the Excel JS API and xlwings (err_to_str) pass them as text.
ERROR_CODES = frozenset(
    "#NULL! #DIV/0! #VALUE! #REF! #NAME? #NUM! #N/A #GETTING_DATA #SPILL! #CALC! #FIELD! "
    "#BLOCKED! #CONNECT! #BUSY! #UNKNOWN! #PYTHON! #EXTERNAL!".split()
)

_STATUS_LOOKUP = schema.choice_lookup(schema.STATUSES)
_TYPE_LOOKUP = schema.choice_lookup(schema.TYPES)
_LETTER = re.compile(r"[A-Za-z\u00c0-\uffff]")

# The sheets the add-in owns in the open workbook for Refresh rollup.
ROLLUP_SHEET_NAMES: dict[str, tuple[str, str]] = {
    "Rollup": ("OKR Rollup", "OKR 汇总"),
    "Units": ("OKR Units", "OKR 单元"),
    "Alignment": ("OKR Alignment", "OKR 对齐"),
    "Issues": ("OKR Issues", "OKR 问题"),
    "Dependencies": ("OKR Dependencies", "OKR 依赖"),
}
_ROLLUP_HEADERS_ZH: dict[str, str] = {
    "Unit": "单元",
    "Level": "层级",
    "Type": "类型",
    "ID": "编号",
    "Objective / Key result": "目标/关键结果",
    "Objective": "目标",
    "Owner": "负责人",
    "Aligns to": "对齐",
    "Progress": "进度",
    "Score": "得分",
    "Status": "状态",
    "Check": "校验",
    "Name": "名称",
    "Parent unit": "上级单元",
    "Objectives": "目标数",
    "Key results": "关键结果数",
    "Errors": "错误",
    "Warnings": "警告",
    "Source": "来源",
    "On track": "正常",
    "At risk": "有风险",
    "Off track": "落后",
    "Done": "完成",
    "No data": "无数据",
    "Aligned score": "对齐得分",
    "Severity": "级别",
    "Rule": "规则",
    "Where": "位置",
    "Message": "说明",
    "From": "从",
    "To": "到",
    "To's status": "对方状态",
    "Note": "备注",
}


def protect_text(value: str) -> str:
    """Prefix an apostrophe where Excel would turn text into a formula, number, date or boolean."""
    if not value:
        return value
    if value[0] in "=+-@" or value.upper() in ("TRUE", "FALSE") or not _LETTER.search(value):
        return "'" + value
    return value


def excel_value(value: Any) -> CellValue:
    """A value as the Excel JS API or xlwings hands it over, as the engine reads cells."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip() in ERROR_CODES:
        return CellError(value.strip())
    return value  # type: ignore[no-any-return]


def anchor_grid(values: list[list[Any]], row: int, col: int) -> Grid:
    """A used range's values, whose top-left cell is (row, col), as a grid anchored at A1."""
    width = max((len(line) for line in values), default=0) + col - 1
    blank_rows: Grid = [[None] * width for _ in range(row - 1)]
    lead: list[CellValue] = [None] * (col - 1)
    return blank_rows + [lead + [excel_value(v) for v in line] for line in values]


def cell_notes(raw: RawWorkbook, findings: list[Finding], lang: str) -> list[dict[str, str]]:
    """One note per cell with findings, all its messages in it, marked as okr-sync's own."""
    labels = {"error": ("Error", "错误"), "warning": ("Warning", "警告")}
    by_cell: dict[tuple[str, str], list[str]] = {}
    for f in findings:
        p = f.place
        if p.sheet not in raw.sheets or p.row is None or p.col is None:
            continue
        en, zh = labels.get(f.severity, (f.severity, f.severity))
        line = f"{zh if lang == 'zh' else en}: {f.message}"
        by_cell.setdefault((p.sheet, p.cell or ""), []).append(line)
    return [
        {"sheet": sheet, "a1": cell, "text": NOTE_MARK + "\n".join(lines)} for (sheet, cell), lines in by_cell.items()
    ]


def json_value(value: CellValue) -> Any:
    """A cell value as JSON: dates as ISO text, error values as their code."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, CellError | NoCachedValue):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def as_float(value: CellValue) -> float | None:
    """A computed figure as a number, or None when the cell holds none."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().rstrip("%")
        try:
            number = float(text)
        except ValueError:
            return None
        return number / 100 if value.strip().endswith("%") else number
    return None


def status_key(value: CellValue) -> str | None:
    """The canonical status (`on track` ...) of a Status cell in either language."""
    if value is None:
        return None
    return _STATUS_LOOKUP.get(schema.normalize(value))


def row_fill(status: str | None, score: float | None, ended: bool) -> str:
    """The one fill a row's Score and Status share (bands.tone): pace in a cycle, grade once it ended."""
    return fill(bands.tone(status, score, ended)) or GREY


def unit_phase(raw: RawWorkbook, as_of: dt.date | None, score: float | None) -> tuple[bool, str]:
    """Whether the workbook's cycle has ended on as-of, and the fill of its unit score."""
    day = as_of or dt.date.today()
    unit = parse.read_unit(raw)
    unit.score = score
    ended = cycle_ended(unit, day)
    return ended, row_fill(unit_status(unit, day), score, ended)


@dataclass
class OkrLayout:
    """Where the OKRs sheet keeps its header and each known column (1-based)."""

    sheet: str
    header_row: int
    cols: dict[str, int]


def find_layout(raw: RawWorkbook) -> OkrLayout | None:
    """Locate the OKRs header: the first row with at least three known headers."""
    sheet = schema.match_sheet(list(raw.sheets), schema.SHEET_OKRS)
    if sheet is None:
        return None
    for r, line in enumerate(raw.sheets[sheet], start=1):
        cols: dict[str, int] = {}
        for c, cell in enumerate(line, start=1):
            key = schema.HEADER_LOOKUP.get(schema.normalize(cell)) if cell is not None else None
            if key and key not in cols:
                cols[key] = c
        if len(cols) >= 3:
            return OkrLayout(sheet, r, cols)
    return None


PlanMode = Literal["score", "validate"]


@dataclass
class CellPlan:
    """One cell to write: a value (if `has_value`), a fill (None clears it), a number format."""

    sheet: str
    row: int
    col: int
    key: str
    value: CellValue = None
    has_value: bool = False
    fill: str | None = None
    has_fill: bool = False
    number_format: str | None = None

    @property
    def a1(self) -> str:
        return a1(self.row, self.col)

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the add-in client; keys absent mean leave as is."""
        out: dict[str, Any] = {"sheet": self.sheet, "a1": self.a1, "row": self.row, "col": self.col}
        out["key"] = self.key
        if self.has_value:
            out["value"] = json_value(self.value)
        if self.has_fill:
            out["fill"] = self.fill
        if self.number_format:
            out["format"] = self.number_format
        return out


class Sheet:
    """A grid overlaid with the updates of a run: the values the cells hold once written."""

    def __init__(self, grid: Grid, updates: dict[tuple[int, int], CellValue]) -> None:
        self.grid = grid
        self.updates = updates

    def get(self, row: int, col: int | None) -> CellValue:
        """The value at a 1-based cell after the run."""
        if col is None:
            return None
        if (row, col) in self.updates:
            return self.updates[(row, col)]
        if row - 1 < len(self.grid) and col - 1 < len(self.grid[row - 1]):
            return self.grid[row - 1][col - 1]
        return None


def _kept_updates(layout: OkrLayout | None, updates: list[CellUpdate], mode: PlanMode) -> list[CellUpdate]:
    if mode == "score" or layout is None:
        return list(updates)
    check = layout.cols.get("check")
    return [u for u in updates if u.sheet == layout.sheet and u.col == check]


def plan_cells(raw: RawWorkbook, updates: list[CellUpdate], mode: PlanMode, ended: bool = False) -> list[CellPlan]:
    """The cells to write: the engine's updates (Check only when validating) and the rows' colours."""
    layout = find_layout(raw)
    kept = _kept_updates(layout, updates, mode)
    keys = {c: k for k, c in layout.cols.items()} if layout else {}
    plans: dict[tuple[str, int, int], CellPlan] = {}
    for u in kept:
        key = keys.get(u.col, "") if layout and u.sheet == layout.sheet else ""
        plans[(u.sheet, u.row, u.col)] = CellPlan(
            u.sheet, u.row, u.col, key, u.new, True, number_format=NUMBER_FORMATS.get(key)
        )
    if mode != "score" or layout is None:
        return list(plans.values())
    sheet = Sheet(raw.sheets[layout.sheet], {(u.row, u.col): u.new for u in kept if u.sheet == layout.sheet})
    for row in okr_rows(raw, layout):
        # Score and Status share one colour; no colour: the grey the templates give computed cells.
        colour = row_fill(status_key(sheet.get(row, layout.cols.get("status"))),
                          as_float(sheet.get(row, layout.cols.get("score"))), ended)
        for key in ("score", "status"):
            col = layout.cols.get(key)
            if col is None:
                continue
            plan = plans.setdefault((layout.sheet, row, col), CellPlan(layout.sheet, row, col, key))
            plan.fill, plan.has_fill = colour, True
    return sorted(plans.values(), key=lambda p: (p.sheet, p.col, p.row))


def okr_rows(raw: RawWorkbook, layout: OkrLayout) -> list[int]:
    """1-based rows of the OKRs sheet that hold an objective or key result."""
    grid = raw.sheets[layout.sheet]
    type_col = layout.cols.get("type")
    id_col = layout.cols.get("id")
    rows = []
    for r in range(layout.header_row + 1, len(grid) + 1):
        line = grid[r - 1]
        kind = line[type_col - 1] if type_col and type_col <= len(line) else None
        ident = line[id_col - 1] if id_col and id_col <= len(line) else None
        if _TYPE_LOOKUP.get(schema.normalize(kind or "")) or (isinstance(ident, str) and ident.strip()):
            rows.append(r)
    return rows


def summarize(raw: RawWorkbook, updates: list[CellUpdate], ended: bool = False) -> list[dict[str, Any]]:
    """Each objective with its figures and colour, and its key results, after the run's updates."""
    layout = find_layout(raw)
    if layout is None:
        return []
    sheet = Sheet(
        raw.sheets[layout.sheet],
        {(u.row, u.col): u.new for u in updates if u.sheet == layout.sheet},
    )
    cols = layout.cols
    objectives: list[dict[str, Any]] = []
    for row in okr_rows(raw, layout):
        kind = _TYPE_LOOKUP.get(schema.normalize(sheet.get(row, cols.get("type")) or ""))
        ident = sheet.get(row, cols.get("id"))
        score = as_float(sheet.get(row, cols.get("score")))
        status_value = sheet.get(row, cols.get("status"))
        status = status_key(status_value)
        item = {
            "id": str(ident).strip() if ident is not None else "",
            "text": str(sheet.get(row, cols.get("text")) or ""),
            "sheet": layout.sheet,
            "row": row,
            "a1": a1(row, cols.get("id") or cols.get("text") or 1),
            "score": score,
            "progress": as_float(sheet.get(row, cols.get("progress"))),
            "status": str(status_value) if status_value is not None else None,
            "status_key": status,
            "fill": row_fill(status, score, ended),
        }
        if kind == "O":
            objectives.append({**item, "krs": []})
        elif kind == "KR" and objectives:
            objectives[-1]["krs"].append(item)
    return objectives


def rollup_sheets(book: RollupBook, lang: Lang) -> list[dict[str, Any]]:
    """The rollup as the sheets the add-in owns in the open workbook, with band colours."""
    out = []
    for sheet in book.sheets:
        names = ROLLUP_SHEET_NAMES.get(sheet.name, (f"OKR {sheet.name}", f"OKR {sheet.name}"))
        headers = [_ROLLUP_HEADERS_ZH.get(h, h) if lang == "zh" else h for h in sheet.headers]
        rows = [[json_value(v) for v in line] for line in sheet.rows]
        fills: list[list[Any]] = []
        toned = [c for c, kind in enumerate(sheet.kinds) if kind in TONED]
        for r, line in enumerate(sheet.rows):
            # A row's toned cells share its one colour (the same as both rollup writers).
            color = fill(sheet.tone(r))
            if color:
                fills.extend([r + 1, c, color] for c in toned if c < len(line) and line[c] is not None)
        out.append(
            {
                "name": names[1] if lang == "zh" else names[0],
                "rollup_sheet": sheet.name,
                "headers": headers,
                "kinds": list(sheet.kinds),
                "formats": [KIND_FORMATS.get(k, "General") for k in sheet.kinds],
                "rows": rows,
                "fills": fills,
                "depths": sheet.depths,
                # Header row and objective rows (1-based, set apart from key results) in the shared colours.
                "header": {"fill": fill_hex(bands.HEADER.fill), "font": fill_hex(bands.HEADER.font)},
                "strong": [r + 1 for r in range(len(sheet.rows)) if sheet.is_strong(r)],
                "strong_fill": fill_hex(bands.OBJECTIVE_FILL),
            }
        )
    return out
