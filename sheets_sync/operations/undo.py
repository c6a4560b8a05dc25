"""Undo: put back the cells a run wrote, except those a person has changed since (reads and writes workbooks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.model import CellUpdate, CellValue, WorkbookChanges, a1
from ..core.schema import normalize
from ..core.values import same_value
from ..errors import ConfigError, OkrSyncError
from ..runlog import store
from ..runlog.store import CellRecord
from .recorded import recorded
from .workbooks import backend_for

if TYPE_CHECKING:
    from ..workspace import Workspace


@dataclass
class SkippedCell:
    """A cell undo left alone, and why."""

    cell: CellRecord
    code: str  # "changed", "changed-by-run", "row-gone", "sheet-gone", "unreadable", "write-failed", "no-backend"
    reason: str


@dataclass
class UndoResult:
    """What an undo restored and what it skipped."""

    undone_run: int
    run_id: int | None
    restored: list[CellRecord] = field(default_factory=list)
    skipped: list[SkippedCell] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"Undid run {self.undone_run} (logged as run {self.run_id}): restored "
            f"{len(self.restored)} cells, skipped {len(self.skipped)}."
        ]
        for s in self.skipped:
            lines.append(f"  skipped {s.cell.where}: {s.reason}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The JSON form (for --json and the API)."""
        return {
            "kind": "undo", "run_id": self.run_id, "undone_run": self.undone_run,
            "restored": [c.where for c in self.restored],
            "skipped": [{"where": s.cell.where, "code": s.code, "reason": s.reason} for s in self.skipped],
        }


def undo(workspace: Workspace, run_id: int | None = None, *, trigger: str = "cli",
         cycle: store.CycleSpan | None = None) -> UndoResult:
    """Write back the old values of a run's cells that still hold what that run wrote."""
    home = workspace.state_home
    if not store.exists(home):
        raise ConfigError(
            f"{workspace.config_path or workspace.home}: okr-sync has not synced here (no .okr-sync/ run log), "
            "so there is nothing to undo. Give the folder or okr-sync.toml you sync."
        )
    with recorded(workspace, "undo", trigger) as run:
        # Picked once the run is open: opening it settles an interrupted run, which may be the one to undo.
        target = store.run_to_undo(home, run_id, cycle, exclude=run.id)
        closed = store.closed_cycles(home)
        if target.cycle in closed:
            # Before mark_undo_of: a refused undo must not count as having undone its target.
            raise ConfigError(f"run {target.id} wrote cycle {target.cycle}, which is {closed[target.cycle]}; a "
                              "closed cycle is frozen. Reopen it first: okr-sync close-cycle --reopen --cycle "
                              f"{target.cycle}")
        store.mark_undo_of(home, run.id, target.id)
        cells = store.run_cells(home, target.id)
        result = UndoResult(undone_run=target.id, run_id=run.id)
        by_unit: dict[str, list[CellRecord]] = {}
        for c in cells:
            by_unit.setdefault(c.locator, []).append(c)
        cache: dict[int, list[str]] = {}
        written = 0
        for locator, unit_cells in by_unit.items():
            planned = _undo_unit(workspace, locator, unit_cells, result, cache)
            if planned:
                first = planned[0][0]
                store.record_cells(home, run.id, locator, first.source, [u for _, u in planned], first.id_col)
                written += len(planned)
        totals = store.RunTotals(
            as_of=None, units=len(by_unit), failed_units=0, cells_written=written, errors=0, warnings=0,
            company_score=None, status="ok",
            reason=f"{len(result.skipped)} cells skipped" if result.skipped else None, cycle=target.cycle,
        )
        store.finish_run(home, run.id, totals, result.to_json())
        return result


def _find_sheet(sheets: dict[str, Any], name: str) -> str | None:
    if name in sheets:
        return name
    wanted = normalize(name)
    return next((s for s in sheets if normalize(s) == wanted), None)


def _cell_at(grid: list[list[CellValue]], row: int, col: int) -> CellValue:
    if row < 1 or row > len(grid):
        return None
    line = grid[row - 1]
    return line[col - 1] if 1 <= col <= len(line) else None


def _locate_row(grid: list[list[CellValue]], cell: CellRecord) -> int | None:
    """The row now holding the cell's objective or KR: where it was, or where its ID moved to."""
    if not cell.row_id or not cell.id_col:
        return cell.row
    here = _cell_at(grid, cell.row, cell.id_col)
    if isinstance(here, str) and here.strip() == cell.row_id:
        return cell.row
    for number in range(1, len(grid) + 1):
        found = _cell_at(grid, number, cell.id_col)
        if isinstance(found, str) and found.strip() == cell.row_id:
            return number
    return None


def _show(value: CellValue) -> str:
    return "blank" if value in (None, "") else repr(value)


def _undo_unit(
    workspace: Workspace,
    locator: str,
    cells: list[CellRecord],
    result: UndoResult,
    cache: dict[int, list[str]],
) -> list[tuple[CellRecord, CellUpdate]]:
    backend = backend_for(workspace, locator, cache)
    if backend is None:
        for c in cells:
            result.skipped.append(SkippedCell(c, "no-backend", "this workbook is no longer part of the workspace"))
        return []
    try:
        raw = backend.read(locator)
    except OkrSyncError as exc:
        for c in cells:
            result.skipped.append(SkippedCell(c, "unreadable", f"could not read it: {exc}"))
        return []
    planned: list[tuple[CellRecord, CellUpdate]] = []
    for c in cells:
        sheet = _find_sheet(raw.sheets, c.sheet)
        if sheet is None:
            result.skipped.append(SkippedCell(c, "sheet-gone", f"sheet {c.sheet!r} is gone"))
            continue
        grid = raw.sheets[sheet]
        row = _locate_row(grid, c)
        if row is None:
            result.skipped.append(SkippedCell(c, "row-gone", f"the row of {c.row_id} is gone from the sheet"))
            continue
        now = _cell_at(grid, row, c.col)
        if c.state == "planned" and same_value(now, c.old) and not same_value(now, c.new):
            continue  # an interrupted run never got to write this one: nothing to put back
        if not same_value(now, c.new):  # what this run wrote is still there
            later = store.later_run(workspace.state_home, c)
            if later is not None:
                reason = (
                    f"run {later} wrote it since (it now holds {_show(now)}); undo run {later} first to go further back"
                )
            else:
                reason = (
                    f"it now holds {_show(now)}, not the {_show(c.new)} that run {c.run_id} "
                    "wrote — someone changed it since, so it is left as it is"
                )
            result.skipped.append(SkippedCell(c, "changed-by-run" if later else "changed", reason))
            continue
        planned.append((c, CellUpdate(sheet, row, c.col, old=now, new=c.old, row_id=c.row_id)))
    if not planned:
        return []
    id_col = next((c.id_col for c, _ in planned if c.id_col), None)
    changes = WorkbookChanges(updates=[u for _, u in planned], id_col=id_col, okrs_sheet=planned[0][1].sheet)
    try:
        backend.apply(locator, changes)
    except OkrSyncError as exc:
        for c, _ in planned:
            result.skipped.append(SkippedCell(c, "write-failed", f"could not write it: {exc}"))
        return []
    for c, update in planned:
        result.restored.append(
            CellRecord(
                run_id=c.run_id,
                locator=c.locator,
                source=c.source,
                sheet=update.sheet,
                cell=a1(update.row, update.col),
                row=update.row,
                col=update.col,
                row_id=c.row_id,
                id_col=c.id_col,
                old=c.new,
                new=c.old,
            )
        )
    return planned
