"""The quarterly rhythm: close a cycle (final grades, retrospective, frozen), reopen it, open the next one."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import engine
from ..core import carry_over, cycle_model, parse, validate
from ..core.cycle_model import Cycle
from ..core.retrospective import add_retrospective
from ..errors import ConfigError, OkrSyncError
from ..report import SyncReport
from ..runlog import store
from .recorded import finish, recorded

if TYPE_CHECKING:
    from ..workspace import Workspace


def close_cycle(workspace: Workspace, as_of: dt.date | None = None, *, trigger: str = "cli") -> SyncReport:
    """Grade a cycle as of its end, write the final grades and a Retrospective sheet into each unit, freeze it.

    The cycle is `workspace.cycle`, else the newest open cycle that has ended by as-of (today), else the current
    one. A cycle closed already is left as it is, and the report says so.
    """
    home = workspace.state_home
    with recorded(workspace, "close", trigger, as_of) as run:
        closed = store.closed_cycles(home)

        def pick(cycles: list[Cycle], day: dt.date) -> Cycle | None:
            return cycle_model.cycle_to_close(cycles, day, closed)

        report = engine.sync(workspace, as_of, journal=run, kind="close", closed=closed, pick=pick,
                             at_cycle_end=True, finalize=add_retrospective)
        cycle = report.cycle
        if cycle is None:
            raise ConfigError("no unit's Settings name a Cycle, so there is no cycle to close. Fill in Cycle, "
                              "Cycle start and Cycle end in each unit's Settings.")
        if not report.cycle_closed and report.status == "ok":
            store.close_cycle(home, cycle.name, _iso(cycle.start), _iso(cycle.end), run.id)
            report.notes.append(f"cycle {cycle.name} is closed: final grades as of {report.as_of.isoformat()}; "
                                f"later syncs of it write nothing (`okr-sync close-cycle --reopen --cycle "
                                f"{cycle.name}` reopens it)")
        elif not report.cycle_closed:
            report.notes.append(f"cycle {cycle.name} stays open: fix what could not be written and close it again")
        finish(run, report)
        return report


def reopen_cycle(workspace: Workspace, *, trigger: str = "cli") -> str:
    """Open a closed cycle again (the newest closed one unless `workspace.cycle` names it); say what was done."""
    home = workspace.state_home
    closed = store.closed_cycles(home)
    if not closed:
        raise ConfigError("no cycle is closed here, so there is nothing to reopen")
    if workspace.cycle:
        name = cycle_model.cycle_name(workspace.cycle) or ""
        if name not in closed:
            raise ConfigError(f"cycle {name} is not closed; closed: {', '.join(sorted(closed))}")
    else:
        name = sorted(closed)[-1]
    with recorded(workspace, "reopen", trigger) as run:
        store.reopen_cycle(home, name)
        totals = store.RunTotals(as_of=None, units=0, failed_units=0, cells_written=0, errors=0, warnings=0,
                                 company_score=None, status="ok", reason=None, cycle=name)
        store.finish_run(home, run.id, totals, None)
    return f"cycle {name} is open again: syncs score and write it (it was {closed[name]})"


@dataclass
class NewCycleResult:
    """What new-cycle wrote and what it left alone."""

    source: str
    target: str
    run_id: int | None = None
    written: list[tuple[str, str, int]] = field(default_factory=list)  # (unit, where, rows carried)
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"new-cycle {self.source} → {self.target}: wrote {len(self.written)} workbook(s)"]
        lines += [f"  {unit}: {where} ({rows} row(s) carried over)" for unit, where, rows in self.written]
        lines += [f"  skipped {line}" for line in self.skipped]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "new-cycle", "run_id": self.run_id, "from": self.source, "to": self.target,
                "written": [{"unit": u, "where": w, "carried": n} for u, w, n in self.written],
                "skipped": self.skipped}


def new_cycle(workspace: Workspace, source: str, target: str, *, trigger: str = "cli",
              share: tuple[str, ...] = ()) -> NewCycleResult:
    """Write each unit's workbook for the next cycle: Settings with its dates, the rows marked Carry over with
    their latest Current as Start, nothing else. Never overwrites; a unit that has one already is left alone."""
    from ..templates import cycle_dates

    old = cycle_model.cycle_name(source) or ""
    new = cycle_model.cycle_name(target) or ""
    cycle_dates(new)  # a cycle okr-sync can date: 2026-Q4, 2026-H1, 2026
    if old == new:
        raise ConfigError(f"--from and --to are the same cycle ({old}); give the next one, e.g. --to 2027-Q1")
    home = workspace.state_home
    result = NewCycleResult(old, new)
    with recorded(workspace, "new-cycle", trigger) as run:
        result.run_id = run.id
        units = _read_units(workspace, result)
        have_new = {(u.code or "").upper(): u.source for u, _ in units if cycle_model.unit_cycle(u) == new}
        sources = [(u, b) for u, b in units if cycle_model.unit_cycle(u) == old and u.code and not u.unusable]
        if not sources:
            raise ConfigError(f"no unit workbook is of cycle {old}; nothing to carry into {new}")
        marked = {id(u): carry_over.marked_rows(u) for u, _ in sources}
        carried_ids = set().union(*(carry_over.global_ids(u, marked[id(u)]) for u, _ in sources))
        for unit, backend in sources:
            code = unit.code or ""
            if code.upper() in have_new:
                result.skipped.append(f"{code}: {have_new[code.upper()]} is its {new} workbook already; left as is")
                continue
            rows = [carry_over.carried_cells(unit, r, carried_ids) for r in marked[id(unit)]]
            try:
                where = _write(unit, backend, rows, new, share)
            except OkrSyncError as exc:
                result.skipped.append(f"{code}: {exc}")
                continue
            result.written.append((code, where, len(rows)))
        totals = store.RunTotals(
            as_of=None, units=len(result.written), failed_units=0, cells_written=0, errors=0, warnings=0,
            company_score=None, status="ok", reason="; ".join(result.skipped) or None, cycle=new)
        store.finish_run(home, run.id, totals, result.to_json())
    return result


def _read_units(workspace: Workspace, result: NewCycleResult) -> list[tuple[parse.Unit, Any]]:
    out = []
    for backend in workspace.backends:
        for locator in backend.list_units():
            try:
                raw = backend.read(locator)
            except OkrSyncError as exc:
                result.skipped.append(str(exc))
                continue
            unit = parse.read_unit(raw)
            if unit.okrs_sheet is not None:
                validate.check_unit(unit)  # links key results to their objectives
            if unit.okrs_sheet is not None or unit.settings_sheet is not None:
                out.append((unit, backend))
    return out


def _write(unit: parse.Unit, backend: Any, rows: list[dict[str, Any]], cycle: str, share: tuple[str, ...]) -> str:
    """Write one unit's next-cycle workbook beside the old one (xlsx) or as a new spreadsheet (Google)."""
    settings = unit.settings
    options: dict[str, Any] = dict(level=settings.level or "team", code=unit.code, parent=settings.parent,
                                   name=settings.unit_name, owner=settings.owner, lang=unit.lang, cycle=cycle,
                                   okrs=rows or None)
    locator = unit.raw.locator
    if getattr(backend, "root", None) is not None:
        from ..templates import write_template

        path = next_cycle_path(Path(locator), cycle_model.unit_cycle(unit) or "", cycle)
        if path.exists():
            raise ConfigError(f"{path.name} exists already; new-cycle never overwrites a workbook")
        return str(write_template(path, **options))
    from ..backends.google_template import create_spreadsheet

    return create_spreadsheet(**options, share=share, credentials=getattr(backend, "credentials", None))


def next_cycle_path(path: Path, old: str, new: str) -> Path:
    """`hr.xlsx` -> `hr-2027-Q1.xlsx`; a name that carries the old cycle (`hr-2026q4.xlsx`) gets the new one."""
    match = re.match(r"^(\d{4})-([QH]\d)$", old)
    if match:
        pattern = re.compile(rf"{match.group(1)}[-_ ]?{match.group(2)}", re.IGNORECASE)
        if pattern.search(path.stem):
            return path.with_name(pattern.sub(new, path.stem) + path.suffix)
    elif old and old in path.stem:
        return path.with_name(path.stem.replace(old, new) + path.suffix)
    return path.with_name(f"{path.stem}-{new}{path.suffix}")


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None
