"""Low-level reading of an .xlsx package: its zip parts in order, its sheets, quick scans of cells."""

from __future__ import annotations

import html
import io
import posixpath
import re
import zipfile
from dataclasses import dataclass, field

from ..core.model import CellError, CellValue, NoCachedValue, column_index
from .xlsx_parts import decode_xml, read_part

REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
WORKSHEET_REL = REL_NS + "/worksheet"
WORKSHEET_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
WORKBOOK_PART = "xl/workbook.xml"
WORKBOOK_RELS = "xl/_rels/workbook.xml.rels"
CONTENT_TYPES = "[Content_Types].xml"

# Elements may carry a namespace prefix (`<x:c>` from the Open XML SDK); every pattern allows one.
PFX = r"(?:[A-Za-z_][\w.-]*:)?"
ATTR_RE = re.compile(r"([A-Za-z_][\w.:-]*)\s*=\s*(\"[^\"]*\"|'[^']*')")
CELL_RE = re.compile(rf"<{PFX}c(?=[\s/>])([^>]*?)(?:/>|>(.*?)</{PFX}c>)", re.S)
ROW_RE = re.compile(rf"<{PFX}row(?=[\s/>])([^>]*?)(?:/>|>(.*?)</{PFX}row>)", re.S)
FORMULA_RE = re.compile(rf"<{PFX}f(?=[\s/>])([^>]*?)(?:/>|>(.*?)</{PFX}f>)", re.S)
VALUE_RE = re.compile(rf"<{PFX}v(?=[\s/>])[^>]*?(?:/>|>(.*?)</{PFX}v>)", re.S)
REF_RE = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d+)")
_SPECIAL_MARKS = ("<f>", "<f ", "<f/", ":f>", ":f ", ":f/", 't="e"', "t='e'", "t = ")
_SHEET_RE = re.compile(rf"<{PFX}sheet(?=[\s/>])([^>]*?)/?>")
_REL_RE = re.compile(r"<(?:[\w.-]+:)?Relationship(?=[\s/>])([^>]*?)/?>")


def attrs(start_tag_body: str) -> dict[str, str]:
    """The attributes of a start tag's body, values unescaped."""
    return {k: html.unescape(v[1:-1]) for k, v in ATTR_RE.findall(start_tag_body)}


def xml_text(raw: str) -> str:
    """Unescape element text (entities and character references)."""
    return html.unescape(raw) if "&" in raw else raw


def parse_ref(ref: str) -> tuple[int, int] | None:
    """'B12' -> (12, 2), 1-based row and column."""
    m = REF_RE.fullmatch(ref.strip())
    if not m:
        return None
    return int(m.group(2)), column_index(m.group(1))


def resolve_target(source_part: str, target: str) -> str:
    """A relationship target, relative to the part that owns it, as a zip member name."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source_part), target))


@dataclass
class SheetRef:
    """One `<sheet>` of workbook.xml and the zip part that holds it."""

    name: str
    sheet_id: int
    rel_id: str
    part: str | None


def relationships(rels_xml: str) -> list[dict[str, str]]:
    """Every Relationship of a .rels part as its attributes."""
    return [attrs(m.group(1)) for m in _REL_RE.finditer(rels_xml)]


def workbook_sheets(workbook_xml: str, rels_xml: str, base: str = WORKBOOK_PART) -> list[SheetRef]:
    """The sheets of a workbook in order, with their worksheet parts where they have one."""
    targets = {r.get("Id", ""): resolve_target(base, r.get("Target", "")) for r in relationships(rels_xml)}
    sheets: list[SheetRef] = []
    for m in _SHEET_RE.finditer(workbook_xml):
        a = attrs(m.group(1))
        rel_id = next((v for k, v in a.items() if k.endswith(":id") or k == "id"), "")
        try:
            sheet_id = int(a.get("sheetId", "0"))
        except ValueError:
            sheet_id = 0
        sheets.append(SheetRef(a.get("name", ""), sheet_id, rel_id, targets.get(rel_id)))
    return sheets


@dataclass
class Package:
    """The parts of an .xlsx zip, kept in their order with their zip metadata."""

    infos: list[zipfile.ZipInfo]
    data: dict[str, bytes]
    changed: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    # The workbook part, found through _rels/.rels (not always xl/workbook.xml), and its relationships.
    workbook_part: str = WORKBOOK_PART
    workbook_rels: str = WORKBOOK_RELS

    @classmethod
    def from_bytes(cls, blob: bytes) -> Package:
        """Load every part into memory, each refused past the part size limit before it is inflated."""
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            infos = z.infolist()
            data = {i.filename: read_part(z, i.filename) for i in infos}
            main = main_part(z) or WORKBOOK_PART
        return cls(infos, data, workbook_part=main, workbook_rels=rels_part(main))

    def has(self, name: str) -> bool:
        return name in self.data and name not in self.removed

    def text(self, name: str) -> str:
        """A part's XML text: UTF-8, or UTF-16 as some writers save it (it is written back as UTF-8)."""
        data = self.data[name]
        if data.startswith((b"\xff\xfe", b"\xfe\xff")) or data[:2] in (b"<\x00", b"\x00<"):
            text = decode_xml(data)
            return '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + text
        return data.decode("utf-8")

    def set_text(self, name: str, text: str) -> None:
        """Replace (or add, at the end) a part."""
        blob = text.encode("utf-8")
        if name not in self.data:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            self.infos.append(info)
        elif self.data[name] == blob:
            return
        self.data[name] = blob
        self.changed.add(name)

    def remove(self, name: str) -> None:
        self.removed.add(name)

    def write(self, fileobj: io.BufferedIOBase) -> None:
        """Write the package: unchanged parts byte-for-byte identical, same order and names."""
        with zipfile.ZipFile(fileobj, "w") as out:
            for old in self.infos:
                if old.filename in self.removed:
                    continue
                info = zipfile.ZipInfo(old.filename, date_time=old.date_time)
                info.compress_type = old.compress_type
                info.external_attr = old.external_attr
                info.create_system = old.create_system
                info.comment = old.comment
                out.writestr(info, self.data[old.filename])


