"""Bounded reading of an .xlsx package: regular files only, parts under a size limit, only the tables' extent."""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.model import column_index
from .xlsx_ooxml import (
    CELL_RE,
    FORMULA_RE,
    PFX,
    ROW_RE,
    VALUE_RE,
    WORKBOOK_PART,
    SheetRef,
    attrs,
    main_part,
    parse_ref,
    relationships,
    rels_part,
    resolve_target,
    workbook_sheets,
)
from .xlsx_parts import (  # noqa: F401 - the size limit and part readers, named here as before
    _ENC_RE,
    DEFAULT_MAX_PART_MB,
    MAX_PART_ENV,
    TooLarge,
    decode_xml,
    max_part_bytes,
    read_part,
)

# The standard's headers sit in the first 50 rows (core/parse.py looks no further); a table's width is
# the last column holding a value there before a run of this many empty columns.
HEADER_ROWS = 50
_COLUMN_GAP = 26
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_SI_RE = re.compile(rf"<{PFX}si(?=[\s/>])[^>]*?(?:/>|>(.*?)</{PFX}si>)", re.S)
_T_RE = re.compile(rf"<{PFX}t(?=[\s/>])[^>]*?(?:/>|>(.*?)</{PFX}t>)", re.S)
_SHEETDATA_RE = re.compile(rf"<({PFX})sheetData(?=[\s/>])[^>]*?(/?)>", re.S)
_DIMENSION_RE = re.compile(rf"<{PFX}dimension(?=[\s/>])[^>]*/>")
_SPANS_RE = re.compile(r"\s+spans\s*=\s*(\"[^\"]*\"|'[^']*')")
_R_ATTR_RE = re.compile(r"(\sr\s*=\s*)(\"[^\"]*\"|'[^']*')")
_KINDS = {
    stat.S_IFIFO: ("a named pipe (FIFO)", "命名管道（FIFO）"),
    stat.S_IFCHR: ("a character device", "字符设备"),
    stat.S_IFBLK: ("a block device", "块设备"),
    stat.S_IFSOCK: ("a socket", "套接字"),
    stat.S_IFDIR: ("a folder", "文件夹"),
}


class NotRegular(Exception):
    """The path is not a regular file (FIFO, device, socket, folder)."""

    def __init__(self, en: str, zh: str) -> None:
        super().__init__(en)
        self.en, self.zh = en, zh


def kind_of(mode: int) -> tuple[str, str] | None:
    """What a non-regular file is, in both languages; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return _KINDS.get(stat.S_IFMT(mode), ("not a regular file", "不是普通文件"))


def read_regular(path: str | os.PathLike[str], limit: int | None = None) -> tuple[bytes, os.stat_result]:
    """A regular file's bytes and its identity; never blocks on a FIFO, never reads a device."""
    limit = max_part_bytes() if limit is None else limit
    kind = kind_of(os.stat(path).st_mode)  # a socket cannot even be opened: name it first
    if kind is not None:
        raise NotRegular(*kind)
    # O_NONBLOCK: opening a FIFO with no writer returns at once instead of hanging the sync.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        kind = kind_of(st.st_mode)
        if kind is not None:
            raise NotRegular(*kind)
        if st.st_size > limit:
            raise TooLarge("the file", limit)
        with os.fdopen(os.dup(fd), "rb") as f:
            blob = f.read(limit + 1)
        if len(blob) > limit:
            raise TooLarge("the file", limit)
        return blob, st
    finally:
        os.close(fd)


@dataclass
class SheetExtent:
    """What was kept of one sheet: its compact XML and the original row of each kept row."""

    xml: str
    rows: list[int] = field(default_factory=list)
    # Cells of an array formula or spill range (its anchor included) -> that formula's anchor (A1).
    array_cells: dict[tuple[int, int], str] = field(default_factory=dict)
    # True when nothing was cut: the sheet can be read from the original package.
    whole: bool = False


def _has_value(kind: str, inner: str, empty_strings: set[int]) -> bool:
    if FORMULA_RE.search(inner):
        return True
    if kind == "inlineStr":
        return any((t.group(1) or "") for t in _T_RE.finditer(inner))
    v = VALUE_RE.search(inner)
    text = (v.group(1) or "") if v else ""
    if kind == "s":
        return text.strip().isdigit() and int(text) not in empty_strings
    return text != ""


def empty_shared_strings(xml: str) -> set[int]:
    """Indexes of shared strings that hold no text: a cell showing one holds no value."""
    return {
        i for i, m in enumerate(_SI_RE.finditer(xml)) if not any(t.group(1) for t in _T_RE.finditer(m.group(1) or ""))
    }


def _a1(row: int, col: int) -> str:
    letters = ""
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row}"


_FAST_REF_RE = re.compile(r"<c\s[^>]*?\br=\"([A-Z]{1,3})(\d{1,7})\"")
_FAST_MAX_COLS = 200
_FAST_MAX_ROWS = 200_000


