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
    with sync_lock(workspace.home, who=trigger):
        run_id = state.start_run(workspace, trigger, as_of)
        try:
            report = engine.sync(workspace, as_of, dry_run=False, **kw)
        except OkrSyncError as exc:
            state.fail_run(workspace, run_id, str(exc))
            raise
        except Exception as exc:
            raise _unexpected(workspace, run_id, exc) from exc
        # The engine reports a rollup it could not write; the units' cells are recorded all the same.
        state.finish_run(workspace, run_id, report)
        if report.rollup_error:
            state.fail_run(workspace, run_id, f"rollup: {report.rollup_error}")
        return report, run_id


def _unexpected(workspace: Workspace, run_id: int, exc: Exception) -> OkrSyncError:
    """Log an engine bug honestly and turn it into a message for people."""
    reason = f"unexpected {type(exc).__name__}: {exc}"
    log.exception("run %s failed", run_id)
    state.fail_run(workspace, run_id, reason)
    return OkrSyncError(
        f"the sync failed ({reason}); run {run_id} is logged as failed — please report this with `okr-sync log`"
    )
