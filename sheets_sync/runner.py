"""One recorded sync: take the lock, run the engine, log the run and its cells in state.db."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from . import engine, state
from .errors import OkrSyncError
from .lock import sync_lock

if TYPE_CHECKING:
    from .engine import SyncReport
    from .workspace import Workspace

log = logging.getLogger("okr_sync.runner")

TRIGGERS = ("cli", "api", "schedule", "dashboard")


def run_sync(
    workspace: Workspace,
    *,
    as_of: dt.date | None = None,
    dry_run: bool = False,
    trigger: str = "cli",
    **kw: Any,
) -> tuple[SyncReport, int | None]:
    """Sync under the workspace lock and record the run; a dry run is not locked nor recorded."""
    if dry_run:
        return engine.sync(workspace, as_of, dry_run=True, **kw), None
    want_rollup = bool(kw.pop("write_rollup", True))
    with sync_lock(workspace.home, who=trigger):
        run_id = state.start_run(workspace, trigger, as_of)
        try:
            # The rollup is written here, not by the engine, so that when it fails the cells
            # already written to the units are still recorded (and can be undone).
            report = engine.sync(workspace, as_of, dry_run=False, write_rollup=False, **kw)
        except OkrSyncError as exc:
            state.fail_run(workspace, run_id, str(exc))
            raise
        except Exception as exc:
            raise _unexpected(workspace, run_id, exc) from exc
        failure: OkrSyncError | None = None
        if want_rollup and workspace.rollup is not None and report.rollup is not None:
            try:
                report.rollup_location = getattr(workspace, "rollup_location", None)
                report.rollup_written = workspace.rollup.write_rollup(report.rollup)
            except OkrSyncError as exc:
                failure = exc
            except Exception as exc:
                failure = OkrSyncError(f"the rollup could not be written ({type(exc).__name__}: {exc})")
                failure.__cause__ = exc
        report.finished = dt.datetime.now()
        state.finish_run(workspace, run_id, report)
        if failure is not None:
            state.fail_run(workspace, run_id, str(failure))
            raise failure
        return report, run_id


def _unexpected(workspace: Workspace, run_id: int, exc: Exception) -> OkrSyncError:
    """Log an engine bug honestly and turn it into a message for people."""
    reason = f"unexpected {type(exc).__name__}: {exc}"
    log.exception("run %s failed", run_id)
    state.fail_run(workspace, run_id, reason)
    return OkrSyncError(
        f"the sync failed ({reason}); run {run_id} is logged as failed — please report this with `okr-sync log`"
    )
