"""Desktop entry points (validate, score_cycle, rollup, install) on a stand-in of xlwings' Book."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from addin_fixtures import big_rows, mkt_rows
from builders import kr, o, okrs_grid, settings_grid, unit, write_xlsx
from xlwings_fake import FakeBook

from sheets_sync import excel

GREEN, YELLOW, RED = (198, 239, 206), (255, 235, 156), (255, 199, 206)


@pytest.fixture(autouse=True)
def end_of_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKR_SYNC_AS_OF", "2026-12-31")
    monkeypatch.delenv("OKR_SYNC_CONFIG", raising=False)


def make_book(rows: list[dict[str, Any]] | None = None, lang: str = "en", anchor: str = "A1", **kw: Any) -> FakeBook:
    book = FakeBook()
    settings = "设置" if lang == "zh" else "Settings"
    book.add_sheet(settings, settings_grid("MKT", "company", None, lang))
    book.add_sheet("OKRs", okrs_grid(rows if rows is not None else mkt_rows(), lang, **kw), anchor)
    book.add_sheet("Budget", [["Item", "Cost"], ["Ads", 1200]])
    return book


def snapshot(book: FakeBook, sheet: str, cols: range) -> dict[tuple[int, int], Any]:
    cells = book.sheets[sheet].cells
    return {k: c.value for k, c in cells.items() if k[1] in cols}


def test_score_cycle_reads_each_sheet_once_and_writes_each_column_once() -> None:
    book = make_book()
    inputs = snapshot(book, "OKRs", range(1, 17))
    report = excel.score_cycle(book)
    assert report.score == 0.48 and book.app.alerts == []
    # One read per sheet: Settings and OKRs; the user's Budget sheet is never read.
    assert book.ops("read") == ["A1:B9", "A1:U6"]
    # One array write per computed column: Progress Q, Score R, Status S, Check T.
    # Check T2 holds O1's coverage ("2 of 2 key results measured", issue 11), T5 a finding.
    assert sorted(book.ops("write", "OKRs")) == ["Q2:Q6", "R2:R6", "S2:S6", "T2:T5"]
    assert book.sheets["OKRs"].get("T2") == "2 of 2 key results measured"
    okrs = book.sheets["OKRs"]
    assert [okrs.get(f"R{r}") for r in range(2, 7)] == [0.75, 0.5, 1.0, 0.2, 0.2]
    assert [okrs.get(f"S{r}") for r in range(2, 7)] == [
        "on track",
        "at risk",
        "done",
        "off track",
        "off track",
    ]
    assert okrs.range("R2").color == GREEN and okrs.range("R3").color == YELLOW
    assert okrs.range("S5").color == RED and okrs.range("Q2").number_format == "0%"
    assert okrs.range("R2").number_format == "0.00"
    # Colours go by runs of equal colour, not cell by cell.
    assert len(book.ops("color")) < 10
    assert snapshot(book, "OKRs", range(1, 17)) == inputs
    assert book.sheets["Budget"].get("B2") == 1200.0 and not book.ops("write", "Budget")
    assert [n.text.split("\n")[0][:27] for n in okrs.notes] == ["okr-sync: Warning: Objectiv"]
    assert "MKT scored 0.48" in book.app.status_bar


def test_banner_and_offset_used_range_anchor_exactly() -> None:
    book = make_book(anchor="B3", banner=True)
    excel.score_cycle(book)
    okrs = book.sheets["OKRs"]
    # Grid row 4 (O1) lands on sheet row 6; Score column R moves to S.
    assert okrs.get("S6") == 0.75 and okrs.get("T6") == "on track"
    assert okrs.get("C6") == "O1"


def test_validate_writes_only_the_check_column_and_notes() -> None:
    rows = mkt_rows()
    rows[1]["target"] = "lots"
    book = make_book(rows)
    report = excel.validate(book)
    assert report.errors >= 1
    assert book.ops("write", "OKRs") == ["T2:T5"]  # Check only, one array
    assert book.ops("color") == []
    okrs = book.sheets["OKRs"]
    assert "lots" in okrs.get("T3")
    assert okrs.get("R2") is None
    assert any(n.location.address == "$K$3" and "lots" in n.text for n in okrs.notes)


def test_old_notes_replaced_people_notes_kept() -> None:
    book = make_book()
    okrs = book.sheets["OKRs"]
    okrs["C2"].add_note("Ana: ask sales")
    okrs["K6"].add_note("okr-sync: Error: fixed since")
    book.log.clear()
    excel.score_cycle(book)
    excel.score_cycle(book)
    texts = {n.location.address.replace("$", ""): n.text for n in okrs.notes}
    assert texts["C2"] == "Ana: ask sales"
    assert "K6" not in texts
    assert list(texts) == ["C2", "R5"]


def test_chinese_workbook() -> None:
    rows = mkt_rows()
    rows[2]["current"] = "是"
    book = make_book(rows, lang="zh")
    report = excel.score_cycle(book)
    okrs = book.sheets["OKRs"]
    assert report.language == "zh"
    assert okrs.get("S2") == "正常" and okrs.get("S4") == "完成" and okrs.get("S5") == "落后"
    assert "警告" in okrs.notes[0].text
    assert "得分 0.48" in book.app.status_bar


def test_text_that_looks_like_a_formula_is_written_as_text() -> None:
    rows = [o("O1", "Grow"), kr("KR1.1", "Leads", start=0, target="lots", current=5)]
    book = make_book(rows)
    excel.validate(book)
    check = book.sheets["OKRs"].cells[(3, 20)]
    assert check.formula is None and isinstance(check.value, str)
    assert excel.protect_text("=SUM(A1)") == "'=SUM(A1)" and excel.protect_text("12") == "'12"
    assert excel.protect_text("on track") == "on track"


def test_error_values_are_read_as_errors() -> None:
    rows = mkt_rows()
    rows[1]["current"] = "#DIV/0!"
    book = make_book(rows)
    report = excel.score_cycle(book)
    assert any(f.place.cell == "L3" and f.severity == "error" for f in report.findings)
    assert book.sheets["OKRs"].get("R3") is None


def test_500_krs_still_one_write_per_column() -> None:
    book = make_book(big_rows(100, 5))
    excel.score_cycle(book)
    writes = book.ops("write", "OKRs")
    assert len(writes) <= 5 and "R2:R601" in writes
    assert len(book.ops("read")) == 2


def test_problems_show_a_message_box_not_a_traceback() -> None:
    book = FakeBook("Budget.xlsx")
    book.add_sheet("Budget", [["a", 1]])
    assert excel.score_cycle(book) is None
    ((message, title),) = book.app.alerts
    assert "no OKRs sheet" in message and title == "okr-sync"
    assert book.ops("write") == []


def test_unexpected_failures_are_reported_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    book = make_book()

    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("sheets_sync.engine.score_workbook", boom)
    assert excel.score_cycle(book) is None
    assert "disk on fire" in book.app.alerts[0][0] and "unexpected" in book.app.alerts[0][0]


def test_rollup_writes_owned_sheets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_xlsx(
        tmp_path / "CO.xlsx", unit("CO", "company", [o("O1", "-1 churn"), kr("KR1.1", "R", target=10, current=8)])
    )
    write_xlsx(
        tmp_path / "MKT.xlsx",
        unit(
            "MKT",
            "department",
            [o("O1", "Leads", aligns_to="CO/O1"), kr("KR1.1", "L", target=4, current=1)],
            parent="CO",
        ),
    )
    monkeypatch.setenv("OKR_SYNC_CONFIG", str(tmp_path))
    book = make_book()
    report = excel.rollup(book)
    assert book.app.alerts == [] and len(report.units) == 2
    names = [s.name for s in book.sheets]
    assert names[:3] == ["Settings", "OKRs", "Budget"]
    assert {"OKR Rollup", "OKR Units", "OKR Issues"} <= set(names)
    sheet = book.sheets["OKR Rollup"]
    assert sheet.get("D1") == "ID" and sheet.range("A1").font.bold
    assert len(book.ops("write", "OKR Rollup")) == 1  # the whole sheet in one block
    texts = [c for (r, col), c in sheet.cells.items() if c.value == "-1 churn"]
    assert texts and texts[0].prefixed and texts[0].formula is None
    # Again: the owned sheets are cleared and rewritten, never duplicated.
    excel.rollup(book)
    assert [s.name for s in book.sheets] == names
    assert book.ops("write", "OKRs") == []


def test_rollup_without_workspace_says_where_to_put_it() -> None:
    book = make_book()
    assert excel.rollup(book) is None
    assert "okr-sync.toml" in book.app.alerts[0][0]


def test_caller_add_in_falls_back_to_active_workbook(monkeypatch: pytest.MonkeyPatch) -> None:
    import xlwings as xw

    target = make_book()
    addin = FakeBook("OkrSync.xlam")
    addin.app.books.active = target
    monkeypatch.setattr(xw.Book, "caller", staticmethod(lambda: addin))
    report = excel.score_cycle()
    assert report.score == 0.48 and target.sheets["OKRs"].get("R2") == 0.75
    monkeypatch.setattr(xw.Book, "caller", staticmethod(lambda: target))
    assert excel.target_book() is target


def test_install_writes_the_vba_module_ribbon_and_readme(tmp_path: Path, capsys: Any) -> None:
    conf = tmp_path / "home" / ".xlwings" / "xlwings.conf"
    paths = excel.install(tmp_path / "addin", xlwings_conf=conf)
    names = [p.name for p in paths]
    assert names == ["OkrSync.bas", "customUI14.xml", "README.txt", "xlwings.conf"]
    bas = (tmp_path / "addin" / "OkrSync.bas").read_bytes()
    bas.decode("ascii")  # the VBA editor imports ANSI text
    assert b"\r\n" in bas and b'Attribute VB_Name = "OkrSync"' in bas
    for func in ("validate", "score_cycle", "rollup"):
        assert f"okr.{func}()".encode() in bas and callable(getattr(excel, func))
    ui = (tmp_path / "addin" / "customUI14.xml").read_text()
    import xml.etree.ElementTree as ET

    root = ET.fromstring(ui.encode())
    actions = [b.get("onAction") for b in root.iter("{http://schemas.microsoft.com/office/2009/07/customui}button")]
    assert actions == ["OkrValidate", "OkrScoreCycle", "OkrRollup"]
    assert all(f"Sub {a}(".encode() in bas for a in actions)
    assert "INTERPRETER_" in conf.read_text()
    # Run again: the interpreter the user set is kept.
    conf.write_text('"INTERPRETER_WIN","C:\\\\Python\\\\python.exe"\n')
    again = excel.install(tmp_path / "addin", xlwings_conf=conf)
    assert conf not in again and conf.read_text().count("INTERPRETER") == 1
    assert "xlwings addin install" in capsys.readouterr().out


def test_dates_from_excel_are_datetimes() -> None:
    book = make_book()
    settings = book.sheets["Settings"]
    assert isinstance(settings.get("B6"), dt.datetime)
    assert excel.score_cycle(book).score == 0.48


def test_cli_excel_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from sheets_sync.cli import cli

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(cli, ["excel", "install", "--dir", str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "x" / "OkrSync.bas").is_file()
    assert "OkrSync.bas" in result.output and "xlwings addin install" in result.output
    assert (tmp_path / "home" / ".xlwings" / "xlwings.conf").is_file()


def test_protected_template_sheets_are_unlocked_and_locked_again() -> None:
    book = make_book()
    for name in ("Settings", "OKRs"):
        book.sheets[name].api.protect(AllowFormattingCells=True, AllowSorting=True)
    assert excel.score_cycle(book).score == 0.48 and book.app.alerts == []
    okrs = book.sheets["OKRs"]
    assert okrs.get("R2") == 0.75
    assert okrs.api.ProtectContents and okrs.api.Protection.AllowFormattingCells
    assert okrs.api.Protection.AllowSorting and not okrs.api.Protection.AllowDeletingRows
    assert book.ops("unprotect") == ["", ""] and book.ops("protect") == ["", ""]


def test_password_protected_sheet_is_reported_and_nothing_written() -> None:
    book = make_book()
    book.sheets["Settings"].api.protect()
    book.sheets["OKRs"].api.protect(password="pw")
    assert excel.score_cycle(book) is None
    assert "OKRs is protected with a password" in book.app.alerts[0][0]
    assert book.ops("write") == [] and book.ops("note-add") == []
    assert book.sheets["Settings"].api.ProtectContents  # locked again


def test_cells_between_okr_rows_keep_their_values_in_the_column_write() -> None:
    rows = mkt_rows()
    book = make_book(rows)
    okrs = book.sheets["OKRs"]
    okrs.fill([["KR", "KR1.3", "Blocked metric", None, None, None, None, None, None, 0, 10, "#N/A"]], "A7")
    okrs.fill([["O", "O3", "Third"], [], ["KR", "KR3.1", "Done", None, None, None, None, None, None, 0, 1, 1]], "A8")
    okrs.fill([["a remark in an empty row", "#N/A"]], "R9")
    excel.score_cycle(book)
    assert {"R2:R10", "S2:S10"} <= set(book.ops("write", "OKRs"))
    assert okrs.get("R9") == "a remark in an empty row"
    assert okrs.get("S9") == "#N/A"  # an error value goes back as the error it was
    assert okrs.get("R10") == 1.0 and okrs.get("L7") == "#N/A"


def test_a_refused_write_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    # As on a Mac, where the protection cannot be lifted through COM: Excel refuses the write.
    book = make_book()
    book.sheets["OKRs"].api.protect()
    monkeypatch.setattr(excel.Unlocked, "__enter__", lambda self: self)
    assert excel.score_cycle(book) is None
    message = book.app.alerts[0][0]
    assert "protected sheet (OKRs)" in message and "Unprotect Sheet" in message
    assert "Traceback" not in message


def test_user_conf_path_is_the_one_xlwings_reads() -> None:
    import xlwings

    assert excel.xlwings_user_conf() == Path(xlwings.USER_CONFIG_FILE)
