"""Patch cells of an .xlsx in place by splicing its XML, so everything else stays byte-identical."""

from __future__ import annotations

import bisect
import datetime as dt
import html
import math
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..core import schema
from ..core.model import CellError, CellValue, NoCachedValue, OwnedSheet, a1
from ..core.schema import MAX_SHEET_ROWS
from ..core.writeback import row_height
from .xlsx_ooxml import (
    ATTR_RE,
    CELL_RE,
    CONTENT_TYPES,
    FORMULA_RE,
    PFX,
    REL_NS,
    ROW_RE,
    WORKSHEET_CT,
    WORKSHEET_REL,
    Package,
    SheetRef,
    attrs,
    parse_ref,
    relationships,
    workbook_sheets,
    xml_text,
)

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
MAX_TEXT = 32767  # Excel's limit for one cell
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"

_FORMAT_PR_RE = re.compile(rf"<{PFX}sheetFormatPr(?=[\s/>])([^>]*?)/?>")
DEFAULT_WIDTH = 8.43  # Excel's column width when a sheet names none
DEFAULT_HEIGHT = 15.0
_SHEETDATA_RE = re.compile(r"<((?:[A-Za-z_][\w.-]*:)?)sheetData(?=[\s/>])([^>]*?)(/?)>")
_COL_RE = re.compile(rf"<{PFX}col(?=[\s/>])([^>]*?)/?>")
_DIMENSION_RE = re.compile(rf"<{PFX}dimension(?=[\s/>])([^>]*?)/?>")
_ROW_NO_R = re.compile(rf"<{PFX}row(?=[\s/>])(?![^>]*\sr\s*=)")
_CELL_NO_R = re.compile(rf"<{PFX}c(?=[\s/>])(?![^>]*\sr\s*=)")
_HAS_VALUE = re.compile(rf"<{PFX}v>[^<]|<{PFX}is[\s>]|<{PFX}f[\s>/]")
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ESCAPED = re.compile(r"_x[0-9A-Fa-f]{4}_")
_CALCPR_RE = re.compile(rf"<{PFX}calcPr(?=[\s/>])([^>]*?)(/?)>")
_FORMULA_ANYWHERE = re.compile(rf"<{PFX}f[\s>/]")
# CT_Workbook children that come after calcPr: a new calcPr goes before the first of these.
_AFTER_CALCPR = (
    "oleSize",
    "customWorkbookViews",
    "pivotCaches",
    "smartTagPr",
    "smartTagTypes",
    "webPublishing",
    "fileRecoveryPr",
    "webPublishObjects",
    "extLst",
)


class PatchError(Exception):
    """The workbook's XML is not laid out the way a patch needs; the message says what is wrong."""


@dataclass(frozen=True)
class DroppedFormula:
    """A formula the service overwrote with a value."""

    row: int
    col: int
    attrs: dict[str, str]
    text: str


def escape_text(text: str) -> str:
    """Text for a `<t>` element: XML-escaped, control characters as Excel's _xHHHH_ escapes."""
    text = _ESCAPED.sub(lambda m: "_x005F" + m.group(0), text)
    text = _ILLEGAL.sub(lambda m: f"_x{ord(m.group(0)):04X}_", text)
    return html.escape(text, quote=False).replace("\r", "&#13;")


def serial(value: dt.date, date1904: bool) -> float | int:
    """A date or datetime as a spreadsheet serial number (wall-clock time, time zone dropped)."""
    epoch = dt.datetime(1904, 1, 1) if date1904 else dt.datetime(1899, 12, 30)
    if isinstance(value, dt.datetime):
        delta = value.replace(tzinfo=None) - epoch
        days = delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400
        return int(days) if days == int(days) else round(days, 10)
    return (dt.datetime(value.year, value.month, value.day) - epoch).days


