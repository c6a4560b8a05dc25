"""The sync: read every unit, validate, align, score, write back, roll up. One call per command."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .core import parse, rollup, schema, scoring, validate, writeback
from .core.alignment import Company, check_alignment, dependency_findings, fill_aligned_scores
from .core.model import Finding, Place, RawWorkbook, WorkbookChanges
from .core.rollup import RollupBook
from .core.values import Unreadable, parse_number
from .errors import ConfigError, OkrSyncError

if TYPE_CHECKING:
    from .backends.base import Backend
    from .sources import SourceReader
    from .workspace import Workspace


@dataclass
class UnitReport:
    """What a sync did with one unit workbook."""

    locator: str
    source: str
    unit_code: str | None = None
    name: str | None = None
    level: str | None = None
    language: str = "en"
    score: float | None = None
    findings: list[Finding] = field(default_factory=list)
    changes: WorkbookChanges = field(default_factory=WorkbookChanges)
    # Set when the workbook could not be read or written at all (locked, not a workbook...).
    error: str | None = None
    written: bool = False

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form (for --json and the API)."""
        return {
            "source": self.source, "locator": self.locator, "unit": self.unit_code, "name": self.name,
            "level": self.level, "language": self.language, "score": self.score,
            "errors": self.errors, "warnings": self.warnings, "error": self.error,
            "written": self.written,
            "changes": [
                {"sheet": c.sheet, "cell": c.a1, "id": c.row_id, "old": _jsonable(c.old), "new": _jsonable(c.new)}
                for c in self.changes.updates
            ],
            "history_rows": sum(len(a.rows) for a in self.changes.appends),
        }


