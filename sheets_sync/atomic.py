"""The one atomic save every writer uses: temp file beside the target, fsync, swap in, never lose a save."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import OkrSyncError

TEMP_PREFIX = ".~okr-sync-"
TEMP_SUFFIX = ".tmp"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2

# Test hook: called between the last identity check and the swap (the window a person's save can hit).
before_swap: Callable[[Path], None] | None = None


class ChangedDuringSave(OkrSyncError):
    """Someone saved the file while we were writing it; their version was kept."""


Identity = tuple[int, int, int]


def identity(st: os.stat_result) -> Identity:
    """What tells two versions of a file apart: modification time (ns), size, inode."""
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def real_target(path: Path) -> Path:
    """The file a save must replace: a symlinked workbook is written through to its target."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


def _exchange(a: str, b: str) -> bool:
    """Swap two names atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot exchange
        return False
    raise OSError(err, os.strerror(err), b)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(
    path: Path | str,
    write: Callable[[str], None],
    *,
    expect: Identity | None = None,
    mode: int | None = None,
    check: Callable[[], None] | None = None,
) -> Path:
    """Write a new version of `path` through `write(temp_path)` and swap it in atomically.

    `expect` is the identity of the version the new content was computed from: when the file no longer
    has it (a person saved in between, even in the last instant before the swap), the person's file is
    kept and ChangedDuringSave is raised. `check` runs after the temp file is written, just before the
    swap, and may raise to cancel it. A symlink is written through to its target. Returns the path replaced.
    """
    target = real_target(Path(path))
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif expect is not None:
            with contextlib.suppress(OSError):
                os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        if check is not None:
            check()
        if expect is None:
            os.replace(tmp, target)
        else:
            _swap_checked(tmp, target, expect)
        _fsync_dir(target.parent)
        return target
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _changed(target: Path) -> ChangedDuringSave:
    return ChangedDuringSave(f"{target.name} was saved by someone while the sync wrote it; their version was kept")


def _swap_checked(tmp: str, target: Path, expect: Identity) -> None:
    """Replace target by tmp only if target is still the version `expect` names; check again after."""
    if identity(os.stat(target)) != expect:
        raise _changed(target)
    if before_swap is not None:
        before_swap(target)
    if _exchange(tmp, str(target)):
        # The old version now sits at tmp: if it is not the one we read, a save slipped in — swap back.
        if identity(os.stat(tmp)) != expect:
            os.replace(tmp, target)  # theirs back in place; ours is discarded
            raise _changed(target)
        return
    # No exchange on this file system: keep a hard link to what is there, replace, then compare.
    keep = tmp + ".old"
    try:
        os.link(target, keep)
    except OSError:
        os.replace(tmp, target)
        return
    try:
        if identity(os.stat(keep)) != expect:
            raise _changed(target)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(keep)