def format_number(value: float | int) -> str:
    """A number as `<v>` text: shortest round-trip form, integral floats without `.0`."""
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def encode(value: CellValue, p: str, date1904: bool) -> tuple[str | None, str]:
    """(t attribute, inner XML) for a value; strings are inline so `=` text never becomes a formula."""
    if value is None or isinstance(value, NoCachedValue):
        return None, ""
    if isinstance(value, bool):
        return "b", f"<{p}v>{int(value)}</{p}v>"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return "e", f"<{p}v>#NUM!</{p}v>"
        return None, f"<{p}v>{format_number(value)}</{p}v>"
    if isinstance(value, dt.date):
        return None, f"<{p}v>{format_number(serial(value, date1904))}</{p}v>"
    if isinstance(value, CellError):
        return "e", f"<{p}v>{html.escape(value.code, quote=False)}</{p}v>"
    text = str(value)[:MAX_TEXT]
    if not text:
        return None, ""  # an empty text would be a non-blank cell; clear it instead
    space = ' xml:space="preserve"' if text != text.strip() or "\n" in text else ""
    return "inlineStr", f"<{p}is><{p}t{space}>{escape_text(text)}</{p}t></{p}is>"


@dataclass
class Write:
    """One cell to write: its value and the style to give it when it has none of its own."""

    value: CellValue
    style: int | None = None
    force_style: bool = False


def _with_attr(tag_body: str, name: str, value: str) -> str:
    """Set one attribute in a start tag's body, keeping the others and their order."""
    pattern = re.compile(rf"(\s){re.escape(name)}\s*=\s*(\"[^\"]*\"|'[^']*')")
    if pattern.search(tag_body):
        return pattern.sub(lambda m: f'{m.group(1)}{name}="{value}"', tag_body, count=1)
    stripped = tag_body.rstrip()
    return f'{stripped} {name}="{value}"{tag_body[len(stripped) :]}'


