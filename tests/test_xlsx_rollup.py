"""The rollup workbook writer against real files: openpyxl, python-calamine and LibreOffice read it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl import Workbook
from python_calamine import CalamineWorkbook

from sheets_sync.backends import xlsx_rollup
from sheets_sync.backends.xlsx_rollup import (
    FINGERPRINT_PROPERTY,
    MAX_WIDTH,
    OWNED_PROPERTY,
    XlsxRollupTarget,
    read_marks,
)
from sheets_sync.core import bands
from sheets_sync.core.rollup import RollupBook, empty_sheet, row_tone
from sheets_sync.errors import ConfigError, WorkbookLocked

FORMULA_LIKE = ['=HYPERLINK("http://evil.example","click")', "=1+1", "+SUM(A1:A2)", "@cmd"]
LONG_TEXT = "Grow the partner channel in every region " * 5


def make_book() -> RollupBook:
    """A small company: CO (en) with MKT (zh) below it, one issue of each severity."""
    rollup = empty_sheet("Rollup")
    rollup.rows = [
        ["CO", "company", "O", "CO/O1", "Win the mid-market", "Ann", None, 0.8, 0.8, "on track", None, "1 of 3"],
        ["CO", "company", "KR", "CO/KR1.1", FORMULA_LIKE[0], "Ann", None, 1.2, 1.0, "done", None, "yes"],
        ["CO", "company", "KR", "CO/KR1.2", FORMULA_LIKE[1], "Bo", None, 0.55, 0.55, "at risk", None, "yes"],
        ["CO", "company", "KR", "CO/KR1.3", LONG_TEXT, "Bo", None, 0.1, 0.1, "off track", None, "yes"],
        ["MKT", "部门", "目标", "MKT/O1", "提升品牌知名度", "王伟", "CO/KR1.1", 0.45, 0.45, "有风险", None, "1 of 3"],
        ["MKT", "部门", "关键结果", "MKT/KR1.1", FORMULA_LIKE[2], "王伟", None, 0.9, 0.9, "正常", None, "yes"],
        ["MKT", "部门", "关键结果", "MKT/KR1.2", "官网访问量达到 50 万", "李娜", None, 0, 0, "无数据",
         "当前值为空:请填写当前值", "no"],
        ["MKT", "部门", "关键结果", "MKT/KR1.3", FORMULA_LIKE[3], "李娜", None, 0.3, 0.3, "落后", None, "yes"],
        ["MKT", "部门", "关键结果", "MKT/KR1.4", "完成新品发布", "李娜", None, 1, 1, "完成", None, "yes"],
    ]  # fmt: skip
    units = empty_sheet("Units")
    units.rows = [
        ["CO", "Acme", "company", None, 1, 3, 0.8, 0, 1, "co.xlsx", 1, 1, 1, 1, 0, "on track", 3],
        ["MKT", "市场部", "department", "CO", 1, 4, 0.45, 1, 0, "mkt.xlsx", 1, 1, 1, 1, 1, "at risk", 3],
    ]
    alignment = empty_sheet("Alignment")
    alignment.rows = [
        ["CO/O1", "Win the mid-market", "CO", 0.8, 0.45, "on track"],
        ["MKT/O1", "提升品牌知名度", "MKT", 0.45, None, "有风险"],
    ]
    alignment.depths = [0, 2]
    issues = empty_sheet("Issues")
    issues.rows = [
        ["error", "blank-current", "mkt.xlsx › OKRs › L8", "当前值为空:请填写当前值", "MKT"],
        ["warning", "too-many-krs", "co.xlsx › OKRs › B2", "More than 5 KRs: keep 3 to 5", "CO"],
    ]
    dependencies = empty_sheet("Dependencies")
    dependencies.rows = [["MKT/KR1.2", "CO/KR1.2", "at risk", "=1+1"]]
    return RollupBook([rollup, units, alignment, issues, dependencies], company_score=0.72, as_of="2026-11-23")


def sheet_xml(path: Path, title: str) -> str:
    """The XML of a worksheet found by its title."""
    wb = openpyxl.load_workbook(path, read_only=True)
    index = wb.sheetnames.index(title) + 1
    wb.close()
    with zipfile.ZipFile(path) as z:
        return z.read(f"xl/worksheets/sheet{index}.xml").decode("utf-8")


@pytest.fixture()
def written(tmp_path: Path) -> Path:
    path = tmp_path / "rollup.xlsx"
    assert XlsxRollupTarget(path).write_rollup(make_book()) is True
    return path


def test_sheets_in_order_and_values_read_back_with_calamine(written: Path) -> None:
    book = make_book()
    wb = CalamineWorkbook.from_path(str(written))
    assert wb.sheet_names == ["Summary", "Rollup", "Units", "Alignment", "Issues", "Dependencies"]
    for sheet in book.sheets:
        grid = wb.get_sheet_by_name(sheet.name).to_python()
        assert grid[0] == sheet.headers
        assert len(grid) == len(sheet.rows) + 1
        for got, want in zip(grid[1:], sheet.rows, strict=True):
            # calamine reads every number as float and a blank cell as ""; later columns are left blank.
            want = [*want, *[None] * (len(sheet.headers) - len(want))]
            assert got == ["" if v is None else float(v) if isinstance(v, int) else v for v in want]


def test_formula_looking_text_stays_text(written: Path) -> None:
    grid = CalamineWorkbook.from_path(str(written)).get_sheet_by_name("Rollup").to_python()
    texts = [row[4] for row in grid[1:]]
    for text in FORMULA_LIKE:
        assert text in texts
    for title in ("Summary", "Rollup", "Units", "Alignment", "Issues", "Dependencies"):
        assert "<f>" not in sheet_xml(written, title) and "<f " not in sheet_xml(written, title)
    ws = openpyxl.load_workbook(written)["Rollup"]
    assert ws["E3"].value == FORMULA_LIKE[0] and ws["E3"].data_type == "s"
    assert openpyxl.load_workbook(written)["Dependencies"]["D2"].value == "=1+1"


def test_layout_header_filter_widths_formats_wrap_indent(written: Path) -> None:
    wb = openpyxl.load_workbook(written)
    ws = wb["Rollup"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:S10"
    assert ws["A1"].font.b and ws["A1"].fill.fgColor.rgb.endswith(bands.HEADER.fill)
    assert ws["H2"].number_format == "0%" and ws["I2"].number_format == "0.00"
    widths = {c: ws.column_dimensions[c].width for c in "ABCDEFGHIJK"}
    assert all(6 <= w <= MAX_WIDTH for w in widths.values())
    assert widths["E"] == MAX_WIDTH  # the long title caps the column...
    assert ws["E5"].alignment.wrap_text  # ...and wraps
    assert not ws["E2"].alignment.wrap_text
    assert widths["A"] < 10  # unit codes are short
    assert wb["Units"]["E2"].number_format == "0"
    align = wb["Alignment"]
    assert align["A2"].alignment.indent == 0 and align["A3"].alignment.indent == 2
    assert align["B3"].alignment.indent == 2 and align["C3"].alignment.indent == 0


def test_chinese_text_counts_double_in_column_widths(tmp_path: Path) -> None:
    book = make_book()
    book.sheet("Alignment").rows[1][1] = "提升品牌在华东地区的知名度与美誉度"  # 17 wide characters
    book.sheet("Alignment").depths = [0, 0]
    path = tmp_path / "rollup.xlsx"
    XlsxRollupTarget(path).write_rollup(book)
    width = openpyxl.load_workbook(path)["Alignment"].column_dimensions["B"].width
    assert 34 <= width <= 40


def fill_of(cell: openpyxl.cell.Cell) -> str | None:
    """The solid background of a cell (RRGGBB), None when it has none."""
    return cell.fill.fgColor.rgb[-6:] if cell.fill and cell.fill.fill_type == "solid" else None


def test_a_rows_score_progress_and_status_share_one_colour(written: Path) -> None:
    """In a cycle (the book's rows carry no tones): the status colour, on Progress, Score and Status alike."""
    wb = openpyxl.load_workbook(written)
    ws = wb["Rollup"]
    expected = {2: "green", 3: "blue", 4: "yellow", 5: "red", 6: "yellow", 7: "green", 8: "grey", 9: "red", 10: "blue"}
    for r, tone in expected.items():
        want = bands.PALETTE[tone]
        for col in "HIJ":
            assert fill_of(ws[f"{col}{r}"]) == want.fill, (col, r)
            assert ws[f"{col}{r}"].font.color.rgb.endswith(want.font)
    # Nothing outside the toned columns is coloured by status, and no conditional format is left to disagree.
    assert fill_of(ws["K8"]) is None and not list(ws.conditional_formatting)
    severity = wb["Issues"]
    assert fill_of(severity["A2"]) == bands.PALETTE["red"].fill
    assert fill_of(severity["A3"]) == bands.PALETTE["yellow"].fill
    units = wb["Units"]
    assert fill_of(units["G2"]) == bands.PALETTE["green"].fill and fill_of(units["G3"]) == bands.PALETTE["yellow"].fill
    assert fill_of(wb["Dependencies"]["C2"]) == bands.PALETTE["yellow"].fill
    assert fill_of(wb["Alignment"]["D2"]) == fill_of(wb["Alignment"]["F2"]) == bands.PALETTE["green"].fill


def test_after_the_cycle_score_takes_the_grade_band(tmp_path: Path) -> None:
    book = make_book()
    rollup = book.sheet("Rollup")
    # The core decides the phase per row; here every row's cycle has ended.
    rollup.tones = [row_tone(rollup, row, ended=True) for row in rollup.rows]
    path = tmp_path / "rollup.xlsx"
    XlsxRollupTarget(path).write_rollup(book)
    ws = openpyxl.load_workbook(path)["Rollup"]
    # 0.55 "at risk" and 0.45: yellow; 0.9: green; 0.1 and 0.3: red; 1.0 "done": green (grade), not blue.
    assert fill_of(ws["I4"]) == fill_of(ws["I6"]) == bands.PALETTE["yellow"].fill
    assert fill_of(ws["I7"]) == fill_of(ws["I3"]) == bands.PALETTE["green"].fill
    assert fill_of(ws["I5"]) == fill_of(ws["I9"]) == bands.PALETTE["red"].fill
    assert fill_of(ws["J5"]) == fill_of(ws["I5"])


def test_objective_rows_are_set_apart_and_long_text_has_room(tmp_path: Path) -> None:
    book = make_book()
    rollup = book.sheet("Rollup")
    rollup.strong = [row[2] in ("O", "目标") for row in rollup.rows]
    rollup.rows[6][10] = "当前值为空:请填写当前值\nKR1.2 has no Current: fill it in\nthird line"
    path = tmp_path / "rollup.xlsx"
    XlsxRollupTarget(path).write_rollup(book)
    ws = openpyxl.load_workbook(path)["Rollup"]
    assert ws["E2"].font.b and fill_of(ws["E2"]) == bands.OBJECTIVE_FILL and not ws["E3"].font.b
    assert ws["E6"].font.b and fill_of(ws["A6"]) == bands.OBJECTIVE_FILL
    assert fill_of(ws["I2"]) == bands.PALETTE["green"].fill  # the tone wins on toned cells
    # Wrapped text: the row is tall enough for every line (15 points a line).
    assert ws["K8"].alignment.wrap_text and ws.row_dimensions[8].height >= 3 * 15
    assert ws["E5"].alignment.wrap_text and ws.row_dimensions[5].height >= 2 * 15
    assert ws.row_dimensions[2].height is None  # one-line rows keep the default height


def test_printing_one_page_wide_and_the_summary_on_one_page(written: Path) -> None:
    wb = openpyxl.load_workbook(written)
    for name in ("Rollup", "Units", "Issues"):
        ws = wb[name]
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
        assert ws.page_setup.fitToHeight == 0 and ws.print_title_rows == "$1:$1"
    summary = wb["Summary"]
    assert summary.sheet_properties.pageSetUpPr.fitToPage
    assert summary.page_setup.fitToWidth == 1 and summary.page_setup.fitToHeight == 1


def test_summary_sheet_figures(written: Path) -> None:
    grid = CalamineWorkbook.from_path(str(written)).get_sheet_by_name("Summary").to_python()
    figures = {row[0].split(" · ")[0]: row[1] for row in grid if row and row[0]}
    assert figures["Company score"] == 0.72
    assert figures["As of"] == "2026-11-23"
    assert figures["Units"] == 2 and figures["Objectives"] == 2 and figures["Key results"] == 7
    assert figures["On track"] == 2 and figures["No data"] == 1
    assert figures["Errors"] == 1 and figures["Warnings"] == 1
    assert any("公司得分" in row[0] for row in grid if row)


def test_native_charts_reference_the_units_sheet(written: Path) -> None:
    with zipfile.ZipFile(written) as z:
        charts = sorted(n for n in z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
        xml = [z.read(n).decode("utf-8") for n in charts]
    assert len(xml) == 2
    scores = next(x for x in xml if "Unit scores" in x)
    stacked = next(x for x in xml if "Status per unit" in x)
    assert "<barChart>" in scores and "<f>'Units'!$G$2:$G$3</f>" in scores
    # Unit codes label the bars: a string reference to column A.
    assert "<strRef><f>'Units'!$A$2:$A$3</f>" in scores and "<numRef><f>'Units'!$A" not in scores
    assert '<grouping val="stacked" />' in stacked and '<overlap val="100" />' in stacked
    for col in "KLMNO":
        assert f"<f>'Units'!${col}$2:${col}$3</f>" in stacked
    assert stacked.count("<ser>") == 5
    # Each score bar in its unit's colour (in a cycle, its status): CO on track green, MKT at risk yellow.
    assert scores.count("<dPt>") == 2
    assert bands.PALETTE["green"].strong in scores and bands.PALETTE["yellow"].strong in scores
    # Status series in the status colours; done is blue.
    assert bands.PALETTE["blue"].strong in stacked


def test_owned_marks_and_unchanged_content_is_not_rewritten(written: Path) -> None:
    book = make_book()
    marks = read_marks(written)
    assert marks[OWNED_PROPERTY] == "rollup" and OWNED_PROPERTY == "okr-sync"
    assert marks[FINGERPRINT_PROPERTY] == book.fingerprint()
    before = written.read_bytes()
    os.utime(written, (1_000_000_000, 1_000_000_000))
    assert XlsxRollupTarget(written).write_rollup(book) is False
    assert written.read_bytes() == before and written.stat().st_mtime == 1_000_000_000

    book.sheet("Rollup").rows[0][8] = 0.81
    assert XlsxRollupTarget(written).write_rollup(book) is True
    assert written.stat().st_mtime != 1_000_000_000
    grid = CalamineWorkbook.from_path(str(written)).get_sheet_by_name("Rollup").to_python()
    assert grid[1][8] == 0.81
    # A new day changes the Summary's as-of, so the file is rewritten too.
    book.as_of = "2026-11-24"
    assert XlsxRollupTarget(written).write_rollup(book) is True
    assert XlsxRollupTarget(written).write_rollup(book) is False


def test_a_persons_workbook_is_never_overwritten(tmp_path: Path) -> None:
    person = tmp_path / "budget.xlsx"
    wb = Workbook()
    wb.active["A1"] = "My budget"
    wb.save(person)
    before = person.read_bytes()
    with pytest.raises(ConfigError) as caught:
        XlsxRollupTarget(person).write_rollup(make_book())
    assert str(person) in str(caught.value) and "--rollup" in str(caught.value)
    assert person.read_bytes() == before

    not_a_zip = tmp_path / "notes.xlsx"
    not_a_zip.write_text("just text")
    with pytest.raises(ConfigError, match="not a rollup workbook"):
        XlsxRollupTarget(not_a_zip).write_rollup(make_book())
    assert not_a_zip.read_text() == "just text"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["budget.xlsx", "notes.xlsx"]


def test_empty_placeholder_file_and_missing_folder_are_fine(tmp_path: Path) -> None:
    empty = tmp_path / "rollup.xlsx"
    empty.touch()
    assert XlsxRollupTarget(empty).write_rollup(make_book()) is True
    assert read_marks(empty)[OWNED_PROPERTY] == "rollup"
    nested = tmp_path / "out" / "2026" / "rollup.xlsx"
    assert XlsxRollupTarget(nested).write_rollup(make_book()) is True
    assert nested.exists()


def test_bad_paths_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\.xlsx"):
        XlsxRollupTarget(tmp_path / "rollup.csv").write_rollup(make_book())
    folder = tmp_path / "folder.xlsx"
    folder.mkdir()
    with pytest.raises(ConfigError, match="folder"):
        XlsxRollupTarget(folder).write_rollup(make_book())


def test_atomic_save_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "rollup.xlsx"
    XlsxRollupTarget(target).write_rollup(make_book())
    assert [p.name for p in tmp_path.iterdir()] == ["rollup.xlsx"]
    before = target.read_bytes()

    def locked(src: object, dst: object) -> None:
        raise PermissionError(13, "Permission denied")

    # The one failure a real run cannot stage on Linux: Windows refusing to replace an open file.
    monkeypatch.setattr(xlsx_rollup.os, "replace", locked)
    book = make_book()
    book.as_of = "2026-12-01"
    with pytest.raises(WorkbookLocked, match="close it"):
        XlsxRollupTarget(target).write_rollup(book)
    assert [p.name for p in tmp_path.iterdir()] == ["rollup.xlsx"]
    assert target.read_bytes() == before


def test_awkward_values_still_make_a_valid_workbook(tmp_path: Path) -> None:
    book = make_book()
    rows = book.sheet("Rollup").rows
    rows[0][4] = "bell\x07 and null\x00 removed"
    rows[1][4] = "x" * 40_000
    rows[2][8] = float("nan")
    rows[3][10] = "line one\nline two <b>&amp;</b>"
    book.sheet("Units").rows = []  # no units: no charts, but the workbook is still whole
    path = tmp_path / "rollup.xlsx"
    XlsxRollupTarget(path).write_rollup(book)
    grid = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Rollup").to_python()
    assert grid[1][4] == "bell and null removed"
    assert len(grid[2][4]) == 32767
    assert grid[3][8] == ""
    assert grid[4][10] == "line one\nline two <b>&amp;</b>"
    ws = openpyxl.load_workbook(path)["Rollup"]
    assert ws["K5"].alignment.wrap_text
    with zipfile.ZipFile(path) as z:
        assert not [n for n in z.namelist() if n.startswith("xl/charts/")]


def test_libreoffice_opens_and_converts_it(written: Path, tmp_path: Path) -> None:
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice (soffice) is required for this test"
    profile = tmp_path / "lo-profile"
    result = subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path / "pdf"),
            str(written),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    pdf = tmp_path / "pdf" / "rollup.pdf"
    assert pdf.exists() and pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000


def test_a_book_with_its_own_summary_sheet_gets_no_second_one(tmp_path: Path) -> None:
    book = make_book()
    own = empty_sheet("Issues")
    own.name = "Summary"
    book.sheets.insert(0, own)
    path = tmp_path / "rollup.xlsx"
    XlsxRollupTarget(path).write_rollup(book)
    names = CalamineWorkbook.from_path(str(path)).sheet_names
    assert names == ["Summary", "Rollup", "Units", "Alignment", "Issues", "Dependencies"]
    assert CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Summary").to_python()[0][0] == "Severity"


def test_the_demo_company_rolls_up_through_the_engine(tmp_path: Path) -> None:
    from sheets_sync.demo import write_demo_company
    from sheets_sync.engine import sync
    from sheets_sync.workspace import Workspace

    folder = tmp_path / "units"
    write_demo_company(folder)
    report = sync(Workspace.from_path(folder), write_back=False)
    out = folder / "okr-rollup.xlsx"  # the default: beside the units it rolls up
    assert report.rollup_written and report.rollup is not None
    wb = CalamineWorkbook.from_path(str(out))
    rollup_rows = wb.get_sheet_by_name("Rollup").to_python()
    assert len(rollup_rows) == len(report.rollup.sheet("Rollup").rows) + 1
    units = wb.get_sheet_by_name("Units").to_python()
    assert {row[0] for row in units[1:]} == {"CO", "MKT", "MKT-SEO", "ENG", "SALES"}
    # Its okr-sync mark keeps it from being read as a unit; unchanged content is not rewritten.
    again = sync(Workspace.from_path(folder), report.as_of, write_back=False)
    assert len(again.units) == 5 and again.rollup_written is False
