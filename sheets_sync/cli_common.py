"""What every okr-sync command shares: one clear line for any error (never a traceback), --as-of and --json."""

from __future__ import annotations

import datetime as dt
import errno
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn, TypeVar

import click

from .errors import OkrSyncError

F = TypeVar("F", bound=Callable[..., Any])


# EACCES, EPERM, EROFS: the folder (or .okr-sync/ in it) cannot be written.
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}


def _shown(text: str) -> str:
    """Text as a terminal can print it: bytes of a file name that are not UTF-8 escaped."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _internal(exc: Exception) -> NoReturn:
    """An error okr-sync did not foresee: one line, the details in the error log (raised with OKR_SYNC_DEBUG=1)."""
    if os.environ.get("OKR_SYNC_DEBUG"):
        raise exc
    from . import errorlog

    where = errorlog.record(exc, "unexpected error in okr-sync")
    click.secho(f"okr-sync: something went wrong ({exc.__class__.__name__}); the details are in {where} "
                "— please report them.", fg="red", err=True)
    sys.exit(2)


def _guarded(command: F) -> F:
    """Turn every OkrSyncError into one clear line and its exit code; never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except OkrSyncError as exc:
            click.secho(f"okr-sync: {exc}", fg="red", err=True)
            sys.exit(exc.exit_code)
        except BrokenPipeError:
            # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
            sys.stderr = open(os.devnull, "w")  # noqa: SIM115
            sys.exit(0)
        except KeyboardInterrupt:
            click.echo("okr-sync: interrupted", err=True)
            sys.exit(130)
        except OSError as exc:
            if exc.errno not in _NOT_WRITABLE or os.environ.get("OKR_SYNC_DEBUG"):
                _internal(exc)
            where = _shown(os.path.dirname(str(exc.filename or "")) or "the folder")
            click.secho(f"okr-sync: cannot write in {where} ({exc.strerror}): the folder is read-only for this "
                        "user. Give the sync service write access to it, or sync a copy. / 该文件夹对当前用户只读："
                        "请授予同步服务写入权限，或同步一份副本。", fg="red", err=True)
            sys.exit(2)
        except Exception as exc:
            _internal(exc)

    return wrapper  # type: ignore[return-value]


def _parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date; use YYYY-MM-DD, e.g. 2026-11-15") from None


as_of_option = click.option(
    "--as-of", callback=_parse_date, metavar="DATE",
    help="Score as on this day (YYYY-MM-DD) instead of today.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print a JSON report for scripts.")