class SheetPatch:
    """One worksheet's XML, with cells set by splicing only the rows and cells that change."""

    def __init__(self, xml: str, date1904: bool = False) -> None:
        m = _SHEETDATA_RE.search(xml)
        if not m:
            raise PatchError("the sheet has no cell data (sheetData)")
        self.p = m.group(1)
        self.date1904 = date1904
        if m.group(3) == "/":
            self.head = xml[: m.start()] + f"<{self.p}sheetData{m.group(2)}>"
            self.body = ""
            self.tail = f"</{self.p}sheetData>" + xml[m.end() :]
        else:
            close = xml.find(f"</{self.p}sheetData>", m.end())
            if close < 0:
                raise PatchError("the sheet's cell data is not closed")
            self.head, self.body, self.tail = xml[: m.end()], xml[m.end() : close], xml[close:]
        self.original = xml
        self.written: list[tuple[int, int]] = []
        self.dropped: list[DroppedFormula] = []
        if _ROW_NO_R.search(self.body) or _CELL_NO_R.search(self.body):
            self.body = _number_rows(self.body)
        # Column styles, so a new cell in a formatted column looks like Excel would make it.
        self.col_styles: list[tuple[int, int, str]] = []
        for cm in _COL_RE.finditer(self.head):
            a = attrs(cm.group(1))
            if a.get("style", "0") != "0" and a.get("min", "").isdigit() and a.get("max", "").isdigit():
                self.col_styles.append((int(a["min"]), int(a["max"]), a["style"]))

    def _inherited(self, col: int, row_attrs: dict[str, str] | None = None) -> list[tuple[str, str]]:
        """The style a new cell takes: its row's when the row is formatted, else its column's."""
        if row_attrs and row_attrs.get("customFormat") in ("1", "true") and row_attrs.get("s"):
            return [("s", f'"{row_attrs["s"]}"')]
        for lo, hi, style in self.col_styles:
            if lo <= col <= hi:
                return [("s", f'"{style}"')]
        return []

    @property
    def xml(self) -> str:
        if not self.written:
            return self.original
        return self._dimensioned(self.head) + self.body + self.tail

    def last_value_row(self) -> int:
        """The last row holding a value or formula (formatted empty rows below it do not count)."""
        last = 0
        for m in ROW_RE.finditer(self.body):
            if m.group(2) and _HAS_VALUE.search(m.group(2)):
                r = attrs(m.group(1)).get("r")
                last = max(last, int(r)) if r and r.isdigit() else last + 1
        return last

    def set_cells(self, writes: dict[tuple[int, int], Write]) -> None:
        """Write values into cells, creating rows and cells in sorted position where missing."""
        by_row: dict[int, dict[int, Write]] = {}
        for (r, c), w in writes.items():
            if r < 1 or c < 1 or r > MAX_SHEET_ROWS or c > 16384:
                raise PatchError(f"cell {r},{c} is outside a sheet")
            by_row.setdefault(r, {})[c] = w
        existing = [(int(attrs(m.group(1))["r"]), m) for m in ROW_RE.finditer(self.body)]
        numbers = [n for n, _ in existing]
        edits: list[tuple[int, int, int, int, str]] = []
        for r in sorted(by_row):
            i = bisect.bisect_left(numbers, r)
            if i < len(numbers) and numbers[i] == r:
                m = existing[i][1]
                edits.append((m.start(), 1, r, m.end(), self._patch_row(m, r, by_row[r])))
            else:
                pos = existing[i][1].start() if i < len(existing) else len(self.body)
                edits.append((pos, 0, r, pos, self._new_row(r, by_row[r])))
        out, last = [], 0
        for start, _, _, end, text in sorted(edits):
            out.append(self.body[last:start])
            out.append(text)
            last = end
        out.append(self.body[last:])
        self.body = "".join(out)
        self.written.extend(writes)
        self._repair_shared_formulas()

    def column_width(self, col: int) -> float:
        """A column's width in characters, as the sheet sets it or Excel's default."""
        for cm in _COL_RE.finditer(self.head):
            a = attrs(cm.group(1))
            if a.get("min", "").isdigit() and a.get("max", "").isdigit() and int(a["min"]) <= col <= int(a["max"]):
                try:
                    return float(a.get("width", DEFAULT_WIDTH))
                except ValueError:
                    return DEFAULT_WIDTH
        m = _FORMAT_PR_RE.search(self.head)
        try:
            return float(attrs(m.group(1)).get("defaultColWidth", DEFAULT_WIDTH)) if m else DEFAULT_WIDTH
        except ValueError:
            return DEFAULT_WIDTH

    def grow_rows(self, heights: dict[int, float]) -> None:
        """Make rows at least this tall (points); a row already as tall keeps its height, nothing else changes."""
        m = _FORMAT_PR_RE.search(self.head)
        try:
            default = float(attrs(m.group(1)).get("defaultRowHeight", DEFAULT_HEIGHT)) if m else DEFAULT_HEIGHT
        except ValueError:
            default = DEFAULT_HEIGHT

        def grow(rm: re.Match[str]) -> str:
            a = attrs(rm.group(1))
            need = heights.get(int(a["r"])) if a.get("r", "").isdigit() else None
            if need is None:
                return rm.group(0)
            try:
                have = float(a["ht"]) if "ht" in a else default
            except ValueError:
                have = default
            if have >= need:
                return rm.group(0)
            body = _with_attr(_with_attr(rm.group(1), "ht", f"{need:g}"), "customHeight", "1")
            whole = rm.group(0)
            return whole[: rm.start(1) - rm.start()] + body + whole[rm.end(1) - rm.start() :]

        if heights:
            self.body = ROW_RE.sub(grow, self.body)

    def _cell(self, p: str, kept: list[tuple[str, str]], ref: str, w: Write) -> str:
        t, inner = encode(w.value, p, self.date1904)
        parts = [f"{k}={v}" for k, v in kept if k not in ("t", "cm", "vm", "r", "s")]
        style = next((v for k, v in kept if k == "s"), None)
        if w.style is not None and (style is None or w.force_style):
            style = f'"{w.style}"'
        head = f'<{p}c r="{ref}"' + (f" s={style}" if style else "")
        head += "".join(" " + a for a in parts) + (f' t="{t}"' if t else "")
        return f"{head}>{inner}</{p}c>" if inner else f"{head}/>"

    def _patch_row(self, m: re.Match[str], r: int, cells: dict[int, Write]) -> str:
        start_tag = self.body[m.start() : m.start(1)] + m.group(1)
        rp = start_tag[1 : start_tag.index("row")]
        inner = m.group(2) or ""
        found = []
        for cm in CELL_RE.finditer(inner):
            pos = parse_ref(attrs(cm.group(1)).get("r", ""))
            if pos is None:
                raise PatchError(f"row {r} has a cell without a valid reference")
            found.append((pos[1], cm))
        cols = [c for c, _ in found]
        edits: list[tuple[int, int, int, int, str]] = []
        for c in sorted(cells):
            i = bisect.bisect_left(cols, c)
            if i < len(cols) and cols[i] == c:
                cm = found[i][1]
                cp = inner[cm.start() + 1 : cm.start(1) - 1]
                f = FORMULA_RE.search(cm.group(2) or "")
                if f:
                    self.dropped.append(DroppedFormula(r, c, attrs(f.group(1)), xml_text(f.group(2) or "")))
                kept = ATTR_RE.findall(cm.group(1))
                edits.append((cm.start(), 1, c, cm.end(), self._cell(cp, kept, a1(r, c), cells[c])))
            else:
                at = found[i][1].start() if i < len(found) else len(inner)
                kept = self._inherited(c, attrs(m.group(1)))
                edits.append((at, 0, c, at, self._cell(rp, kept, a1(r, c), cells[c])))
        out, last = [], 0
        for start, _, _, end, text in sorted(edits):
            out.append(inner[last:start])
            out.append(text)
            last = end
        out.append(inner[last:])
        tag_body = m.group(1)
        spans = attrs(tag_body).get("spans")
        if spans:
            tag_body = _with_attr(tag_body, "spans", _widen_spans(spans, list(cells)))
        return f"<{rp}row{tag_body}>{''.join(out)}</{rp}row>"

    def _new_row(self, r: int, cells: dict[int, Write]) -> str:
        p = self.p
        inner = "".join(self._cell(p, self._inherited(c), a1(r, c), cells[c]) for c in sorted(cells))
        return f'<{p}row r="{r}">{inner}</{p}row>'

    def _dimensioned(self, head: str) -> str:
        m = _DIMENSION_RE.search(head)
        if not m:
            return head
        ref = attrs(m.group(1)).get("ref", "A1")
        corners = [parse_ref(x) for x in ref.split(":")]
        points = [c for c in corners if c] + self.written
        top = min(r for r, _ in points), min(c for _, c in points)
        bottom = max(r for r, _ in points), max(c for _, c in points)
        new_ref = a1(*top) if top == bottom else f"{a1(*top)}:{a1(*bottom)}"
        if new_ref == ref:
            return head
        body = _with_attr(m.group(1), "ref", new_ref)
        return head[: m.start(1)] + body + head[m.end(1) :]

    def _repair_shared_formulas(self) -> None:
        """Give the cells that shared an overwritten master formula their own formula."""
        masters = {
            d.attrs["si"]: d
            for d in self.dropped
            if d.attrs.get("t") == "shared" and "ref" in d.attrs and "si" in d.attrs and d.text
        }
        if not masters:
            return
        from openpyxl.formula.translate import Translator  # type: ignore[import-untyped]

        def fix(cm: re.Match[str]) -> str:
            inner = cm.group(2) or ""
            f = FORMULA_RE.search(inner)
            if not f or f.group(2):
                return cm.group(0)
            fa = attrs(f.group(1))
            master = masters.get(fa.get("si", "")) if fa.get("t") == "shared" else None
            ref = attrs(cm.group(1)).get("r", "")
            if master is None or not ref:
                return cm.group(0)
            origin = a1(master.row, master.col)
            text = Translator("=" + master.text, origin=origin).translate_formula(ref)[1:]
            fp = inner[f.start() + 1 : f.start(1) - 1]
            new_f = f"<{fp}f>{html.escape(text, quote=False)}</{fp}f>"
            start = cm.start(2) - cm.start()
            whole = cm.group(0)
            return whole[:start] + inner[: f.start()] + new_f + inner[f.end() :] + whole[start + len(inner) :]

        self.body = CELL_RE.sub(fix, self.body)


