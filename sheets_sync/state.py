"""The audit trail in SQLite (.okr-sync/state.db): every run, every cell changed, and undo."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .core.model import CellError, CellUpdate, CellValue, NoCachedValue, WorkbookChanges, a1
from .core.schema import normalize
from .core.values import same_value
from .errors import ConfigError, OkrSyncError
from .lock import state_dir, sync_lock

if TYPE_CHECKING:
    from .engine import SyncReport
    from .workspace import Workspace

DB_NAME = "state.db"

# Ordered, append-only: a released migration is never edited, a change is a new entry.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL DEFAULT 'sync',
        trigger TEXT NOT NULL,
        started TEXT NOT NULL,
        finished TEXT,
        as_of TEXT,
        units INTEGER NOT NULL DEFAULT 0,
        failed_units INTEGER NOT NULL DEFAULT 0,
        cells_written INTEGER NOT NULL DEFAULT 0,
        errors INTEGER NOT NULL DEFAULT 0,
        warnings INTEGER NOT NULL DEFAULT 0,
        company_score REAL,
        status TEXT NOT NULL,
        reason TEXT,
        undo_of INTEGER REFERENCES runs(id),
        snapshot TEXT
    );
    CREATE TABLE cell_changes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        locator TEXT NOT NULL,
        source TEXT NOT NULL,
        sheet TEXT NOT NULL,
        cell TEXT NOT NULL,
        row INTEGER NOT NULL,
        col INTEGER NOT NULL,
        row_id TEXT,
        id_col INTEGER,
        old_value TEXT NOT NULL,
        new_value TEXT NOT NULL
    );
    CREATE TABLE unit_scores (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        as_of TEXT NOT NULL,
        unit_code TEXT NOT NULL,
        score REAL
    );
    """,
    """
    CREATE INDEX cell_changes_run ON cell_changes(run_id);
    CREATE INDEX unit_scores_unit ON unit_scores(unit_code, as_of);
    """,
]

_migrated: set[Path] = set()
_migrate_lock = threading.Lock()


# --- typed JSON for cell values -------------------------------------------------------------


def encode_value(value: CellValue) -> str:
    """A cell value as typed JSON, so undo writes back a date as a date and 1 as a number."""
    if value is None:
        return json.dumps({"t": "null"})
    if isinstance(value, bool):
        return json.dumps({"t": "bool", "v": value})
    if isinstance(value, int):
        return json.dumps({"t": "int", "v": value})
    if isinstance(value, float):
        return json.dumps({"t": "float", "v": value})
    if isinstance(value, dt.datetime):
        return json.dumps({"t": "datetime", "v": value.isoformat()})
    if isinstance(value, dt.date):
        return json.dumps({"t": "date", "v": value.isoformat()})
    if isinstance(value, CellError):
        return json.dumps({"t": "error", "v": value.code})
    if isinstance(value, NoCachedValue):
        return json.dumps({"t": "formula", "v": value.formula})
    return json.dumps({"t": "str", "v": str(value)}, ensure_ascii=False)


def decode_value(text: str) -> CellValue:
    """The inverse of encode_value."""
    data = json.loads(text)
    kind, value = data.get("t"), data.get("v")
    if kind == "null":
        return None
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "error":
        return CellError(value)
    if kind == "formula":
        return NoCachedValue(value)
    return str(value)


