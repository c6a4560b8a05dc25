"""The grade bands and the status colours are written once, in sheets_sync/core/bands.py; everything else takes them."""

from __future__ import annotations

import re
from pathlib import Path

from sheets_sync.core import bands

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    p
    for folder in ("sheets_sync", "server", "excel_addin")
    for p in sorted((ROOT / folder).rglob("*"))
    if p.suffix in (".py", ".js", ".css", ".html") and p != ROOT / "sheets_sync" / "core" / "bands.py"
]
THRESHOLD = re.compile(r"(?<![\d.])0\.[47](?!\d)")
HEX = re.compile(r"(?<![0-9A-Za-z])#?([0-9A-Fa-f]{6})(?![0-9A-Za-z])")
PALETTE_HEX = {h.upper() for c in bands.PALETTE.values() for h in (c.fill, c.font, c.strong)}
# A CSS file defining a band colour itself instead of taking it from the generated bands.css.
CSS_BAND_PROPERTY = re.compile(r"--(?:{})(?:-bg|-strong)?\s*:".format("|".join(bands.PALETTE)))

# Lines that hold 0.7 or 0.4 but are not the grade bands (page margins, demo data).
NOT_BANDS = {
    ("sheets_sync/backends/xlsx_patch.py", '<pageMargins left="0.7" right="0.7"'),
    ("sheets_sync/demo.py", "current=0.4"),
    ("sheets_sync/demo.py", "_PREVIOUS_PACE = {"),
    ("sheets_sync/templates.py", "ws.page_margins.left = ws.page_margins.right = 0.4"),
    ("sheets_sync/template_style.py", "MARGIN_SIDE = 0.4  # inches"),
    # A rule's stable code (a name people search for), not a threshold.
    ("sheets_sync/core/messages.py", 'Rule("objective-below-0.4"'),
    ("sheets_sync/core/scoring.py", 'unit.report("objective-below-0.4"'),
}
# Files other branches convert to bands.py (templates: the layout work; scoring rules and their messages:
# the figures work). Drop an entry once its branch is merged; the test then holds them to the rule too.
PENDING: set[str] = set()


def hits() -> tuple[list[str], list[str], list[str]]:
    thresholds, colours, css = [], [], []
    for path in SOURCES:
        name = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            where = f"{name}:{number}: {line.strip()}"
            if name not in PENDING:
                if THRESHOLD.search(line) and not any(n == name and text in line for n, text in NOT_BANDS):
                    thresholds.append(where)
                if any(h.upper() in PALETTE_HEX for h in HEX.findall(line)):
                    colours.append(where)
            if path.suffix == ".css" and CSS_BAND_PROPERTY.search(line):
                css.append(where)
    return thresholds, colours, css


def test_bands_and_status_colours_are_defined_only_in_core_bands() -> None:
    thresholds, colours, css = hits()
    assert not thresholds, "0.7 / 0.4 outside core/bands.py:\n" + "\n".join(thresholds)
    assert not colours, "band or status colours outside core/bands.py:\n" + "\n".join(colours)
    assert not css, "CSS that defines band colours instead of taking them from bands.css:\n" + "\n".join(css)


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    # The patterns catch the forms the bands were written in before (so the test above can fail).
    assert THRESHOLD.search("if score >= 0.7:") and THRESHOLD.search("(0.0, 0.4, 0.7, 1.0)")
    assert not THRESHOLD.search("0.75") and not THRESHOLD.search("10.4") and not THRESHOLD.search("0.45")
    assert {h.upper() for h in HEX.findall('color = "#c6efce"; _BANDS = ("FFC7CE", "9C0006")')} <= PALETTE_HEX
    assert CSS_BAND_PROPERTY.search("  --green: #2e9d5b; --green-bg: #e3f4ea;")
    assert not CSS_BAND_PROPERTY.search("  --link: #2f6fb5; --accent: #1f7a4d;")
    assert len(SOURCES) > 40 and all(p.exists() for p in SOURCES)


def test_done_is_blue_and_every_status_has_a_colour_and_both_labels() -> None:
    assert bands.STATUS_COLOUR_NAMES["done"] == "blue"
    assert set(bands.STATUS_COLOUR_NAMES) == set(bands.STATUS_LABELS) == set(bands.STATUS_ORDER)
    assert all(name in bands.PALETTE for name in bands.STATUS_COLOUR_NAMES.values())
    # One colour language: pace during the cycle, the grade once it has ended.
    assert bands.tone("done", 1.0, ended=False) == "blue" and bands.tone("done", 1.0, ended=True) == "green"
    assert bands.tone("on track", 0.38, ended=False) == "green" and bands.tone("on track", 0.38, ended=True) == "red"
    assert bands.tone(None, None, ended=True) == "grey" and bands.tone("no data", None, ended=False) == "grey"
