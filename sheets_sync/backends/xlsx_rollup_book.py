"""Lay out the rollup workbook with openpyxl; its data rows are streamed as sheet XML, styles precomputed."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import shutil
import tempfile
import unicodedata
import zipfile
from copy import copy
from pathlib import Path
from typing import IO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.data_source import AxDataSource, StrRef
from openpyxl.chart.marker import DataPoint
from openpyxl.packaging.custom import StringProperty
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from ..core import bands
from ..core.model import CellValue
from ..core.rollup import STATUS_COUNT_KEYS, TONED, ColumnKind, RollupBook, RollupSheet
from .xlsx import OWNED_PROPERTY
from .xlsx_rollup_layout import (
    FINGERPRINT_PROPERTY,
    FONT,
    LINE_HEIGHT,
    MAX_INDENT,
    MAX_TEXT,
    MAX_WIDTH,
    MIN_WIDTH,
    OWNED_VALUE,
    STAMP_PROPERTY,
    SUMMARY_SHEET,
)

# The data rows go to a temporary file as they are made, a few hundred at a time: the rollup of a large company
# never holds its sheet XML whole (200,000 rows are about half a gigabyte of text).
ROWS_PER_WRITE = 500
SPOOL_BYTES = 4 << 20  # rows of a small company stay in memory

_FORMATS: dict[ColumnKind, str] = {"score": "0.00", "percent": "0%", "int": "0"}
_NUMBER_WIDTH: dict[ColumnKind, int] = {"score": 6, "percent": 6}


# ---------------------------------------------------------------------------------------------
# Building the workbook


def build_workbook(
    book: RollupBook, fingerprint: str, stamp: str
) -> tuple[Workbook, dict[WriteOnlyWorksheet, IO[bytes]]]:
    """The rollup workbook laid out by openpyxl, and each table sheet's data rows as XML in a temporary file."""
    wb = Workbook(write_only=True)
    wb.properties.title = "OKR rollup"
    wb.properties.creator = "okr-sync"
    wb.custom_doc_props.append(StringProperty(name=OWNED_PROPERTY, value=OWNED_VALUE))
    wb.custom_doc_props.append(StringProperty(name=FINGERPRINT_PROPERTY, value=fingerprint))
    wb.custom_doc_props.append(StringProperty(name=STAMP_PROPERTY, value=stamp))
    styles = _Styles(wb)
    names = {s.name for s in book.sheets}
    summary = None
    if SUMMARY_SHEET not in names:
        summary = wb.create_sheet(SUMMARY_SHEET)
    sheets: dict[str, WriteOnlyWorksheet] = {}
    rows: dict[WriteOnlyWorksheet, IO[bytes]] = {}
    for sheet in book.sheets:
        ws = wb.create_sheet(_sheet_title(sheet.name))
        sheets[sheet.name] = ws
        rows[ws] = _write_table(ws, sheet, styles)
    if summary is not None:
        _write_summary(summary, book, styles, sheets.get("Units"))
    return wb, rows


def _sheet_title(name: str) -> str:
    # Excel refuses these characters and names over 31 characters.
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in name)
    return cleaned[:31] or "Sheet"


