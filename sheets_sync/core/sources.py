"""KR Source references: `sales.xlsx › Data › B2`, `[sales.xlsx]Data!B2`, or a Google Sheets link."""

from __future__ import annotations

import re
from dataclasses import dataclass

_A1 = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d{1,7})$")
_GOOGLE = re.compile(r"docs\.google\.com/spreadsheets/d/([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class LocalSource:
    """A cell of another local workbook; sheet None means its first sheet."""

    workbook: str
    sheet: str | None
    cell: str

    @property
    def row_col(self) -> tuple[int, int]:
        match = _A1.match(self.cell)
        assert match
        letters, digits = match.groups()
        col = 0
        for ch in letters.upper():
            col = col * 26 + ord(ch) - 64
        return int(digits), col


def is_google_source(spec: str) -> bool:
    """Whether a Source names a Google spreadsheet (a link) rather than a local workbook."""
    return bool(_GOOGLE.search(spec))


def parse_local_source(spec: str) -> LocalSource | None:
    """Read `book.xlsx › Sheet › B2`, `book.xlsx > Sheet > B2`, `[book.xlsx]Sheet!B2`, `book.xlsx!B2`."""
    text = spec.strip()
    bracket = re.fullmatch(r"\[([^\]]+)\]\s*'?([^'!]+?)'?\s*!\s*(\S+)", text)
    if bracket:
        book, sheet, cell = bracket.groups()
        parts = [book, sheet, cell]
    else:
        parts = [p.strip().strip("'") for p in re.split(r"\s*(?:›|>|!)\s*", text) if p.strip()]
    if len(parts) == 2:
        parts = [parts[0], "", parts[1]]
    if len(parts) != 3 or not _A1.match(parts[2]) or not parts[0]:
        return None
    return LocalSource(parts[0], parts[1] or None, parts[2].replace("$", "").upper())