def _small_sheet(body: str, max_row: int | None, max_col: int | None) -> int | None:
    """The last row of a sheet that can be read as it is (no array formulas, small); None otherwise."""
    if "array" in body or max_row is not None or max_col is not None:
        return None
    refs = _FAST_REF_RE.findall(body)
    if len(refs) != body.count("<c ") + body.count("<c>"):
        return None  # a prefix or a cell without its reference: take the careful path
    if not refs:
        return 0 if "row" not in body else None
    last_row = max(int(d) for _, d in refs)
    if last_row > _FAST_MAX_ROWS or max(len(w) for w, _ in refs) > 2:
        return None
    if max(column_index(w) for w in {w for w, _ in refs}) > _FAST_MAX_COLS:
        return None
    return last_row


_CELL_START_RE = re.compile(rf"^<({PFX}c)(?=[\s/>])([^>]*)")


def _with_r(cell: str, ref: str) -> str:
    """A cell's XML with its reference set to `ref`."""
    m = _CELL_START_RE.match(cell)
    if not m:
        return cell
    start = _R_ATTR_RE.sub("", m.group(2))
    return f'<{m.group(1)} r="{ref}"{start}' + cell[m.end() :]


def compact_sheet(
    xml: str, empty_strings: set[int], max_row: int | None = None, max_col: int | None = None
) -> SheetExtent:
    """The sheet cut to its tables' extent, empty rows dropped and the rest renumbered from 1.

    Width: the last column holding a value in the first HEADER_ROWS rows (before a wide empty gap);
    height: the last row holding a value within that width. A sheet's declared grid is never trusted.
    """
    m = _SHEETDATA_RE.search(xml)
    if not m:
        return SheetExtent(xml)
    p = m.group(1)
    head = _DIMENSION_RE.sub("", xml[: m.start()])
    if m.group(2) == "/":
        return SheetExtent(xml)
    close = xml.find(f"</{p}sheetData>", m.end())
    if close < 0:
        return SheetExtent(xml)
    body, tail = xml[m.end() : close], xml[close:]
    fast = _small_sheet(body, max_row, max_col)
    if fast is not None:  # most sheets: every cell referenced and inside a small box; nothing to cut
        return SheetExtent(head + xml[m.start() :], list(range(1, fast + 1)), whole=True)
    parsed: list[tuple[int, str, list[tuple[int, str, str, bool]]]] = []
    header_cols: set[int] = set()
    arrays: list[tuple[str, tuple[int, int], tuple[int, int]]] = []
    rnum = 0
    for rm in ROW_RE.finditer(body):
        ra = attrs(rm.group(1))
        try:
            rnum = int(ra["r"]) if "r" in ra else rnum + 1
        except ValueError:
            rnum += 1
        if max_row is not None and rnum > max_row:
            break
        cells: list[tuple[int, str, str, bool]] = []
        col = 0
        for cm in CELL_RE.finditer(rm.group(2) or ""):
            ca = attrs(cm.group(1))
            pos = parse_ref(ca["r"]) if "r" in ca else None
            col = pos[1] if pos else col + 1
            inner = cm.group(2) or ""
            f = FORMULA_RE.search(inner) if "f" in inner else None
            if f is not None:
                fa = attrs(f.group(1))
                if fa.get("t") == "array" and ":" in fa.get("ref", ""):
                    ends = [parse_ref(x) for x in fa["ref"].split(":")]
                    if ends[0] and ends[1]:
                        arrays.append((_a1(rnum, col), ends[0], ends[1]))
            has = _has_value(ca.get("t", "n"), inner, empty_strings)
            if has and rnum <= HEADER_ROWS:
                header_cols.add(col)
            cells.append((col, cm.group(0), cm.group(1), has))
        parsed.append((rnum, rm.group(1), cells))
    width = 0
    for c in sorted(header_cols):
        if c - width > _COLUMN_GAP and width:
            break
        width = c
    if max_col is not None:
        width = max_col
    out: list[str] = []
    kept_rows: list[int] = []
    for rnum, row_attrs, cells in parsed:
        kept = [(c, text, cattrs) for c, text, cattrs, has in cells if has and c <= width]
        if not kept:
            continue
        k = len(kept_rows) + 1
        kept_rows.append(rnum)
        inner = "".join(_with_r(text, _a1(k, c)) for c, text, _ in kept)
        tag = _R_ATTR_RE.sub("", _SPANS_RE.sub("", row_attrs))
        out.append(f'<{p}row r="{k}"{tag}>{inner}</{p}row>')
    array_cells: dict[tuple[int, int], str] = {}
    for anchor, (r1, c1), (r2, c2) in arrays:
        if (r2 - r1 + 1) * (c2 - c1 + 1) > 1_000_000:
            r2 = min(r2, r1 + 1000)  # a whole-column array: the rows the tables can hold are what matter
        for r in range(r1, r2 + 1):
            for c in range(c1, min(c2, width or c2) + 1):
                # The anchor too: a value written there would delete the whole array formula.
                array_cells[(r, c)] = anchor
    return SheetExtent(head + f"<{p}sheetData>" + "".join(out) + tail, kept_rows, array_cells)