@dataclass
class SyncReport:
    """What a whole run did; the CLI, the server and the state database all read this."""

    as_of: dt.date
    started: dt.datetime
    finished: dt.datetime | None = None
    units: list[UnitReport] = field(default_factory=list)
    rollup: RollupBook | None = None
    rollup_location: str | None = None
    rollup_written: bool = False
    dry_run: bool = False
    rollup_error: str | None = None
    # Workbooks with neither a Settings nor an OKRs sheet (data files a Source points at): not units.
    skipped: list[str] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [f for u in self.units for f in u.findings]

    @property
    def failed_units(self) -> list[UnitReport]:
        return [u for u in self.units if u.error]

    @property
    def cells_written(self) -> int:
        return sum(len(u.changes.updates) for u in self.units if u.written)

    @property
    def error_count(self) -> int:
        return sum(u.errors for u in self.units)

    @property
    def company_score(self) -> float | None:
        return self.rollup.company_score if self.rollup else None

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form (for --json and the API)."""
        return {
            "as_of": self.as_of.isoformat(), "started": self.started.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None,
            "dry_run": self.dry_run, "company_score": self.company_score,
            "units": [u.as_dict() for u in self.units],
            "findings": [f.as_dict() for f in self.findings],
            "cells_written": self.cells_written, "errors": self.error_count,
            "failed_units": [u.source for u in self.failed_units],
            "skipped": self.skipped,
            "rollup": self.rollup_location, "rollup_written": self.rollup_written,
            "rollup_error": self.rollup_error,
            "exit_code": self.exit_code,
        }

    @property
    def exit_code(self) -> int:
        """0 clean, 1 validation errors, 2 a unit could not be read or written."""
        if self.failed_units or self.rollup_error:
            return 2
        return 1 if self.error_count else 0


ProgressCallback = Callable[[int, int, str], None]


def sync(
    workspace: Workspace,
    as_of: dt.date | None = None,
    *,
    dry_run: bool = False,
    write_back: bool = True,
    write_rollup: bool = True,
    progress: ProgressCallback | None = None,
) -> SyncReport:
    """Read, validate, score every unit of the workspace; write back and roll up unless told not to."""
    report = SyncReport(as_of=as_of or dt.date.today(), started=_now(), dry_run=dry_run)
    read: list[tuple[Backend, UnitReport, RawWorkbook]] = []
    locators = [(b, loc) for b in workspace.backends for loc in b.list_units()]
    if not locators:
        where = workspace.config_path or workspace.home
        raise ConfigError(f"{where}: no unit workbooks found. Put the units' .xlsx workbooks there "
                          "(okr-sync new writes one), or check the path.")
    for index, (backend, locator) in enumerate(locators, start=1):
        unit_report = UnitReport(locator=locator, source=_display(locator))
        report.units.append(unit_report)
        try:
            raw = backend.read(locator)
        except OkrSyncError as exc:
            unit_report.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - one bad unit never stops the others
            unit_report.error = f"{unit_report.source}: could not be read ({exc.__class__.__name__}: {exc})"
        else:
            unit_report.source = raw.source
            if _is_unit_workbook(raw):
                read.append((backend, unit_report, raw))
            else:
                report.units.remove(unit_report)
                report.skipped.append(raw.source)
        if progress:
            progress(index, len(locators), unit_report.source)
    units = [parse.read_unit(raw) for _, _, raw in read]
    resolver = workspace.source_reader()
    company, edges = evaluate(units, report.as_of, resolver)
    for (backend, unit_report, _), unit in zip(read, units, strict=True):
        _fill_report(unit_report, unit)
        if not write_back and not dry_run:
            continue  # a rollup or a validation: no cell plan needed
        if not workspace.in_focus(unit_report.locator):
            continue  # context for alignment only
        unit_report.changes = writeback.plan_changes(unit)
        if dry_run or unit_report.changes.empty:
            continue
        try:
            backend.apply(unit_report.locator, unit_report.changes)
            unit_report.written = True
        except OkrSyncError as exc:
            unit_report.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - one bad unit never stops the others
            unit_report.error = f"{unit_report.source}: could not be written ({exc.__class__.__name__}: {exc})"
    failed = [_failure_finding(u) for u in report.units if u.error]
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
        report.units.append(UnitReport(locator=missing, source=name, error=(
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
    evaluate([unit, *others], as_of or dt.date.today())
    unit_report = UnitReport(locator=raw.locator or raw.source, source=raw.source)
    _fill_report(unit_report, unit)
    unit_report.changes = writeback.plan_changes(unit)
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


def _is_unit_workbook(raw: RawWorkbook) -> bool:
    """A workbook with a Settings or an OKRs sheet is a unit (perhaps a broken one); others are data."""
    return any(schema.match_sheet(raw.sheet_names, sheet) for sheet in (schema.SHEET_SETTINGS, schema.SHEET_OKRS))


def _fill_report(unit_report: UnitReport, unit: parse.Unit) -> None:
    unit_report.unit_code = unit.code
    unit_report.name = unit.settings.unit_name
    unit_report.level = unit.settings.level
    unit_report.language = unit.lang
    unit_report.score = unit.score
    unit_report.findings = list(unit.findings)
    unit_report.source = unit.source


def _failure_finding(unit_report: UnitReport) -> Finding:
    return Finding("error", "unreadable-workbook", Place(unit_report.source), unit_report.error or "")


def _display(locator: str) -> str:
    """A unit's name before its workbook is read; bytes of a name that are not UTF-8 escaped."""
    name = Path(locator).name if "/" in locator or "\\" in locator else locator
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def validate_paths(paths: list[Path], as_of: dt.date | None = None) -> SyncReport:
    """Validate workbooks, folders or configs; lone workbooks are checked with their folder as context.

    Workbooks of one folder are validated together, so `okr-sync validate *.xlsx` reads the folder once.
    """
    from .workspace import Workspace

    workspaces: dict[Path, Workspace] = {}
    for path in paths:
        workspace = Workspace.from_path(path)
        if workspace.focus is None:
            workspaces[path.resolve()] = workspace
            continue
        earlier = workspaces.setdefault(workspace.home.resolve(), workspace)
        if earlier is not workspace and earlier.focus is not None:
            earlier.focus = earlier.focus | workspace.focus
    reports = [sync(ws, as_of, write_back=False, write_rollup=False) for ws in workspaces.values()]
    merged = reports[0]
    for report in reports[1:]:
        merged.units.extend(report.units)
        merged.skipped.extend(report.skipped)
    merged.finished = _now()
    return merged


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)
