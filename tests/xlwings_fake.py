"""A stand-in for the subset of xlwings' Book API the desktop entry points use, counting calls.

Behaves like Excel through xlwings where it matters here: numbers come back as floats, blanks as
None, dates as datetimes, error values as text with err_to_str; text written with a leading
apostrophe stays text, text starting with '=' becomes a formula.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from sheets_sync.core.model import a1, column_index


def _cell_ref(ref: str) -> tuple[int, int]:
    m = re.fullmatch(r"\$?([A-Z]+)\$?(\d+)", ref.upper())
    assert m, ref
    return int(m.group(2)), column_index(m.group(1))


@dataclass
class Cell:
    value: Any = None
    formula: str | None = None
    prefixed: bool = False
    color: tuple[int, int, int] | None = None
    number_format: str = "General"
    bold: bool = False


@dataclass
class FakeNote:
    sheet: FakeSheet
    row: int
    col: int
    text: str

    @property
    def location(self) -> FakeRange:
        return FakeRange(self.sheet, self.row, self.col, self.row, self.col)

    def delete(self) -> None:
        self.sheet.guard()
        self.sheet.book.log.append(("note-delete", self.sheet.name, a1(self.row, self.col)))
        self.sheet._notes.remove(self)


class Font:
    def __init__(self, rng: FakeRange) -> None:
        self._rng = rng

    @property
    def bold(self) -> bool:
        return all(c.bold for c in self._rng._cells())

    @bold.setter
    def bold(self, value: bool) -> None:
        self._rng.sheet.book.log.append(("bold", self._rng.sheet.name, self._rng.address))
        for c in self._rng._cells():
            c.bold = value


class FakeRange:
    def __init__(self, sheet: FakeSheet, r0: int, c0: int, r1: int, c1: int, **options: Any) -> None:
        self.sheet, self.row, self.column, self.last_row, self.last_col = sheet, r0, c0, r1, c1
        self._options = options

    @property
    def address(self) -> str:
        def absolute(row: int, col: int) -> str:
            ref = a1(row, col)
            letters = ref.rstrip("0123456789")
            return f"${letters}${ref[len(letters) :]}"

        first, last = absolute(self.row, self.column), absolute(self.last_row, self.last_col)
        return first if first == last else f"{first}:{last}"

    @property
    def shape(self) -> tuple[int, int]:
        return self.last_row - self.row + 1, self.last_col - self.column + 1

    def options(self, **options: Any) -> FakeRange:
        return FakeRange(self.sheet, self.row, self.column, self.last_row, self.last_col, **options)

    def _cells(self) -> list[Cell]:
        return [
            self.sheet.cell(r, c)
            for r in range(self.row, self.last_row + 1)
            for c in range(self.column, self.last_col + 1)
        ]

    @property
    def value(self) -> Any:
        self.sheet.book.log.append(("read", self.sheet.name, self.address))
        rows = []
        for r in range(self.row, self.last_row + 1):
            line = []
            for c in range(self.column, self.last_col + 1):
                v = self.sheet.cells.get((r, c), Cell()).value
                if isinstance(v, str) and v.startswith("#") and not self._options.get("err_to_str"):
                    v = None  # xlwings' default for error cells
                line.append(v)
            rows.append(line)
        if self._options.get("ndim") == 2:
            return rows
        if len(rows) == 1 and len(rows[0]) == 1:
            return rows[0][0]
        return rows[0] if len(rows) == 1 else rows

    @value.setter
    def value(self, data: Any) -> None:
        self.sheet.guard()
        self.sheet.book.log.append(("write", self.sheet.name, self.address))
        if not isinstance(data, list):
            data = [[data]]
        elif data and not isinstance(data[0], list):
            data = [data]
        assert len(data) == self.shape[0], (len(data), self.shape)
        for i, line in enumerate(data):
            assert len(line) == self.shape[1]
            for j, v in enumerate(line):
                _store(self.sheet.cell(self.row + i, self.column + j), v)

    @property
    def number_format(self) -> str:
        return self._cells()[0].number_format

    @number_format.setter
    def number_format(self, fmt: str) -> None:
        self.sheet.guard()
        self.sheet.book.log.append(("format", self.sheet.name, self.address))
        for c in self._cells():
            c.number_format = fmt

    @property
    def color(self) -> tuple[int, int, int] | None:
        return self._cells()[0].color

    @color.setter
    def color(self, rgb: tuple[int, int, int] | None) -> None:
        self.sheet.guard()
        self.sheet.book.log.append(("color", self.sheet.name, self.address))
        for c in self._cells():
            c.color = rgb

    @property
    def font(self) -> Font:
        return Font(self)

    @property
    def note(self) -> FakeNote | None:
        return next((n for n in self.sheet._notes if (n.row, n.col) == (self.row, self.column)), None)

    def add_note(self, text: str) -> FakeNote:
        assert self.shape == (1, 1) and self.note is None, "xlwings refuses this"
        self.sheet.guard()
        self.sheet.book.log.append(("note-add", self.sheet.name, self.address))
        note = FakeNote(self.sheet, self.row, self.column, text)
        self.sheet._notes.append(note)
        return note


def _store(cell: Cell, v: Any) -> None:
    cell.formula, cell.prefixed = None, False
    if isinstance(v, str) and v.startswith("'"):
        cell.value, cell.prefixed = v[1:], True
    elif isinstance(v, str) and v.startswith("="):
        cell.formula, cell.value = v, "#NAME?"
    elif isinstance(v, str) and re.fullmatch(r"-?\d+(\.\d+)?", v.strip()):
        cell.value = float(v)
    elif isinstance(v, int | float) and not isinstance(v, bool):
        cell.value = float(v)
    else:
        cell.value = None if v == "" else v


class ComError(Exception):
    """What pywin32 raises when Excel refuses a call."""


class FakeProtection:
    def __init__(self) -> None:
        for name in (
            "AllowFormattingCells", "AllowFormattingColumns", "AllowFormattingRows",
            "AllowInsertingColumns", "AllowInsertingRows", "AllowInsertingHyperlinks",
            "AllowDeletingColumns", "AllowDeletingRows", "AllowSorting", "AllowFiltering",
            "AllowUsingPivotTables",
        ):  # fmt: skip
            setattr(self, name, False)


class FakeComSheet:
    """The part of Excel's COM Worksheet (sheet.api on Windows) used for protection."""

    def __init__(self, sheet: FakeSheet) -> None:
        self.sheet = sheet
        self.ProtectContents = False
        self.ProtectDrawingObjects = False
        self.ProtectScenarios = False
        self.Protection = FakeProtection()
        self.password = ""

    def protect(self, password: str = "", **allow: bool) -> None:
        """Protect as a template does (test helper, not logged)."""
        self.ProtectContents = self.ProtectDrawingObjects = self.ProtectScenarios = True
        self.password = password
        for name, value in allow.items():
            setattr(self.Protection, name, value)

    def Unprotect(self, password: str = "") -> None:  # noqa: N802 - COM's name
        if self.password and password != self.password:
            raise ComError("The password you supplied is not correct.")
        self.sheet.book.log.append(("unprotect", self.sheet.name, ""))
        self.ProtectContents = self.ProtectDrawingObjects = self.ProtectScenarios = False

    def Protect(
        self,
        password: str = "",
        drawing: bool = True,
        contents: bool = True,  # noqa: N802
        scenarios: bool = True,
        ui_only: bool = False,
        *allow: bool,
    ) -> None:
        self.sheet.book.log.append(("protect", self.sheet.name, ""))
        self.ProtectDrawingObjects, self.ProtectContents = drawing, contents
        self.ProtectScenarios, self.password = scenarios, password
        names = [n for n in vars(self.Protection)]
        for name, value in zip(names, allow, strict=False):
            setattr(self.Protection, name, value)