def _widen_spans(spans: str, cols: list[int]) -> str:
    """The row's spans hint widened to cover new columns."""
    try:
        bounds = [int(x) for part in spans.split() for x in part.split(":")]
    except ValueError:
        bounds = []
    bounds += cols
    return f"{min(bounds)}:{max(bounds)}"


def _number_rows(body: str) -> str:
    """Give every row and cell an explicit `r`, as their implicit positions would be (a no-op)."""
    rnum = 0

    def row(m: re.Match[str]) -> str:
        nonlocal rnum
        a = attrs(m.group(1))
        rnum = int(a["r"]) if a.get("r", "").isdigit() else rnum + 1
        tag_body = m.group(1) if "r" in a else f' r="{rnum}"' + m.group(1)
        whole = m.group(0)
        head = whole[: m.start(1) - m.start()] + tag_body
        if m.group(2) is None:
            return head + whole[m.end(1) - m.start() :]
        col = 0

        def cell(cm: re.Match[str]) -> str:
            nonlocal col
            pos = parse_ref(attrs(cm.group(1)).get("r", ""))
            col = pos[1] if pos else col + 1
            if pos:
                return cm.group(0)
            w = cm.group(0)
            return w[: cm.start(1) - cm.start()] + f' r="{a1(rnum, col)}"' + w[cm.start(1) - cm.start() :]

        inner = CELL_RE.sub(cell, m.group(2))
        return head + whole[m.end(1) - m.start() : m.start(2) - m.start()] + inner + whole[m.end(2) - m.start() :]

    return ROW_RE.sub(row, body)