def json_safe(value: Any) -> Any:
    """A value any JSON encoder takes: dates as ISO text, error values as their code."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    return str(value)


# --- records ---------------------------------------------------------------------------------


@dataclass
class RunRecord:
    """One row of the run log."""

    id: int
    kind: str
    trigger: str
    started: str
    finished: str | None
    as_of: str | None
    units: int
    failed_units: int
    cells_written: int
    errors: int
    warnings: int
    company_score: float | None
    status: str
    reason: str | None
    undo_of: int | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return dict(self.__dict__)

    def __str__(self) -> str:
        when = (self.started or "")[:16].replace("T", " ")
        head = f"#{self.id:<4} {when}  {self.kind:<4} by {self.trigger:<9} {self.status:<7}"
        if self.kind == "undo":
            body = f"undid run {self.undo_of}: {self.cells_written} cells restored"
        else:
            score = "—" if self.company_score is None else f"{self.company_score:.2f}"
            body = (
                f"as of {self.as_of or '—'}: {self.units} units, {self.cells_written} cells "
                f"written, {self.errors} errors, {self.warnings} warnings, company {score}"
            )
        return f"{head} {body}" + (f"\n      {self.reason}" if self.reason else "")


@dataclass
class CellRecord:
    """One cell a run changed."""

    run_id: int
    locator: str
    source: str
    sheet: str
    cell: str
    row: int
    col: int
    row_id: str | None
    id_col: int | None
    old: CellValue
    new: CellValue

    @property
    def where(self) -> str:
        """file › sheet › cell."""
        return f"{self.source} › {self.sheet} › {self.cell}"


@dataclass
class SkippedCell:
    """A cell undo left alone, and why."""

    cell: CellRecord
    code: str  # "changed", "row-gone", "sheet-gone", "unreadable", "write-failed", "no-backend"
    reason: str


@dataclass
class UndoResult:
    """What an undo restored and what it skipped."""

    undone_run: int
    run_id: int | None
    restored: list[CellRecord] = field(default_factory=list)
    skipped: list[SkippedCell] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"Undid run {self.undone_run} (logged as run {self.run_id}): restored "
            f"{len(self.restored)} cells, skipped {len(self.skipped)}."
        ]
        for s in self.skipped:
            lines.append(f"  skipped {s.cell.where}: {s.reason}")
        return "\n".join(lines)


# --- database --------------------------------------------------------------------------------


def home_of(target: Workspace | str | Path) -> Path:
    """The folder that holds .okr-sync/ for a workspace or a path."""
    if isinstance(target, str | Path):
        return Path(target)
    return Path(target.home)


def db_path(target: Workspace | str | Path) -> Path:
    """Where the state database of a workspace lives."""
    return state_dir(home_of(target)) / DB_NAME


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to date; return the version it is at."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    version = int(row[0] or 0)
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        # executescript commits first; wrap each step so a half-applied migration rolls back.
        conn.executescript(f"BEGIN;\n{script}\nINSERT INTO schema_version(version) VALUES ({number});\nCOMMIT;")
        version = number
    return version


@contextmanager
def connect(target: Workspace | str | Path) -> Iterator[sqlite3.Connection]:
    """A migrated connection; commits on success, rolls back on error."""
    path = db_path(target)
    if not path.exists():
        _migrated.discard(path.resolve())  # deleted under us: build it again
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.row_factory = sqlite3.Row
        resolved = path.resolve()
        if resolved not in _migrated:
            with _migrate_lock:
                if resolved not in _migrated:
                    # WAL lets the dashboard read while a sync writes.
                    conn.execute("PRAGMA journal_mode=WAL")
                    migrate(conn)
                    _migrated.add(resolved)
        conn.execute("PRAGMA foreign_keys=ON")
        with conn:
            yield conn
    finally:
        conn.close()


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=row["id"],
        kind=row["kind"],
        trigger=row["trigger"],
        started=row["started"],
        finished=row["finished"],
        as_of=row["as_of"],
        units=row["units"],
        failed_units=row["failed_units"],
        cells_written=row["cells_written"],
        errors=row["errors"],
        warnings=row["warnings"],
        company_score=row["company_score"],
        status=row["status"],
        reason=row["reason"],
        undo_of=row["undo_of"],
    )


def _cell(row: sqlite3.Row) -> CellRecord:
    return CellRecord(
        run_id=row["run_id"],
        locator=row["locator"],
        source=row["source"],
        sheet=row["sheet"],
        cell=row["cell"],
        row=row["row"],
        col=row["col"],
        row_id=row["row_id"],
        id_col=row["id_col"],
        old=decode_value(row["old_value"]),
        new=decode_value(row["new_value"]),
    )


def start_run(
    target: Workspace | str | Path,
    trigger: str,
    as_of: dt.date | None = None,
    kind: str = "sync",
    undo_of: int | None = None,
) -> int:
    """Open a run in the log (status 'running'); return its id. Call it holding the sync lock."""
    with connect(target) as conn:
        # Holding the lock means no other run is alive: a 'running' row is one whose process died.
        conn.execute(
            "UPDATE runs SET status='failed', reason=? WHERE status='running'",
            (
                "interrupted: the process stopped before the run finished; check the workbooks' "
                "last changes with `okr-sync log`",
            ),
        )
        cur = conn.execute(
            "INSERT INTO runs(kind, trigger, started, as_of, status, undo_of) VALUES (?, ?, ?, ?, 'running', ?)",
            (kind, trigger, _now(), as_of.isoformat() if as_of else None, undo_of),
        )
        return int(cur.lastrowid or 0)


def snapshot(report: SyncReport) -> dict[str, Any]:
    """What the dashboard and API show of a run: units, findings and the rollup, JSON-safe."""
    units = []
    for u in report.units:
        units.append(
            {
                "locator": u.locator,
                "source": u.source,
                "unit_code": u.unit_code,
                "name": u.name,
                "level": u.level,
                "language": u.language,
                "score": u.score,
                "errors": u.errors,
                "warnings": u.warnings,
                "error": u.error,
                "written": u.written,
                "cells": len(u.changes.updates) if u.written else 0,
            }
        )
    rollup = None
    if report.rollup is not None:
        rollup = {
            "company_score": report.rollup.company_score,
            "as_of": report.rollup.as_of,
            "sheets": [
                {
                    "name": s.name,
                    "headers": list(s.headers),
                    "kinds": list(s.kinds),
                    "rows": json_safe(s.rows),
                    "depths": s.depths,
                }
                for s in report.rollup.sheets
            ],
        }
    return {
        "as_of": report.as_of.isoformat(),
        "started": report.started.isoformat(),
        "finished": report.finished.isoformat() if report.finished else None,
        "company_score": report.company_score,
        "units": units,
        "findings": [json_safe(f.as_dict()) for f in report.findings]
        + [
            {
                "severity": "error",
                "rule": "unreadable-workbook",
                "where": u.source,
                "source": u.source,
                "sheet": None,
                "cell": None,
                "message": u.error,
                "unit": u.unit_code,
                "id": None,
            }
            for u in report.failed_units
        ],
        "rollup": rollup,
        "rollup_location": report.rollup_location,
        "rollup_written": report.rollup_written,
    }


def finish_run(target: Workspace | str | Path, run_id: int, report: SyncReport) -> RunRecord:
    """Close a run with what the sync did, and record every cell it wrote."""
    failed = report.failed_units
    status, reason = "ok", None
    if failed:
        status = "failed"
        shown = "; ".join(f"{u.source}: {u.error}" for u in failed[:5])
        more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
        reason = f"{len(failed)} of {len(report.units)} units could not be synced: {shown}{more}"
    warnings = sum(u.warnings for u in report.units)
    with connect(target) as conn:
        conn.execute(
            "UPDATE runs SET finished=?, as_of=?, units=?, failed_units=?, cells_written=?,"
            " errors=?, warnings=?, company_score=?, status=?, reason=?, snapshot=? WHERE id=?",
            (
                _now(),
                report.as_of.isoformat(),
                len(report.units),
                len(failed),
                report.cells_written,
                report.error_count,
                warnings,
                report.company_score,
                status,
                reason,
                json.dumps(snapshot(report), default=str),  # ASCII: a file name may hold undecodable bytes
                run_id,
            ),
        )
        for u in report.units:
            if u.unit_code:
                conn.execute(
                    "INSERT INTO unit_scores(run_id, as_of, unit_code, score) VALUES (?, ?, ?, ?)",
                    (run_id, report.as_of.isoformat(), u.unit_code, u.score),
                )
            if not u.written:
                continue
            _insert_cells(conn, run_id, u.locator, u.source, u.changes.updates, u.changes.id_col)
        return _run(conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone())


def _insert_cells(
    conn: sqlite3.Connection,
    run_id: int,
    locator: str,
    source: str,
    updates: list[CellUpdate],
    id_col: int | None,
) -> None:
    conn.executemany(
        "INSERT INTO cell_changes(run_id, locator, source, sheet, cell, row, col, row_id, id_col,"
        " old_value, new_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                run_id,
                locator,
                source,
                c.sheet,
                c.a1,
                c.row,
                c.col,
                c.row_id,
                id_col,
                encode_value(c.old),
                encode_value(c.new),
            )
            for c in updates
        ],
    )


def fail_run(target: Workspace | str | Path, run_id: int, reason: str) -> None:
    """Close a run that failed as a whole, with its reason."""
    with connect(target) as conn:
        conn.execute(
            "UPDATE runs SET finished=?, status='failed', reason=? WHERE id=?",
            (_now(), reason, run_id),
        )


def list_runs(target: Workspace | str | Path, limit: int = 20) -> list[RunRecord]:
    """The latest runs, newest first."""
    with connect(target) as conn:
        rows = conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return [_run(r) for r in rows]


def get_run(target: Workspace | str | Path, run_id: int) -> RunRecord | None:
    """One run by id."""
    with connect(target) as conn:
        row = conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
    return _run(row) if row else None


def run_cells(target: Workspace | str | Path, run_id: int) -> list[CellRecord]:
    """The cells a run changed, in the order it wrote them."""
    with connect(target) as conn:
        rows = conn.execute("SELECT * FROM cell_changes WHERE run_id=? ORDER BY id", (run_id,)).fetchall()
    return [_cell(r) for r in rows]


_RUN_COLUMNS = (
    "id, kind, trigger, started, finished, as_of, units, failed_units, cells_written, errors,"
    " warnings, company_score, status, reason, undo_of"
)


def latest_snapshot_run(target: Workspace | str | Path) -> RunRecord | None:
    """The newest sync run that left a snapshot (without loading the snapshot)."""
    with connect(target) as conn:
        row = conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE kind='sync' AND snapshot IS NOT NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
    return _run(row) if row else None


def get_snapshot(target: Workspace | str | Path, run_id: int) -> dict[str, Any] | None:
    """The snapshot a run left, parsed."""
    with connect(target) as conn:
        row = conn.execute("SELECT snapshot FROM runs WHERE id=?", (run_id,)).fetchone()
    if row is None or row["snapshot"] is None:
        return None
    return json.loads(row["snapshot"])  # type: ignore[no-any-return]


def latest_snapshot(target: Workspace | str | Path) -> tuple[RunRecord, dict[str, Any]] | None:
    """The newest sync run that left a snapshot, with that snapshot."""
    run = latest_snapshot_run(target)
    if run is None:
        return None
    return run, get_snapshot(target, run.id) or {}


def unit_trends(target: Workspace | str | Path, limit: int = 60) -> dict[str, list[tuple[str, float | None]]]:
    """Each unit's score by as-of day (the last run of each day), oldest first."""
    with connect(target) as conn:
        rows = conn.execute(
            "SELECT s.unit_code, s.as_of, s.score FROM unit_scores s"
            " WHERE s.run_id = (SELECT MAX(t.run_id) FROM unit_scores t"
            "   WHERE t.unit_code = s.unit_code AND t.as_of = s.as_of)"
            " ORDER BY s.as_of"
        ).fetchall()
    trends: dict[str, list[tuple[str, float | None]]] = {}
    for r in rows:
        trends.setdefault(r["unit_code"], []).append((r["as_of"], r["score"]))
    return {code: points[-limit:] for code, points in trends.items()}