def scan_special_cells(sheet_xml: str) -> dict[tuple[int, int], CellValue]:
    """Error cells and formula cells without a cached value, which calamine reports as blanks."""
    found: dict[tuple[int, int], CellValue] = {}
    start = sheet_xml.find("sheetData")
    end = sheet_xml.rfind("sheetData")
    body = sheet_xml[start:end] if 0 <= start < end else sheet_xml
    # Substring tests are memchr-fast; most sheets hold neither formulas nor error values.
    if not any(mark in body for mark in _SPECIAL_MARKS):
        return found
    for rnum, row_body in iter_rows(body):
        col = 0
        for cm in CELL_RE.finditer(row_body):
            a = attrs(cm.group(1))
            pos = parse_ref(a["r"]) if "r" in a else None
            col = pos[1] if pos else col + 1
            inner = cm.group(2) or ""
            kind = a.get("t", "n")
            v = VALUE_RE.search(inner)
            value = xml_text(v.group(1) or "") if v else ""
            if kind == "e" and value:
                found[(rnum, col)] = CellError(value.strip())
                continue
            f = FORMULA_RE.search(inner)
            if f is None:
                continue
            if value or (v is not None and kind == "str"):
                continue  # a cached value (an empty string result counts too)
            found[(rnum, col)] = NoCachedValue(xml_text(f.group(2) or "").strip())
    return found


def iter_rows(body: str) -> list[tuple[int, str]]:
    """(row number, inner XML) of every row; rows without `r` follow the one before."""
    rows: list[tuple[int, str]] = []
    rnum = 0
    for m in ROW_RE.finditer(body):
        a = attrs(m.group(1))
        try:
            rnum = int(a["r"]) if "r" in a else rnum + 1
        except ValueError:
            rnum += 1
        rows.append((rnum, m.group(2) or ""))
    return rows


_OFFICE_DOC = "/officeDocument"


def main_part(z: zipfile.ZipFile) -> str | None:
    """The workbook part, found through _rels/.rels as Excel does; xl/workbook.xml when there is no .rels."""
    if "_rels/.rels" in z.NameToInfo:
        for rel in relationships(decode_xml(read_part(z, "_rels/.rels"))):
            if rel.get("Type", "").endswith(_OFFICE_DOC) and not rel.get("TargetMode"):
                part = resolve_target("", rel.get("Target", ""))
                if part in z.NameToInfo:
                    return part
    return WORKBOOK_PART if WORKBOOK_PART in z.NameToInfo else None


def rels_part(part: str) -> str:
    """The relationships part of a part: xl/workbook.xml -> xl/_rels/workbook.xml.rels."""
    folder, _, name = part.rpartition("/")
    return f"{folder}/_rels/{name}.rels" if folder else f"_rels/{name}.rels"
