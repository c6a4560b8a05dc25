"""The sync: read every unit, validate, align, score, write back, roll up. One call per command."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .core.model import Finding, RawWorkbook, WorkbookChanges
from .core.rollup import RollupBook

if TYPE_CHECKING:
    from .workspace import Workspace


@dataclass
class UnitReport:
    """What a sync did with one unit workbook."""

    locator: str
    source: str
    unit_code: str | None = None
    name: str | None = None
    level: str | None = None
    language: str = "en"
    score: float | None = None
    findings: list[Finding] = field(default_factory=list)
    changes: WorkbookChanges = field(default_factory=WorkbookChanges)
    # Set when the workbook could not be read or written at all (locked, not a workbook...).
    error: str | None = None
    written: bool = False

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")


@dataclass
class SyncReport:
    """What a whole run did; the CLI, the server and the state database all read this."""

    as_of: dt.date
    started: dt.datetime
    finished: dt.datetime | None = None
    units: list[UnitReport] = field(default_factory=list)
    rollup: RollupBook | None = None
    rollup_location: str | None = None
    rollup_written: bool = False
    dry_run: bool = False

    @property
    def findings(self) -> list[Finding]:
        return [f for u in self.units for f in u.findings]

    @property
    def failed_units(self) -> list[UnitReport]:
        return [u for u in self.units if u.error]

    @property
    def cells_written(self) -> int:
        return sum(len(u.changes.updates) for u in self.units if u.written)

    @property
    def error_count(self) -> int:
        return sum(u.errors for u in self.units)

    @property
    def company_score(self) -> float | None:
        return self.rollup.company_score if self.rollup else None

    @property
    def exit_code(self) -> int:
        """0 clean, 1 validation errors, 2 a unit could not be read or written."""
        if self.failed_units:
            return 2
        return 1 if self.error_count else 0


ProgressCallback = Callable[[int, int, str], None]


def sync(
    workspace: Workspace,
    as_of: dt.date | None = None,
    *,
    dry_run: bool = False,
    write_back: bool = True,
    write_rollup: bool = True,
    progress: ProgressCallback | None = None,
) -> SyncReport:
    """Read, validate, score every unit of the workspace; write back and roll up unless told not to."""
    raise NotImplementedError


def score_workbook(
    raw: RawWorkbook, as_of: dt.date | None = None, context: list[RawWorkbook] | None = None
) -> UnitReport:
    """Validate and score one workbook on its own (the Excel add-in); context units help alignment."""
    raise NotImplementedError
