"""Cycles in a workspace: which cycle each unit belongs to, and which cycle an operation works on."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from .parse import Unit

# 2026-Q4, 2026 Q4, 2026q4, 2026-H1, 2026; anything else is kept as typed (trimmed, upper case).
_NAME = re.compile(r"^\s*(\d{4})(?:\s*[-_ ]?\s*([QqHh])\s*([1-4]))?\s*$")


def cycle_name(text: object) -> str | None:
    """The canonical spelling of a Cycle cell (`2026 q4` -> `2026-Q4`); None for a blank one."""
    if text is None:
        return None
    raw = str(text).strip()
    if not raw:
        return None
    match = _NAME.match(raw)
    if not match:
        return re.sub(r"\s+", " ", raw).upper()
    if not match.group(2):
        return match.group(1)
    return f"{match.group(1)}-{match.group(2).upper()}{match.group(3)}"


@dataclass(frozen=True)
class Cycle:
    """One cycle of a workspace: its name and dates (the company's, else the most common among its units)."""

    name: str
    start: dt.date | None
    end: dt.date | None
    units: int = 0

    def contains(self, day: dt.date) -> bool:
        return self.start is not None and self.end is not None and self.start <= day <= self.end

    def started(self, day: dt.date) -> bool:
        return self.start is not None and self.start <= day

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None}


def unit_cycle(unit: Unit) -> str | None:
    """The canonical cycle name of a unit, None when its Settings have no readable Cycle."""
    return cycle_name(unit.settings.cycle)


def cycles_of(units: Iterable[Unit]) -> list[Cycle]:
    """Every cycle the units name, ordered by start date (undated ones last, by name)."""
    groups: dict[str, list[Unit]] = {}
    for unit in units:
        name = unit_cycle(unit)
        if name is not None:
            groups.setdefault(name, []).append(unit)
    out = []
    for name, members in groups.items():
        company = [u for u in members if u.settings.level == "company" and u.settings.cycle_start]
        dated = company or [u for u in members if u.settings.cycle_start and u.settings.cycle_end]
        if dated:
            start, end = Counter((u.settings.cycle_start, u.settings.cycle_end) for u in dated).most_common(1)[0][0]
        else:
            start = end = None
        out.append(Cycle(name, start, end, len(members)))
    return sorted(out, key=lambda c: (c.start is None, c.start or dt.date.max, c.name))


def find(cycles: Iterable[Cycle], requested: str) -> Cycle | None:
    """The cycle a person named (`2026-q4` finds 2026-Q4)."""
    wanted = cycle_name(requested)
    return next((c for c in cycles if c.name == wanted), None)


def default_cycle(cycles: list[Cycle], as_of: dt.date, closed: Collection[str] = ()) -> Cycle | None:
    """The cycle whose dates hold as-of (the next one if that is closed), else the latest that has started,
    else the first one."""
    if not cycles:
        return None
    holding = [c for c in cycles if c.contains(as_of)]
    if holding:
        chosen = holding[-1]
        if chosen.name in closed:
            later = [c for c in cycles if c.start and chosen.end and c.start > chosen.end and c.name not in closed]
            return later[0] if later else chosen
        return chosen
    started = [c for c in cycles if c.started(as_of)]
    return started[-1] if started else cycles[0]


def cycle_to_close(cycles: list[Cycle], as_of: dt.date, closed: Collection[str] = ()) -> Cycle | None:
    """close-cycle's default: the newest open cycle that has ended by as-of, else the default cycle."""
    ended = [c for c in cycles if c.end is not None and c.end <= as_of and c.name not in closed]
    return ended[-1] if ended else default_cycle(cycles, as_of, closed)


def belongs(unit: Unit, cycle: Cycle | None) -> bool:
    """Whether a unit is read as a unit of the cycle: its own Cycle names it; a unit without one is read with
    whichever cycle runs, so its Settings error is seen."""
    name = unit_cycle(unit)
    return cycle is None or name is None or name == cycle.name
