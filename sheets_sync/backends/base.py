"""The one small interface every storage backend implements (xlsx files, Google Sheets, memory)."""

from __future__ import annotations

from typing import Protocol

from ..core.model import RawWorkbook, WorkbookChanges
from ..core.rollup import RollupBook


class Backend(Protocol):
    """Reads units' workbooks and writes the cells the service owns."""

    def list_units(self) -> list[str]:
        """Locators (paths, spreadsheet keys) of every unit workbook this backend sees."""
        ...

    def read(self, locator: str) -> RawWorkbook:
        """Read the Settings, OKRs and History sheets of one unit; raise WorkbookError if unreadable."""
        ...

    def apply(self, locator: str, changes: WorkbookChanges) -> None:
        """Write the computed cells and append to owned sheets, atomically where the store allows."""
        ...


class RollupTarget(Protocol):
    """Where the company rollup goes: a workbook or spreadsheet the service owns whole."""

    def write_rollup(self, book: RollupBook) -> bool:
        """Write the rollup; return False when it already held exactly this content."""
        ...