class _Styles:
    """Cell styles registered once in the workbook and copied onto cells by index (fast)."""

    def __init__(self, wb: Workbook) -> None:
        self.wb = wb
        # A throwaway sheet gives probe cells a route to the workbook's style tables.
        self._sheet = wb.create_sheet("_styles")
        wb.remove(self._sheet)
        self._cache: dict[tuple[object, ...], StyleArray] = {}
        thin = Side(style="thin", color=bands.PALETTE["grey"].strong)
        self.header = self._make(
            font=Font(name=FONT, size=11, bold=True, color=bands.HEADER.font),
            fill=PatternFill("solid", fgColor=bands.HEADER.fill),
            alignment=Alignment(vertical="center", wrap_text=True),
            border=Border(bottom=thin),
        )

    def _make(self, number_format: str = "General", **attrs: object) -> StyleArray:
        probe = WriteOnlyCell(self._sheet)
        for key, value in attrs.items():
            setattr(probe, key, value)
        probe.number_format = number_format
        return copy(probe._style)

    def cell(
        self, kind: ColumnKind, wrap: bool = False, indent: int = 0, tone: str | None = None, strong: bool = False
    ) -> StyleArray:
        """A data cell: top-aligned, kind's number format, optional wrap and indent, a tone (bands.PALETTE name)
        or the objective rows' shading."""
        key = (kind, wrap, indent, tone, strong)
        style = self._cache.get(key)
        if style is None:
            attrs: dict[str, object] = {}
            if tone:
                colour = bands.PALETTE[tone]
                attrs["fill"] = PatternFill("solid", fgColor=colour.fill)
                attrs["font"] = Font(name=FONT, color=colour.font, bold=strong or None)
            elif strong:
                attrs["fill"] = PatternFill("solid", fgColor=bands.OBJECTIVE_FILL)
                attrs["font"] = Font(name=FONT, bold=True)
            style = self._make(
                number_format=_FORMATS.get(kind, "General"),
                alignment=Alignment(
                    horizontal="left" if indent else None,
                    vertical="top",
                    wrap_text=wrap or None,
                    indent=indent,
                ),
                **attrs,
            )
            self._cache[key] = style
        return style

    def id(self, style: StyleArray) -> int:
        """The workbook's index of a cell style (the s attribute of a cell)."""
        return int(self.wb._cell_styles.add(style))

    def date(self) -> StyleArray:
        """A date cell."""
        style = self._cache.get(("date",))
        if style is None:
            style = self._make(number_format="yyyy-mm-dd", alignment=Alignment(vertical="top"))
            self._cache[("date",)] = style
        return style

    def plain(self, key: str, number_format: str = "General", **attrs: object) -> StyleArray:
        """A named one-off style (Summary sheet)."""
        style = self._cache.get((key,))
        if style is None:
            style = self._make(number_format, **attrs)
            self._cache[(key,)] = style
        return style


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text(value: str) -> str:
    # Control characters make the file unreadable to Excel; one cell holds at most 32,767.
    return str(ILLEGAL_CHARACTERS_RE.sub("", value))[:MAX_TEXT]


CellValueOut = str | int | float | bool | dt.date | None


def _plain(value: CellValue) -> CellValueOut:
    """A rollup value as something a cell holds: numbers, dates, booleans, or text."""
    if type(value) is str:  # the common case first: most cells are clean text
        return value if len(value) <= MAX_TEXT and not ILLEGAL_CHARACTERS_RE.search(value) else _text(value)
    if value is None or isinstance(value, bool | int | dt.date):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return _text(str(value))


def _width(value: object) -> int:
    """Display width in characters: wide (CJK) characters count twice."""
    text = value if isinstance(value, str) else str(value)
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell_width(kind: ColumnKind, cell: CellValueOut) -> int:
    if kind in _NUMBER_WIDTH and isinstance(cell, int | float):
        return _NUMBER_WIDTH[kind]
    if isinstance(cell, dt.date):
        return 10
    if isinstance(cell, float):
        return min(len(repr(cell)), 12)
    text = str(cell)
    if "\n" in text:
        return max(_width(line) for line in text.split("\n"))
    return _width(text)


def _column_widths(
    headers: list[str],
    kinds: list[ColumnKind],
    values: list[list[CellValueOut]],
    depths: list[int] | None,
) -> list[int]:
    widths = []
    for col, (header, kind) in enumerate(zip(headers, kinds, strict=True)):
        # Each distinct value once: unit codes, levels and statuses repeat on every row.
        distinct = {row[col] for row in values if col < len(row)}
        distinct.discard(None)
        # Room for the header plus the autofilter button.
        best = max([_width(header) + 3, *(_cell_width(kind, cell) for cell in distinct)])
        if depths and col < 2:
            best += 2 * min(max(depths), MAX_INDENT)
        widths.append(max(MIN_WIDTH, min(best + 2, MAX_WIDTH)))
    return widths


