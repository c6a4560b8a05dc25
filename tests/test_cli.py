"""The okr-sync command on real .xlsx files: demo, validate, sync, rollup, bad files, exit codes."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from python_calamine import CalamineWorkbook

from sheets_sync.cli import cli

AS_OF = ["--as-of", "2026-11-15"]


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.xlsx"))}


@pytest.fixture
def demo_folder(tmp_path: Path, runner: CliRunner) -> Path:
    folder = tmp_path / "demo"
    result = runner.invoke(cli, ["demo", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def okrs_values(path: Path) -> list[list[object]]:
    book = CalamineWorkbook.from_path(str(path))
    return book.get_sheet_by_name("OKRs").to_python()


def test_demo_writes_a_company_syncs_it_and_says_where_to_look(tmp_path: Path, runner: CliRunner) -> None:
    folder = tmp_path / "demo"
    result = runner.invoke(cli, ["demo", str(folder)])
    assert result.exit_code == 0, result.output
    names = {p.name for p in folder.glob("*.xlsx")}
    # Two cycles (the closed previous quarter in 2026-Q3/): one rollup each.
    assert {"co.xlsx", "okr-rollup-2026-Q4.xlsx", "okr-rollup-2026-Q3.xlsx"} <= names and len(names) == 7
    assert len(list((folder / "2026-Q3").glob("*.xlsx"))) == 5
    assert "Last quarter's final grades" in result.output
    assert "Where to look" in result.output
    assert "mkt-seo.xlsx › OKRs › K10" in result.output
    assert "1 error(s)" in result.output
    # Scores really landed in the unit workbooks.
    rows = okrs_values(folder / "co.xlsx")
    header_index = next(i for i, r in enumerate(rows) if "Score" in r)
    scores = [r[rows[header_index].index("Score")] for r in rows[header_index + 1:]]
    assert any(isinstance(s, float) for s in scores)


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path: Path, runner: CliRunner) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = runner.invoke(cli, ["demo", str(tmp_path)])
    assert result.exit_code == 2
    assert "not empty" in result.output
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_validate_prints_places_and_exits_1_on_errors(demo_folder: Path, runner: CliRunner) -> None:
    before = digest(demo_folder)
    result = runner.invoke(cli, ["validate", str(demo_folder), *AS_OF])
    assert result.exit_code == 1
    assert "ERROR   [bad-number] mkt-seo.xlsx › OKRs › K10: Target 'TBD' is not a number" in result.output
    assert digest(demo_folder) == before  # validate writes nothing
    assert result.output.strip().splitlines()[-1] == "nothing written"


def test_validate_one_workbook_uses_its_folder_for_alignment(demo_folder: Path, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", str(demo_folder / "mkt.xlsx"), *AS_OF, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [u["source"] for u in report["units"]] == ["mkt.xlsx"]
    assert not [f for f in report["findings"] if f["rule"].startswith("align")]


def test_sync_with_nothing_new_writes_nothing(demo_folder: Path, runner: CliRunner) -> None:
    before = digest(demo_folder)
    mtimes = {p.name: p.stat().st_mtime_ns for p in demo_folder.glob("*.xlsx")}
    result = runner.invoke(cli, ["sync", str(demo_folder), *AS_OF])
    assert result.exit_code == 1  # the demo's deliberate mistake is still there
    assert "0 cell(s) written" in result.output
    assert "(unchanged)" in result.output
    assert digest(demo_folder) == before
    assert {p.name: p.stat().st_mtime_ns for p in demo_folder.glob("*.xlsx")} == mtimes


def test_dry_run_prints_old_and_new_and_writes_nothing(demo_folder: Path, runner: CliRunner) -> None:
    before = digest(demo_folder)
    result = runner.invoke(cli, ["sync", str(demo_folder), "--as-of", "2026-12-20", "--dry-run"])
    assert " → " in result.output
    assert "› OKRs › S" in result.output  # a Status cell changes as the cycle moves on
    # Each change names its key result and column; the last line counts what a real sync would write.
    assert re.search(r"^co\.xlsx › OKRs › S\d+ \(KR\d\.\d Status\): \S.* → \S", result.output, re.M)
    lines = result.output.strip().splitlines()
    changes = [line for line in lines if " → " in line and " › OKRs › " in line]
    assert all(re.search(r" › [A-Z]+\d+ \(", line) for line in changes)  # each names its row and column
    books = {line.split(" › ")[0] for line in changes}
    assert lines[-1] == f"would write {len(changes)} cells in {len(books)} workbooks (dry run: nothing written)"
    assert "cell(s) written" not in result.output
    assert digest(demo_folder) == before


def test_sync_json_is_machine_readable(demo_folder: Path, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["sync", str(demo_folder), "--as-of", "2026-12-01", "--json"])
    report = json.loads(result.output)
    assert report["exit_code"] == result.exit_code == 1
    assert report["cells_written"] > 0
    assert {u["unit"] for u in report["units"]} == {"CO", "MKT", "MKT-SEO", "ENG", "SALES"}
    changed = [c for u in report["units"] for c in u["changes"]]
    assert all({"sheet", "cell", "old", "new"} <= set(c) for c in changed)


def test_fixing_the_mistake_clears_the_error(demo_folder: Path, runner: CliRunner) -> None:
    import openpyxl

    path = demo_folder / "mkt-seo.xlsx"
    wb = openpyxl.load_workbook(path)
    wb["OKRs"]["K10"] = 300
    wb.save(path)
    result = runner.invoke(cli, ["sync", str(demo_folder), *AS_OF])
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output


def test_bad_files_are_named_and_the_other_units_still_sync(demo_folder: Path, runner: CliRunner) -> None:
    (demo_folder / "random.xlsx").write_bytes(b"this is not a workbook at all")
    (demo_folder / "empty.xlsx").write_bytes(b"")
    (demo_folder / "legacy.xls").write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 512)
    (demo_folder / "~$eng.xlsx").write_bytes(b"owner file")  # eng.xlsx is open in Excel
    eng_before = (demo_folder / "eng.xlsx").read_bytes()
    result = runner.invoke(cli, ["sync", str(demo_folder), "--as-of", "2026-12-10"])
    assert result.exit_code == 2
    out = result.output
    assert "Traceback" not in out
    for name in ("random.xlsx", "empty.xlsx", "legacy.xls", "eng.xlsx"):
        assert sum(1 for line in out.splitlines() if line.startswith("FAILED") and name in line) == 1, name
    assert (demo_folder / "eng.xlsx").read_bytes() == eng_before  # the open workbook is left untouched
    assert "cell(s) written" in out and "0 cell(s) written" not in out  # the others synced


def test_missing_path_is_one_clear_line(tmp_path: Path, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["sync", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such folder or workbook" in result.output
    assert "Traceback" not in result.output


def test_rollup_consolidates_without_touching_units(demo_folder: Path, tmp_path: Path, runner: CliRunner) -> None:
    before = digest(demo_folder)
    out = tmp_path / "company.xlsx"
    result = runner.invoke(cli, ["rollup", str(demo_folder), "-o", str(out), "--as-of", "2026-12-01"])
    assert result.exit_code == 1, result.output
    assert digest(demo_folder) == before
    book = CalamineWorkbook.from_path(str(out))
    assert {"Rollup", "Units", "Alignment", "Issues", "Dependencies"} <= set(book.sheet_names)
    units = book.get_sheet_by_name("Units").to_python()
    assert len(units) == 1 + 5


def test_rollup_refuses_to_overwrite_a_persons_workbook(demo_folder: Path, runner: CliRunner) -> None:
    target = demo_folder / "co.xlsx"
    before = target.read_bytes()
    result = runner.invoke(cli, ["rollup", str(demo_folder), "-o", str(target)])
    assert result.exit_code == 2
    assert "co.xlsx" in result.output
    assert target.read_bytes() == before


@pytest.mark.parametrize("command", ["demo", "validate", "sync", "rollup", "new", "undo", "log", "serve",
                                     "schedule"])
def test_every_command_has_help_with_an_example(command: str, runner: CliRunner) -> None:
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output


def test_bad_as_of_is_a_usage_error(demo_folder: Path, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["sync", str(demo_folder), "--as-of", "15/11/2026"])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


def test_kr_source_takes_current_from_another_workbook(tmp_path: Path, runner: CliRunner) -> None:
    from builders import kr, o, unit, write_xlsx

    write_xlsx(tmp_path / "sales-data.xlsx", {"Data": [["Month", "Revenue"], ["Nov", "1,234"]]})
    write_xlsx(tmp_path / "co.xlsx", unit("CO", "company", [
        o("O1", "Grow"), kr("KR1.1", "Revenue", target=2000, current=5, source="sales-data.xlsx › Data › B2"),
        kr("KR1.2", "Broken source", target=10, current=3, source="missing.xlsx › Data › B2")]))
    result = runner.invoke(cli, ["sync", str(tmp_path), *AS_OF])
    assert "skipped 1 workbook(s) with no Settings or OKRs sheet (not units): sales-data.xlsx" in result.output
    assert "[source-unreadable] co.xlsx › OKRs › M4" in result.output
    rows = okrs_values(tmp_path / "co.xlsx")
    header = rows[0]
    assert rows[2][header.index("Current")] == 1234.0
    assert rows[2][header.index("Score")] == 0.62
    assert rows[3][header.index("Current")] == 3.0  # nothing lost when a Source cannot be read


def test_startup_imports_no_google_flask_or_xlwings() -> None:
    import subprocess
    import sys

    code = ("import sys, sheets_sync.cli; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'gspread', 'google', 'flask', 'xlwings', 'openpyxl', 'pandas', 'server'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_undo_takes_a_path_alone_or_a_run_and_a_path(demo_folder: Path, runner: CliRunner) -> None:
    before = okrs_values(demo_folder / "mkt.xlsx")
    changed = runner.invoke(cli, ["sync", str(demo_folder), "--as-of", "2026-12-20"])
    assert okrs_values(demo_folder / "mkt.xlsx") != before, changed.output
    result = runner.invoke(cli, ["undo", str(demo_folder)])
    assert result.exit_code == 0, result.output
    assert okrs_values(demo_folder / "mkt.xlsx") == before
    bad = runner.invoke(cli, ["undo", "1", str(demo_folder), "extra"])
    assert bad.exit_code == 2 and "at most" in bad.output


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_fresh_template_validates_and_says_what_to_write(tmp_path: Path, runner: CliRunner, lang: str) -> None:
    path = tmp_path / "ops.xlsx"
    made = runner.invoke(cli, ["new", "--level", "company", "--code", "OPS", "--lang", lang,
                               "--cycle", "2026-Q4", str(path)])
    assert made.exit_code == 0, made.output
    result = runner.invoke(cli, ["validate", str(path), *AS_OF])
    assert result.exit_code == 0, result.output
    assert "[no-objectives] ops.xlsx › OKRs" in result.output
    assert "0 error(s)" in result.output
    again = runner.invoke(cli, ["new", "--level", "team", "--code", "X", str(path)])
    assert again.exit_code == 2 and "ops.xlsx" in again.output  # never overwrites a workbook


def test_syncing_one_workbook_uses_its_folder_as_context(demo_folder: Path, runner: CliRunner) -> None:
    before = digest(demo_folder)
    result = runner.invoke(cli, ["sync", str(demo_folder / "mkt.xlsx"), "--as-of", "2026-12-20", "--json"])
    report = json.loads(result.output)
    assert [u["source"] for u in report["units"]] == ["mkt.xlsx"]
    assert not [f for f in report["findings"] if f["rule"].startswith("align")]  # CO/… resolved from the folder
    after = digest(demo_folder)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"mkt.xlsx", "okr-rollup-2026-Q4.xlsx"}  # only the named unit is written back


def test_a_rollup_open_in_excel_is_not_written_but_the_units_are(demo_folder: Path, runner: CliRunner) -> None:
    (demo_folder / "~$okr-rollup-2026-Q4.xlsx").write_bytes(b"owner")
    rollup_before = (demo_folder / "okr-rollup-2026-Q4.xlsx").read_bytes()
    co_before = (demo_folder / "co.xlsx").read_bytes()
    result = runner.invoke(cli, ["sync", str(demo_folder), "--as-of", "2026-12-20"])
    assert result.exit_code == 2
    assert "FAILED  rollup: " in result.output and "close it and sync again" in result.output
    assert (demo_folder / "okr-rollup-2026-Q4.xlsx").read_bytes() == rollup_before
    assert (demo_folder / "co.xlsx").read_bytes() != co_before


def test_a_folder_without_workbooks_is_an_error_not_an_empty_rollup(tmp_path: Path, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["sync", str(tmp_path)])
    assert result.exit_code == 2
    assert "no unit workbooks found" in result.output
    assert not (tmp_path / "okr-rollup.xlsx").exists()


def test_validating_several_workbooks_of_a_folder_reads_it_once(
    demo_folder: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sheets_sync.backends.xlsx import XlsxBackend

    reads: list[str] = []
    real_read = XlsxBackend.read
    monkeypatch.setattr(XlsxBackend, "read", lambda self, loc: reads.append(loc) or real_read(self, loc))
    names = ["mkt.xlsx", "eng.xlsx", "sales.xlsx"]
    result = runner.invoke(cli, ["validate", *(str(demo_folder / n) for n in names), *AS_OF, "--json"])
    report = json.loads(result.output)
    assert sorted(u["source"] for u in report["units"]) == sorted(names)
    # every workbook of the folder tree (this quarter and the closed one in 2026-Q3/), each read once
    assert len(reads) == len(set(reads)) == 10
