"""Check-ins: a change a person made to a KR's Current, Confidence or comment, with who, why, when and the cycle.

A sync finds them by comparing each KR with how the last sync saw it (the engine tells us about each scored
unit); the Excel add-in and the API record them directly, with the name they send or the token's name.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.model import CellValue
from ..core.values import Unreadable, as_text, is_blank, parse_number
from ..errors import ConfigError
from ..report import UnitReport
from ..runlog import store, weekly
from ..runlog.weekly import Checkin, KrState

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..core.parse import Row, Unit
    from ..workspace import Workspace


def comparable(value: CellValue) -> object:
    """What decides whether a figure changed: numbers by value (1,500 = 1500), text by its words."""
    if is_blank(value):
        return None
    try:
        return round(parse_number(value), 6)
    except Unreadable:
        return as_text(value)


def comment_of(unit: Unit, row: Row) -> str | None:
    """The KR's Notes cell: its comment."""
    col = unit.columns.get("notes")
    if col is None or unit.okrs_sheet is None:
        return None
    line = unit.raw.sheets[unit.okrs_sheet][row.sheet_row - 1]
    text = as_text(line[col - 1]) if col <= len(line) else None
    return text.strip() or None if text else None


def _via(unit: Unit) -> str:
    return "google" if "/" not in unit.raw.locator and "\\" not in unit.raw.locator else "workbook"


class CheckinRecorder:
    """The engine's UnitObserver for a recorded sync: finds check-ins, keeps each KR's state and figures."""

    def __init__(self, home: Path, run_id: int, as_of: dt.date) -> None:
        self.home = home
        self.run_id = run_id
        self.as_of = as_of.isoformat()
        self.found: list[Checkin] = []
        self._before: dict[tuple[str, str, str], KrState] | None = None

    def _states(self) -> dict[tuple[str, str, str], KrState]:
        if self._before is None:
            self._before = {(s.unit_code.upper(), s.kr_id.upper(), s.cycle): s for s in weekly.kr_states(self.home)}
        return self._before

    def scored(self, unit_report: UnitReport, unit: Unit, backend: Backend) -> dict[str, tuple[str | None, str | None]]:
        """Compare each KR with the last sync's view; record check-ins, new states and today's figures."""
        if not unit.code or unit.unusable:
            return {}
        before = self._states()
        at = store.now()
        settings = unit.settings
        found: dict[str, tuple[str | None, str | None]] = {}
        states, points, checkins = [], [], []
        for kr in unit.krs:
            if not kr.local_id:
                continue
            cycle = settings.cycle or ""
            key = (unit.code.upper(), kr.local_id.upper(), cycle)
            old = before.get(key)
            comment = comment_of(unit, kr)
            state = KrState(
                unit_code=unit.code, kr_id=kr.local_id, cycle=cycle,
                cycle_start=settings.cycle_start.isoformat() if settings.cycle_start else None,
                cycle_end=settings.cycle_end.isoformat() if settings.cycle_end else None, text=kr.text,
                owner=kr.owner, current=kr.current, target=kr.target, due=kr.due.isoformat() if kr.due else None,
                confidence=kr.confidence, comment=comment, score=kr.score, status=kr.status,
                source=unit.source, path=unit_report.path, language=unit.lang,
                first_seen=old.first_seen if old else self.as_of, last_checkin=old.last_checkin if old else None,
            )
            # A sourced Current is the data's doing, not a person's: only Confidence and comment count there.
            current_changed = old is not None and not kr.source and comparable(old.current) != comparable(kr.current)
            changed = old is not None and (current_changed or comparable(old.confidence) != comparable(kr.confidence)
                                           or (old.comment or None) != comment)
            if changed and old is not None:
                checkin = Checkin(
                    unit_code=unit.code, kr_id=kr.local_id, at=at, as_of=self.as_of, via=_via(unit),
                    old_current=old.current, new_current=kr.current, old_confidence=old.confidence,
                    new_confidence=kr.confidence, comment=comment if comment != old.comment else None,
                    who=unit.raw.modified_by, cycle=settings.cycle, run_id=self.run_id,
                )
                checkins.append(checkin)
                state.last_checkin = self.as_of
                found[kr.local_id.upper()] = (checkin.who, checkin.comment)
            states.append(state)
            points.append((unit.code, kr.local_id, kr.current, kr.progress, kr.score, kr.confidence, kr.status))
            before[key] = state
        if checkins and unit.raw.modified_by is None:
            # Google: a Drive revision names who; asked only now that something changed.
            ask = getattr(backend, "modified_by", None)
            who = ask(unit.raw.locator) if callable(ask) else None
            for checkin in checkins:
                checkin.who = who
                found[checkin.kr_id.upper()] = (who, checkin.comment)
        weekly.add_checkins(self.home, checkins)
        weekly.save_states(self.home, states)
        weekly.add_points(self.home, self.run_id, self.as_of, settings.cycle or "", points)
        self.found.extend(checkins)
        return found


def record(workspace: Workspace, unit_code: str, kr_id: str, *, who: str | None, via: str,
           current: CellValue = None, confidence: float | None = None, comment: str | None = None,
           as_of: dt.date | None = None) -> Checkin:
    """A check-in made through the add-in or the API: recorded now, and the KR's state moved on, so the next
    sync does not count the same change a second time."""
    home = workspace.state_home
    day = (as_of or dt.date.today()).isoformat()
    old = pick_state(weekly.kr_states(home, unit_code), kr_id, day)
    if old is None:
        raise ConfigError(f"{unit_code}/{kr_id}: no such key result has been synced yet — run a sync first, "
                          "or check the ID")
    checkin = Checkin(
        unit_code=old.unit_code, kr_id=old.kr_id, at=store.now(), as_of=day, via=via,
        old_current=old.current, new_current=current if current is not None else old.current,
        old_confidence=old.confidence, new_confidence=confidence if confidence is not None else old.confidence,
        comment=(comment or "").strip() or None, who=who, cycle=old.cycle,
    )
    weekly.add_checkins(home, [checkin])
    old.current, old.confidence = checkin.new_current, checkin.new_confidence
    old.comment = checkin.comment or old.comment
    old.last_checkin = day
    weekly.save_states(home, [old])
    return checkin


def pick_state(states: list[KrState], kr_id: str, day: str, cycle: str | None = None) -> KrState | None:
    """A unit's KR in the cycle asked for, else the one whose cycle runs on the day, else the latest cycle's."""
    mine = [s for s in states if s.kr_id.upper() == kr_id.upper() and (cycle is None or s.cycle == cycle)]
    running = [s for s in mine if s.current_on(day)]
    pool = running or mine
    return max(pool, key=lambda s: (s.cycle_end or "", s.cycle)) if pool else None


def list_checkins(workspace: Workspace, *, unit: str | None = None, kr: str | None = None,
                  since: str | None = None, cycle: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Recorded check-ins as JSON, newest first (GET /api/checkins)."""
    home = workspace.state_home
    if not store.exists(home):
        return []
    return [c.as_dict() for c in weekly.checkins(home, unit_code=unit, kr_id=kr, since=since, cycle=cycle,
                                                   limit=limit)]
