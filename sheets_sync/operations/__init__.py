"""What every front end calls: sync, rollup, preview, validate, score one workbook, undo, status and log.

The CLI, the server's API and dashboard, the scheduler, the Office add-in and the xlwings buttons reach the
engine only through these functions. Every operation that writes holds the workspace's lock and records itself
in the run log with its kind (sync, rollup, undo, addin), so `okr-sync log` shows everything that changed a file:

    front end ──▶ operations ──▶ engine ──▶ core (pure) + backends (xlsx, Google, Microsoft, memory)
                      │
                      └──▶ locking + run log (SQLite), journalled before every write
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import engine
from ..core.model import RawWorkbook
from ..locking import LockHolder, current_holder
from ..report import SyncReport, UnitReport
from ..runlog import store
from ..runlog.store import RunRecord
from .cycles import NewCycleResult, close_cycle, new_cycle, reopen_cycle
from .recorded import finish, recorded
from .undo import UndoResult, undo

if TYPE_CHECKING:
    from ..workspace import Workspace

__all__ = [
    "NewCycleResult", "RunRecord", "Status", "UndoResult", "close_cycle", "closed_cycles", "cycle_scores",
    "cycle_span", "latest_report", "log",
    "new_cycle", "preview", "reopen_cycle", "rollup", "score_workbook", "status", "sync", "trends", "undo",
    "validate",
]

ProgressCallback = engine.ProgressCallback
# The report's figures that `status` repeats, under the same names.
SUMMARY_FIELDS = ("as_of", "company_score", "coverage", "unit_count", "errors", "warnings", "cells_written",
                  "failed_units")


def sync(workspace: Workspace, as_of: dt.date | None = None, *, dry_run: bool = False, trigger: str = "cli",
         progress: ProgressCallback | None = None) -> SyncReport:
    """Validate, score, write back into every unit and write the rollup, recorded; a dry run is a preview."""
    if dry_run:
        return preview(workspace, as_of, progress=progress)
    from .checkins import CheckinRecorder

    with recorded(workspace, "sync", trigger, as_of) as run:
        recorder = CheckinRecorder(run.home, run.id, as_of or dt.date.today())
        report = engine.sync(workspace, as_of, journal=run, progress=progress, observer=recorder,
                             closed=store.closed_cycles(workspace.state_home), cache=run)
        report.checkins = [c.as_dict() for c in recorder.found]
        finish(run, report)
        return report


def rollup(workspace: Workspace, as_of: dt.date | None = None, *, trigger: str = "cli",
           progress: ProgressCallback | None = None) -> SyncReport:
    """Consolidate every unit into the rollup; unit workbooks are not touched. Recorded, under the lock."""
    with recorded(workspace, "rollup", trigger, as_of) as run:
        report = engine.sync(workspace, as_of, write_back=False, progress=progress, kind="rollup",
                             closed=store.closed_cycles(workspace.state_home), cache=run)
        finish(run, report)
        return report


def preview(workspace: Workspace, as_of: dt.date | None = None, *,
            progress: ProgressCallback | None = None) -> SyncReport:
    """What a sync would write (the dry run): nothing is written, locked or recorded."""
    return engine.sync(workspace, as_of, dry_run=True, progress=progress, kind="preview",
                       closed=store.closed_cycles(workspace.state_home))


def validate(paths: list[Path], as_of: dt.date | None = None, cycle: str | None = None) -> SyncReport:
    """Validate workbooks, folders or configs; lone workbooks are checked with their folder as context.

    Workbooks of one folder are validated together, so `okr-sync validate *.xlsx` reads the folder once.
    """
    from ..workspace import Workspace

    workspaces: dict[Path, Workspace] = {}
    for path in paths:
        workspace = Workspace.from_path(path, cycle=cycle)
        if workspace.focus is None:
            workspaces[path.resolve()] = workspace
            continue
        earlier = workspaces.setdefault(workspace.home.resolve(), workspace)
        if earlier is not workspace and earlier.focus is not None:
            earlier.focus = earlier.focus | workspace.focus
    reports = [engine.sync(ws, as_of, write_back=False, write_rollup=False, kind="validate")
               for ws in workspaces.values()]
    merged = reports[0]
    for report in reports[1:]:
        merged.units.extend(report.units)
        merged.skipped.extend(report.skipped)
    merged.finished = dt.datetime.now().replace(microsecond=0)
    return merged


def score_workbook(raw: RawWorkbook, as_of: dt.date | None = None, context: list[RawWorkbook] | None = None,
                   *, workspace: Workspace | None = None, trigger: str = "addin") -> UnitReport:
    """Score one workbook the Excel add-in (or an xlwings button) sends; it writes the cells itself.

    With a workspace the scoring holds its lock and is recorded as an `addin` run, so the cells the pane
    writes show in `okr-sync log`; without one (a workbook on a desktop) it only computes.
    """
    if workspace is None:
        return engine.score_workbook(raw, as_of, context)
    with recorded(workspace, "addin", trigger, as_of) as run:
        unit = engine.score_workbook(raw, as_of, context)
        totals = store.RunTotals(
            as_of=(as_of or dt.date.today()).isoformat(), units=1, failed_units=0,
            cells_written=len(unit.changes.updates), errors=unit.errors, warnings=unit.warnings,
            company_score=None, status="ok", reason=f"{unit.source}: scored in Excel; the add-in writes its cells",
        )
        store.finish_run(run.home, run.id, totals, None)
        return unit


@dataclass
class Status:
    """Whether something is running now, the last run, and the latest report's figures."""

    running: LockHolder | None
    last_run: RunRecord | None
    last_sync: RunRecord | None
    report: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        """The JSON form: the counts are the latest report's own, so they agree with its sync answer."""
        report = self.report or {}
        return {
            "running": self.running is not None,
            "running_since": self.running.started if self.running else None,
            "running_by": self.running.who if self.running else None,
            "last_run": self.last_run.as_dict() if self.last_run else None,
            "last_sync": self.last_sync.as_dict() if self.last_sync else None,
            **{key: report.get(key) for key in SUMMARY_FIELDS},
        }


