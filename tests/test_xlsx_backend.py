"""The local .xlsx backend: listing, reading (A1 anchoring, types, bad files) and patching cells."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import stat
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
import pytest
import python_calamine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xlsx_fixtures import (
    CALC_CHAIN,
    CFB_MAGIC,
    FIRST_COL,
    HEADER_ROW,
    hand_sheet_workbook,
    unit_workbook,
    write_parts,
    zip_parts,
)

from sheets_sync.backends import xlsx as xlsx_backend
from sheets_sync.backends import xlsx_ooxml
from sheets_sync.backends.xlsx import OWNED_PROPERTY, XlsxBackend
from sheets_sync.core.model import (
    CellError,
    CellUpdate,
    NoCachedValue,
    OwnedSheet,
    WorkbookChanges,
    column_index,
)
from sheets_sync.errors import NotAWorkbook, OkrSyncError, WorkbookError, WorkbookLocked

HISTORY_HEADER = ["Time", "ID", "Current", "Confidence", "Progress", "Score", "Status"]


def upd(row: int, col: int, new: object, sheet: str = "OKRs", row_id: str | None = None):
    return CellUpdate(sheet=sheet, row=row, col=col, old=None, new=new, row_id=row_id)


def sheet_xml(path: Path, part: str = "xl/worksheets/sheet2.xml") -> str:
    return zip_parts(path)[part].decode()


def cell_xml(xml: str, ref: str) -> str:
    m = re.search(rf'<c r="{ref}"[^>]*?(?:/>|>.*?</c>)', xml, re.S)
    assert m, f"{ref} not in sheet"
    return m.group(0)


# --- listing ---------------------------------------------------------------------------------


def test_list_units_recurses_sorted_and_skips_locks_hidden_and_owned(tmp_path: Path) -> None:
    unit_workbook(tmp_path / "b.xlsx")
    (tmp_path / "Team").mkdir()
    unit_workbook(tmp_path / "Team" / "a.xlsm")
    (tmp_path / ".hidden").mkdir()
    unit_workbook(tmp_path / ".hidden" / "x.xlsx")
    (tmp_path / "old.xls").write_bytes(CFB_MAGIC + bytes(100))
    (tmp_path / "broken.xlsx").write_bytes(b"")
    (tmp_path / "~$b.xlsx").write_bytes(b"owner")
    (tmp_path / ".~lock.b.xlsx#").write_text("lock")
    (tmp_path / "notes.txt").write_text("x")
    rollup = openpyxl.Workbook()
    from openpyxl.packaging.custom import StringProperty

    rollup.custom_doc_props.append(StringProperty(name=OWNED_PROPERTY, value="rollup"))
    rollup.save(tmp_path / "rollup.xlsx")
    units = XlsxBackend(tmp_path).list_units()
    assert [Path(u).relative_to(tmp_path).as_posix() for u in units] == [
        "b.xlsx", "broken.xlsx", "old.xls", "Team/a.xlsm",
    ]  # fmt: skip
    assert XlsxBackend(tmp_path / "b.xlsx").list_units() == [str(tmp_path / "b.xlsx")]


def test_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(OkrSyncError, match="no such folder"):
        XlsxBackend(tmp_path / "nope").list_units()


# --- reading ---------------------------------------------------------------------------------


def test_read_anchors_grids_at_a1_with_banner_and_empty_leading_column(tmp_path: Path) -> None:
    (tmp_path / "dept").mkdir()
    path = unit_workbook(tmp_path / "dept" / "mkt.xlsx")
    raw = XlsxBackend(tmp_path).read(str(path))
    assert raw.source == "dept/mkt.xlsx"
    assert raw.locator == str(path)
    assert raw.sheet_names == ["Settings", "OKRs"]
    okrs = raw.sheets["OKRs"]
    assert okrs[0][0] is None and okrs[0][1] == "Marketing OKRs 2026-Q4"
    assert okrs[1] == [None] * len(okrs[1])
    header = okrs[HEADER_ROW - 1]
    assert header[0] is None and header[FIRST_COL - 1] == "Type" and header[2] == "ID"
    assert okrs[4][2] == "KR1.1" and okrs[4][9] == 50 and okrs[4][8] == 100
    settings = raw.sheets["Settings"]
    assert settings[0] == ["Unit code", "MKT"]
    assert settings[5] == ["Cycle start", dt.date(2026, 10, 1)]
    assert type(settings[5][1]) is dt.date


def test_read_chinese_sheet_names_and_only_standard_sheets(tmp_path: Path) -> None:
    path = unit_workbook(tmp_path / "zh.xlsx", lang="zh")
    wb = openpyxl.load_workbook(path)
    hist = wb.create_sheet("历史")
    hist.append(["时间", "编号"])
    hist.append([dt.datetime(2026, 11, 1, 9, 30), "KR1.1"])
    wb.create_sheet("说明").append(["not read"])
    wb.save(path)
    raw = XlsxBackend(path).read(str(path))
    assert raw.source == "zh.xlsx"
    assert set(raw.sheets) == {"设置", "OKRs", "历史"}
    assert raw.sheet_names == ["设置", "OKRs", "历史", "说明"]
    assert raw.sheets["设置"][0] == ["单元代码", "MKT"]
    assert raw.sheets["历史"][1] == [dt.datetime(2026, 11, 1, 9, 30), "KR1.1"]


def test_read_error_cells_and_formulas_without_cached_values(tmp_path: Path) -> None:
    body = (
        '<sheetData><row r="2"><c r="B2" t="e"><v>#DIV/0!</v></c>'
        '<c r="C2" t="e"><f>NA()</f><v>#N/A</v></c><c r="D2" t="e"><v>#REF!</v></c>'
        '<c r="E2"><f>1+1</f></c><c r="F2"><f>2*3</f><v>6</v></c>'
        '<c r="G2" t="str"><f>""</f><v></v></c><c r="H2"><f>A1&amp;"x"</f><v/></c></row>'
        '<row r="4"><c r="D4"><f>SUM(B2:C2)</f></c></row></sheetData>'
    )
    path = hand_sheet_workbook(tmp_path / "e.xlsx", body)
    grid = XlsxBackend(tmp_path).read(str(path)).sheets["OKRs"]
    assert grid[1][1:8] == [
        CellError("#DIV/0!"), CellError("#N/A"), CellError("#REF!"), NoCachedValue("1+1"), 6,
        None, NoCachedValue('A1&"x"'),
    ]  # fmt: skip
    assert grid[3][3] == NoCachedValue("SUM(B2:C2)")
    assert grid[0] == [None] * len(grid[0])


def test_read_openpyxl_formulas_have_no_cached_value(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "OKRs"
    ws["C3"] = "Current"
    ws["C4"] = "=Data!B2*2"
    ws["D4"] = 5
    wb.save(tmp_path / "f.xlsx")
    grid = XlsxBackend(tmp_path).read(str(tmp_path / "f.xlsx")).sheets["OKRs"]
    assert grid[3][2] == NoCachedValue("Data!B2*2")
    assert grid[3][3] == 5


def test_read_merged_cells_count_by_their_top_left_cell(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "OKRs"
    ws["B2"] = "Grow"
    ws.merge_cells("B2:D3")
    ws["E2"] = 1
    wb.save(tmp_path / "m.xlsx")
    grid = XlsxBackend(tmp_path).read(str(tmp_path / "m.xlsx")).sheets["OKRs"]
    assert grid[1][1:5] == ["Grow", None, None, 1]
    assert all(v is None for row in grid[2:] for v in row)


@pytest.mark.parametrize("lock", ["~${}", ".~lock.{}#"])
def test_read_locked_workbook(tmp_path: Path, lock: str) -> None:
    path = unit_workbook(tmp_path / "mkt.xlsx")
    (tmp_path / lock.format("mkt.xlsx")).write_text("user")
    with pytest.raises(WorkbookLocked) as err:
        XlsxBackend(tmp_path).read(str(path))
    assert err.value.source == "mkt.xlsx"
    assert "open in Excel or LibreOffice — close it there and run again" in str(err.value)
    assert "请先关闭再运行" in str(err.value)


@pytest.mark.parametrize(
    ("name", "blob", "expected"),
    [
        ("empty.xlsx", b"", "empty"),
        ("old.xls", CFB_MAGIC + bytes(600), "password-protected or old .xls: save it as .xlsx"),
        ("secret.xlsx", CFB_MAGIC + b"EncryptedPackage" + bytes(600), "without a password"),
        ("random.xlsx", os.urandom(2000).replace(b"PK", b"pk"), "not an Excel workbook"),
        ("text.xlsx", b"Type,ID\nO,O1\n", "not an Excel workbook"),
    ],
)
def test_read_files_that_are_not_workbooks(tmp_path: Path, name: str, blob: bytes, expected: str) -> None:
    (tmp_path / name).write_bytes(b"\x00" if blob == b"" and False else blob)
    with pytest.raises(NotAWorkbook, match=re.escape(expected)) as err:
        XlsxBackend(tmp_path).read(str(tmp_path / name))
    assert err.value.source == name


def test_read_zip_without_workbook_and_damaged_zip(tmp_path: Path) -> None:
    write_parts(tmp_path / "doc.xlsx", {"word/document.xml": b"<w/>"})
    with pytest.raises(NotAWorkbook, match="not an Excel workbook"):
        XlsxBackend(tmp_path).read(str(tmp_path / "doc.xlsx"))
    write_parts(
        tmp_path / "calc.xlsx", {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<x/>"}
    )
    with pytest.raises(NotAWorkbook, match="OpenDocument spreadsheet: save it as .xlsx"):
        XlsxBackend(tmp_path).read(str(tmp_path / "calc.xlsx"))
    write_parts(tmp_path / "bin.xlsx", {"xl/workbook.bin": b"\x00"})
    with pytest.raises(NotAWorkbook, match=re.escape("binary workbook (.xlsb): save it as .xlsx")):
        XlsxBackend(tmp_path).read(str(tmp_path / "bin.xlsx"))
    good = unit_workbook(tmp_path / "good.xlsx").read_bytes()
    (tmp_path / "cut.xlsx").write_bytes(good[: len(good) // 2])
    with pytest.raises(WorkbookError, match="damaged") as err:
        XlsxBackend(tmp_path).read(str(tmp_path / "cut.xlsx"))
    assert err.value.source == "cut.xlsx"


def test_read_broken_sheet_xml_is_a_workbook_error(tmp_path: Path) -> None:
    path = unit_workbook(tmp_path / "x.xlsx")
    parts = zip_parts(path)
    parts["xl/worksheets/sheet2.xml"] = b"<worksheet><sheetData><row r='1'><c r='A1' t='n'>"
    write_parts(path, parts)
    with pytest.raises(WorkbookError, match="cannot be read"):
        XlsxBackend(tmp_path).read(str(path))


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WorkbookError, match="file not found"):
        XlsxBackend(tmp_path).read(str(tmp_path / "gone.xlsx"))


def test_reading_200_workbooks_gives_each_its_own_grid_and_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # How fast is for benchmarks/scale.py to print; here: every copy is read whole, as itself.
    first = unit_workbook(tmp_path / "u000.xlsx")
    for i in range(1, 200):
        shutil.copy(first, tmp_path / f"u{i:03}.xlsx")
    backend = XlsxBackend(tmp_path)
    units = backend.list_units()
    raws = [backend.read(u) for u in units]
    assert [r.source for r in raws] == [f"u{i:03}.xlsx" for i in range(200)]
    assert all(r.sheets == raws[0].sheets and r.sheets["OKRs"][2][1] == "Type" for r in raws)
    # Equal bytes, different files: no two copies share an identity, so a cache never serves one for another.
    monkeypatch.setattr(xlsx_backend, "SETTLE_NS", 0)  # copied a moment ago: vouch for them at once
    identities = {backend.identity(u) for u in units}
    assert None not in identities and len(identities) == 200


# --- writing ---------------------------------------------------------------------------------


def test_apply_writes_values_that_read_back_in_calamine_and_openpyxl(tmp_path: Path) -> None:
    path = unit_workbook(tmp_path / "u.xlsx")
    changes = WorkbookChanges(
        updates=[
            upd(5, 12, 0.5),
            upd(5, 13, 1),
            upd(5, 14, "on track"),
            upd(5, 15, "  <Check> & \"fix\" 'it'\nline 2  "),
            upd(6, 14, True),
            upd(6, 12, dt.date(2026, 11, 2)),
            upd(4, 10, None),  # a cell that does not exist: created empty
            upd(7, 2, "新行"),  # a new row below the last one
            upd(2, 3, "between"),  # a new row between existing ones
            upd(5, 1, "A first"),  # a new cell before the row's first cell
        ]
    )
    XlsxBackend(tmp_path).apply(str(path), changes)
    grid = XlsxBackend(tmp_path).read(str(path)).sheets["OKRs"]
    assert grid[4][11:15] == [0.5, 1, "on track", "  <Check> & \"fix\" 'it'\nline 2  "]
    assert grid[5][13] is True
    assert grid[5][11] == dt.date(2026, 11, 2)  # a cell without a style gets a date style
    assert grid[6][1] == "新行" and grid[1][2] == "between" and grid[4][0] == "A first"
    assert grid[4][2] == "KR1.1" and grid[4][9] == 50  # neighbours untouched
    ws = openpyxl.load_workbook(path)["OKRs"]
    assert ws["L5"].value == 0.5 and ws["M5"].value == 1 and ws["N6"].value is True
    assert ws["O5"].value == "  <Check> & \"fix\" 'it'\nline 2  "
    assert ws["B7"].value == "新行" and ws["C2"].value == "between" and ws["A5"].value == "A first"
    xml = sheet_xml(path)
    refs = re.findall(r'<c r="([A-Z]+)5"', xml)
    assert refs == sorted(refs, key=lambda c: (len(c), c))
    rows = [int(r) for r in re.findall(r'<row r="(\d+)"', xml)]
    assert rows == sorted(rows)
    assert '<dimension ref="A1:P7"' in xml


def test_apply_keeps_styles_and_clears_with_none(tmp_path: Path) -> None:
    path = unit_workbook(tmp_path / "s.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["OKRs"]
    ws["L5"].number_format = "0%"
    ws["L5"] = 0.25
    ws["N5"] = "old status"
    ws["N5"].font = openpyxl.styles.Font(bold=True)
    wb.save(path)
    before = cell_xml(sheet_xml(path), "L5")
    style = re.search(r's="(\d+)"', before).group(1)
    XlsxBackend(tmp_path).apply(str(path), WorkbookChanges(updates=[upd(5, 12, 0.75), upd(5, 14, None)]))
    xml = sheet_xml(path)
    assert cell_xml(xml, "L5") == f'<c r="L5" s="{style}"><v>0.75</v></c>'
    assert re.fullmatch(r'<c r="N5" s="\d+"/>', cell_xml(xml, "N5"))
    ws = openpyxl.load_workbook(path)["OKRs"]
    assert ws["L5"].number_format == "0%" and ws["N5"].value is None and ws["N5"].font.b


def test_text_starting_with_equals_stays_text(tmp_path: Path) -> None:
    path = unit_workbook(tmp_path / "eq.xlsx")
    XlsxBackend(tmp_path).apply(str(path), WorkbookChanges(updates=[upd(4, 15, "=SUM(A1:A9)")]))
    xml = cell_xml(sheet_xml(path), "O4")
    assert 't="inlineStr"' in xml and "<f>" not in xml
    assert XlsxBackend(tmp_path).read(str(path)).sheets["OKRs"][3][14] == "=SUM(A1:A9)"
    cell = openpyxl.load_workbook(path)["OKRs"]["O4"]
    assert cell.value == "=SUM(A1:A9)" and cell.data_type == "s"


def test_odd_text_round_trips(tmp_path: Path) -> None:
    path = unit_workbook(tmp_path / "odd.xlsx")
    texts = ["a\x01b", "_x0041_ literal", "tab\tin", "emoji 🎯", "]]> & <![CDATA[", "crlf\r\nend", " ", "\n"]
    XlsxBackend(tmp_path).apply(str(path), WorkbookChanges(updates=[upd(10 + i, 2, t) for i, t in enumerate(texts)]))
    grid = XlsxBackend(tmp_path).read(str(path)).sheets["OKRs"]
    assert [grid[9 + i][1] for i in range(len(texts))] == texts


def test_nothing_new_leaves_file_untouched(tmp_path: Path) -> None:
    path = unit_workbook(tmp_path / "same.xlsx")
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    blob = path.read_bytes()
    backend = XlsxBackend(tmp_path)
    backend.apply(str(path), WorkbookChanges())
    backend.apply(str(path), WorkbookChanges(appends=[OwnedSheet("History", HISTORY_HEADER, [])]))
    assert path.read_bytes() == blob
    assert path.stat().st_mtime_ns == 1_600_000_000_000_000_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.xlsx"]


def test_history_is_created_then_appended(tmp_path: Path) -> None:
    path = unit_workbook(tmp_path / "h.xlsx")
    t1, t2 = dt.datetime(2026, 11, 2, 8, 0), dt.datetime(2026, 11, 9, 8, 30)
    backend = XlsxBackend(tmp_path)
    first = [[t1, "KR1.1", 50, 7, 0.5, 0.5, "on track"], [t1, "KR1.2", 5, 6, 0.5, 0.5, "at risk"]]
    backend.apply(str(path), WorkbookChanges(appends=[OwnedSheet("History", HISTORY_HEADER, first)]))
    parts = zip_parts(path)
    assert b'<sheet name="History" sheetId="3" r:id="rId' in parts["xl/workbook.xml"]
    assert b'Target="worksheets/sheet3.xml"' in parts["xl/_rels/workbook.xml.rels"]
    assert b'PartName="/xl/worksheets/sheet3.xml"' in parts["[Content_Types].xml"]
    backend.apply(
        str(path),
        WorkbookChanges(appends=[OwnedSheet("History", HISTORY_HEADER, [[t2, "KR1.1", 60, 8, 0.6, 0.6, "done"]])]),
    )
    raw = backend.read(str(path))
    assert raw.sheet_names == ["Settings", "OKRs", "History"]
    assert raw.sheets["History"] == [
        HISTORY_HEADER, *first, [t2, "KR1.1", 60, 8, 0.6, 0.6, "done"],
    ]  # fmt: skip
    ws = openpyxl.load_workbook(path)["History"]
    assert [[c.value for c in row] for row in ws.iter_rows()] == raw.sheets["History"]
    assert ws.freeze_panes == "A2"
    assert '<dimension ref="A1:G4"' in sheet_xml(path, "xl/worksheets/sheet3.xml")


def test_history_appends_below_last_value_of_an_existing_chinese_sheet(tmp_path: Path) -> None:
    path = unit_workbook(tmp_path / "zh.xlsx", lang="zh")
    wb = openpyxl.load_workbook(path)
    hist = wb.create_sheet("历史")
    hist.append(["时间", "编号", "当前值"])
    hist.append([dt.datetime(2026, 10, 5, 9, 0), "KR1.1", 10])
    for col in "ABC":  # formatted but empty rows below the data, as templates have
        hist[f"{col}40"].fill = openpyxl.styles.PatternFill("solid", fgColor="EEEEEE")
    wb.save(path)
    when = dt.datetime(2026, 11, 9, 8, 30)
    XlsxBackend(tmp_path).apply(
        str(path), WorkbookChanges(appends=[OwnedSheet("历史", ["时间", "编号", "当前值"], [[when, "KR1.1", 20]])])
    )
    grid = XlsxBackend(tmp_path).read(str(path)).sheets["历史"]
    assert grid[:3] == [["时间", "编号", "当前值"], [dt.datetime(2026, 10, 5, 9, 0), "KR1.1", 10], [when, "KR1.1", 20]]
    assert openpyxl.load_workbook(path).sheetnames == ["设置", "OKRs", "历史"]


def test_overwriting_a_formula_drops_it_and_prunes_calc_chain(tmp_path: Path) -> None:
    path = unit_workbook(tmp_path / "f.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["OKRs"]["L5"] = "=J5/I5"
    wb["OKRs"]["P5"] = "=M5*100"
    wb["OKRs"]["P6"] = "=M6*100"
    wb["Settings"]["B2"] = '="Mar"&"keting"'
    wb.save(path)
    parts = zip_parts(path)
    parts["xl/calcChain.xml"] = CALC_CHAIN.format(okrs=2, settings=1).encode()
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        b'<Relationship Id="rIdCalc" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/calcChain" Target="calcChain.xml"/></Relationships>',
    )
    write_parts(path, parts)
    backend = XlsxBackend(tmp_path)
    backend.apply(str(path), WorkbookChanges(updates=[upd(5, 12, 0.5)]))
    assert cell_xml(sheet_xml(path), "L5") == '<c r="L5"><v>0.5</v></c>'
    chain = zip_parts(path)["xl/calcChain.xml"].decode()
    # P5 inherited its sheet from the removed L5 entry: it now names it itself.
    assert '<c r="L5"' not in chain
    assert '<c r="P5" i="2"/><c r="P6"/><c r="B2" i="1"/>' in chain
    assert b'fullCalcOnLoad="1"' in zip_parts(path)["xl/workbook.xml"]
    backend.apply(
        str(path),
        WorkbookChanges(updates=[upd(5, 16, 1), upd(6, 16, 2), upd(2, 2, "Mkt", sheet="Settings")]),
    )
    parts = zip_parts(path)
    assert "xl/calcChain.xml" not in parts
    assert b"calcChain" not in parts["xl/_rels/workbook.xml.rels"]
    assert b"calcChain" not in parts["[Content_Types].xml"]
    assert openpyxl.load_workbook(path)["OKRs"]["P6"].value == 2


def test_overwriting_a_shared_formula_master_keeps_the_others(tmp_path: Path) -> None:
    body = (
        '<sheetData><row r="1"><c r="A1"><v>1</v></c><c r="B1"><f t="shared" ref="B1:B3" si="0">'
        'A1*2</f><v>2</v></c></row><row r="2"><c r="A2"><v>2</v></c><c r="B2"><f t="shared" '
        'si="0"/><v>4</v></c></row><row r="3"><c r="A3"><v>3</v></c><c r="B3"><f t="shared" '
        'si="0"/><v>6</v></c></row></sheetData>'
    )
    path = hand_sheet_workbook(tmp_path / "sh.xlsx", body)
    XlsxBackend(tmp_path).apply(str(path), WorkbookChanges(updates=[upd(1, 2, 9)]))
    xml = sheet_xml(path, "xl/worksheets/sheet1.xml")
    assert cell_xml(xml, "B1") == '<c r="B1"><v>9</v></c>'
    assert cell_xml(xml, "B2") == '<c r="B2"><f>A2*2</f><v>4</v></c>'
    assert cell_xml(xml, "B3") == '<c r="B3"><f>A3*2</f><v>6</v></c>'


def test_rows_and_cells_without_references_and_prefixed_namespace(tmp_path: Path) -> None:
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    parts = zip_parts(hand_sheet_workbook(tmp_path / "p.xlsx", "<sheetData/>"))
    parts["xl/worksheets/sheet1.xml"] = (
        f'<x:worksheet xmlns:x="{ns}"><x:sheetData><x:row><x:c t="inlineStr"><x:is><x:t>ID</x:t>'
        "</x:is></x:c><x:c><x:v>1</x:v></x:c></x:row><x:row><x:c><x:v>2</x:v></x:c></x:row>"
        "</x:sheetData></x:worksheet>"
    ).encode()
    path = tmp_path / "p.xlsx"
    write_parts(path, parts)
    backend = XlsxBackend(tmp_path)
    assert backend.read(str(path)).sheets["OKRs"] == [["ID", 1], [2, None]]
    backend.apply(str(path), WorkbookChanges(updates=[upd(2, 2, "new"), upd(1, 3, 3)]))
    assert backend.read(str(path)).sheets["OKRs"] == [["ID", 1, 3], [2, "new", None]]
    assert '<x:c r="B2" t="inlineStr"><x:is><x:t>new</x:t></x:is></x:c>' in sheet_xml(path, "xl/worksheets/sheet1.xml")


def test_updates_follow_their_row_id_when_rows_moved(tmp_path: Path) -> None:
    path = unit_workbook(tmp_path / "mv.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["OKRs"].insert_rows(5)  # someone inserted a row above KR1.1 after the read
    wb.save(path)
    changes = WorkbookChanges(
        updates=[
            upd(5, 13, 0.5, row_id="KR1.1"),  # KR1.1 is now on row 6
            upd(6, 13, 0.4, row_id="KR1.2"),  # KR1.2 is now on row 7
            upd(4, 13, 0.45, row_id="O1"),  # unmoved
            upd(8, 13, 0.9, row_id="KR9.9"),  # gone: never written anywhere
        ],
        id_col=3,
        okrs_sheet="OKRs",
    )
    XlsxBackend(tmp_path).apply(str(path), changes)
    grid = XlsxBackend(tmp_path).read(str(path)).sheets["OKRs"]
    scores = {row[2]: row[12] for row in grid[3:] if len(row) > 12 and row[2]}
    assert scores == {"O1": 0.45, "KR1.1": 0.5, "KR1.2": 0.4}
    assert all(len(row) < 13 or row[12] is None for row in grid[4:5] + grid[7:])


def test_apply_is_atomic_keeps_permissions_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = unit_workbook(tmp_path / "p.xlsx")
    os.chmod(path, 0o640)
    XlsxBackend(tmp_path).apply(str(path), WorkbookChanges(updates=[upd(5, 13, 0.5)]))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    blob = path.read_bytes()
    with pytest.raises(WorkbookError, match="sheet 'Missing' is missing"):
        XlsxBackend(tmp_path).apply(str(path), WorkbookChanges(updates=[upd(1, 1, 1, sheet="Missing")]))
    assert path.read_bytes() == blob
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.xlsx"]


def test_apply_refuses_a_locked_workbook_even_if_the_lock_appears_late(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = unit_workbook(tmp_path / "l.xlsx")
    blob = path.read_bytes()
    lock = tmp_path / "~$l.xlsx"
    lock.write_text("user")
    with pytest.raises(WorkbookLocked):
        XlsxBackend(tmp_path).apply(str(path), WorkbookChanges(updates=[upd(5, 13, 0.5)]))
    lock.unlink()
    real_write = xlsx_ooxml.Package.write

    def write_then_open_in_excel(self, fileobj):  # the user opens the file mid-sync
        real_write(self, fileobj)
        lock.write_text("user")

    monkeypatch.setattr(xlsx_ooxml.Package, "write", write_then_open_in_excel)
    with pytest.raises(WorkbookLocked):
        XlsxBackend(tmp_path).apply(str(path), WorkbookChanges(updates=[upd(5, 13, 0.5)]))
    assert path.read_bytes() == blob
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.xlsx", "~$l.xlsx"]


def test_formula_free_workbook_keeps_its_workbook_part(tmp_path: Path) -> None:
    path = unit_workbook(tmp_path / "nf.xlsx")
    parts = zip_parts(path)
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(b' fullCalcOnLoad="1"', b"")
    write_parts(path, parts)
    before = zip_parts(path)
    XlsxBackend(tmp_path).apply(str(path), WorkbookChanges(updates=[upd(5, 13, 0.5)]))
    after = zip_parts(path)
    assert list(after) == list(before)
    changed = [name for name in before if before[name] != after[name]]
    assert changed == ["xl/worksheets/sheet2.xml"]


def test_date1904_workbooks_get_1904_serials(tmp_path: Path) -> None:
    path = unit_workbook(tmp_path / "mac.xlsx")
    parts = zip_parts(path)
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(b"<workbookPr", b'<workbookPr date1904="1"', 1)
    write_parts(path, parts)
    when = dt.datetime(2026, 11, 9, 8, 30)
    XlsxBackend(tmp_path).apply(str(path), WorkbookChanges(appends=[OwnedSheet("History", ["Time"], [[when]])]))
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    assert book.get_sheet_by_name("History").to_python() == [["Time"], [when]]


def test_apply_on_a_bad_file_raises_workbook_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.xlsx").write_bytes(b"nope")
    with pytest.raises(NotAWorkbook):
        XlsxBackend(tmp_path).apply(str(tmp_path / "bad.xlsx"), WorkbookChanges(updates=[upd(1, 1, 1)]))
    write_parts(tmp_path / "z.xlsx", {"xl/workbook.xml": b"<workbook/>"})
    with pytest.raises(WorkbookError, match="cannot be written"):
        XlsxBackend(tmp_path).apply(str(tmp_path / "z.xlsx"), WorkbookChanges(updates=[upd(1, 1, 1)]))
    assert zipfile.is_zipfile(tmp_path / "z.xlsx")


def test_new_cells_take_their_formatted_row_or_column_style(tmp_path: Path) -> None:
    body = (
        '<cols><col min="3" max="4" width="12" style="1" customWidth="1"/></cols><sheetData>'
        '<row r="1"><c r="A1"><v>1</v></c></row><row r="2" s="2" customFormat="1"><c r="A2"><v>2</v>'
        "</c></row></sheetData>"
    )
    path = hand_sheet_workbook(tmp_path / "st.xlsx", body)
    XlsxBackend(tmp_path).apply(
        str(path), WorkbookChanges(updates=[upd(1, 3, 0.5), upd(1, 2, 0.1), upd(2, 4, 0.7), upd(5, 4, 0.9)])
    )
    xml = sheet_xml(path, "xl/worksheets/sheet1.xml")
    assert cell_xml(xml, "C1") == '<c r="C1" s="1"><v>0.5</v></c>'
    assert cell_xml(xml, "B1") == '<c r="B1"><v>0.1</v></c>'
    assert cell_xml(xml, "D2") == '<c r="D2" s="2"><v>0.7</v></c>'
    assert cell_xml(xml, "D5") == '<c r="D5" s="1"><v>0.9</v></c>'


def test_row_ids_compare_as_the_parser_reads_them(tmp_path: Path) -> None:
    path = unit_workbook(tmp_path / "ids.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["OKRs"]["C5"] = " kr 1.1 "
    wb["OKRs"].insert_rows(4)
    wb.save(path)
    changes = WorkbookChanges(updates=[upd(5, 13, 0.5, row_id="KR1.1")], id_col=3, okrs_sheet="OKRs")
    XlsxBackend(tmp_path).apply(str(path), changes)
    assert XlsxBackend(tmp_path).read(str(path)).sheets["OKRs"][5][12] == 0.5


_TEXT = st.text(
    st.characters(
        blacklist_categories=("Cs",),
    ),
    max_size=30,
)
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    _TEXT,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=st.dictionaries(st.tuples(st.integers(1, 12), st.integers(1, 18)), _VALUES, min_size=1, max_size=25))
def test_any_writes_read_back_and_keep_the_xml_well_formed(tmp_path: Path, writes: dict) -> None:
    path = unit_workbook(tmp_path / "prop.xlsx")
    before = XlsxBackend(tmp_path).read(str(path)).sheets["OKRs"]
    XlsxBackend(tmp_path).apply(str(path), WorkbookChanges(updates=[upd(r, c, v) for (r, c), v in writes.items()]))
    xml = sheet_xml(path)
    ElementTree.fromstring(xml)  # well-formed
    rows = [int(r) for r in re.findall(r'<row r="(\d+)"', xml)]
    assert rows == sorted(set(rows))
    for row_xml in re.findall(r"<row .*?</row>", xml, re.S):
        cols = [column_index(c) for c in re.findall(r'<c r="([A-Z]+)\d+"', row_xml)]
        assert cols == sorted(set(cols))
    after = XlsxBackend(tmp_path).read(str(path)).sheets["OKRs"]

    def at(grid: list, r: int, c: int) -> object:
        return grid[r - 1][c - 1] if r <= len(grid) and c <= len(grid[r - 1]) else None

    for r in range(1, 13):
        for c in range(1, 19):
            expected = writes.get((r, c), at(before, r, c))
            assert at(after, r, c) == (None if expected == "" else expected), (r, c)


def test_a_failed_save_leaves_the_workbook_and_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = unit_workbook(tmp_path / "full.xlsx")
    blob = path.read_bytes()
    real_write = xlsx_ooxml.Package.write

    def disk_full(self, fileobj):
        real_write(self, fileobj)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(xlsx_ooxml.Package, "write", disk_full)
    with pytest.raises(WorkbookError, match="No space left on device") as err:
        XlsxBackend(tmp_path).apply(str(path), WorkbookChanges(updates=[upd(5, 13, 0.5)]))
    assert err.value.source == "full.xlsx" and "请检查文件夹可写" in str(err.value)
    assert path.read_bytes() == blob
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.xlsx"]


def test_a_workbook_saved_by_someone_during_the_sync_is_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = unit_workbook(tmp_path / "busy.xlsx")
    real_write = xlsx_ooxml.Package.write
    theirs = unit_workbook(tmp_path / "theirs.xlsx").read_bytes()

    def someone_saves(self, fileobj):
        real_write(self, fileobj)
        path.write_bytes(theirs + b"\0")  # a save by someone else between our read and our rename

    monkeypatch.setattr(xlsx_ooxml.Package, "write", someone_saves)
    with pytest.raises(WorkbookError, match="changed while it was being synced"):
        XlsxBackend(tmp_path).apply(str(path), WorkbookChanges(updates=[upd(5, 13, 0.5)]))
    assert path.read_bytes() == theirs + b"\0"
