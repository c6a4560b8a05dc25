"""A sync must leave everything else in a person's workbook exactly as it was, and still open."""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
from xlsx_fixtures import (
    PICTURE,
    SPARKLINES,
    TEXT_BOX,
    fake_vba_project,
    rich_workbook,
    tiny_png,
    zip_parts,
)

from sheets_sync.backends.xlsx import XlsxBackend
from sheets_sync.core.model import CellUpdate, OwnedSheet, WorkbookChanges

OKRS = "xl/worksheets/sheet2.xml"
WHEN = dt.datetime(2026, 11, 23, 9, 0)
# Computed cells of the rich workbook: row -> (Progress L, Score M, Status N, Check O).
COMPUTED = {
    4: (0.5, 0.5, "on track", None),
    5: (0.5, 0.5, "on track", "=not a formula, just text"),
    6: (0.5, 0.5, "at risk", "Confidence below 7"),
}
CHANGED_CELLS = [f"{col}{row}" for row in COMPUTED for col in "LMNO"]


def sync_changes() -> WorkbookChanges:
    updates = [
        CellUpdate("OKRs", row, 12 + i, None, value, row_id=None)
        for row, values in COMPUTED.items()
        for i, value in enumerate(values)
    ]
    history = OwnedSheet(
        "History",
        ["Time", "ID", "Current", "Score"],
        [[WHEN, "KR1.1", 50, 0.5], [WHEN, "KR1.2", 5, 0.5]],
    )
    return WorkbookChanges(updates=updates, appends=[history])


@pytest.fixture
def synced(tmp_path: Path) -> tuple[Path, dict[str, bytes], dict[str, bytes]]:
    path = rich_workbook(tmp_path / "mkt.xlsm")
    before = zip_parts(path)
    XlsxBackend(tmp_path).apply(str(path), sync_changes())
    return path, before, zip_parts(path)


def without_cells(xml: str, refs: list[str]) -> str:
    for ref in refs:
        xml, n = re.subn(rf'<c r="{ref}"[^>]*?(?:/>|>.*?</c>)', f"<{ref}/>", xml, flags=re.S)
        assert n == 1, ref
    return re.sub(r"<dimension [^>]*/>", "", xml)


