"""The template's own look, apart from band and status colours (those are core/bands.py): chrome colours, font."""

from __future__ import annotations

from .core.bands import PALETTE

FONT = "Calibri"
NAVY = PALETTE["blue"].font  # titles, the input header, objective rows
WHITE = "FFFFFF"
COMPUTED_HEADER = PALETTE["grey"].font  # header of the columns the sync fills
COMPUTED_CELL = PALETTE["grey"].fill  # cells the sync fills
OBJECTIVE_ROW = "DDEBF7"  # objective rows and Settings keys
GRID = PALETTE["grey"].strong
HINT = PALETTE["grey"].font
HELP = "7F7F7F"
TIP = "375623"
EXAMPLE_FILL = "F2F2F2"
TAB_OKRS = NAVY
TAB_INSTRUCTIONS = "70AD47"
TAB_SETTINGS = "A5A5A5"
MARGIN_SIDE = 0.4  # inches
MARGIN_TOP = 0.5
