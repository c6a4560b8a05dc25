"""Cycle arithmetic: `2026-Q4`, `2026-H1` and `2026` to their first and last day, and back."""

from __future__ import annotations

import datetime as dt
import re

from ..errors import ConfigError

__all__ = ["current_cycle", "cycle_dates", "normalize_cycle"]

_CYCLE_RE = re.compile(r"^\s*(\d{4})(?:\s*-\s*([QqHh])\s*([1-4]))?\s*$")


def cycle_dates(cycle: str) -> tuple[dt.date, dt.date]:
    """First and last day of a cycle: `2026-Q4`, `2026-H1` or `2026`."""
    match = _CYCLE_RE.match(str(cycle))
    if not match:
        raise ConfigError(
            f"Cycle {cycle!r} is not understood: write a quarter (2026-Q4), a half (2026-H1) or a year (2026)."
        )
    year = int(match.group(1))
    if not 1900 <= year <= 9999:
        raise ConfigError(f"Cycle {cycle!r}: the year {year} is out of range.")
    kind, number = (match.group(2) or "").upper(), int(match.group(3) or 0)
    if not kind:
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    if kind == "H" and number > 2:
        raise ConfigError(f"Cycle {cycle!r}: a year has two halves, H1 and H2.")
    months = 3 if kind == "Q" else 6
    first_month = (number - 1) * months + 1
    last_month = first_month + months - 1
    end = dt.date(year + last_month // 12, last_month % 12 + 1, 1) - dt.timedelta(days=1)
    return dt.date(year, first_month, 1), end


def normalize_cycle(cycle: str) -> str:
    """The canonical spelling of a cycle: `2026-q4 ` -> `2026-Q4`."""
    cycle_dates(cycle)
    match = _CYCLE_RE.match(str(cycle))
    assert match is not None
    if not match.group(2):
        return match.group(1)
    return f"{match.group(1)}-{match.group(2).upper()}{match.group(3)}"


def current_cycle(today: dt.date | None = None) -> str:
    """The quarter that holds today, e.g. `2026-Q4`."""
    today = today or dt.date.today()
    return f"{today.year}-Q{(today.month - 1) // 3 + 1}"
