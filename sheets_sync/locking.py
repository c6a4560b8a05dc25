"""One writer at a time per set of workbooks, on Linux, macOS and Windows (filelock), across CLI, API and scheduler.

A workspace locks the real path of every local unit folder it writes (HOME/.okr-sync/sync.lock), so the same
folder reached through an okr-sync.toml and directly is one lock. On systems without fcntl filelock falls back
to a lock file; a lock left by a killed process is recovered from the holder note (host and pid) beside it.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import filelock

from .errors import ConfigError, SyncBusy

STATE_DIR = ".okr-sync"
LOCK_NAME = "sync.lock"
HOLDER_NAME = "sync.holder.json"


@dataclass(frozen=True)
class LockHolder:
    """Who holds the lock and since when."""

    started: str
    who: str
    pid: int
    host: str


def state_dir(home: str | Path) -> Path:
    """The .okr-sync folder of a home, created on first use."""
    folder = Path(home) / STATE_DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{folder}: cannot create okr-sync's folder ({exc.strerror or exc}). Make {Path(home)} writable "
            "for this user, or run okr-sync from an account that can write there."
        ) from None
    return folder


def _default_who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _read_holder(path: Path) -> LockHolder | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "null")
        if not isinstance(data, dict):
            return None
        return LockHolder(str(data["started"]), str(data["who"]), int(data["pid"]), str(data["host"]))
    except (ValueError, KeyError, TypeError, OSError):
        return None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _dead(holder: LockHolder | None) -> bool:
    return holder is not None and holder.host == socket.gethostname() and not _alive(holder.pid)


@contextmanager
def _hold_one(home: Path, holder: LockHolder) -> Iterator[None]:
    folder = state_dir(home)
    lock = filelock.FileLock(str(folder / LOCK_NAME), timeout=0)
    note = folder / HOLDER_NAME
    try:
        lock.acquire()
    except filelock.Timeout:
        current = _read_holder(note)
        if not _dead(current) or not isinstance(lock, filelock.SoftFileLock):
            started = current.started if current else "at an unknown time"
            by = current.who if current else "another process"
            raise SyncBusy(
                f"a sync is already running (started {started} by {by}) — try again when it finishes"
            ) from None
        # A soft lock file outlives a killed process; its holder is gone, so the lock is ours to recover.
        Path(lock.lock_file).unlink(missing_ok=True)
        lock.acquire()
    try:
        note.write_text(json.dumps(holder.__dict__), encoding="utf-8")
        yield
    finally:
        # Clear the note before letting go, so a reader never sees a stale holder.
        note.unlink(missing_ok=True)
        lock.release()


@contextmanager
def hold(homes: Sequence[str | Path], who: str | None = None) -> Iterator[LockHolder]:
    """Hold the lock of every home for the block (in one fixed order), or raise SyncBusy at once."""
    holder = LockHolder(
        started=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        who=f"{who} ({_default_who()})" if who else _default_who(),
        pid=os.getpid(),
        host=socket.gethostname(),
    )
    with ExitStack() as stack:
        for home in sorted({str(Path(h)) for h in homes}):
            stack.enter_context(_hold_one(Path(home), holder))
        yield holder


def current_holder(homes: Sequence[str | Path]) -> LockHolder | None:
    """Who holds any of these locks now, or None; never takes a lock (that could refuse a real sync)."""
    for home in homes:
        holder = _read_holder(Path(home) / STATE_DIR / HOLDER_NAME)
        # A process that died mid-sync leaves its note behind but the OS has dropped its lock.
        if holder is not None and not _dead(holder):
            return holder
    return None


def wait_idle(homes: Sequence[str | Path], timeout: float) -> bool:
    """Wait until nobody holds these locks (for a clean shutdown); True when idle."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with hold(homes, who="shutdown"):
                return True
        except SyncBusy:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)