# Sheets to read, with (max_row, max_col) caps; None for the tables' own extent.
Caps = dict[str, tuple[int | None, int | None]]
_STUB_SHEET = f'<worksheet xmlns="{_MAIN}"><sheetData/></worksheet>'


@dataclass
class Bounded:
    """A package reduced to what the reader needs, laid out where every reader expects it."""

    blob: bytes
    sheets: list[SheetRef]
    extents: dict[str, SheetExtent]


def _is_plain(data: bytes) -> bool:
    """UTF-8 XML every reader takes as it is (no BOM, no other declared encoding)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")) or data[:2] in (b"<\x00", b"\x00<"):
        return False
    m = _ENC_RE.match(data)
    return m is None or m.group(1).lower() in (b"utf-8", b"utf8")


def bounded_package(z: zipfile.ZipFile, choose: Callable[[list[str]], Caps], blob: bytes | None = None) -> Bounded:
    """A small canonical package: workbook at xl/workbook.xml, UTF-8 parts, the chosen sheets compacted.

    `choose` gets the sheet names and gives the sheets to read with (max_row, max_col) caps, None for the
    tables' own extent. Every part a reader would unpack is read here first, under the size limit; when
    the package is already plain (`blob`, its bytes, given) and no sheet needed cutting, it is used as is.
    """
    plain = blob is not None

    def xml(name: str) -> str:
        nonlocal plain
        data = read_part(z, name)
        plain = plain and _is_plain(data)
        return decode_xml(data)

    # The usual place first (what every reader looks at); else where _rels/.rels says, as Excel does.
    main = WORKBOOK_PART if WORKBOOK_PART in z.NameToInfo else main_part(z)
    if main is None:
        raise KeyError("no workbook part")
    plain = plain and main == WORKBOOK_PART
    wb_xml = xml(main)
    rels_name = rels_part(main)
    rels_xml = xml(rels_name) if rels_name in z.NameToInfo else ""
    sheets = workbook_sheets(wb_xml, rels_xml, base=main)
    rels = relationships(rels_xml)
    shared_xml = ""
    parts: dict[str, str] = {}
    out_rels: list[str] = []
    by_id = {s.rel_id: s for s in sheets}
    canonical: dict[str, str] = {}
    n = 0
    for rel in rels:
        rid, kind = rel.get("Id", ""), rel.get("Type", "")
        target = resolve_target(main, rel.get("Target", ""))
        if rid in by_id:
            n += 1
            name = f"worksheets/sheet{n}.xml"
            parts["xl/" + name] = _STUB_SHEET
            out_rels.append(f'<Relationship Id="{rid}" Type="{_DOC_REL}/worksheet" Target="{name}"/>')
            by_id[rid].part = target if target in z.NameToInfo else None
            canonical[rid] = "xl/" + name
        elif kind.endswith("/sharedStrings") and target in z.NameToInfo:
            shared_xml = xml(target)
            parts["xl/sharedStrings.xml"] = shared_xml
            out_rels.append(f'<Relationship Id="{rid}" Type="{kind}" Target="sharedStrings.xml"/>')
        elif kind.endswith("/styles") and target in z.NameToInfo:
            parts["xl/styles.xml"] = xml(target)
            out_rels.append(f'<Relationship Id="{rid}" Type="{kind}" Target="styles.xml"/>')
    empties = empty_shared_strings(shared_xml) if shared_xml else set()
    wanted = choose([s.name for s in sheets])
    extents: dict[str, SheetExtent] = {}
    for s in sheets:
        if s.name in wanted and s.part and s.rel_id in canonical:
            max_row, max_col = wanted[s.name]
            ext = compact_sheet(xml(s.part), empties, max_row, max_col)
            extents[s.name] = ext
            parts[canonical[s.rel_id]] = ext.xml
    if plain and blob is not None and all(e.whole for e in extents.values()):
        return Bounded(blob, sheets, extents)  # nothing to cut or convert: the reader may take the file
    parts["xl/workbook.xml"] = wb_xml
    parts["xl/_rels/workbook.xml.rels"] = f'<Relationships xmlns="{_RELS}">{"".join(out_rels)}</Relationships>'
    parts["_rels/.rels"] = (
        f'<Relationships xmlns="{_RELS}"><Relationship Id="rId1" Type="{_DOC_REL}/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    )
    ct = ['<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>',
          '<Default Extension="xml" ContentType="application/xml"/>']
    parts["[Content_Types].xml"] = (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' + "".join(ct) + "</Types>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as out:
        for name, text in parts.items():
            decl = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            out.writestr(name, (decl + text).encode("utf-8"))
    return Bounded(buf.getvalue(), sheets, extents)