# --- workbook-level parts -------------------------------------------------------------------


def _rel_of_type(rels_xml: str, suffix: str) -> dict[str, str] | None:
    return next((r for r in relationships(rels_xml) if r.get("Type", "").endswith(suffix)), None)


def find_sheet(sheets: list[SheetRef], name: str) -> SheetRef | None:
    """A sheet by its exact name, else by the standard's loose matching."""
    for s in sheets:
        if s.name == name:
            return s
    wanted = schema.normalize(name)
    for s in sheets:
        if schema.normalize(s.name) == wanted:
            return s
    for std, labels in schema.SHEET_NAMES.items():
        if wanted in {schema.normalize(v) for v in labels.values()}:
            found = schema.match_sheet([s.name for s in sheets], std)
            return next((s for s in sheets if s.name == found), None)
    return None


class StyleBook:
    """Finds or adds the date styles appended History rows use; touches styles.xml only if needed."""

    def __init__(self, pkg: Package, part: str | None) -> None:
        self.pkg = pkg
        self.part = part if part and pkg.has(part) else None
        self.cache: dict[str, int | None] = {}

    def date_style(self, code: str) -> int | None:
        """The cellXfs index of a plain style with this number format, or None if impossible."""
        if code in self.cache:
            return self.cache[code]
        index = self._ensure(code) if self.part else None
        self.cache[code] = index
        return index

    def _ensure(self, code: str) -> int | None:
        assert self.part
        xml = self.pkg.text(self.part)
        fmt_id: int | None = None
        ids = []
        for m in re.finditer(rf"<{PFX}numFmt(?=[\s/>])([^>]*?)/?>", xml):
            a = attrs(m.group(1))
            if a.get("numFmtId", "").isdigit():
                ids.append(int(a["numFmtId"]))
                if a.get("formatCode") == code:
                    fmt_id = int(a["numFmtId"])
        if fmt_id is None:
            fmt_id = max([163, *ids]) + 1
            new = f'<numFmt numFmtId="{fmt_id}" formatCode="{html.escape(code)}"/>'
            nm = re.search(rf"<({PFX})numFmts(?=[\s/>])([^>]*?)(/?)>", xml)
            if nm and nm.group(3) == "":
                close = xml.find(f"</{nm.group(1)}numFmts>", nm.end())
                if close < 0:
                    return None
                new = new.replace("<numFmt", f"<{nm.group(1)}numFmt")
                tag = f"<{nm.group(1)}numFmts" + _with_attr(nm.group(2), "count", str(len(ids) + 1))
                xml = xml[: nm.start()] + tag + ">" + xml[nm.end() : close] + new + xml[close:]
            else:
                root = re.search(rf"<({PFX})styleSheet(?=[\s>])[^>]*>", xml)
                if not root or nm:
                    return None
                p = root.group(1)
                block = f'<{p}numFmts count="1">{new.replace("<numFmt", f"<{p}numFmt")}</{p}numFmts>'
                xml = xml[: root.end()] + block + xml[root.end() :]
        cx = re.search(rf"<({PFX})cellXfs(?=[\s>])([^>]*)>(.*?)</{PFX}cellXfs>", xml, re.S)
        if not cx:
            return None
        xfs = list(re.finditer(rf"<{PFX}xf(?=[\s/>])([^>]*?)(?:/>|>.*?</{PFX}xf>)", cx.group(3), re.S))
        for i, xm in enumerate(xfs):
            a = attrs(xm.group(1))
            plain = all(a.get(k, "0") == "0" for k in ("fontId", "fillId", "borderId"))
            if a.get("numFmtId") == str(fmt_id) and plain:
                self.pkg.set_text(self.part, xml)
                return i
        p = cx.group(1)
        xf = f'<{p}xf numFmtId="{fmt_id}" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        head = f"<{p}cellXfs" + _with_attr(cx.group(2), "count", str(len(xfs) + 1)) + ">"
        xml = xml[: cx.start()] + head + cx.group(3) + xf + xml[cx.end(3) :]
        self.pkg.set_text(self.part, xml)
        return len(xfs)


