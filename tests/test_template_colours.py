"""One colour language in the templates, as LibreOffice paints it: pace during the cycle, grade bands after it."""

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
from sheets_sync.core import bands, schema
from sheets_sync.core.cycles import current_cycle, cycle_dates
from sheets_sync.demo import company_units
from sheets_sync.templates import CYCLE_END_NAME, build_template, save_workbook
from sheets_sync.workspace import Workspace

DPI = 72  # one pixel per point: PDF word boxes are pixel positions
_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>')
_ID = re.compile(r"^(O\d+|KR\d+\.\d+)$")


def _ppm(path: Path) -> tuple[int, int, bytes]:
    """Width, height and RGB bytes of a binary PPM (what pdftoppm writes without -png)."""
    data = path.read_bytes()
    fields = re.match(rb"P6\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    assert fields
    return int(fields[1]), int(fields[2]), data[fields.end() :]


def _render(workbook: Path, tmp: Path) -> tuple[list[tuple[float, float, float, float, str]], tuple[int, int, bytes]]:
    env = {**os.environ, "HOME": str(tmp)}
    subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp}/lo", "--headless", "--convert-to", "pdf",
                    "--outdir", str(tmp), str(workbook)],
                   check=True, capture_output=True, timeout=180, env=env)  # fmt: skip
    pdf = tmp / workbook.with_suffix(".pdf").name
    text = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-bbox", str(pdf), "-"], check=True,
                          capture_output=True, text=True).stdout  # fmt: skip
    words = [(float(a), float(b), float(c), float(d), html.unescape(w)) for a, b, c, d, w in _WORD.findall(text)]
    subprocess.run(["pdftoppm", "-r", str(DPI), "-f", "1", "-l", "1", "-singlefile", str(pdf), str(tmp / "page")],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    return words, _ppm(tmp / "page.ppm")


def _painted(words: list[tuple[float, float, float, float, str]], image: tuple[int, int, bytes]) -> dict[str, str]:
    """The background colour LibreOffice painted behind each row's Score, by row ID."""
    width, _, rgb = image
    header = next(w for w in words if w[4] == "Score")
    centre = (header[0] + header[2]) / 2
    ids = [w for w in words if _ID.match(w[4]) and w[2] < max(x[2] for x in words) * 0.12]
    out = {}
    for row in ids:
        score = next((w for w in words if abs((w[0] + w[2]) / 2 - centre) < 12 and abs(w[1] - row[1]) < 3
                      and re.match(r"^\d\.\d\d$", w[4])), None)  # fmt: skip
        if score is None:
            continue
        x, y = int(score[0]) - 3, int((score[1] + score[3]) / 2)
        i = (y * width + x) * 3
        out[row[4]] = rgb[i : i + 3].hex().upper()
    return out


def _close(have: str, want: str) -> bool:
    return all(abs(int(have[i : i + 2], 16) - int(want[i : i + 2], 16)) <= 6 for i in (0, 2, 4))


def _synced_unit(folder: Path, cycle: str, as_of: dt.date) -> Path:
    folder.mkdir()
    for unit in company_units(lang="en"):
        save_workbook(unit.build(cycle), folder / unit.file_name)
    engine.sync(Workspace.from_path(folder), as_of=as_of)
    return folder / "mkt-seo.xlsx"


def test_the_cycle_end_is_named_for_the_colour_rules() -> None:
    wb = build_template(level="team", code="T", lang="zh", cycle="2026-Q4")
    assert wb.defined_names[CYCLE_END_NAME].attr_text == "'设置'!$B$7"
    assert wb["设置"]["A7"].value == "周期结束"
    formulas = [f for cf in wb["OKRs"].conditional_formatting for r in cf.rules for f in r.formula]
    assert any(CYCLE_END_NAME in f and ">=0.7" in f for f in formulas)


@pytest.mark.parametrize("phase", ["running", "ended"])
def test_libreoffice_paints_scores_in_the_one_colour_language(tmp_path: Path, phase: str) -> None:
    today = dt.date.today()
    if phase == "running":
        cycle = current_cycle(today)
        as_of = today
    else:
        # Synced mid-cycle, opened after the cycle's end: the bands take over from the pace colours.
        cycle = f"{today.year - 2}-Q4"
        as_of = cycle_dates(cycle)[0] + dt.timedelta(days=45)
    unit = _synced_unit(tmp_path / "co", cycle, as_of)
    words, image = _render(unit, tmp_path)
    painted = _painted(words, image)
    ws = openpyxl.load_workbook(unit)["OKRs"]
    cols = {schema.HEADER_LOOKUP.get(schema.normalize(c.value or "")): c.column for c in ws[3]}
    checked = differs = 0
    for row in ws.iter_rows(min_row=4):
        row_id, score = row[cols["id"] - 1].value, row[cols["score"] - 1].value
        if row_id not in painted or not isinstance(score, float | int):
            continue
        status = next(s for s, labels in schema.STATUSES.items() if row[cols["status"] - 1].value in labels)
        pace, band = bands.status_colour(status), bands.band_colour(float(score))
        want = pace if phase == "running" else band
        assert _close(painted[row_id], want.fill), (row_id, score, status, painted[row_id], want.fill)
        checked += 1
        differs += pace != band
    # Some rows' pace and band colours differ, so the phase really decides the colour.
    assert checked >= 6 and differs >= 1, (checked, differs)