def test_every_other_part_is_byte_identical(synced) -> None:
    path, before, after = synced
    patched = {OKRS, "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "[Content_Types].xml"}
    patched |= {"xl/calcChain.xml", "xl/styles.xml"}
    untouched = [name for name in before if name not in patched]
    assert len(untouched) == 14
    for name in untouched:
        assert after[name] == before[name], f"{name} changed"
    # Same names in the same order; the new History sheet comes last.
    assert list(after) == [*before, "xl/worksheets/sheet4.xml"]
    assert after["xl/vbaProject.bin"] == fake_vba_project()
    assert after["xl/media/image1.png"] == tiny_png()
    drawing = after["xl/drawings/drawing1.xml"].decode()
    assert TEXT_BOX in drawing and PICTURE in drawing and "xdr:sp" in drawing
    with zipfile.ZipFile(path) as z, zipfile.ZipFile(path) as _:
        infos = {i.filename: i for i in z.infolist()}
    assert infos["xl/vbaProject.bin"].compress_type == zipfile.ZIP_DEFLATED


def test_patched_sheet_is_identical_outside_the_changed_cells(synced) -> None:
    _, before, after = synced
    old, new = before[OKRS].decode(), after[OKRS].decode()
    assert without_cells(new, CHANGED_CELLS) == without_cells(old, CHANGED_CELLS)
    for element in ("extLst", "sheetViews", "cols", "dataValidations", "conditionalFormatting"):
        block = re.search(rf"<{element}[ >].*?</{element}>", old, re.S)
        assert block, element
        assert block.group(0) in new, element
    assert SPARKLINES in new
    assert '<c r="P5"><f>M5*100</f><v>999</v></c>' in new  # the user's formula and its value
    # The formula someone typed into a computed cell is replaced by the value, its style kept.
    assert re.search(r'<c r="L5" s="(\d+)"><v>0\.5</v></c>', new)
    assert re.search(r'<c r="L5" s="(\d+)">', old).group(1) == re.search(r'<c r="L5" s="(\d+)">', new).group(1)
    assert re.search(r'<c r="O5" s="\d+" t="inlineStr"><is><t>=not a formula, just text</t></is></c>', new)


def test_workbook_rels_types_calcchain_and_styles_change_only_by_additions(synced) -> None:
    _, before, after = synced
    wb_old, wb_new = before["xl/workbook.xml"].decode(), after["xl/workbook.xml"].decode()
    added = re.search(r'<sheet name="History" sheetId="4" r:id="(rId\d+)"/>', wb_new)
    assert added
    assert wb_new.replace(added.group(0), "").replace(' fullCalcOnLoad="1"', "") == wb_old
    assert '<definedName name="Targets">OKRs!$I$4:$I$50</definedName>' in wb_new
    assert 'state="hidden"' in wb_new
    rels_old, rels_new = before["xl/_rels/workbook.xml.rels"].decode(), after["xl/_rels/workbook.xml.rels"].decode()
    rel = (
        f'<Relationship Id="{added.group(1)}" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/worksheet" Target="worksheets/sheet4.xml"/>'
    )
    assert rels_new == rels_old.replace("</Relationships>", rel + "</Relationships>")
    types_old, types_new = before["[Content_Types].xml"].decode(), after["[Content_Types].xml"].decode()
    override = (
        '<Override PartName="/xl/worksheets/sheet4.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.worksheet+xml"/>'
    )
    assert types_new == types_old.replace("</Types>", override + "</Types>")
    assert "application/vnd.ms-excel.sheet.macroEnabled.main+xml" in types_new
    assert 'Extension="bin" ContentType="application/vnd.ms-office.vbaProject"' in types_new
    chain = after["xl/calcChain.xml"].decode()
    assert chain == before["xl/calcChain.xml"].decode().replace('<c r="L5" i="2"/><c r="P5"/>', '<c r="P5" i="2"/>')
    styles_old, styles_new = before["xl/styles.xml"].decode(), after["xl/styles.xml"].decode()
    fmt = re.search(r'<numFmt numFmtId="(\d+)" formatCode="yyyy-mm-dd hh:mm"/>', styles_new)
    xf = re.search(
        rf'<xf numFmtId="{fmt.group(1)}" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>',
        styles_new,
    )
    assert fmt and xf

    def strip(xml: str) -> str:
        return re.sub(r'count="\d+"', "", xml.replace(fmt.group(0), "").replace(xf.group(0), ""))

    assert strip(styles_new) == strip(styles_old)


@pytest.mark.filterwarnings("ignore:Sparkline Group extension is not supported")
def test_synced_values_read_back_and_the_rest_still_loads(synced) -> None:
    path, _, _ = synced
    raw = XlsxBackend(path).read(str(path))
    okrs = raw.sheets["OKRs"]
    for row, values in COMPUTED.items():
        assert tuple(okrs[row - 1][11:15]) == values
    assert raw.sheets["History"][1:] == [[WHEN, "KR1.1", 50, 0.5], [WHEN, "KR1.2", 5, 0.5]]
    wb = openpyxl.load_workbook(path, keep_vba=True)
    ws = wb["OKRs"]
    assert wb.sheetnames == ["Settings", "OKRs", "Lists", "History"]
    assert wb["Lists"].sheet_state == "hidden"
    assert ws.freeze_panes == "D4"
    assert ws.column_dimensions["D"].width == 42
    assert ws["D5"].comment.text == "Count unique visitors"
    assert ws["L5"].number_format == "0%" and ws["L5"].value == 0.5
    assert ws.data_validations.dataValidation[0].formula1 == '"O,KR"'
    assert "Targets" in wb.defined_names and "LocalScores" in ws.defined_names
    assert wb.vba_archive is not None and "xl/vbaProject.bin" in wb.vba_archive.namelist()


# Token 12 = -1: one CSV per sheet, named <file>-<sheet>.csv.
ALL_SHEETS_CSV = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"


@pytest.fixture(scope="module")
def lo_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One private LibreOffice profile for this module: creating it is the slow part of a run."""
    return tmp_path_factory.mktemp("lo-profile")


def soffice(profile: Path, fmt: str, src: Path, out: Path) -> None:
    binary = shutil.which("soffice") or shutil.which("libreoffice")
    assert binary, "LibreOffice is required: apt-get install libreoffice-calc-nogui"
    result = subprocess.run(
        [binary, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", fmt,
         "--outdir", str(out), str(src)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Error" not in result.stderr, result.stderr


def csv_rows(out: Path, stem: str, sheet: str) -> list[list[str]]:
    with open(out / f"{stem}-{sheet}.csv", encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_libreoffice_opens_the_synced_workbook_and_shows_the_values(synced, tmp_path: Path, lo_profile: Path) -> None:
    path, _, _ = synced
    out = tmp_path / "out"
    soffice(lo_profile, ALL_SHEETS_CSV, path, out)

    def rows(sheet: str) -> list[list[str]]:
        return csv_rows(out, "mkt", sheet)

    okrs = rows("OKRs")
    assert okrs[3][11:15] == ["50%", "0.5", "on track", ""]
    assert okrs[4][11:15] == ["50%", "0.5", "on track", "=not a formula, just text"]
    assert okrs[5][11:15] == ["50%", "0.5", "at risk", "Confidence below 7"]
    assert okrs[3][15] == "50" and okrs[5][15] == "50"  # the user's formulas over the new scores
    history = rows("History")
    assert history[0] == ["Time", "ID", "Current", "Score"]
    assert [r[1:] for r in history[1:]] == [["KR1.1", "50", "0.5"], ["KR1.2", "5", "0.5"]]
    assert all(r[0].startswith("2026-11-23 09:00") for r in history[1:])  # a date, not a serial
    assert rows("Lists") == [["O"], ["KR"]]
    assert rows("Settings")[1] == ["Unit name", "Marketing"]


def test_a_workbook_saved_by_libreoffice_can_be_synced_and_reopened(tmp_path: Path, lo_profile: Path) -> None:
    (tmp_path / "src").mkdir()
    rich = rich_workbook(tmp_path / "src" / "team.xlsm")
    soffice(lo_profile, "xlsx", rich, tmp_path)  # LibreOffice's own XML: shared strings, spans...
    path = tmp_path / "team.xlsx"
    raw = XlsxBackend(tmp_path).read(str(path))
    assert raw.sheets["OKRs"][4][2] == "KR1.1"
    XlsxBackend(tmp_path).apply(str(path), sync_changes())
    raw = XlsxBackend(tmp_path).read(str(path))
    assert tuple(raw.sheets["OKRs"][4][11:15]) == COMPUTED[5]
    out = tmp_path / "out"
    soffice(lo_profile, ALL_SHEETS_CSV, path, out)
    okrs = csv_rows(out, "team", "OKRs")
    assert okrs[5][11:15] == ["50%", "0.5", "at risk", "Confidence below 7"]
    assert okrs[5][2] == "KR1.2" and okrs[5][9] == "5"
    assert [r[1] for r in csv_rows(out, "team", "History")] == ["ID", "KR1.1", "KR1.2"]


def test_a_sync_like_the_engine_changes_only_sheet_workbook_rels_types_and_calcchain(tmp_path: Path) -> None:
    path = rich_workbook(tmp_path / "mkt.xlsm")
    before = zip_parts(path)
    changes = sync_changes()
    # The engine stamps History rows with text times; then styles.xml needs no new format.
    changes.appends[0].rows = [["2026-11-23 09:00:00", *row[1:]] for row in changes.appends[0].rows]
    XlsxBackend(tmp_path).apply(str(path), changes)
    after = zip_parts(path)
    changed = {name for name in before if after[name] != before[name]}
    assert changed == {OKRS, "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "[Content_Types].xml", "xl/calcChain.xml"}
    assert list(after) == [*before, "xl/worksheets/sheet4.xml"]
