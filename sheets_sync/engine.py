"""The sync: read every unit, validate, align, score, write back, roll up. One call per command."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from . import reading
from .core import cycle_model, parse, rollup, scoring, validate, writeback
from .core.alignment import Company, _key, check_alignment, dependency_findings, fill_aligned_scores
from .core.cycle_model import Cycle
from .core.model import RawWorkbook, WorkbookChanges
from .core.people import People, check_owners, people_sheet
from .core.values import Unreadable, parse_number
from .errors import ConfigError, OkrSyncError, UnknownCycle
from .reading import ReadCache
from .report import SyncReport, UnitReport, relative_path

if TYPE_CHECKING:
    from .backends.base import Backend
    from .sources import SourceReader
    from .workspace import Workspace


ProgressCallback = Callable[[int, int, str], None]
# How an operation picks its cycle when none was named: (the workspace's cycles, as-of) -> the cycle.
CyclePicker = Callable[[list[Cycle], dt.date], Cycle | None]
# What a closing operation adds to each unit's changes (the retrospective sheet).
Finalizer = Callable[[parse.Unit, WorkbookChanges, Cycle | None], None]


class WriteJournal(Protocol):
    """Told before a workbook is written and after, so a run killed in between leaves an honest log."""

    def planned(self, unit: UnitReport) -> None: ...

    def settled(self, unit: UnitReport, written: bool) -> None: ...


class UnitObserver(Protocol):
    """Told about each unit once it is scored, before its cells are planned (check-ins are found here).

    It answers, per KR local ID (upper case), who checked in and why, for the unit's History rows.
    """

    def scored(self, unit_report: UnitReport, unit: parse.Unit,
               backend: Backend) -> dict[str, tuple[str | None, str | None]]: ...


def sync(
    workspace: Workspace,
    as_of: dt.date | None = None,
    *,
    dry_run: bool = False,
    write_back: bool = True,
    write_rollup: bool = True,
    progress: ProgressCallback | None = None,
    journal: WriteJournal | None = None,
    kind: str = "sync",
    closed: dict[str, str] | None = None,
    pick: CyclePicker | None = None,
    at_cycle_end: bool = False,
    finalize: Finalizer | None = None,
    observer: UnitObserver | None = None,
    cache: ReadCache | None = None,
) -> SyncReport:
    """Read, validate, score every unit of one cycle of the workspace; write back and roll up unless told not to.

    Units of other cycles are read (to know their cycle) and set aside. A cycle named in `closed` is frozen:
    scored and reported, never written. The engine neither locks nor logs: the operations layer does both and
    hands in the journal, the closed cycles, and the cache of workbooks parsed by earlier runs (reading.py says
    when one may be served).
    """
    report = SyncReport(as_of=as_of or dt.date.today(), started=_now(), dry_run=dry_run, kind=kind)
    read: list[tuple[Backend, UnitReport]] = []
    all_units: list[parse.Unit] = []
    locators = [(b, loc, _display(loc)) for b in workspace.backends for loc in b.list_units()]
    if not locators:
        where = workspace.config_path or workspace.home
        raise ConfigError(f"{where}: no unit workbooks found. Put the units' .xlsx workbooks there "
                          "(okr-sync new writes one), or check the path.")
    # Unchanged workbooks come parsed from the cache; the others are read, in parallel when many.
    outcomes = reading.read_all(locators, cache, progress, keep_cells=write_back or dry_run)
    for (backend, locator, display), outcome in zip(locators, outcomes, strict=True):
        if outcome.skipped is not None:
            report.skipped.append(outcome.skipped)
            continue
        unit_report = UnitReport(locator=locator, source=display, path=relative_path(locator, workspace.home))
        report.units.append(unit_report)
        if outcome.unit is None:
            unit_report.error = outcome.error
            continue
        unit_report.source = outcome.unit.source
        read.append((backend, unit_report))
        all_units.append(outcome.unit)
    cycle, others = _choose_cycle(workspace, report, all_units, closed or {}, pick)
    if cycle is not None and cycle.end is not None and (
            at_cycle_end or (report.cycle_closed and report.as_of > cycle.end)):
        report.as_of = cycle.end  # final grades: a closed cycle reads as of its end
    frozen = report.cycle_closed and cycle is not None
    if frozen and cycle is not None and (write_back or write_rollup):
        # A closed cycle is frozen: its final grades stay as the close wrote them.
        write_back = write_rollup = False
        report.notes.append(f"cycle {cycle.name} is closed ({(closed or {})[cycle.name]}): nothing was written. "
                            f"`okr-sync close-cycle --reopen --cycle {cycle.name}` reopens it.")
    keep = [i for i, u in enumerate(all_units) if cycle_model.belongs(u, cycle)]
    set_aside: dict[str, str] = {}
    for i, (_, unit_report) in enumerate(read):
        if i not in keep:
            report.units.remove(unit_report)
            set_aside[str(Path(unit_report.locator).resolve())] = cycle_model.unit_cycle(all_units[i]) or "?"
    read = [read[i] for i in keep]
    units = [all_units[i] for i in keep]
    resolver = workspace.source_reader()
    try:
        people = workspace.people(units)
    except OkrSyncError as exc:
        # A broken people list costs its own line; owners are then simply not checked.
        report.notes.append(str(exc))
        people = None
    company, edges = evaluate(units, report.as_of, resolver, cycle=cycle.name if cycle else None, others=others,
                              people=people)
    for (backend, unit_report), unit in zip(read, units, strict=True):
        _fill_report(unit_report, unit)
        cells, unit.raw = unit.raw, reading.without_cells(unit.raw)  # memory: past its plan, a unit needs no grid
        if (not write_back and not dry_run) or frozen:
            continue  # a rollup, a validation or a closed cycle: no cell plan needed
        if not workspace.in_focus(unit_report.locator):
            continue  # context for alignment only
        unit.raw = cells
        checkins = observer.scored(unit_report, unit, backend) if observer is not None and not dry_run else None
        unit_report.changes = writeback.plan_changes(unit, report.as_of, checkins)
        if finalize is not None and not unit.unusable:
            finalize(unit, unit_report.changes, cycle)
        unit.raw = reading.without_cells(cells)
        if dry_run or unit_report.changes.empty:
            continue
        if journal is not None:
            journal.planned(unit_report)
        try:
            backend.apply(unit_report.locator, unit_report.changes)
            unit_report.written = True
        except OkrSyncError as exc:
            unit_report.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - one bad unit never stops the others
            unit_report.error = f"{unit_report.source}: could not be written ({exc.__class__.__name__}: {exc})"
        if journal is not None:
            journal.settled(unit_report, unit_report.written)
    failed = [u.all_findings[0] for u in report.units if u.error]
    report.rollup = rollup.build_rollup(units, company, edges, report.as_of.isoformat(), failed)
    target, location = workspace.rollup_for(cycle.name if cycle else None, len(report.cycles) > 1)
    if target is None and workspace.cycle_rollups and write_rollup and not dry_run:
        report.notes.append(f"no Google rollup is named for cycle {cycle.name if cycle else '?'} in the config's "
                            "[rollup.google] table; the units are synced, the company view is not written")
    if target is not None and write_rollup and not dry_run:
        report.rollup_location = location
        try:
            report.rollup_written = target.write_rollup(report.rollup)
        except OkrSyncError as exc:
            # The units are synced (and on record); only the company view waits for the next run.
            report.rollup_error = str(exc)
        except Exception as exc:  # noqa: BLE001 - reported like any rollup failure
            report.rollup_error = f"the rollup could not be written ({exc.__class__.__name__}: {exc})"
    if workspace.focus is not None:
        _narrow_to_focus(report, workspace.focus, set_aside)
    report.finished = _now()
    return report


def _narrow_to_focus(report: SyncReport, focus: frozenset[str], set_aside: dict[str, str] | None = None) -> None:
    """Report only the workbooks that were named; the others of their folder served as context."""
    report.units = [u for u in report.units if str(Path(u.locator).resolve()) in focus]
    found = {str(Path(u.locator).resolve()) for u in report.units}
    for missing in sorted(focus - found):
        name = Path(missing).name
        other = (set_aside or {}).get(missing)
        if other is not None:
            this = report.cycle.name if report.cycle else "?"
            report.units.append(UnitReport(locator=missing, source=name, path=name, error=(
                f"{name}: a workbook of cycle {other}, not {this}; check it on its own or with --cycle {other}")))
            continue
        report.units.append(UnitReport(locator=missing, source=name, path=name, error=(
            f"{name}: not a unit workbook (no Settings or OKRs sheet, a workbook the service owns, "
            "or an Excel/LibreOffice lock file)")))


def _choose_cycle(workspace: Workspace, report: SyncReport, units: list[parse.Unit], closed: dict[str, str],
                  pick: CyclePicker | None) -> tuple[Cycle | None, list[parse.Unit]]:
    """The cycle this operation works on (named, else picked by as-of) and the units of the other cycles."""
    cycles = cycle_model.cycles_of(units)
    report.cycles = cycles
    if workspace.cycle:
        cycle = cycle_model.find(cycles, workspace.cycle)
        if cycle is None:
            held = ", ".join(c.name for c in cycles) or "none (no unit's Settings name a Cycle)"
            raise UnknownCycle(f"no unit workbook is of cycle {cycle_model.cycle_name(workspace.cycle)}; "
                              f"the workspace holds: {held}. Give one of those with --cycle.")
    elif (named := _focused_cycle(workspace, units)) is not None:
        cycle = cycle_model.find(cycles, named)  # a workbook named on its own: its own cycle
    elif pick is not None:
        cycle = pick(cycles, report.as_of)
    else:
        cycle = cycle_model.default_cycle(cycles, report.as_of, closed)
    report.cycle = cycle
    report.cycle_closed = cycle is not None and cycle.name in closed
    # The other cycles' workbooks are set aside (report.cycles names every cycle; the CLI says so in one line).
    return cycle, [u for u in units if not cycle_model.belongs(u, cycle)]


def _focused_cycle(workspace: Workspace, units: list[parse.Unit]) -> str | None:
    """The one cycle of the workbooks named on their own (`okr-sync validate hr-2027-Q1.xlsx`), if they share one."""
    if workspace.focus is None:
        return None
    names = {cycle_model.unit_cycle(u) for u in units if workspace.in_focus(u.raw.locator)} - {None}
    return names.pop() if len(names) == 1 else None


def evaluate(
    units: list[parse.Unit], as_of: dt.date, resolver: SourceReader | None = None, *,
    cycle: str | None = None, others: list[parse.Unit] | None = None, people: People | None = None,
) -> tuple[Company, list[rollup.Dependency]]:
    """Validate, align and score parsed units (of one cycle) in place: the pure heart of a sync.

    `others` are units of other cycles: never scored, only known, so a reference into them says so.
    """
    for unit in units:
        if unit.okrs_sheet is not None:
            validate.check_unit(unit)
    people = people or people_sheet(units)
    if people is not None:
        check_owners(units, people)
    usable = [u for u in units if not u.unusable]
    company = Company.index(usable)
    company.cycle = cycle
    for other in others or []:
        for row in other.rows:
            if other.code and row.local_id and row.kind:
                company.other_cycles.setdefault(_key(other.code, row.local_id),
                                                cycle_model.unit_cycle(other) or "?")
    check_alignment(company)
    if resolver is not None:
        _resolve_sources([u for u in units if not u.unusable], resolver)
    for unit in company.by_code.values():
        scoring.score_unit(unit, as_of)
    fill_aligned_scores(company)
    edges = dependency_findings(company)
    for unit in company.by_code.values():
        scoring.end_of_cycle_findings(unit, as_of)
    return company, edges


def score_workbook(
    raw: RawWorkbook, as_of: dt.date | None = None, context: list[RawWorkbook] | None = None
) -> UnitReport:
    """Validate and score one workbook on its own (the Excel add-in); context units help alignment."""
    unit = parse.read_unit(raw)
    mine = cycle_model.unit_cycle(unit)
    context_units = [parse.read_unit(r) for r in context or []]
    # Context workbooks of other cycles are references, never duplicates of this unit.
    others = [u for u in context_units if mine is None or cycle_model.unit_cycle(u) in (None, mine)]
    elsewhere = [u for u in context_units if u not in others]
    as_of = as_of or dt.date.today()
    evaluate([unit, *others], as_of, cycle=mine, others=elsewhere)
    unit_report = UnitReport(locator=raw.locator or raw.source, source=raw.source, path=raw.source)
    _fill_report(unit_report, unit)
    unit_report.changes = writeback.plan_changes(unit, as_of)
    return unit_report


def _resolve_sources(units: list[parse.Unit], resolver: SourceReader) -> None:
    """Read every KR Source in one pass per store, then put each value on its row."""
    wanted = [(u, r) for u in units for r in u.krs if r.source]
    if not wanted:
        return
    values = resolver.read_many([(u.raw.locator, r.source or "") for u, r in wanted])
    for (unit, row), value in zip(wanted, values, strict=True):
        if isinstance(value, Exception):
            unit.report("source-unreadable", row, "source", source=row.source, reason=str(value))
            continue
        if row.metric != "yes-no" and isinstance(value, str):
            # Current is a number column: `1,234` from a data sheet lands as 1234.
            try:
                value = parse_number(value)
            except Unreadable:
                pass
        row.source_value = value
        row.current = value


def _fill_report(unit_report: UnitReport, unit: parse.Unit) -> None:
    unit_report.unit_code = unit.code
    unit_report.name = unit.settings.unit_name
    unit_report.level = unit.settings.level
    unit_report.language = unit.lang
    unit_report.score = unit.score
    unit_report.coverage = unit.coverage
    unit_report.findings = list(unit.findings)
    unit_report.source = unit.source


def _display(locator: str) -> str:
    """A unit's name before its workbook is read; bytes of a name that are not UTF-8 escaped."""
    name = Path(locator).name if "/" in locator or "\\" in locator else locator
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)
