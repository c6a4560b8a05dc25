"""Optional extras: one clear line naming what to install when a command needs a package that is missing."""

from __future__ import annotations

import importlib.util

from .errors import ConfigError

# The import names each extra of pyproject.toml brings; one table for every command that needs one.
EXTRAS: dict[str, tuple[str, ...]] = {
    "server": ("flask", "waitress", "schedule"),
    "google": ("gspread", "google.auth", "requests"),
    "excel": ("xlwings",),
    "microsoft": ("msal", "requests"),
    "notify": ("schedule",),
}


def missing(extra: str) -> list[str]:
    """The import names of an extra that are not installed."""
    absent = []
    for name in EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            absent.append(name)
    return absent


def require(extra: str, what: str) -> None:
    """Raise one ConfigError line saying which extra `what` needs, if any of its packages is missing."""
    absent = missing(extra)
    if absent:
        raise ConfigError(
            f"{what} needs {', '.join(absent)}: pip install \"okr-sync[{extra}]\" "
            f"(from a clone of the repository: pip install \".[{extra}]\")"
        )
