"""Plain data the whole library passes around: raw cells, rows, findings, changes, reports."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class CellError:
    """A spreadsheet error value such as #DIV/0! or #N/A."""

    code: str

    def __str__(self) -> str:
        return self.code


@dataclass(frozen=True)
class NoCachedValue:
    """A formula cell whose file holds no computed value (saved by a tool that does not calculate)."""

    formula: str = ""

    def __str__(self) -> str:
        return f"={self.formula}" if self.formula else "=?"


CellValue = str | int | float | bool | dt.datetime | dt.date | CellError | NoCachedValue | None
Grid = list[list[CellValue]]


def column_letter(col: int) -> str:
    """1 -> A, 27 -> AA."""
    letters = ""
    while col > 0:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def column_index(letters: str) -> int:
    """A -> 1, AA -> 27."""
    col = 0
    for ch in letters.upper():
        col = col * 26 + ord(ch) - 64
    return col


def a1(row: int, col: int) -> str:
    """1-based row and column to an A1 reference."""
    return f"{column_letter(col)}{row}"


@dataclass(frozen=True)
class Coverage:
    """How much of a score is measured: "7 of 8 key results measured"."""

    measured: int
    total: int

    @property
    def complete(self) -> bool:
        return self.measured == self.total

    def as_dict(self) -> dict[str, int]:
        return {"measured": self.measured, "total": self.total}


@dataclass(frozen=True)
class Place:
    """Where a finding or value lives: file › sheet › cell."""

    source: str
    sheet: str | None = None
    row: int | None = None
    col: int | None = None

    @property
    def cell(self) -> str | None:
        """The A1 reference, or the row number alone, or None."""
        if self.row is None:
            return None
        if self.col is None:
            return str(self.row)
        return a1(self.row, self.col)

    def __str__(self) -> str:
        parts = [self.source]
        if self.sheet:
            parts.append(self.sheet)
        if self.cell:
            parts.append(self.cell)
        return " › ".join(parts)


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One validation message, already in the workbook's language."""

    severity: Severity
    rule: str
    place: Place
    message: str
    unit: str | None = None
    row_id: str | None = None

    def __str__(self) -> str:
        return f"{self.severity.upper()} [{self.rule}] {self.place}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {
            "severity": self.severity,
            "rule": self.rule,
            "where": str(self.place),
            "source": self.place.source,
            "sheet": self.place.sheet,
            "cell": self.place.cell,
            "message": self.message,
            "unit": self.unit,
            "id": self.row_id,
        }


@dataclass
class RawWorkbook:
    """What a backend reads: the cell values of the sheets the standard names, nothing styled.

    `sheets` maps the workbook's own sheet names to grids; grid[0][0] is cell A1.
    `sheet_names` lists every sheet of the workbook, in order.
    """

    source: str
    sheets: dict[str, Grid]
    sheet_names: list[str]
    locator: str = ""
    # Who saved the workbook last, where the source can tell (xlsx core.xml, a Drive revision).
    modified_by: str | None = None
    # Cells inside another cell's array formula or spill range, by sheet -> that formula's anchor ("B13").
    protected: dict[str, dict[tuple[int, int], str]] = field(default_factory=dict)


@dataclass(frozen=True)
class CellUpdate:
    """One cell the service writes: 1-based row and column of a named sheet."""

    sheet: str
    row: int
    col: int
    old: CellValue
    new: CellValue
    # The row's local ID, so a backend whose rows may move under it (Google) can re-bind by ID.
    row_id: str | None = None
    # The column's header in the workbook's language, for dry runs: "Q4 (KR1.2 Score)".
    column: str | None = None

    @property
    def a1(self) -> str:
        return a1(self.row, self.col)


@dataclass
class OwnedSheet:
    """A sheet the service owns inside a unit's workbook (History): rows to append after the header."""

    name: str
    header: list[str]
    rows: list[list[CellValue]]


@dataclass
class WorkbookChanges:
    """Everything a sync writes into one unit's workbook."""

    updates: list[CellUpdate] = field(default_factory=list)
    appends: list[OwnedSheet] = field(default_factory=list)
    # Column (1-based) holding local IDs in the OKRs sheet, for re-binding rows by ID.
    id_col: int | None = None
    okrs_sheet: str | None = None
    # The OKRs column whose written text wraps (Check): a file backend makes those rows tall enough to show it.
    wrap_col: int | None = None

    @property
    def empty(self) -> bool:
        return not self.updates and not any(s.rows for s in self.appends)

