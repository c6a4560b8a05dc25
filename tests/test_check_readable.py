"""Check cells after a real sync: every message fully readable on screen and paper, in English and Chinese."""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import subprocess
from pathlib import Path

import openpyxl
import pytest

from sheets_sync import engine
from sheets_sync.core import schema
from sheets_sync.core.writeback import LINE_POINTS, wrapped_lines
from sheets_sync.demo import company_units
from sheets_sync.templates import HEADER_ROW, save_workbook
from sheets_sync.workspace import Workspace

AS_OF = dt.date(2026, 11, 15)
# What a person mistypes on one key result: several findings in one Check cell.
TYPOS = {"KR1.2": {"confidence": "high", "due": dt.date(2027, 2, 1), "weight": "2x"}}


def _company(folder: Path, lang: str) -> Path:
    """The demo company in one language, with the demo's mistake and a few more typed in, synced."""
    folder.mkdir()
    for unit in company_units(lang=lang, with_mistake=True):  # type: ignore[arg-type]
        save_workbook(unit.build("2026-Q4"), folder / unit.file_name)
    wb = openpyxl.load_workbook(folder / "mkt-seo.xlsx")
    ws = wb["OKRs"]
    cols = {schema.HEADER_LOOKUP.get(schema.normalize(c.value or "")): c.column for c in ws[HEADER_ROW]}
    for row in ws.iter_rows(min_row=HEADER_ROW + 1):
        for key, value in TYPOS.get(str(row[cols["id"] - 1].value), {}).items():
            row[cols[key] - 1].value = value
    wb.save(folder / "mkt-seo.xlsx")
    report = engine.sync(Workspace.from_path(folder), as_of=AS_OF)
    assert not report.failed_units
    return folder


@pytest.fixture(scope="module")
def companies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("readable")
    return {lang: _company(root / lang, lang) for lang in ("en", "zh")}


def _checks(path: Path) -> tuple[dict[str, str], dict[str, int], openpyxl.worksheet.worksheet.Worksheet]:
    ws = openpyxl.load_workbook(path)["OKRs"]
    cols = {schema.HEADER_LOOKUP.get(schema.normalize(c.value or "")): c.column for c in ws[HEADER_ROW]}
    checks, rows = {}, {}
    for row in ws.iter_rows(min_row=HEADER_ROW + 1):
        row_id = row[cols["id"] - 1].value
        if row_id:
            rows[str(row_id)] = row[0].row
            checks[str(row_id)] = str(row[cols["check"] - 1].value or "")
    return checks, rows, ws


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_rows_are_as_tall_as_their_check_text(companies: dict[str, Path], lang: str) -> None:
    for path in sorted(companies[lang].glob("*.xlsx")):
        if path.name == "okr-rollup.xlsx":
            continue
        checks, rows, ws = _checks(path)
        check_col = openpyxl.utils.get_column_letter(schema.ALL_COLUMNS.index(schema.COLUMNS_BY_KEY["check"]) + 1)
        width = ws.column_dimensions[check_col].width
        for row_id, text in checks.items():
            if not text:
                continue
            height = ws.row_dimensions[rows[row_id]].height or 15
            assert height >= wrapped_lines(text, width) * LINE_POINTS, f"{path.name} {row_id}: {text!r}"
    checks, _, _ = _checks(companies[lang] / "mkt-seo.xlsx")
    assert checks["KR1.2"].count("\n") >= 2, checks["KR1.2"]  # several findings, one line each


