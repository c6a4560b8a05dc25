"""Render docs/template-after-sync.png: a demo unit's workbook after a real sync, via LibreOffice."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import openpyxl

from sheets_sync import engine, templates
from sheets_sync.core import schema
from sheets_sync.demo import write_demo_company
from sheets_sync.workspace import Workspace

# Input columns left out of the picture so the rest stays readable at README width.
HIDDEN = ("depends_on", "commitment", "weight", "source", "due", "notes")
DPI = 130


def render(unit_file: str, out: Path, as_of: dt.date = dt.date(2026, 11, 15)) -> Path:
    """Sync the demo company, then print one unit's OKRs sheet to a cropped PNG."""
    with tempfile.TemporaryDirectory(prefix="okr-render-") as tmp:
        folder = Path(tmp) / "demo"
        write_demo_company(folder)
        engine.sync(Workspace.from_path(folder), as_of=as_of)
        wb = openpyxl.load_workbook(folder / unit_file)
        # Print only the OKRs sheet.
        for name in wb.sheetnames[1:]:
            wb[name].sheet_state = "hidden"
        ws = wb["OKRs"]
        for key in HIDDEN:
            letter = openpyxl.utils.get_column_letter(templates.COLUMN_ORDER.index(key) + 1)
            ws.column_dimensions[letter].hidden = True
        ws.column_dimensions[openpyxl.utils.get_column_letter(
            templates.COLUMN_ORDER.index("check") + 1)].width = 46  # fmt: skip
        # The service never touches row heights; size rows to their wrapped text for print.
        check_col = templates.COLUMN_ORDER.index("check") + 1
        for row in range(templates.HEADER_ROW + 1, ws.max_row + 1):
            lines = max(templates.text_lines(ws.cell(row, 3).value, 50),
                        templates.text_lines(ws.cell(row, check_col).value, 46))  # fmt: skip
            ws.row_dimensions[row].height = 15 * lines
        last_row = max(r for r in range(1, ws.max_row + 1) if ws.cell(r, 2).value)
        ws.print_area = f"A1:{openpyxl.utils.get_column_letter(len(templates.COLUMN_ORDER))}{last_row}"
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        render_xlsx = Path(tmp) / "render.xlsx"
        wb.save(render_xlsx)
        subprocess.run(
            ["soffice", f"-env:UserInstallation=file://{tmp}/lo", "--headless", "--convert-to",
             "pdf", "--outdir", tmp, str(render_xlsx)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        pdf = Path(tmp) / "render.pdf"
        # Crop to the printed content: the bounding boxes of the first page's words.
        layout = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-bbox", str(pdf), "-"],
                                check=True, capture_output=True, text=True).stdout  # fmt: skip
        boxes = [tuple(map(float, m)) for m in re.findall(
            r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)"', layout)]  # fmt: skip
        scale = DPI / 72
        pad = 14
        x0 = int(min(b[0] for b in boxes) * scale) - pad
        y0 = int(min(b[1] for b in boxes) * scale) - pad
        x1 = int(max(b[2] for b in boxes) * scale) + pad
        y1 = int(max(b[3] for b in boxes) * scale) + pad
        prefix = Path(tmp) / "page"
        subprocess.run(
            ["pdftoppm", "-png", "-r", str(DPI), "-f", "1", "-l", "1", "-singlefile",
             "-x", str(x0), "-y", str(y0), "-W", str(x1 - x0), "-H", str(y1 - y0),
             str(pdf), str(prefix)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.copy(prefix.with_suffix(".png"), out)
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/template-after-sync.png")
    unit = sys.argv[2] if len(sys.argv) > 2 else "co.xlsx"
    print(render(unit, target), schema.SHEET_OKRS)
