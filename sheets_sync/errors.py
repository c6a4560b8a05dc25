"""The one exception hierarchy of okr-sync; the CLI turns each into a message and an exit code.

    OkrSyncError                 anything okr-sync reports to a person (exit 2)
    ├── ConfigError              a bad okr-sync.toml, option or path
    │   └── UnknownCycle         a cycle no unit workbook is of (--cycle, the API's "cycle")
    ├── WorkbookError            a unit workbook that cannot be read or written
    │   ├── WorkbookLocked       open in Excel or LibreOffice (owner/lock file beside it)
    │   └── NotAWorkbook         empty, .xls, password-protected or not a spreadsheet at all
    ├── RemoteError              a remote store (Google) failed after retries
    │   ├── AuthError            credentials missing, expired or without access
    │   ├── QuotaError           quota still exceeded after backing off
    │   └── AnswerLost           a write's answer never came: look before sending it again
    └── SyncBusy                 another sync is running (server, scheduler, CLI share one lock)

Every message names the place (file, sheet, cell or spreadsheet) and says what to do.
"""

from __future__ import annotations


class OkrSyncError(Exception):
    """Base of every error okr-sync reports to a person."""

    exit_code = 2


class ConfigError(OkrSyncError):
    """A bad configuration file, option or path."""


class UnknownCycle(ConfigError):
    """A cycle was named that no unit workbook of the workspace is of."""


class WorkbookError(OkrSyncError):
    """A unit workbook that cannot be read or written."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.reason = message


class WorkbookLocked(WorkbookError):
    """The workbook is open in Excel or LibreOffice."""


class NotAWorkbook(WorkbookError):
    """The file is not an .xlsx/.xlsm workbook this tool can read."""


class SourceError(OkrSyncError):
    """A KR Source that cannot be read (reported on the KR's Source cell)."""


class RemoteError(OkrSyncError):
    """A remote store failed after retries."""


class AuthError(RemoteError):
    """Credentials are missing, expired or lack access."""


class QuotaError(RemoteError):
    """A quota stayed exceeded after backing off."""


class AnswerLost(RemoteError):
    """A non-idempotent write got no answer (timeout, dropped connection, 5xx): it may or may not
    have been applied, so the caller looks at the remote state before sending it again."""


class SyncBusy(OkrSyncError):
    """Another sync is already running."""

    exit_code = 3
