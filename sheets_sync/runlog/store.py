"""The run log in SQLite (HOME/.okr-sync/state.db): every run, the cells it wrote (journalled before the write)
and the report it left. It knows homes and reports, never the engine or a workspace.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.model import CellUpdate, CellValue
from ..errors import ConfigError
from .codec import decode_value, encode_value

DB_NAME = "state.db"
STATE_DIR = ".okr-sync"

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
    # The journal: a workbook's cells are recorded 'planned' before it is replaced and 'done' after, so a run
    # killed at any moment leaves a log that says what may have been written.
    """
    ALTER TABLE cell_changes ADD COLUMN state TEXT NOT NULL DEFAULT 'done';
    CREATE TABLE journal (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        locator TEXT NOT NULL,
        source TEXT NOT NULL,
        state TEXT NOT NULL,
        PRIMARY KEY (run_id, locator)
    );
    """,
    # The read cache: each workbook parsed by an earlier run, served again while its identity is unchanged.
    """
    CREATE TABLE read_cache (
        locator TEXT PRIMARY KEY,
        identity TEXT NOT NULL,
        data BLOB NOT NULL
    );
    """,
]

_migrated: set[Path] = set()
_migrate_lock = threading.Lock()


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
        head = f"#{self.id:<4} {when}  {self.kind:<6} by {self.trigger:<9} {self.status:<11}"
        if self.kind == "undo":
            body = f"undid run {self.undo_of}: {self.cells_written} cells restored"
        elif self.kind == "addin":
            body = f"as of {self.as_of or '—'}: {self.cells_written} cells written from the Excel add-in"
        else:
            score = "—" if self.company_score is None else f"{self.company_score:.2f}"
            body = (
                f"as of {self.as_of or '—'}: {self.units} units, {self.cells_written} cells "
                f"written, {self.errors} errors, {self.warnings} warnings, company {score}"
            )
        return f"{head} {body}" + (f"\n      {self.reason}" if self.reason else "")


@dataclass
class CellRecord:
    """One cell a run changed (or, journalled as 'planned', was about to change)."""

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
    state: str = "done"

    @property
    def where(self) -> str:
        """file › sheet › cell."""
        return f"{self.source} › {self.sheet} › {self.cell}"


@dataclass
class RunTotals:
    """The figures of a finished run that `okr-sync log` lists."""

    as_of: str | None
    units: int
    failed_units: int
    cells_written: int
    errors: int
    warnings: int
    company_score: float | None
    status: str
    reason: str | None


def exists(home: str | Path) -> bool:
    """Whether a home has a run log (checked without creating anything)."""
    return (Path(home) / STATE_DIR / DB_NAME).exists()


def db_path(home: str | Path) -> Path:
    """Where the run log of a home lives (the folder is made on first use)."""
    folder = Path(home) / STATE_DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{folder}: cannot create the run-log folder ({exc.strerror or exc}). "
            "Make the folder writable for this user, or run okr-sync from an account that can write there."
        ) from None
    return folder / DB_NAME


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
def connect(home: str | Path) -> Iterator[sqlite3.Connection]:
    """A migrated connection; commits on success, rolls back on error. A broken database is one clear line."""
    path = db_path(home)
    if not path.exists():
        _migrated.discard(path.resolve())  # deleted under us: build it again
    try:
        conn = sqlite3.connect(path, timeout=30)
    except sqlite3.Error as exc:
        raise _database_error(path, exc) from None
    try:
        conn.row_factory = sqlite3.Row
        resolved = path.resolve()
        try:
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
        except sqlite3.DatabaseError as exc:
            raise _database_error(path, exc) from None
    finally:
        conn.close()


def _database_error(path: Path, exc: sqlite3.Error) -> ConfigError:
    text = str(exc)
    if "readonly" in text or "unable to open" in text:
        return ConfigError(f"{path}: the run log cannot be written ({text}). Make {path.parent} writable for this "
                           "user and run again.")
    return ConfigError(
        f"{path}: the run log is damaged ({text}). Move it aside (mv {path} {path}.broken) and run again: a new "
        "log starts, the workbooks are not affected; only undo of earlier runs is lost."
    )


def now() -> str:
    """The time stamp the log uses."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(**{k: row[k] for k in RunRecord.__dataclass_fields__})


