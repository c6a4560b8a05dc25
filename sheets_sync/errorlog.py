"""Where unexpected errors' details go: a log file, never a person's terminal or an HTTP answer."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

_installed: set[str] = set()


def path() -> Path:
    """The error log: OKR_SYNC_ERROR_LOG, else ~/.cache/okr-sync/errors.log (else in the temp folder)."""
    configured = os.environ.get("OKR_SYNC_ERROR_LOG")
    if configured:
        return Path(configured)
    for folder in (Path.home() / ".cache" / "okr-sync", Path(tempfile.gettempdir()) / "okr-sync"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder / "errors.log"
    return Path(tempfile.gettempdir()) / "okr-sync-errors.log"


def install() -> Path:
    """Send okr-sync's warnings and errors (with tracebacks) to the error log, not to a person's terminal."""
    target = path()
    logger = logging.getLogger("okr_sync")
    if str(target) not in _installed:
        handler = logging.FileHandler(target, encoding="utf-8", delay=True)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.WARNING)
        logger.addHandler(handler)
        _installed.add(str(target))
    # With a handler here Python's last-resort handler never prints to stderr; propagation stays, so a server
    # or a test that collects logs still sees them.
    return target


def record(exc: BaseException, what: str) -> Path:
    """Write one unexpected error with its traceback to the error log; return where it went."""
    target = install()
    logging.getLogger("okr_sync.errors").error("%s", what, exc_info=exc)
    return target