def test_growing_rows_keeps_what_a_person_set_and_a_quiet_sync_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "co"
    _company(folder, "en")
    wb = openpyxl.load_workbook(folder / "mkt-seo.xlsx")
    ws = wb["OKRs"]
    _, rows, _ = _checks(folder / "mkt-seo.xlsx")
    ws.row_dimensions[rows["KR1.2"]].height = 120  # taller than the Check needs: a person's choice
    ws.row_dimensions[rows["KR1.1"]].height = 60
    wb.save(folder / "mkt-seo.xlsx")
    again = engine.sync(Workspace.from_path(folder), as_of=AS_OF)
    assert again.cells_written == 0
    before = (folder / "mkt-seo.xlsx").read_bytes()
    engine.sync(Workspace.from_path(folder), as_of=AS_OF)
    assert (folder / "mkt-seo.xlsx").read_bytes() == before
    wb = openpyxl.load_workbook(folder / "mkt-seo.xlsx")
    ws = wb["OKRs"]
    ws.cell(rows["KR1.1"], 11).value = "soon"  # Target: a new error on KR1.1 and on KR1.3
    ws.cell(rows["KR1.3"], 11).value = "soon"
    wb.save(folder / "mkt-seo.xlsx")
    engine.sync(Workspace.from_path(folder), as_of=AS_OF)
    _, _, ws = _checks(folder / "mkt-seo.xlsx")
    assert ws.row_dimensions[rows["KR1.2"]].height == 120
    assert ws.row_dimensions[rows["KR1.1"]].height == 60  # tall enough already: untouched
    assert ws.row_dimensions[rows["KR1.3"]].height == 3 * LINE_POINTS + 3  # grown to its three lines


_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>')
_PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.S)
_ID = re.compile(r"^(O\d+|KR\d+\.\d+)$")


def _pdf_words(pdf: Path) -> list[tuple[float, list[tuple[float, float, float, float, str]]]]:
    """(page height, words) per page, from poppler's word boxes."""
    text = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout  # fmt: skip
    pages = []
    for page in _PAGE.finditer(text):
        words = [(float(a), float(b), float(c), float(d), html.unescape(w)) for a, b, c, d, w in _WORD.findall(page[3])]
        pages.append((float(page[2]), words))
    return pages


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_libreoffice_prints_every_check_line_inside_its_row(
    companies: dict[str, Path], lang: str, tmp_path: Path
) -> None:
    """Render the synced workbook to PDF: each Check's words sit inside their own row, all of them."""
    unit = companies[lang] / "mkt-seo.xlsx"
    env = {**os.environ, "HOME": str(tmp_path)}
    subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path}/lo", "--headless", "--convert-to",
                    "pdf", "--outdir", str(tmp_path), str(unit)],
                   check=True, capture_output=True, timeout=180, env=env)  # fmt: skip
    checks, _, _ = _checks(unit)
    check_header = schema.COLUMNS_BY_KEY["check"].header(lang)  # type: ignore[arg-type]
    aligned_header = schema.COLUMNS_BY_KEY["aligned_score"].header(lang).split()[0]  # type: ignore[arg-type]
    seen: set[str] = set()
    for height, words in _pdf_words(tmp_path / "mkt-seo.pdf"):
        header = [w for w in words if w[4] == check_header]
        ends = [w[0] for w in words if header and w[4] == aligned_header and w[0] > header[0][0]]
        if not ends:
            continue  # not a page of the OKRs table
        width = max(w[2] for w in words)
        right = min(ends)
        marks = [w[0] for w in words if w[4] in ("✖", "⚠")]
        left = min(marks) - 1 if marks else header[0][0] - 1
        ids = sorted((w for w in words if _ID.match(w[4]) and w[2] < width * 0.12), key=lambda w: w[1])
        for i, row in enumerate(ids):
            top = row[1] - 2
            bottom = ids[i + 1][1] - 0.5 if i + 1 < len(ids) else height
            inside = [w for w in words if left <= w[0] < right and top <= w[1] < bottom]
            printed = "".join(w[4] for w in sorted(inside, key=lambda w: (round(w[1]), w[0])))
            assert _squeeze(printed) == _squeeze(checks[row[4]]), f"{lang} {row[4]}: {printed!r}"
            assert all(w[3] <= bottom + 0.5 for w in inside), f"{lang} {row[4]}: runs into the next row"
            seen.add(row[4])
    assert seen == set(checks)
    assert any("\n" in t for t in checks.values())