class FakeSheet:
    def __init__(self, book: FakeBook, name: str) -> None:
        self.book, self.name = book, name
        self.cells: dict[tuple[int, int], Cell] = {}
        self._notes: list[FakeNote] = []
        self.api = FakeComSheet(self)

    def guard(self) -> None:
        """Excel refuses to change locked cells of a protected sheet."""
        if self.api.ProtectContents:
            raise ComError(f"The cell or chart you're trying to change is on a protected sheet ({self.name}).")

    def cell(self, row: int, col: int) -> Cell:
        return self.cells.setdefault((row, col), Cell())

    def fill(self, grid: list[list[Any]], anchor: str = "A1") -> None:
        """Type values in as a person would (not logged)."""
        r0, c0 = _cell_ref(anchor)
        for i, line in enumerate(grid):
            for j, v in enumerate(line):
                if v is None or v == "":
                    continue
                if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
                    v = dt.datetime(v.year, v.month, v.day)
                _store(self.cell(r0 + i, c0 + j), v)

    def get(self, ref: str) -> Any:
        return self.cells.get(_cell_ref(ref), Cell()).value

    @property
    def used_range(self) -> FakeRange:
        used = [k for k, c in self.cells.items() if c.value is not None or c.color or c.formula]
        if not used:
            return FakeRange(self, 1, 1, 1, 1)
        rows = [r for r, _ in used]
        cols = [c for _, c in used]
        return FakeRange(self, min(rows), min(cols), max(rows), max(cols))

    def range(self, first: Any, last: Any = None) -> FakeRange:
        if isinstance(first, str):
            parts = first.split(":")
            r0, c0 = _cell_ref(parts[0])
            r1, c1 = _cell_ref(parts[-1])
            return FakeRange(self, r0, c0, r1, c1)
        r0, c0 = first
        r1, c1 = last if last is not None else first
        return FakeRange(self, r0, c0, r1, c1)

    def __getitem__(self, ref: str) -> FakeRange:
        return self.range(ref)

    def clear(self) -> None:
        self.book.log.append(("clear", self.name, ""))
        self.cells.clear()

    @property
    def notes(self) -> list[FakeNote]:
        return list(self._notes)


