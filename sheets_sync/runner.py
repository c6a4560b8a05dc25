"""One recorded sync: take the lock, run the engine, log the run and its cells in state.db."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from . import engine, state
from .errors import OkrSyncError, SyncBusy
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
        except SyncBusy:
            state.fail_run(workspace, run_id, "a sync was already running")
            raise
        except OkrSyncError as exc:
            state.fail_run(workspace, run_id, str(exc))
            raise
        except Exception as exc:
            # An engine bug must still leave an honest log line, and reach people as a message.
            reason = f"unexpected {type(exc).__name__}: {exc}"
            log.exception("run %s failed", run_id)
            state.fail_run(workspace, run_id, reason)
            raise OkrSyncError(
                f"the sync failed ({reason}); run {run_id} is logged as failed — "
                "please report this with `okr-sync log`"
            ) from exc
        state.finish_run(workspace, run_id, report)
        return report, run_id