def _write_table(ws: WriteOnlyWorksheet, sheet: RollupSheet, styles: _Styles) -> IO[bytes]:
    """Lay out one sheet with openpyxl (header, widths, filter, bands); return its data rows as XML.

    openpyxl spends ~25 µs serialising each cell, over a second for a 200-unit company, so the
    data rows are rendered here as plain <row> XML and spliced into the saved sheet (package).
    """
    values = [[_plain(v) for v in row] for row in sheet.rows]
    ncols = max([len(sheet.headers), *(len(row) for row in values)])
    kinds: list[ColumnKind] = list(sheet.kinds) + ["text"] * (ncols - len(sheet.kinds))
    headers = list(sheet.headers) + [""] * (ncols - len(sheet.headers))
    widths = _column_widths(headers, kinds, values, sheet.depths)
    for col, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(col)].width = width
    ws.freeze_panes = "A2"
    # Printed: landscape, one page wide, the header row on every page.
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"
    last_row = max(len(values) + 1, 2)
    ws.auto_filter.ref = f"A1:{get_column_letter(max(ncols, 1))}{last_row}"

    header = []
    for text in headers:
        cell = WriteOnlyCell(ws, _text(text))
        cell.data_type = "s"
        cell._style = copy(styles.header)
        header.append(cell)
    ws.append(header)

    # Colours are plain cell fills, decided by the core per row (bands.tone): the file is rewritten on change.
    tones = [sheet.tone(i) for i in range(len(values))]
    strong = [sheet.is_strong(i) for i in range(len(values))]
    sink = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed by package()
    _rows_xml(values, kinds, widths, sheet.depths, styles, tones, strong, sink)
    return sink


