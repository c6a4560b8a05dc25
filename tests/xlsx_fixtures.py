"""Workbooks for the xlsx backend tests: plain units, odd files, and a rich .xlsm to preserve."""

from __future__ import annotations

import datetime as dt
import io
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.chart import BarChart, Reference
from openpyxl.comments import Comment
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Font, PatternFill
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation

CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
OKRS_HEADER = [
    "Type", "ID", "Objective / Key result", "Owner", "Aligns to", "Metric", "Start", "Target",
    "Current", "Confidence", "Progress", "Score", "Status", "Check", "My calc",
]  # fmt: skip
FIRST_COL = 2  # the header starts in column B: column A stays empty
HEADER_ROW = 3  # a title banner and a blank row sit above the header
CALC_CHAIN = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<calcChain xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<c r="L5" i="{okrs}"/><c r="P5"/><c r="P6"/><c r="B2" i="{settings}"/></calcChain>'
)
SPARKLINES = (
    '<extLst><ext uri="{05C60535-1F16-4fd2-B633-F4F36F0B64E0}" '
    'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main">'
    '<x14:sparklineGroups xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main">'
    '<x14:sparklineGroup displayEmptyCellsAs="gap"><x14:colorSeries rgb="FF376092"/>'
    '<x14:colorNegative rgb="FFD00000"/><x14:colorAxis rgb="FF000000"/>'
    '<x14:colorMarkers rgb="FFD00000"/><x14:colorFirst rgb="FFD00000"/>'
    '<x14:colorLast rgb="FFD00000"/><x14:colorHigh rgb="FFD00000"/>'
    '<x14:colorLow rgb="FFD00000"/><x14:sparklines><x14:sparkline><xm:f>OKRs!H5:J5</xm:f>'
    "<xm:sqref>Q5</xm:sqref></x14:sparkline></x14:sparklines></x14:sparklineGroup>"
    "</x14:sparklineGroups></ext></extLst>"
)
XDR = "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"
TEXT_BOX = (
    f'<xdr:twoCellAnchor xmlns:xdr="{XDR}"><xdr:from><xdr:col>18</xdr:col><xdr:colOff>0'
    "</xdr:colOff><xdr:row>1</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:from><xdr:to>"
    "<xdr:col>22</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>5</xdr:row><xdr:rowOff>0"
    '</xdr:rowOff></xdr:to><xdr:sp macro="" textlink=""><xdr:nvSpPr><xdr:cNvPr id="100" '
    'name="TextBox 1"/><xdr:cNvSpPr txBox="1"/></xdr:nvSpPr><xdr:spPr><a:xfrm><a:off x="0" '
    'y="0"/><a:ext cx="2000000" cy="600000"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/>'
    "</a:prstGeom></xdr:spPr><xdr:txBody><a:bodyPr/><a:lstStyle/><a:p><a:r><a:t>Team notes: "
    "keep me</a:t></a:r></a:p></xdr:txBody></xdr:sp><xdr:clientData/></xdr:twoCellAnchor>"
)
PICTURE = (
    f'<xdr:oneCellAnchor xmlns:xdr="{XDR}"><xdr:from><xdr:col>18</xdr:col><xdr:colOff>0'
    "</xdr:colOff><xdr:row>7</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:from>"
    '<xdr:ext cx="190500" cy="190500"/><xdr:pic><xdr:nvPicPr><xdr:cNvPr id="101" '
    'name="Picture 1"/><xdr:cNvPicPr/></xdr:nvPicPr><xdr:blipFill><a:blip r:embed="rIdPng1"/>'
    '<a:stretch><a:fillRect/></a:stretch></xdr:blipFill><xdr:spPr><a:prstGeom prst="rect">'
    "<a:avLst/></a:prstGeom></xdr:spPr></xdr:pic><xdr:clientData/></xdr:oneCellAnchor>"
)


def tiny_png() -> bytes:
    """A valid 2x2 red PNG, built without Pillow."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )  # fmt: skip


def fake_vba_project() -> bytes:
    """Stand-in vbaProject.bin: a CFB header and padding (the backend must copy it untouched)."""
    return CFB_MAGIC + bytes(range(256)) * 6


def zip_parts(path: Path) -> dict[str, bytes]:
    """Every part of a zip, decompressed, in order."""
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def write_parts(path: Path, parts: dict[str, bytes]) -> None:
    """Write parts to a zip in the given order."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    path.write_bytes(buf.getvalue())