def _cell(row: sqlite3.Row) -> CellRecord:
    return CellRecord(
        run_id=row["run_id"], locator=row["locator"], source=row["source"], sheet=row["sheet"],
        cell=row["cell"], row=row["row"], col=row["col"], row_id=row["row_id"], id_col=row["id_col"],
        old=decode_value(row["old_value"]), new=decode_value(row["new_value"]), state=row["state"],
    )


# --- runs -----------------------------------------------------------------------------------------


INTERRUPTED = (
    "interrupted: the process stopped before the run finished; the workbooks it may have written are listed "
    "by `okr-sync log` and `okr-sync undo` reverts them"
)


def start_run(home: str | Path, kind: str, trigger: str, as_of: dt.date | None = None,
              undo_of: int | None = None) -> tuple[int, list[int]]:
    """Open a run (status 'running'); return its id and the ids of runs found interrupted.

    Call it holding the lock: a 'running' row then belongs to a process that died.
    """
    with connect(home) as conn:
        stale = [int(r[0]) for r in conn.execute("SELECT id FROM runs WHERE status='running'").fetchall()]
        conn.execute("UPDATE runs SET status='interrupted', reason=?, finished=? WHERE status='running'",
                     (INTERRUPTED, now()))
        cur = conn.execute(
            "INSERT INTO runs(kind, trigger, started, as_of, status, undo_of) VALUES (?, ?, ?, ?, 'running', ?)",
            (kind, trigger, now(), as_of.isoformat() if as_of else None, undo_of),
        )
        return int(cur.lastrowid or 0), stale


def finish_run(home: str | Path, run_id: int, totals: RunTotals, report_json: dict[str, Any] | None,
               unit_scores: Iterable[tuple[str, float | None]] = ()) -> RunRecord:
    """Close a run with what it did and the report it leaves for the dashboard."""
    with connect(home) as conn:
        conn.execute(
            "UPDATE runs SET finished=?, as_of=?, units=?, failed_units=?, cells_written=?,"
            " errors=?, warnings=?, company_score=?, status=?, reason=?, snapshot=? WHERE id=?",
            (now(), totals.as_of, totals.units, totals.failed_units, totals.cells_written, totals.errors,
             totals.warnings, totals.company_score, totals.status, totals.reason,
             json.dumps(report_json, ensure_ascii=False, default=str) if report_json is not None else None,
             run_id),
        )
        conn.executemany(
            "INSERT INTO unit_scores(run_id, as_of, unit_code, score) VALUES (?, ?, ?, ?)",
            [(run_id, totals.as_of or "", code, score) for code, score in unit_scores],
        )
        return _run(conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone())


def fail_run(home: str | Path, run_id: int, reason: str) -> None:
    """Close a run that failed as a whole, with its reason."""
    with connect(home) as conn:
        conn.execute("UPDATE runs SET finished=?, status='failed', reason=? WHERE id=?", (now(), reason, run_id))


def list_runs(home: str | Path, limit: int = 20) -> list[RunRecord]:
    """The latest runs, newest first."""
    with connect(home) as conn:
        rows = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return [_run(r) for r in rows]


def get_run(home: str | Path, run_id: int) -> RunRecord | None:
    """One run by id."""
    with connect(home) as conn:
        row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id=?", (run_id,)).fetchone()
    return _run(row) if row else None


_RUN_COLUMNS = (
    "id, kind, trigger, started, finished, as_of, units, failed_units, cells_written, errors,"
    " warnings, company_score, status, reason, undo_of"
)


def latest_report_run(home: str | Path) -> RunRecord | None:
    """The newest sync that left a report (without loading it)."""
    with connect(home) as conn:
        row = conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE kind='sync' AND snapshot IS NOT NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
    return _run(row) if row else None