def _date_write(value: CellValue, styles: StyleBook, force: bool) -> Write:
    if isinstance(value, dt.date):
        code = DATETIME_FORMAT if isinstance(value, dt.datetime) else DATE_FORMAT
        style = styles.date_style(code)
        if style is None:  # no styles part to extend: ISO text still reads back as a date
            return Write(value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat())
        return Write(value, style, force)
    return Write(value)


def _unique_part(pkg: Package) -> str:
    taken = {n.lower() for n in pkg.data}
    n = 1
    while f"xl/worksheets/sheet{n}.xml" in taken:
        n += 1
    return f"xl/worksheets/sheet{n}.xml"


def _insert_before_close(xml: str, element: str, text: str) -> str:
    m = re.search(rf"</({PFX}){element}>", xml)
    if m:
        return xml[: m.start()] + text.replace("<", f"<{m.group(1)}", 1) + xml[m.start() :]
    m = re.search(rf"<({PFX}){element}(?=[\s/])([^>]*?)/>", xml)
    if not m:
        raise PatchError(f"no <{element}> element to add to")
    p = m.group(1)
    return (
        xml[: m.start()]
        + f"<{p}{element}{m.group(2)}>"
        + text.replace("<", f"<{p}", 1)
        + f"</{p}{element}>"
        + xml[m.end() :]
    )


def _new_sheet_xml(header: list[str]) -> str:
    widths = "".join(
        f'<col min="{i}" max="{i}" width="{18 if i == 1 else max(10, min(40, len(h) + 4))}" customWidth="1"/>'
        for i, h in enumerate(header, start=1)
    )
    cols = f"<cols>{widths}</cols>" if widths else ""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><dimension ref="A1"/>'
        '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
        'activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft" activeCell="A2" '
        'sqref="A2"/></sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>'
        f"{cols}<sheetData/>"
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
        "</worksheet>"
    )