def _lines(text: str, limit: int) -> int:
    """How many lines a wrapped text takes in a column `limit` characters wide (wide characters count twice)."""
    return sum(max(1, -(-_width(part) // max(limit, 1))) for part in text.split("\n"))


def _rows_xml(
    values: list[list[CellValueOut]],
    kinds: list[ColumnKind],
    widths: list[int],
    depths: list[int] | None,
    styles: _Styles,
    tones: list[str | None],
    strong: list[bool],
    sink: IO[bytes],
) -> None:
    """Write the data rows as sheet XML into sink: per cell only a dictionary look-up and a string join.

    Each column's letter, kind and whether it is toned are fixed once; each style's index once per
    (kind, wrap, indent, tone, bold); each distinct text is escaped and measured once (unit codes, levels and
    statuses repeat on every row).
    """
    letters = [get_column_letter(c) for c in range(1, len(kinds) + 1)]
    toned = [kind in TONED for kind in kinds]
    date_id = styles.id(styles.date())
    limits = [w - 2 for w in widths]
    ids: dict[tuple[object, ...], int] = {}
    # text -> (escaped, display width, lines) per column limit; computed once per distinct value.
    texts: dict[tuple[str, int], tuple[str, bool, int]] = {}

    def sid(kind: ColumnKind, wrap: bool = False, indent: int = 0, tone: str | None = None, bold: bool = False) -> int:
        key = (kind, wrap, indent, tone, bold)
        found = ids.get(key)
        if found is None:
            found = ids[key] = styles.id(styles.cell(kind, wrap, indent, tone, bold))
        return found

    def text(value: str, limit: int) -> tuple[str, bool, int]:
        # Wrapped text gets a row tall enough for its lines, so Check and Issues text is all readable.
        long = "\n" in value or (len(value) > limit // 2 and _width(value) > limit)
        return _escape(value), long, _lines(value, limit) if long else 1

    out: list[str] = []
    add = out.append
    for index, row in enumerate(values):
        r = str(index + 2)
        depth = min(depths[index], MAX_INDENT) if depths and index < len(depths) else 0
        tone, bold = tones[index], strong[index]
        cells: list[str] = []
        cell = cells.append
        lines = 1
        for col, value in enumerate(row):
            if value is None:
                continue
            kind = kinds[col]
            cell_tone = tone if toned[col] else None
            kind_of = type(value)
            if kind_of is str:
                assert isinstance(value, str)
                limit = limits[col]
                known = texts.get((value, limit))
                if known is None:
                    known = texts[(value, limit)] = text(value, limit)
                escaped, long, need = known
                if need > lines:
                    lines = need
                # Text copied from units stays text (t="inlineStr"): "=1+1" never becomes a formula.
                cell(f'<c r="{letters[col]}{r}" s="{sid(kind, long, depth if col < 2 else 0, cell_tone, bold)}" '
                     f't="inlineStr"><is><t xml:space="preserve">{escaped}</t></is></c>')
            elif kind_of is bool:
                cell(f'<c r="{letters[col]}{r}" s="{sid(kind, False, 0, cell_tone, bold)}" t="b">'
                     f"<v>{1 if value else 0}</v></c>")
            elif kind_of is int or kind_of is float:
                cell(f'<c r="{letters[col]}{r}" s="{sid(kind, False, 0, cell_tone, bold)}"><v>{value!r}</v></c>')
            elif isinstance(value, dt.date):
                serial = to_excel(value.replace(tzinfo=None) if isinstance(value, dt.datetime) else value)
                cell(f'<c r="{letters[col]}{r}" s="{date_id}"><v>{serial!r}</v></c>')
            elif isinstance(value, str):  # a str subclass: as text, without the cache
                escaped, long, need = text(value, limits[col])
                lines = max(lines, need)
                cell(f'<c r="{letters[col]}{r}" s="{sid(kind, long, depth if col < 2 else 0, cell_tone, bold)}" '
                     f't="inlineStr"><is><t xml:space="preserve">{escaped}</t></is></c>')
            elif isinstance(value, bool):
                cell(f'<c r="{letters[col]}{r}" s="{sid(kind, False, 0, cell_tone, bold)}" t="b">'
                     f"<v>{int(value)}</v></c>")
            else:
                cell(f'<c r="{letters[col]}{r}" s="{sid(kind, False, 0, cell_tone, bold)}"><v>{value!r}</v></c>')
        add(f'<row r="{r}" ht="{lines * LINE_HEIGHT:g}" customHeight="1">' if lines > 1 else f'<row r="{r}">')
        out.extend(cells)
        add("</row>")
        if index % ROWS_PER_WRITE == ROWS_PER_WRITE - 1:
            sink.write("".join(out).encode("utf-8"))
            out.clear()
    sink.write("".join(out).encode("utf-8"))


def package(wb: Workbook, rows: dict[WriteOnlyWorksheet, IO[bytes]], target: Path) -> None:
    """Save with openpyxl into memory, then copy the package to target with the data rows streamed in."""
    buffer = io.BytesIO()
    wb.save(buffer)
    parts = {ws.path.lstrip("/"): sink for ws, sink in rows.items()}
    try:
        with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(target, "w") as package:
            for info in source.infolist():
                data = source.read(info)
                sink = parts.get(info.filename)
                if sink is None or sink.tell() == 0:
                    package.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=3)
                    continue
                entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                entry.compress_type = zipfile.ZIP_DEFLATED
                entry.external_attr = info.external_attr
                for name in ("_compresslevel", "compress_level"):  # the attribute's name before / from 3.13
                    with contextlib.suppress(AttributeError):
                        setattr(entry, name, 3)
                cut = data.rindex(b"</sheetData>")
                sink.seek(0)
                with package.open(entry, "w") as part:
                    part.write(data[:cut])
                    shutil.copyfileobj(sink, part, 1 << 20)
                    part.write(data[cut:])
    finally:
        for sink in parts.values():
            sink.close()


# ---------------------------------------------------------------------------------------------
# Summary sheet and charts


def _write_summary(
    ws: WriteOnlyWorksheet,
    book: RollupBook,
    styles: _Styles,
    units_ws: WriteOnlyWorksheet | None,
) -> None:
    """The Summary sheet from the core's Summary (the Google rollup writes the same figures)."""
    summary = book.summary()
    title = styles.plain("title", font=Font(name=FONT, bold=True, size=16, color=bands.HEADER.fill))
    label = styles.plain("label", font=Font(name=FONT, size=11, bold=True), alignment=Alignment(vertical="top"))
    note = styles.plain("note", font=Font(name=FONT, size=11, italic=True, color=bands.PALETTE["grey"].font))
    left = styles.plain("left", alignment=Alignment(horizontal="left"))

    def toned(tone: str | None, number_format: str = "General", big: bool = False) -> StyleArray:
        colour = bands.PALETTE[tone] if tone else None
        return styles.plain(
            f"summary-{tone}-{number_format}-{big}",
            number_format=number_format,
            font=Font(name=FONT, bold=big, size=14 if big else 11, color=colour.font if colour else None),
            fill=PatternFill("solid", fgColor=colour.fill) if colour else PatternFill(),
            alignment=Alignment(horizontal="left"),
        )

    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 14
    ws.sheet_view.showGridLines = False
    # Printed: the figures and both charts on one landscape page.
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 1
    ws.sheet_properties.pageSetUpPr.fitToPage = True

    def row(caption: str, value: object, style: StyleArray = left) -> list[WriteOnlyCell | None]:
        first = WriteOnlyCell(ws, caption)
        first.data_type = "s"
        first._style = copy(label)
        second = None
        if value is not None:
            second = WriteOnlyCell(ws, value)
            if isinstance(value, str):
                second.data_type = "s"
            second._style = copy(style)
        return [first, second]

    def _note(text: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(ws, text)
        cell._style = copy(note)
        return cell

    heading = WriteOnlyCell(ws, "OKR rollup · OKR 汇总")
    heading._style = copy(title)
    ws.append([heading])
    ws.append([])
    company_tone = summary.company_tone if summary.company_score is not None else None
    lines: list[list[WriteOnlyCell | None]] = [
        row("Company score · 公司得分", summary.company_score, toned(company_tone, "0.00", big=True)),
        row("As of · 截至", _text(summary.as_of) or None),
        row("Units · 单元", summary.units),
        row("Objectives · 目标", summary.objectives),
        row("Key results · 关键结果", summary.key_results),
        [],
        [_note("Objectives and key results by status · 目标与关键结果的状态")],
        *[
            row(f"{en[:1].upper()}{en[1:]} · {zh}", summary.statuses[status],
                toned(bands.STATUS_COLOUR_NAMES[status]))
            for status in bands.STATUS_ORDER
            for en, zh in [bands.STATUS_LABELS[status]]
        ],
        [],
        row("Errors · 错误", summary.errors, toned("red" if summary.errors else None)),
        row("Warnings · 警告", summary.warnings, toned("yellow" if summary.warnings else None)),
        [],
    ]
    for line in lines:
        ws.append(line)
    for text in (
        "Written by okr-sync on every sync: edit the units' workbooks, not this one.",
        "本工作簿由 okr-sync 在每次同步时重写：请修改各单元的工作簿，不要在此编辑。",
    ):
        ws.append([_note(text)])
    units = book.find("Units")
    if units is not None and units_ws is not None and units.rows:
        _add_charts(ws, units, units_ws)


def _add_charts(ws: WriteOnlyWorksheet, units: RollupSheet, units_ws: WriteOnlyWorksheet) -> None:
    n = len(units.rows)
    last = n + 1
    unit_col = units.col("unit")
    score_col = units.col("score")
    if unit_col is None:
        return
    height = max(7.5, min(0.5 * n + 3.0, 150.0))
    categories = Reference(units_ws, min_col=unit_col + 1, min_row=2, max_row=last)

    if score_col is not None:
        chart = BarChart()
        chart.type = "bar"
        chart.title = "Unit scores · 单元得分"
        chart.legend = None
        chart.height, chart.width = height, 16.0
        data = Reference(units_ws, min_col=score_col + 1, min_row=1, max_row=last)
        chart.add_data(data, titles_from_data=True)
        _set_categories(chart, categories)
        series = chart.series[0]
        series.graphicalProperties.solidFill = bands.HEADER.fill
        # Each bar in its unit's colour (bands.tone); the file is rewritten whenever a score changes.
        for index in range(n):
            tone = units.tone(index)
            if tone and isinstance(units.value(units.rows[index], "score"), int | float):
                point = DataPoint(idx=index)
                point.graphicalProperties.solidFill = bands.PALETTE[tone].strong
                series.dPt.append(point)
        _style_axes(chart, number_format="0.00")
        chart.y_axis.scaling.min = 0
        chart.y_axis.scaling.max = 1
        ws.add_chart(chart, "D3")

    stacked = BarChart()
    stacked.type = "bar"
    stacked.grouping = "stacked"
    stacked.overlap = 100
    stacked.title = "Status per unit · 各单元状态"
    stacked.height, stacked.width = height, 16.0
    for status in bands.STATUS_ORDER:
        col = units.col(STATUS_COUNT_KEYS[status])
        if col is None:
            continue
        stacked.add_data(Reference(units_ws, min_col=col + 1, min_row=1, max_row=last), titles_from_data=True)
        stacked.series[-1].graphicalProperties.solidFill = bands.PALETTE[bands.STATUS_COLOUR_NAMES[status]].strong
        stacked.series[-1].graphicalProperties.line.noFill = True
    if stacked.series:
        _set_categories(stacked, categories)
        _style_axes(stacked, number_format="0")
        stacked.legend.position = "b"
        ws.add_chart(stacked, "N3")


def _set_categories(chart: BarChart, categories: Reference) -> None:
    # Unit codes are text: a string reference, or Excel labels the bars 1, 2, 3.
    for series in chart.series:
        series.cat = AxDataSource(strRef=StrRef(f=str(categories)))


def _style_axes(chart: BarChart, number_format: str) -> None:
    # openpyxl 3.1 hides axes unless told otherwise; units read top-down like the Units sheet.
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.x_axis.scaling.orientation = "maxMin"
    chart.y_axis.number_format = number_format
    chart.gapWidth = 50
