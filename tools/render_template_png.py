"""Render docs/template-after-sync.png: a demo unit's workbook exactly as a sync leaves it, printed by LibreOffice.

Nothing is dressed up: the workbook is written by `okr-sync demo`'s code, synced, and printed as it is
(its own page setup, row heights and columns); the picture is the first page, cropped to the printed content.
Usage: python tools/render_template_png.py [OUT.png] [UNIT.xlsx]
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sheets_sync import engine
from sheets_sync.demo import write_demo_company
from sheets_sync.workspace import Workspace

DPI = 110
AS_OF = dt.date(2026, 11, 15)  # the demo's as-of, as `okr-sync demo` uses it


def render(unit_file: str, out: Path) -> Path:
    """Sync the demo company, print one unit's workbook to PDF and crop its first page to a PNG."""
    with tempfile.TemporaryDirectory(prefix="okr-render-") as tmp:
        folder = Path(tmp) / "demo"
        write_demo_company(folder)
        engine.sync(Workspace.from_path(folder), as_of=AS_OF)
        subprocess.run(
            ["soffice", f"-env:UserInstallation=file://{tmp}/lo", "--headless", "--convert-to", "pdf",
             "--outdir", tmp, str(folder / unit_file)],
            check=True, capture_output=True, timeout=180, env={**os.environ, "HOME": tmp},
        )  # fmt: skip
        pdf = Path(tmp) / Path(unit_file).with_suffix(".pdf").name
        layout = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-bbox", str(pdf), "-"],
                                check=True, capture_output=True, text=True).stdout  # fmt: skip
        boxes = [tuple(map(float, m)) for m in re.findall(
            r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)"', layout)]  # fmt: skip
        scale, pad = DPI / 72, 12
        x0 = int(min(b[0] for b in boxes) * scale) - pad
        y0 = int(min(b[1] for b in boxes) * scale) - pad
        x1 = int(max(b[2] for b in boxes) * scale) + pad
        y1 = int(max(b[3] for b in boxes) * scale) + pad
        prefix = Path(tmp) / "page"
        subprocess.run(
            ["pdftoppm", "-png", "-r", str(DPI), "-f", "1", "-l", "1", "-singlefile", "-x", str(x0), "-y",
             str(y0), "-W", str(x1 - x0), "-H", str(y1 - y0), str(pdf), str(prefix)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.copy(prefix.with_suffix(".png"), out)
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/template-after-sync.png")
    print(render(sys.argv[2] if len(sys.argv) > 2 else "mkt-seo.xlsx", target))
