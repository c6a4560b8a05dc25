"""The one report model: what an operation did, and its one JSON form (docs/report.schema.json).

`okr-sync … --json`, every API answer, the dashboard, the add-in and the scheduler's log all serialise these
objects with `to_json`; a field has one name everywhere, and failure findings are built here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .core.cycle_model import Cycle
from .core.model import Coverage, Finding, Place, WorkbookChanges
from .core.rollup import RollupBook
from .runlog.codec import json_safe

SCHEMA_VERSION = 1
# What an operation is called in the run log, `okr-sync log` and the report's "kind".
KINDS = ("sync", "rollup", "validate", "preview", "addin", "undo", "close", "reopen", "new-cycle")


@dataclass
class UnitReport:
    """What an operation did with one unit workbook."""

    locator: str
    source: str
    unit_code: str | None = None
    name: str | None = None
    level: str | None = None
    language: str = "en"
    score: float | None = None
    coverage: Coverage | None = None
    findings: list[Finding] = field(default_factory=list)
    changes: WorkbookChanges = field(default_factory=WorkbookChanges)
    # Set when the workbook could not be read or written at all (locked, not a workbook...).
    error: str | None = None
    written: bool = False
    # Where the workbook is, relative to the workspace's home (never an absolute server path).
    path: str | None = None

    @property
    def all_findings(self) -> list[Finding]:
        """The unit's findings, with its failure (if any) as one `unreadable-workbook` error first."""
        if not self.error:
            return list(self.findings)
        failure = Finding("error", "unreadable-workbook", Place(self.source), self.error, unit=self.unit_code)
        return [failure, *self.findings]

    @property
    def errors(self) -> int:
        return sum(1 for f in self.all_findings if f.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.all_findings if f.severity == "warning")

    @property
    def cells_written(self) -> int:
        return len(self.changes.updates) if self.written else 0

    def to_json(self, *, with_changes: bool = True) -> dict[str, Any]:
        """The unit's JSON form."""
        out: dict[str, Any] = {
            "source": self.source, "path": self.path, "unit": self.unit_code, "name": self.name,
            "level": self.level, "language": self.language, "score": self.score,
            "coverage": self.coverage.as_dict() if self.coverage else None,
            "errors": self.errors, "warnings": self.warnings, "error": self.error,
            "written": self.written, "cells_written": self.cells_written,
            "history_rows": sum(len(a.rows) for a in self.changes.appends),
        }
        if with_changes:
            out["changes"] = [
                {"sheet": c.sheet, "cell": c.a1, "id": c.row_id, "old": json_safe(c.old), "new": json_safe(c.new)}
                for c in self.changes.updates
            ]
        return out


