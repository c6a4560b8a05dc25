"""Printing a unit's OKRs sheet: every row in use, one page wide, the header on every page."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import openpyxl

from sheets_sync.templates import HEADER_ROW, build_template, save_workbook


def _okrs(objectives: int, krs: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for o in range(1, objectives + 1):
        rows.append({"type": "O", "id": f"O{o}", "text": f"Objective number {o} that matters"})
        rows.extend({"type": "KR", "id": f"KR{o}.{k}", "text": f"Key result {o}.{k} moves from 10 to 20",
                     "metric": "number", "start": 10, "target": 20, "current": 12 + k}
                    for k in range(1, krs + 1))  # fmt: skip
    return rows


def test_a_big_unit_prints_every_row_one_page_wide(tmp_path: Path) -> None:
    wb = build_template(level="team", code="T", cycle="2026-Q4", okrs=_okrs(6, 6))
    # A row a person typed far below the prepared ones prints too.
    ws = wb["OKRs"]
    ws.cell(HEADER_ROW + 120, 1, "KR")
    ws.cell(HEADER_ROW + 120, 2, "KR6.7")
    for name in wb.sheetnames[1:]:
        wb[name].sheet_state = "hidden"  # print the OKRs sheet alone
    path = save_workbook(wb, tmp_path / "big.xlsx")
    ws = openpyxl.load_workbook(path)["OKRs"]
    assert ws.print_title_rows.replace("$", "") == f"{HEADER_ROW}:{HEADER_ROW}"
    assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert not ws.print_area  # nothing fixed: the rows in use decide

    env = {**os.environ, "HOME": str(tmp_path)}
    subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path}/lo", "--headless", "--convert-to",
                    "pdf", "--outdir", str(tmp_path), str(path)],
                   check=True, capture_output=True, timeout=180, env=env)  # fmt: skip
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "big.pdf"), "-"], check=True,
                          capture_output=True, text=True).stdout  # fmt: skip
    pages = [p for p in text.split("\f") if p.strip()]
    ids = {m for p in pages for m in re.findall(r"\b(O\d+|KR\d+\.\d+)\b", p)}
    assert ids == {f"O{o}" for o in range(1, 7)} | {f"KR{o}.{k}" for o in range(1, 7) for k in range(1, 7)} | {"KR6.7"}
    for page in pages:
        # One page wide: the first and the last column's headers on every page; the header repeats.
        assert "Type" in page and "Aligned" in page and "Check" in page, page[:200]
    assert len(pages) <= 3  # spare rows print nothing