# --- undo ------------------------------------------------------------------------------------


def _pick_run(conn: sqlite3.Connection, run_id: int | None) -> RunRecord:
    if run_id is None:
        row = conn.execute(
            "SELECT * FROM runs r WHERE kind='sync' AND status != 'running'"
            " AND EXISTS (SELECT 1 FROM cell_changes c WHERE c.run_id = r.id)"
            " AND NOT EXISTS (SELECT 1 FROM runs u WHERE u.undo_of = r.id)"
            " ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            raise ConfigError("there is no run left to undo: no sync has changed any cell yet")
        return _run(row)
    row = conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
    if row is None:
        raise ConfigError(f"there is no run {run_id} — `okr-sync log` lists the runs")
    if row["status"] == "running":
        raise ConfigError(f"run {run_id} has not finished yet — undo it once it has")
    return _run(row)


def backend_for(workspace: Workspace, locator: str, cache: dict[int, list[str]]) -> Any:
    """The backend that holds a unit's workbook, or None."""
    backends = list(workspace.backends)
    if len(backends) == 1:
        return backends[0]
    for i, backend in enumerate(backends):
        if i not in cache:
            try:
                cache[i] = list(backend.list_units())
            except OkrSyncError:
                cache[i] = []
        if locator in cache[i]:
            return backend
    return None


def _find_sheet(sheets: dict[str, Any], name: str) -> str | None:
    if name in sheets:
        return name
    wanted = normalize(name)
    return next((s for s in sheets if normalize(s) == wanted), None)


def _cell_at(grid: list[list[CellValue]], row: int, col: int) -> CellValue:
    if row < 1 or row > len(grid):
        return None
    line = grid[row - 1]
    return line[col - 1] if 1 <= col <= len(line) else None


def _locate_row(grid: list[list[CellValue]], cell: CellRecord) -> int | None:
    """The row now holding the cell's objective or KR: where it was, or where its ID moved to."""
    if not cell.row_id or not cell.id_col:
        return cell.row
    here = _cell_at(grid, cell.row, cell.id_col)
    if isinstance(here, str) and here.strip() == cell.row_id:
        return cell.row
    for number in range(1, len(grid) + 1):
        found = _cell_at(grid, number, cell.id_col)
        if isinstance(found, str) and found.strip() == cell.row_id:
            return number
    return None


def _later_run(workspace: Workspace, cell: CellRecord) -> int | None:
    """The newest later run that wrote this same cell, if any."""
    with connect(workspace) as conn:
        row = conn.execute(
            "SELECT MAX(run_id) FROM cell_changes WHERE run_id > ? AND locator = ? AND sheet = ?"
            " AND col = ? AND (row_id = ? OR (row_id IS NULL AND row = ?))",
            (cell.run_id, cell.locator, cell.sheet, cell.col, cell.row_id, cell.row),
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _show(value: CellValue) -> str:
    return "blank" if value in (None, "") else repr(value)


def undo(workspace: Workspace, run_id: int | None = None, *, trigger: str = "cli") -> UndoResult:
    """Write back the old values of a run's cells that still hold what that run wrote."""
    with sync_lock(workspace.home, who=f"undo ({trigger})"):
        with connect(workspace) as conn:
            target = _pick_run(conn, run_id)
        cells = run_cells(workspace, target.id)
        result = UndoResult(undone_run=target.id, run_id=None)
        by_unit: dict[str, list[CellRecord]] = {}
        for c in cells:
            by_unit.setdefault(c.locator, []).append(c)
        cache: dict[int, list[str]] = {}
        written: list[tuple[CellRecord, CellUpdate]] = []
        for locator, unit_cells in by_unit.items():
            written += _undo_unit(workspace, locator, unit_cells, result, cache)
        new_id = start_run(workspace, trigger, kind="undo", undo_of=target.id)
        with connect(workspace) as conn:
            for c, update in written:
                _insert_cells(conn, new_id, c.locator, c.source, [update], c.id_col)
            reason = f"{len(result.skipped)} cells skipped" if result.skipped else None
            conn.execute(
                "UPDATE runs SET finished=?, cells_written=?, units=?, status='ok', reason=? WHERE id=?",
                (_now(), len(written), len(by_unit), reason, new_id),
            )
        result.run_id = new_id
        return result


def _undo_unit(
    workspace: Workspace,
    locator: str,
    cells: list[CellRecord],
    result: UndoResult,
    cache: dict[int, list[str]],
) -> list[tuple[CellRecord, CellUpdate]]:
    backend = backend_for(workspace, locator, cache)
    if backend is None:
        for c in cells:
            result.skipped.append(SkippedCell(c, "no-backend", "this workbook is no longer part of the workspace"))
        return []
    try:
        raw = backend.read(locator)
    except OkrSyncError as exc:
        for c in cells:
            result.skipped.append(SkippedCell(c, "unreadable", f"could not read it: {exc}"))
        return []
    planned: list[tuple[CellRecord, CellUpdate]] = []
    for c in cells:
        sheet = _find_sheet(raw.sheets, c.sheet)
        if sheet is None:
            result.skipped.append(SkippedCell(c, "sheet-gone", f"sheet {c.sheet!r} is gone"))
            continue
        grid = raw.sheets[sheet]
        row = _locate_row(grid, c)
        if row is None:
            result.skipped.append(SkippedCell(c, "row-gone", f"the row of {c.row_id} is gone from the sheet"))
            continue
        now = _cell_at(grid, row, c.col)
        if not same_value(now, c.new):  # what this run wrote is still there
            later = _later_run(workspace, c)
            if later is not None:
                reason = (
                    f"run {later} wrote it since (it now holds {_show(now)}); undo run {later} first to go further back"
                )
            else:
                reason = (
                    f"it now holds {_show(now)}, not the {_show(c.new)} that run {c.run_id} "
                    "wrote — someone changed it since, so it is left as it is"
                )
            result.skipped.append(SkippedCell(c, "changed-by-run" if later else "changed", reason))
            continue
        planned.append((c, CellUpdate(sheet, row, c.col, old=now, new=c.old, row_id=c.row_id)))
    if not planned:
        return []
    id_col = next((c.id_col for c, _ in planned if c.id_col), None)
    changes = WorkbookChanges(updates=[u for _, u in planned], id_col=id_col, okrs_sheet=planned[0][1].sheet)
    try:
        backend.apply(locator, changes)
    except OkrSyncError as exc:
        for c, _ in planned:
            result.skipped.append(SkippedCell(c, "write-failed", f"could not write it: {exc}"))
        return []
    for c, update in planned:
        result.restored.append(
            CellRecord(
                run_id=c.run_id,
                locator=c.locator,
                source=c.source,
                sheet=update.sheet,
                cell=a1(update.row, update.col),
                row=update.row,
                col=update.col,
                row_id=c.row_id,
                id_col=c.id_col,
                old=c.new,
                new=c.old,
            )
        )
    return planned
