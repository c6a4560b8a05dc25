"""One sync at a time across the CLI, the API and the scheduler: an OS file lock in .okr-sync/."""

from __future__ import annotations

import datetime as dt
import fcntl
import getpass
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .errors import SyncBusy

LOCK_NAME = "sync.lock"


@dataclass(frozen=True)
class LockHolder:
    """Who holds the sync lock and since when."""

    started: str
    who: str
    pid: int
    host: str


def state_dir(home: str | Path) -> Path:
    """The .okr-sync folder of a workspace home, created on first use."""
    folder = Path(home) / ".okr-sync"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def lock_path(home: str | Path) -> Path:
    """Where the sync lock of a workspace lives."""
    return state_dir(home) / LOCK_NAME


def _read_holder(handle: IO[str]) -> LockHolder | None:
    try:
        handle.seek(0)
        data = json.loads(handle.read() or "null")
        if not isinstance(data, dict):
            return None
        return LockHolder(str(data["started"]), str(data["who"]), int(data["pid"]), str(data["host"]))
    except (ValueError, KeyError, TypeError, OSError):
        return None


def _default_who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@contextmanager
def sync_lock(home: str | Path, who: str | None = None) -> Iterator[LockHolder]:
    """Hold the workspace's sync lock for the block, or raise SyncBusy at once."""
    path = lock_path(home)
    # "a+" so a busy attempt never truncates the holder's note.
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(handle)
            started = holder.started if holder else "at an unknown time"
            by = holder.who if holder else "another process"
            raise SyncBusy(
                f"a sync is already running (started {started} by {by}) — try again when it finishes"
            ) from None
        holder = LockHolder(
            started=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            who=f"{who} ({_default_who()})" if who else _default_who(),
            pid=os.getpid(),
            host=socket.gethostname(),
        )
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder.__dict__))
        handle.flush()
        try:
            yield holder
        finally:
            # Clear the note before letting go, so a reader never sees a stale holder.
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def current_holder(home: str | Path) -> LockHolder | None:
    """The running sync's holder, or None; never takes the lock (that could refuse a real sync)."""
    path = Path(home) / ".okr-sync" / LOCK_NAME
    if not path.exists():
        return None
    with open(path, encoding="utf-8") as handle:
        holder = _read_holder(handle)
    if holder is None:
        return None
    # A process that died mid-sync leaves its note behind but the OS has dropped its lock.
    if holder.host == socket.gethostname() and not _alive(holder.pid):
        return None
    return holder


def wait_idle(home: str | Path, timeout: float) -> bool:
    """Wait until no sync holds the lock (for a clean shutdown); True when idle."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with sync_lock(home, who="shutdown"):
                return True
        except SyncBusy:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)
