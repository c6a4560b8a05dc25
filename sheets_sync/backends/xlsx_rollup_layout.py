"""The rollup workbook's marks and layout figures, shared by its target (no openpyxl) and its writer."""

from __future__ import annotations

from ..core.rollup import SUMMARY_SHEET  # noqa: F401 - the one definition, named here for the writer

OWNED_VALUE = "rollup"
# The refusal names the option of the command that was run: -o for `okr-sync rollup`, --rollup for `sync`.
PICK_EN = "Pick another path (-o for okr-sync rollup, --rollup for okr-sync sync)"
PICK_ZH = "请用 -o（okr-sync rollup）或 --rollup（okr-sync sync）另选路径"
FINGERPRINT_PROPERTY = "okr-sync-fingerprint"
# Layout version, as-of and company score: not in book.fingerprint(), yet shown on the Summary.
STAMP_PROPERTY = "okr-sync-stamp"
LAYOUT_VERSION = "1"

FONT = "Calibri"  # openpyxl's default body font; a Font() without a name prints in a serif
MAX_WIDTH = 60  # characters; longer text wraps
MIN_WIDTH = 6
MAX_TEXT = 32767  # Excel's limit for one cell
MAX_INDENT = 15
LINE_HEIGHT = 15.0  # points per line of 11-point Calibri: wrapped rows are made this tall per line