def get_report(home: str | Path, run_id: int) -> dict[str, Any] | None:
    """The report JSON a run left."""
    with connect(home) as conn:
        row = conn.execute("SELECT snapshot FROM runs WHERE id=?", (run_id,)).fetchone()
    if row is None or row["snapshot"] is None:
        return None
    return json.loads(row["snapshot"])  # type: ignore[no-any-return]


def unit_trends(home: str | Path, limit: int = 60) -> dict[str, list[tuple[str, float | None]]]:
    """Each unit's score by as-of day (the last run of each day), oldest first."""
    with connect(home) as conn:
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


# --- the journal ----------------------------------------------------------------------------------


def journal_planned(home: str | Path, run_id: int, locator: str, source: str,
                    updates: list[CellUpdate], id_col: int | None) -> None:
    """Record the cells a run is about to write into one workbook, before it is replaced."""
    with connect(home) as conn:
        conn.execute("INSERT OR REPLACE INTO journal(run_id, locator, source, state) VALUES (?, ?, ?, 'planned')",
                     (run_id, locator, source))
        conn.execute("DELETE FROM cell_changes WHERE run_id=? AND locator=?", (run_id, locator))
        _insert_cells(conn, run_id, locator, source, updates, id_col, "planned")


def journal_done(home: str | Path, run_id: int, locator: str, written: bool) -> None:
    """Mark a workbook's journalled cells written, or drop them when the write did not happen."""
    with connect(home) as conn:
        _settle(conn, run_id, locator, written)


def _settle(conn: sqlite3.Connection, run_id: int, locator: str, written: bool) -> None:
    if written:
        conn.execute("UPDATE cell_changes SET state='done' WHERE run_id=? AND locator=?", (run_id, locator))
        conn.execute("UPDATE journal SET state='done' WHERE run_id=? AND locator=?", (run_id, locator))
    else:
        conn.execute("DELETE FROM cell_changes WHERE run_id=? AND locator=?", (run_id, locator))
        conn.execute("UPDATE journal SET state='not written' WHERE run_id=? AND locator=?", (run_id, locator))


def planned_workbooks(home: str | Path, run_ids: list[int]) -> list[tuple[int, str, str]]:
    """(run, locator, source) of every workbook an interrupted run was about to write."""
    if not run_ids:
        return []
    marks = ",".join("?" * len(run_ids))
    with connect(home) as conn:
        rows = conn.execute(
            f"SELECT run_id, locator, source FROM journal WHERE state='planned' AND run_id IN ({marks})", run_ids
        ).fetchall()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def settle_interrupted(home: str | Path, run_id: int, locator: str, written_cells: set[str] | None) -> int:
    """Say what an interrupted run really wrote into a workbook: the cells (sheet!A1) found holding its values.

    None means the workbook could not be read: its cells stay on record as planned, so undo still tries them.
    Returns how many cells are on record as written.
    """
    with connect(home) as conn:
        if written_cells is None:
            return 0
        rows = conn.execute("SELECT id, sheet, cell FROM cell_changes WHERE run_id=? AND locator=?",
                            (run_id, locator)).fetchall()
        gone = [r["id"] for r in rows if f"{r['sheet']}!{r['cell']}" not in written_cells]
        conn.executemany("DELETE FROM cell_changes WHERE id=?", [(i,) for i in gone])
        kept = len(rows) - len(gone)
        _settle(conn, run_id, locator, kept > 0)
        conn.execute("UPDATE runs SET cells_written = (SELECT COUNT(*) FROM cell_changes WHERE run_id=?) WHERE id=?",
                     (run_id, run_id))
        return kept


def record_cells(home: str | Path, run_id: int, locator: str, source: str,
                 updates: list[CellUpdate], id_col: int | None) -> None:
    """Record cells written outside the journal (undo's own writes are journalled the same way)."""
    with connect(home) as conn:
        _insert_cells(conn, run_id, locator, source, updates, id_col, "done")