def status(workspace: Workspace, cycle: store.CycleSpan | None = None) -> Status:
    """What runs now and what the newest recorded sync (of a cycle, if given) found."""
    home = workspace.state_home
    if not store.exists(home):
        return Status(current_holder(workspace.lock_homes), None, None, None)
    runs = store.list_runs(home, limit=1)
    last_sync = store.latest_report_run(home, cycle)
    report = store.get_report(home, last_sync.id) if last_sync else None
    return Status(current_holder(workspace.lock_homes), runs[0] if runs else None, last_sync, report)


def latest_report(workspace: Workspace, cycle: store.CycleSpan | None = None
                  ) -> tuple[RunRecord, dict[str, Any]] | None:
    """The newest recorded sync or close (of a cycle, if given) and the report JSON it left (the dashboard)."""
    home = workspace.state_home
    if not store.exists(home):
        return None
    run = store.latest_report_run(home, cycle)
    if run is None:
        return None
    return run, store.get_report(home, run.id) or {}


def log(workspace: Workspace, limit: int = 20, cycle: store.CycleSpan | None = None) -> list[RunRecord]:
    """The latest runs of the workspace (of a cycle, if given), newest first; none (and nothing created) where
    nothing ran."""
    home = workspace.state_home
    if not store.exists(home):
        return []
    return store.list_runs(home, limit, cycle)


def trends(workspace: Workspace, limit: int = 60,
           cycle: store.CycleSpan | None = None) -> dict[str, list[tuple[str, float | None]]]:
    """Each unit's score by as-of day (within one cycle, if given)."""
    home = workspace.state_home
    return store.unit_trends(home, limit, cycle) if store.exists(home) else {}


def cycle_scores(workspace: Workspace) -> dict[str, dict[str, tuple[float | None, bool]]]:
    """Each cycle's score of each unit (final grades for closed cycles): the trend across quarters."""
    home = workspace.state_home
    return store.cycle_scores(home) if store.exists(home) else {}


def cycle_span(workspace: Workspace, name: str | None) -> store.CycleSpan | None:
    """A cycle name as the run log filters by it, with its dates as the newest run of it recorded them."""
    if not name:
        return None
    from ..core.cycle_model import cycle_name

    canonical = cycle_name(name) or name
    home = workspace.state_home
    if store.exists(home):
        for run in store.list_runs(home, 1, (canonical, None, None)):
            dates = (store.get_report(home, run.id) or {}).get("cycle") or {}
            if isinstance(dates, dict) and dates.get("start"):
                return canonical, dates.get("start"), dates.get("end")
    return canonical, None, None


def closed_cycles(workspace: Workspace) -> dict[str, str]:
    """The closed cycles of the workspace, each with when and by which run."""
    return store.closed_cycles(workspace.state_home)