class FakeSheets:
    def __init__(self, book: FakeBook) -> None:
        self.book = book
        self._list: list[FakeSheet] = []

    def __iter__(self) -> Any:
        return iter(list(self._list))

    def __len__(self) -> int:
        return len(self._list)

    def __getitem__(self, key: int | str) -> FakeSheet:
        if isinstance(key, int):
            return self._list[key]
        for s in self._list:
            if s.name.lower() == key.lower():
                return s
        raise KeyError(key)

    def add(self, name: str, before: Any = None, after: Any = None) -> FakeSheet:
        assert name not in [s.name for s in self._list]
        self.book.log.append(("add-sheet", name, ""))
        sheet = FakeSheet(self.book, name)
        index = self._list.index(after) + 1 if after is not None else 0
        self._list.insert(index, sheet)
        return sheet


@dataclass
class FakeBooks:
    active: Any = None


@dataclass
class FakeApp:
    alerts: list[tuple[str, str | None]] = field(default_factory=list)
    status_bar: str | bool = False
    books: FakeBooks = field(default_factory=FakeBooks)

    def alert(self, prompt: str, title: str | None = None, **kw: Any) -> str:
        self.alerts.append((prompt, title))
        return "ok"


class FakeBook:
    def __init__(self, name: str = "MKT.xlsx", fullname: str | None = None) -> None:
        self.name = name
        self.fullname = fullname or f"/okr/{name}"
        self.app = FakeApp()
        self.sheets = FakeSheets(self)
        self.log: list[tuple[str, str, str]] = []

    def add_sheet(self, name: str, grid: list[list[Any]], anchor: str = "A1") -> FakeSheet:
        sheet = FakeSheet(self, name)
        self.sheets._list.append(sheet)
        sheet.fill(grid, anchor)
        return sheet

    def ops(self, kind: str, sheet: str | None = None) -> list[str]:
        return [a.replace("$", "") for k, s, a in self.log if k == kind and (sheet is None or s == sheet)]