def _insert_cells(conn: sqlite3.Connection, run_id: int, locator: str, source: str,
                  updates: list[CellUpdate], id_col: int | None, state: str) -> None:
    conn.executemany(
        "INSERT INTO cell_changes(run_id, locator, source, sheet, cell, row, col, row_id, id_col,"
        " old_value, new_value, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(run_id, locator, source, c.sheet, c.a1, c.row, c.col, c.row_id, id_col, encode_value(c.old),
          encode_value(c.new), state) for c in updates],
    )


def run_cells(home: str | Path, run_id: int) -> list[CellRecord]:
    """The cells a run changed (or may have, if it was interrupted), in the order it wrote them."""
    with connect(home) as conn:
        rows = conn.execute("SELECT * FROM cell_changes WHERE run_id=? ORDER BY id", (run_id,)).fetchall()
    return [_cell(r) for r in rows]


def run_to_undo(home: str | Path, run_id: int | None, exclude: int | None = None) -> RunRecord:
    """The run `undo` should revert: the one named, or the newest that wrote cells and is not undone yet."""
    with connect(home) as conn:
        if run_id is None:
            row = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs r WHERE kind = 'sync' AND status != 'running'"
                " AND EXISTS (SELECT 1 FROM cell_changes c WHERE c.run_id = r.id)"
                " AND NOT EXISTS (SELECT 1 FROM runs u WHERE u.undo_of = r.id)"
                " ORDER BY id DESC LIMIT 1"
            ).fetchone()
            if row is None:
                raise ConfigError("there is no run left to undo: no sync has changed any cell yet")
            return _run(row)
        row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id=?", (run_id,)).fetchone()
    if row is None:
        raise ConfigError(f"there is no run {run_id} — `okr-sync log` lists the runs")
    if row["status"] == "running" and row["id"] != exclude:
        raise ConfigError(f"run {run_id} has not finished yet — undo it once it has")
    if row["id"] == exclude:
        raise ConfigError(f"run {run_id} is this undo itself — `okr-sync log` lists the runs")
    return _run(row)


def mark_undo_of(home: str | Path, run_id: int, undone: int) -> None:
    """Say which run an undo run reverts."""
    with connect(home) as conn:
        conn.execute("UPDATE runs SET undo_of=? WHERE id=?", (undone, run_id))


def later_run(home: str | Path, cell: CellRecord) -> int | None:
    """The newest later run that wrote this same cell, if any."""
    with connect(home) as conn:
        row = conn.execute(
            "SELECT MAX(run_id) FROM cell_changes WHERE run_id > ? AND locator = ? AND sheet = ?"
            " AND col = ? AND (row_id = ? OR (row_id IS NULL AND row = ?))",
            (cell.run_id, cell.locator, cell.sheet, cell.col, cell.row_id, cell.row),
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


# --- the read cache -------------------------------------------------------------------------------

_CACHE_CHUNK = 500  # SQLite's host-parameter limit is 999 on old builds


def cached_reads(home: str | Path, wanted: list[tuple[str, str]]) -> dict[str, bytes]:
    """The stored parse of each (locator, identity) whose identity is the one stored."""
    found: dict[str, bytes] = {}
    if not wanted:
        return found
    with connect(home) as conn:
        for start in range(0, len(wanted), _CACHE_CHUNK):
            part = dict(wanted[start:start + _CACHE_CHUNK])
            marks = ",".join("?" * len(part))
            rows = conn.execute(f"SELECT locator, identity, data FROM read_cache WHERE locator IN ({marks})",
                                list(part)).fetchall()
            found.update((r[0], bytes(r[2])) for r in rows if part.get(r[0]) == r[1])
    return found


def keep_reads(home: str | Path, entries: list[tuple[str, str, bytes]]) -> None:
    """Store (locator, identity, parse) entries, replacing what was stored for those locators."""
    with connect(home) as conn:
        conn.executemany("INSERT OR REPLACE INTO read_cache(locator, identity, data) VALUES (?, ?, ?)", entries)