def settings_rows(code: str = "MKT", lang: str = "en") -> list[list[Any]]:
    """A Settings sheet's rows."""
    en = [
        ["Unit code", code], ["Unit name", "Marketing"], ["Level", "department"],
        ["Parent unit", "CO"], ["Cycle", "2026-Q4"], ["Cycle start", dt.date(2026, 10, 1)],
        ["Cycle end", dt.date(2026, 12, 31)], ["Language", lang],
    ]  # fmt: skip
    zh = ["单元代码", "单元名称", "层级", "上级单元", "周期", "周期开始", "周期结束", "语言"]
    return [[zh[i], v] for i, (_, v) in enumerate(en)] if lang == "zh" else en


def okr_rows() -> list[list[Any]]:
    """Three OKR rows in OKRS_HEADER order (computed columns blank)."""
    blank = [None] * 6
    return [
        ["O", "O1", "Grow the brand", "Ann", "CO/O1", None, None, None, None, None, *blank],
        ["KR", "KR1.1", "Visitors", "Bo", None, "number", 0, 100, 50, 7, *blank],
        ["KR", "KR1.2", "Signups", "Cy", None, "number", 0, 10, 5, 6, *blank],
    ]


def unit_workbook(path: Path, lang: str = "en") -> Path:
    """A plain unit workbook: banner rows above the header, column A empty."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "设置" if lang == "zh" else "Settings"
    for row in settings_rows(lang=lang):
        ws.append(row)
    okrs = wb.create_sheet("OKRs")
    okrs.cell(1, FIRST_COL, "Marketing OKRs 2026-Q4")
    for c, h in enumerate(OKRS_HEADER, start=FIRST_COL):
        okrs.cell(HEADER_ROW, c, h)
    for r, row in enumerate(okr_rows(), start=HEADER_ROW + 1):
        for c, v in enumerate(row, start=FIRST_COL):
            if v is not None:
                okrs.cell(r, c, v)
    wb.save(path)
    return path


def rich_workbook(path: Path) -> Path:
    """A .xlsm holding everything people put in workbooks, some of it injected by hand."""
    wb = openpyxl.Workbook()
    settings = wb.active
    settings.title = "Settings"
    for row in settings_rows():
        settings.append(row)
    settings["B2"] = '="Mar"&"keting"'  # a formula in Settings, listed in calcChain
    okrs = wb.create_sheet("OKRs")
    okrs.cell(1, FIRST_COL, "Marketing OKRs 2026-Q4").font = Font(bold=True, size=16)
    okrs.merge_cells(start_row=1, start_column=FIRST_COL, end_row=1, end_column=FIRST_COL + 4)
    fill = PatternFill("solid", fgColor="DDEBF7")
    for c, h in enumerate(OKRS_HEADER, start=FIRST_COL):
        cell = okrs.cell(HEADER_ROW, c, h)
        cell.font = Font(bold=True)
    for r, row in enumerate(okr_rows(), start=HEADER_ROW + 1):
        for c, v in enumerate(row, start=FIRST_COL):
            if v is not None:
                okrs.cell(r, c, v)
        for c in range(12, 16):  # the computed columns L..O, shaded
            okrs.cell(r, c).fill = fill
        okrs.cell(r, 12).number_format = "0%"
        okrs.cell(r, 16, f"=M{r}*100")  # the user's own formula over Score
    okrs["L5"] = "=J5/I5"  # someone typed a formula into a computed cell
    okrs["D5"].comment = Comment("Count unique visitors", "Ann")
    okrs.column_dimensions["D"].width = 42
    okrs.column_dimensions["O"].width = 30
    okrs.freeze_panes = "D4"
    dv = DataValidation(type="list", formula1='"O,KR"', allow_blank=True)
    okrs.add_data_validation(dv)
    dv.add("B4:B50")
    red = PatternFill("solid", fgColor="FFC7CE")
    okrs.conditional_formatting.add("M4:M50", CellIsRule(operator="lessThan", formula=["0.4"], fill=red))
    chart = BarChart()
    chart.add_data(Reference(okrs, min_col=13, min_row=HEADER_ROW, max_row=6), titles_from_data=True)
    okrs.add_chart(chart, "R10")
    wb.defined_names["Targets"] = DefinedName("Targets", attr_text="OKRs!$I$4:$I$50")
    okrs.defined_names["LocalScores"] = DefinedName("LocalScores", attr_text="OKRs!$M$4:$M$50")
    lists = wb.create_sheet("Lists")
    lists.append(["O"])
    lists.append(["KR"])
    lists.sheet_state = "hidden"
    wb.active = 1
    buf = io.BytesIO()
    wb.save(buf)
    path.write_bytes(buf.getvalue())
    _inject_by_hand(path)
    return path


def _inject_by_hand(path: Path) -> None:
    """Add what openpyxl cannot write: a text box, a picture, sparklines, macros, a calcChain."""
    parts = zip_parts(path)
    okrs_part = "xl/worksheets/sheet2.xml"
    sheet = parts[okrs_part].decode()
    assert "<legacyDrawing" in sheet or "<drawing" in sheet
    # A stale cached value on the user's formula: a recalculation on load must replace it.
    sheet = re.sub(r'(<c r="P5"[^>]*><f>[^<]*</f>)<v ?/>', r"\1<v>999</v>", sheet)
    sheet = sheet.replace("</worksheet>", SPARKLINES + "</worksheet>")
    parts[okrs_part] = sheet.encode()
    drawing = parts["xl/drawings/drawing1.xml"].decode()
    drawing = drawing.replace("</wsDr>", TEXT_BOX + PICTURE + "</wsDr>")
    parts["xl/drawings/drawing1.xml"] = drawing.encode()
    rels = parts["xl/drawings/_rels/drawing1.xml.rels"].decode()
    rels = rels.replace(
        "</Relationships>",
        '<Relationship Id="rIdPng1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/image" Target="/xl/media/image1.png"/></Relationships>',
    )
    parts["xl/drawings/_rels/drawing1.xml.rels"] = rels.encode()
    parts["xl/media/image1.png"] = tiny_png()
    wb_rels = parts["xl/_rels/workbook.xml.rels"].decode()
    wb_rels = wb_rels.replace(
        "</Relationships>",
        '<Relationship Id="rIdVba" Type="http://schemas.microsoft.com/office/2006/relationships/'
        'vbaProject" Target="vbaProject.bin"/><Relationship Id="rIdCalc" Type="http://schemas.'
        'openxmlformats.org/officeDocument/2006/relationships/calcChain" Target="calcChain.xml"/>'
        "</Relationships>",
    )
    parts["xl/_rels/workbook.xml.rels"] = wb_rels.encode()
    parts["xl/vbaProject.bin"] = fake_vba_project()
    parts["xl/calcChain.xml"] = CALC_CHAIN.format(okrs=2, settings=1).encode()
    types = parts["[Content_Types].xml"].decode()
    types = types.replace(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    )
    types = types.replace(
        "<Default ",
        '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
        '<Default Extension="png" ContentType="image/png"/><Default ',
        1,
    )
    types = types.replace(
        "</Types>",
        '<Override PartName="/xl/calcChain.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.calcChain+xml"/></Types>',
    )
    parts["[Content_Types].xml"] = types.encode()
    # As Excel saves it: no request to recalculate on load.
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(b' fullCalcOnLoad="1"', b"")
    write_parts(path, parts)


def hand_sheet_workbook(path: Path, sheet_xml_body: str, name: str = "OKRs") -> Path:
    """A minimal workbook whose one sheet's sheetData (and more) is given as raw XML."""
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.'
            'openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
            '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/'
            'worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'spreadsheetml.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
            f'.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{ns}" xmlns:r="{rel}"><sheets>'
            f'<sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
            f'.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/worksheet" '
            'Target="worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{ns}">{sheet_xml_body}</worksheet>'
        ),
    }
    write_parts(path, {k: v.encode() for k, v in parts.items()})
    return path
