"""An in-memory backend: workbooks as dicts of grids, for tests and for callers that hold the data."""

from __future__ import annotations

import copy

from ..core.model import Grid, RawWorkbook, WorkbookChanges
from ..core.rollup import RollupBook
from ..errors import WorkbookError


class MemoryBackend:
    """Holds workbooks as {name: {sheet: grid}} and applies changes to them in place."""

    def __init__(
        self,
        workbooks: dict[str, dict[str, Grid]],
        protected: dict[str, dict[str, dict[tuple[int, int], str]]] | None = None,
    ) -> None:
        self.workbooks = workbooks
        # Cells inside array formulas, by workbook and sheet -> the formula's anchor (what xlsx finds).
        self.protected = protected or {}
        self.applied: list[tuple[str, WorkbookChanges]] = []

    def list_units(self) -> list[str]:
        return sorted(self.workbooks)

    def read(self, locator: str) -> RawWorkbook:
        if locator not in self.workbooks:
            raise WorkbookError(locator, "no such workbook")
        sheets = copy.deepcopy(self.workbooks[locator])
        return RawWorkbook(locator, sheets, list(sheets), locator, protected=self.protected.get(locator, {}))

    def apply(self, locator: str, changes: WorkbookChanges) -> None:
        if changes.empty:
            return
        book = self.workbooks[locator]
        for update in changes.updates:
            grid = book[update.sheet]
            while len(grid) < update.row:
                grid.append([])
            line = grid[update.row - 1]
            while len(line) < update.col:
                line.append(None)
            line[update.col - 1] = update.new
        for owned in changes.appends:
            grid = book.setdefault(owned.name, [])
            if not grid:
                grid.append(list(owned.header))
            grid.extend([list(r) for r in owned.rows])
        self.applied.append((locator, changes))


class MemoryRollup:
    """A rollup target that keeps the last book written."""

    def __init__(self) -> None:
        self.book: RollupBook | None = None
        self.writes = 0

    def write_rollup(self, book: RollupBook) -> bool:
        if self.book is not None and self.book.fingerprint() == book.fingerprint():
            return False
        self.book = book
        self.writes += 1
        return True
