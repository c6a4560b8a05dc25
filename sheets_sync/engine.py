"""The sync: read every unit, validate, align, score, write back, roll up. One call per command."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from . import reading
from .core import parse, rollup, scoring, validate, writeback
from .core.alignment import Company, check_alignment, dependency_findings, fill_aligned_scores
from .core.model import RawWorkbook
from .core.values import Unreadable, parse_number
from .errors import ConfigError, OkrSyncError
from .reading import ReadCache
from .report import SyncReport, UnitReport, relative_path

if TYPE_CHECKING:
    from .backends.base import Backend
    from .sources import SourceReader
    from .workspace import Workspace


ProgressCallback = Callable[[int, int, str], None]


class WriteJournal(Protocol):
    """Told before a workbook is written and after, so a run killed in between leaves an honest log."""

    def planned(self, unit: UnitReport) -> None: ...

    def settled(self, unit: UnitReport, written: bool) -> None: ...


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
    cache: ReadCache | None = None,
) -> SyncReport:
    """Read, validate, score every unit of the workspace; write back and roll up unless told not to.

    The engine neither locks nor logs: the operations layer does both and hands in the journal, and the cache
    of workbooks parsed by earlier runs (reading.py says when one may be served).
    """
    report = SyncReport(as_of=as_of or dt.date.today(), started=_now(), dry_run=dry_run, kind=kind)
    read: list[tuple[Backend, UnitReport]] = []
    units: list[parse.Unit] = []
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
        units.append(outcome.unit)
    resolver = workspace.source_reader()
    company, edges = evaluate(units, report.as_of, resolver)
    for (backend, unit_report), unit in zip(read, units, strict=True):
        _fill_report(unit_report, unit)
        cells, unit.raw = unit.raw, reading.without_cells(unit.raw)  # memory: past its plan, a unit needs no grid
        if not write_back and not dry_run:
            continue  # a rollup or a validation: no cell plan needed
        if not workspace.in_focus(unit_report.locator):
            continue  # context for alignment only
        unit.raw = cells
        unit_report.changes = writeback.plan_changes(unit, report.as_of)
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
    if workspace.rollup is not None and write_rollup and not dry_run:
        report.rollup_location = workspace.rollup_location
        try:
            report.rollup_written = workspace.rollup.write_rollup(report.rollup)
        except OkrSyncError as exc:
            # The units are synced (and on record); only the company view waits for the next run.
            report.rollup_error = str(exc)
        except Exception as exc:  # noqa: BLE001 - reported like any rollup failure
            report.rollup_error = f"the rollup could not be written ({exc.__class__.__name__}: {exc})"
    if workspace.focus is not None:
        _narrow_to_focus(report, workspace.focus)
    report.finished = _now()
    return report


def _narrow_to_focus(report: SyncReport, focus: frozenset[str]) -> None:
    """Report only the workbooks that were named; the others of their folder served as context."""
    report.units = [u for u in report.units if str(Path(u.locator).resolve()) in focus]
    found = {str(Path(u.locator).resolve()) for u in report.units}
    for missing in sorted(focus - found):
        name = Path(missing).name
        report.units.append(UnitReport(locator=missing, source=name, path=name, error=(
            f"{name}: not a unit workbook (no Settings or OKRs sheet, a workbook the service owns, "
            "or an Excel/LibreOffice lock file)")))


def evaluate(
    units: list[parse.Unit], as_of: dt.date, resolver: SourceReader | None = None
) -> tuple[Company, list[rollup.Dependency]]:
    """Validate, align and score parsed units in place: the pure heart of a sync."""
    for unit in units:
        if unit.okrs_sheet is not None:
            validate.check_unit(unit)
    usable = [u for u in units if not u.unusable]
    company = Company.index(usable)
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
    others = [parse.read_unit(r) for r in context or []]
    as_of = as_of or dt.date.today()
    evaluate([unit, *others], as_of)
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
    return Path(locator).name if "/" in locator or "\\" in locator else locator


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)