@dataclass
class SyncReport:
    """What a whole operation did: the CLI, the server, the add-in and the run log all read this."""

    as_of: dt.date
    started: dt.datetime
    kind: str = "sync"
    finished: dt.datetime | None = None
    units: list[UnitReport] = field(default_factory=list)
    rollup: RollupBook | None = None
    rollup_location: str | None = None
    rollup_written: bool = False
    dry_run: bool = False
    rollup_error: str | None = None
    # Workbooks with neither a Settings nor an OKRs sheet (data files a Source points at): not units.
    skipped: list[str] = field(default_factory=list)
    run_id: int | None = None
    # Notes about the run itself (e.g. the previous run was interrupted and what was done about it).
    notes: list[str] = field(default_factory=list)
    # Check-ins this run found (who changed which KR's Current, Confidence or comment, and why).
    checkins: list[dict[str, Any]] = field(default_factory=list)
    # The cycle the operation worked on (None where no unit names one), every cycle the workspace holds, and
    # whether the cycle is closed (frozen: nothing was written).
    cycle: Cycle | None = None
    cycles: list[Cycle] = field(default_factory=list)
    cycle_closed: bool = False

    @property
    def findings(self) -> list[Finding]:
        """Every finding of every unit, failures included (each once)."""
        return [f for u in self.units for f in u.all_findings]

    @property
    def failed_units(self) -> list[UnitReport]:
        return [u for u in self.units if u.error]

    @property
    def cells_written(self) -> int:
        return sum(u.cells_written for u in self.units)

    @property
    def cells_planned(self) -> int:
        return sum(len(u.changes.updates) for u in self.units)

    @property
    def error_count(self) -> int:
        return sum(u.errors for u in self.units)

    @property
    def warning_count(self) -> int:
        return sum(u.warnings for u in self.units)

    @property
    def company_score(self) -> float | None:
        return self.rollup.company_score if self.rollup else None

    @property
    def coverage(self) -> Coverage | None:
        """How much of the company score is measured (the company unit's key results)."""
        return self.rollup.company_coverage if self.rollup else None

    @property
    def total_coverage(self) -> Coverage | None:
        """How many key results of all units are measured."""
        parts = [u.coverage for u in self.units if u.coverage is not None]
        if not parts:
            return None
        return Coverage(sum(c.measured for c in parts), sum(c.total for c in parts))

    @property
    def exit_code(self) -> int:
        """0 clean, 1 validation errors, 2 a unit (or the rollup) could not be read or written."""
        if self.failed_units or self.rollup_error:
            return 2
        return 1 if self.error_count else 0

    @property
    def message(self) -> str | None:
        """One line saying what failed, or None when nothing did."""
        failed = self.failed_units
        parts = []
        if failed:
            shown = "; ".join(u.error or "" for u in failed[:5])
            more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
            parts.append(f"{len(failed)} of {len(self.units)} units could not be synced: {shown}{more}")
        if self.rollup_error:
            parts.append(f"rollup: {self.rollup_error}")
        return "; ".join(parts) or None

    @property
    def status(self) -> str:
        """ok, or failed when a unit or the rollup could not be read or written."""
        return "failed" if self.failed_units or self.rollup_error else "ok"

    def to_json(self, *, with_changes: bool = True, with_rollup: bool = False) -> dict[str, Any]:
        """The report's JSON form (docs/report.schema.json)."""
        out: dict[str, Any] = {
            "schema": SCHEMA_VERSION, "kind": self.kind, "run_id": self.run_id, "status": self.status,
            "message": self.message,
            "as_of": self.as_of.isoformat(), "started": self.started.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None,
            "dry_run": self.dry_run, "company_score": self.company_score,
            "coverage": self.coverage.as_dict() if self.coverage else None,
            "total_coverage": self.total_coverage.as_dict() if self.total_coverage else None,
            "unit_count": len(self.units), "errors": self.error_count, "warnings": self.warning_count,
            "cells_written": self.cells_written, "cells_planned": self.cells_planned,
            "units": [u.to_json(with_changes=with_changes) for u in self.units],
            "failed_units": [{"source": u.source, "unit": u.unit_code, "error": u.error} for u in self.failed_units],
            "findings": [json_safe(f.as_dict()) for f in self.findings],
            "skipped": self.skipped,
            "rollup": self.rollup_location, "rollup_written": self.rollup_written, "rollup_error": self.rollup_error,
            "notes": self.notes,
            "checkins": self.checkins,
            "exit_code": self.exit_code,
            "cycle": self.cycle.as_dict() if self.cycle else None,
            "cycle_closed": self.cycle_closed,
            "cycles": [{**c.as_dict(), "units": c.units} for c in self.cycles],
        }
        if with_rollup:
            out["rollup_book"] = rollup_json(self.rollup) if self.rollup else None
        return out


def rollup_json(book: RollupBook) -> dict[str, Any]:
    """The rollup's sheets as JSON (the dashboard reads these; stored with each run)."""
    return {
        "company_score": book.company_score,
        "as_of": book.as_of,
        "sheets": [
            {"name": s.name, "keys": list(s.keys), "headers": list(s.headers), "kinds": list(s.kinds),
             "tones": [s.tone(i) for i in range(len(s.rows))], "rows": json_safe(s.rows), "depths": s.depths}
            for s in book.sheets
        ],
    }


def relative_path(locator: str, home: Path) -> str:
    """A workbook's place for people and answers: relative to the workspace's home, never absolute."""
    if not os.path.isabs(locator):
        return locator
    try:
        return Path(os.path.relpath(locator, home)).as_posix()
    except ValueError:  # another drive on Windows
        return Path(locator).name
