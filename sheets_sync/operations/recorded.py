"""A writing operation's frame: hold the workspace's lock, open a run in the log, journal each write, close it.

A run killed at any moment leaves a log that says what it may have written; the next run settles that (it reads
the workbooks an interrupted run had journalled and keeps on record exactly the cells holding its values) and
removes the temporary files the killed run left.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .. import atomic
from ..core.values import same_value
from ..errors import OkrSyncError
from ..locking import hold
from ..report import SyncReport, UnitReport
from ..runlog import store
from .workbooks import backend_for

if TYPE_CHECKING:
    from ..workspace import Workspace

log = logging.getLogger("okr_sync.operations")


@dataclass
class Run:
    """An open run: its id, and what the start found of runs before it."""

    workspace: Workspace
    id: int
    interrupted: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.workspace.state_home

    # The engine's WriteJournal:
    def planned(self, unit: UnitReport) -> None:
        store.journal_planned(self.home, self.id, unit.locator, unit.source, unit.changes.updates,
                              unit.changes.id_col)

    def settled(self, unit: UnitReport, written: bool) -> None:
        store.journal_done(self.home, self.id, unit.locator, written)

    # The engine's ReadCache (reading.py decides when an entry may be served):
    def cached(self, wanted: list[tuple[str, str]]) -> dict[str, bytes]:
        return store.cached_reads(self.home, wanted)

    def keep(self, entries: list[tuple[str, str, bytes]]) -> None:
        store.keep_reads(self.home, entries)


@contextmanager
def recorded(workspace: Workspace, kind: str, trigger: str, as_of: dt.date | None = None,
             undo_of: int | None = None) -> Iterator[Run]:
    """Hold the lock and keep a run open for the block; a failure closes the run as failed, honestly."""
    with hold(workspace.lock_homes, who=f"{kind} ({trigger})"):
        run_id, stale = store.start_run(workspace.state_home, kind, trigger, as_of, undo_of)
        run = Run(workspace, run_id, stale)
        try:
            if stale:
                run.notes.extend(settle_interrupted(workspace, stale))
            removed = remove_temp_files(workspace)
            if removed:
                run.notes.append(f"removed {removed} temporary file(s) an earlier, interrupted run left")
            yield run
        except OkrSyncError as exc:
            store.fail_run(workspace.state_home, run_id, str(exc))
            raise
        except Exception as exc:
            # Closed honestly in the log; the exception goes on to the front end, which keeps its traceback out
            # of sight (the CLI's error log, the server's log with a reference in the answer).
            store.fail_run(workspace.state_home, run_id, f"unexpected {type(exc).__name__}: {exc}")
            log.error("run %s (%s) failed: unexpected %s", run_id, kind, type(exc).__name__)
            raise


def finish(run: Run, report: SyncReport) -> None:
    """Close the run with the report's figures and leave its JSON for the dashboard and the API."""
    report.run_id = run.id
    report.notes = [*run.notes, *report.notes]
    totals = store.RunTotals(
        as_of=report.as_of.isoformat(), units=len(report.units), failed_units=len(report.failed_units),
        cells_written=report.cells_written, errors=report.error_count, warnings=report.warning_count,
        company_score=report.company_score, status=report.status, reason=report.message,
        cycle=report.cycle.name if report.cycle else None,
    )
    scores = [(u.unit_code, u.score) for u in report.units if u.unit_code]
    store.finish_run(run.home, run.id, totals, report.to_json(with_changes=False, with_rollup=True), scores)


def settle_interrupted(workspace: Workspace, run_ids: list[int]) -> list[str]:
    """Find out what interrupted runs really wrote, workbook by workbook; return a note for the report."""
    notes = [f"run {i} was interrupted before it finished" for i in run_ids]
    cache: dict[int, list[str]] = {}
    for run_id, locator, source in store.planned_workbooks(workspace.state_home, run_ids):
        cells = [c for c in store.run_cells(workspace.state_home, run_id) if c.locator == locator]
        backend = backend_for(workspace, locator, cache)
        try:
            raw = backend.read(locator) if backend is not None else None
        except OkrSyncError:
            raw = None
        if raw is None:
            notes.append(f"{source}: run {run_id} may have written it; `okr-sync undo {run_id}` checks each cell")
            store.settle_interrupted(workspace.state_home, run_id, locator, None)
            continue
        holding = set()
        for cell in cells:
            grid = raw.sheets.get(cell.sheet) or []
            value = grid[cell.row - 1][cell.col - 1] if cell.row <= len(grid) and cell.col <= len(
                grid[cell.row - 1]) else None
            if same_value(value, cell.new) and not same_value(value, cell.old):
                holding.add(f"{cell.sheet}!{cell.cell}")
        kept = store.settle_interrupted(workspace.state_home, run_id, locator, holding)
        if kept:
            notes.append(f"{source}: run {run_id} had written {kept} cell(s) before it stopped; "
                         f"`okr-sync undo {run_id}` reverts them")
    return notes


def remove_temp_files(workspace: Workspace) -> int:
    """Remove the temporary files (.~okr-sync-*.tmp) a killed writer left beside workbooks and the rollup."""
    temps = f"{atomic.TEMP_PREFIX}*{atomic.TEMP_SUFFIX}"
    found: list[Path] = []
    for folder in workspace.local_folders():
        found += _walk(folder, temps)
    location = workspace.rollup_location
    if location and os.path.isabs(location):
        rollup = Path(location)
        # The rollup saves through atomic.py (beside its target when it is a link); older versions named
        # their temp files after the rollup.
        for folder in dict.fromkeys([rollup.parent, atomic.real_target(rollup).parent]):
            found += _walk(folder, temps, recursive=False)
            found += _walk(folder, f".{rollup.name}.*.tmp", recursive=False)
    removed = 0
    for temp in dict.fromkeys(found):
        try:
            if temp.is_file() and not temp.is_symlink():
                temp.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def _walk(folder: Path, pattern: str, recursive: bool = True) -> list[Path]:
    try:
        return list(folder.rglob(pattern) if recursive else folder.glob(pattern))
    except OSError:
        return []