def _add_sheet(pkg: Package, name: str, header: list[str]) -> tuple[SheetRef, str]:
    """Create an empty worksheet: its part, its <sheet>, its relationship and content type."""
    if len(name) > 31 or re.search(r"[\[\]:*?/\\]", name) or not name.strip():
        raise PatchError(f"'{name}' cannot be a sheet name")
    wb = pkg.text(pkg.workbook_part)
    rels = pkg.text(pkg.workbook_rels)
    sheets = workbook_sheets(wb, rels, base=pkg.workbook_part)
    part = _unique_part(pkg)
    ids = {r.get("Id", "") for r in relationships(rels)}
    n = max([0, *(int(i[3:]) for i in ids if i[:3] == "rId" and i[3:].isdigit())]) + 1
    while f"rId{n}" in ids:
        n += 1
    rel_id = f"rId{n}"
    target = posixpath.relpath(part, posixpath.dirname(pkg.workbook_part) or ".")
    rels = _insert_before_close(
        rels,
        "Relationships",
        f'<Relationship Id="{rel_id}" Type="{WORKSHEET_REL}" Target="{target}"/>',
    )
    sheet_id = max([0, *(s.sheet_id for s in sheets)]) + 1
    prefix = re.search(rf'xmlns:([\w.-]+)\s*=\s*["\']{re.escape(REL_NS)}["\']', wb)
    rid = f"{prefix.group(1)}:id" if prefix else "r:id"
    decl = "" if prefix else f' xmlns:r="{REL_NS}"'
    element = f'<sheet name="{html.escape(name)}" sheetId="{sheet_id}" {rid}="{rel_id}"{decl}/>'
    wb = _insert_before_close(wb, "sheets", element)
    ct = pkg.text(CONTENT_TYPES)
    ct = _insert_before_close(ct, "Types", f'<Override PartName="/{part}" ContentType="{WORKSHEET_CT}"/>')
    pkg.set_text(pkg.workbook_part, wb)
    pkg.set_text(pkg.workbook_rels, rels)
    pkg.set_text(CONTENT_TYPES, ct)
    pkg.set_text(part, _new_sheet_xml(header))
    return SheetRef(name, sheet_id, rel_id, part), part


def _prune_calc_chain(pkg: Package, dropped: set[tuple[int, str]]) -> None:
    """Remove overwritten formula cells from calcChain.xml (Excel asks to repair otherwise)."""
    rels = pkg.text(pkg.workbook_rels)
    rel = _rel_of_type(rels, "/calcChain")
    if not rel:
        return
    from .xlsx_ooxml import resolve_target

    part = resolve_target(pkg.workbook_part, rel.get("Target", ""))
    if not pkg.has(part):
        return
    xml = pkg.text(part)
    out: list[str] = []
    last = 0
    current = emitted = None
    kept = 0
    for m in CELL_RE.finditer(xml):
        a = attrs(m.group(1))
        current = a.get("i", current)
        out.append(xml[last : m.start()])
        last = m.end()
        ref = a.get("r", "").replace("$", "").upper()
        if (int(current or 0), ref) in dropped:
            continue
        text = m.group(0)
        if "i" not in a and current != emitted and current is not None:
            cut = m.end(1) - m.start()
            text = text[:cut] + f' i="{current}"' + text[cut:]
        emitted = current
        out.append(text)
        kept += 1
    out.append(xml[last:])
    if kept:
        pkg.set_text(part, "".join(out))
        return
    # An empty calcChain is invalid: drop the part; Excel rebuilds it.
    pkg.remove(part)
    rid = re.escape(rel.get("Id", ""))
    pkg.set_text(
        pkg.workbook_rels,
        re.sub(rf"<(?:[\w.-]+:)?Relationship(?=\s)[^>]*\sId\s*=\s*[\"']{rid}[\"'][^>]*/>", "", rels),
    )
    ct = pkg.text(CONTENT_TYPES)
    name = re.escape("/" + part)
    pkg.set_text(
        CONTENT_TYPES,
        re.sub(rf"<(?:[\w.-]+:)?Override(?=\s)[^>]*PartName\s*=\s*[\"']{name}[\"'][^>]*/>", "", ct),
    )


def _full_calc_on_load(pkg: Package) -> None:
    """Ask Excel to recalculate on open, so people's own formulas see the new scores."""
    wb = pkg.text(pkg.workbook_part)
    m = _CALCPR_RE.search(wb)
    if m:
        if attrs(m.group(1)).get("fullCalcOnLoad") in ("1", "true"):
            return
        body = _with_attr(m.group(1), "fullCalcOnLoad", "1")
        wb = wb[: m.start(1)] + body + wb[m.end(1) :]
    else:
        root = re.search(rf"<({PFX})workbook(?=[\s>])", wb)
        p = root.group(1) if root else ""
        names = "|".join(_AFTER_CALCPR)
        after = re.search(rf"<{PFX}(?:{names})(?=[\s/>])|</{PFX}workbook>", wb)
        if not after:
            return
        wb = wb[: after.start()] + f'<{p}calcPr fullCalcOnLoad="1"/>' + wb[after.start() :]
    pkg.set_text(pkg.workbook_part, wb)


def patch_package(
    pkg: Package,
    updates: dict[str, dict[tuple[int, int], CellValue]],
    appends: Iterable[OwnedSheet],
    wrap: dict[str, int] | None = None,
) -> bool:
    """Apply cell updates and owned-sheet appends to a package; True when any part changed.

    `wrap` names, per sheet, a column of wrapped text: a row whose text there the patch writes grows to
    show all of it (never shrinks; a taller row a person set stays).
    """
    wb = pkg.text(pkg.workbook_part)
    rels = pkg.text(pkg.workbook_rels)
    sheets = workbook_sheets(wb, rels, base=pkg.workbook_part)
    date1904 = bool(re.search(r"date1904\s*=\s*[\"'](1|true)[\"']", wb))
    style_rel = _rel_of_type(rels, "/styles")
    from .xlsx_ooxml import resolve_target

    styles = StyleBook(pkg, resolve_target(pkg.workbook_part, style_rel["Target"]) if style_rel else None)
    dropped: set[tuple[int, str]] = set()
    owned_parts: set[str] = set()

    def patch(ref: SheetRef, writes: dict[tuple[int, int], Write], header: list[str] | None) -> None:
        if not ref.part or not pkg.has(ref.part):
            raise PatchError(f"sheet '{ref.name}' is not a worksheet")
        sheet = SheetPatch(pkg.text(ref.part), date1904)
        if header is not None:
            # Appended rows arrive numbered from 1; they go below the last row holding a value.
            last = sheet.last_value_row()
            writes = {(r + max(last, 1), c): w for (r, c), w in writes.items()}
            if last == 0:
                writes.update({(1, c): Write(h) for c, h in enumerate(header, start=1)})
        sheet.set_cells(writes)
        col = (wrap or {}).get(ref.name) if header is None else None
        if col is not None:
            width = sheet.column_width(col)
            sheet.grow_rows({r: row_height(w.value, width) for (r, c), w in writes.items()
                             if c == col and isinstance(w.value, str) and w.value})  # fmt: skip
        pkg.set_text(ref.part, sheet.xml)
        # calcChain's i is the sheetId (ECMA-376 18.6.1); some writers use the sheet's position.
        # Dropping an entry of a formula that still exists is harmless, so match both.
        ids = {ref.sheet_id, *(i for i, s in enumerate(sheets, start=1) if s.part == ref.part)}
        dropped.update((i, a1(d.row, d.col)) for d in sheet.dropped for i in ids)

    for name, cells in updates.items():
        if not cells:
            continue
        ref = find_sheet(sheets, name)
        if ref is None:
            raise PatchError(f"sheet '{name}' is missing")
        patch(ref, {rc: _date_write(v, styles, False) for rc, v in cells.items()}, None)
    for owned in appends:
        rows = list(owned.rows)
        name, n = owned.name, 1
        while rows:
            ref = find_sheet(sheets, name)
            if ref is None:
                ref, _ = _add_sheet(pkg, name, list(owned.header))
                sheets.append(ref)
            assert ref.part
            if not pkg.has(ref.part):
                raise PatchError(f"sheet '{ref.name}' is not a worksheet")
            # A full sheet continues on "History 2", "History 3", … (the core warns when it happens).
            room = MAX_SHEET_ROWS - max(SheetPatch(pkg.text(ref.part)).last_value_row(), 1)
            if room > 0:
                owned_parts.add(ref.part)
                chunk, rows = rows[:room], rows[room:]
                writes = {
                    (r, c): _date_write(v, styles, True)
                    for r, row in enumerate(chunk, start=1)
                    for c, v in enumerate(row, start=1)
                }
                patch(ref, writes, list(owned.header))
            n += 1
            name = f"{owned.name} {n}"
    if dropped:
        _prune_calc_chain(pkg, dropped)
    if not pkg.changed and not pkg.removed:
        return False
    has_formulas = any(
        s.part and s.part not in owned_parts and pkg.has(s.part) and _FORMULA_ANYWHERE.search(pkg.text(s.part))
        for s in sheets
    )
    if has_formulas and any(updates.values()):
        _full_calc_on_load(pkg)
    return True
