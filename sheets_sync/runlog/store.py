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
from ..locking import STATE_DIR, state_dir
from .codec import decode_value, encode_value, safe_text

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
    # Cycles: each run and each unit score carries the cycle it worked on (NULL for runs from before cycles,
    # read by their as-of day); a closed cycle is frozen and remembers the run that closed it.
    """
    ALTER TABLE runs ADD COLUMN cycle TEXT;
    ALTER TABLE unit_scores ADD COLUMN cycle TEXT;
    CREATE INDEX unit_scores_cycle ON unit_scores(cycle, unit_code);
    CREATE TABLE cycles (
        name TEXT PRIMARY KEY,
        start TEXT,
        end TEXT,
        closed TEXT,
        close_run INTEGER REFERENCES runs(id)
    );
    """,
    # The weekly loop (sheets_sync/runlog/weekly.py): each KR as last seen, its figures per sync, check-ins
    # (who, why, per cycle) and the outbox of reminders and digests (sent once per person and period).
    """
    CREATE TABLE kr_state (
        unit_code TEXT NOT NULL,
        kr_id TEXT NOT NULL,
        cycle TEXT NOT NULL DEFAULT '',
        cycle_start TEXT,
        cycle_end TEXT,
        text TEXT,
        owner TEXT,
        current TEXT NOT NULL,
        target REAL,
        due TEXT,
        confidence REAL,
        comment TEXT,
        score REAL,
        status TEXT,
        source TEXT,
        path TEXT,
        language TEXT,
        first_seen TEXT NOT NULL,
        last_checkin TEXT,
        PRIMARY KEY (unit_code, kr_id, cycle)
    );
    CREATE TABLE kr_points (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        as_of TEXT NOT NULL,
        cycle TEXT NOT NULL DEFAULT '',
        unit_code TEXT NOT NULL,
        kr_id TEXT NOT NULL,
        current TEXT NOT NULL,
        progress REAL,
        score REAL,
        confidence REAL,
        status TEXT
    );
    CREATE INDEX kr_points_kr ON kr_points(unit_code, kr_id, as_of);
    CREATE TABLE checkins (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER REFERENCES runs(id),
        cycle TEXT,
        unit_code TEXT NOT NULL,
        kr_id TEXT NOT NULL,
        at TEXT NOT NULL,
        as_of TEXT NOT NULL,
        who TEXT,
        via TEXT NOT NULL,
        old_current TEXT NOT NULL,
        new_current TEXT NOT NULL,
        old_confidence REAL,
        new_confidence REAL,
        comment TEXT
    );
    CREATE INDEX checkins_kr ON checkins(unit_code, kr_id, as_of);
    CREATE TABLE outbox (
        key TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        period TEXT NOT NULL,
        recipient TEXT NOT NULL,
        channel TEXT NOT NULL,
        subject TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created TEXT NOT NULL,
        sent_at TEXT
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
    cycle: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return dict(self.__dict__)

    def __str__(self) -> str:
        when = (self.started or "")[:16].replace("T", " ")
        head = f"#{self.id:<4} {when}  {self.kind:<6} by {self.trigger:<9} {self.status:<11}"
        if self.cycle:
            head += f" {self.cycle}"
        if self.kind == "undo":
            body = f"undid run {self.undo_of}: {self.cells_written} cells restored"
        elif self.kind == "reopen":
            body = "reopened the cycle: syncs write it again"
        elif self.kind == "new-cycle":
            body = f"wrote {self.units} workbook(s) for the next cycle"
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
    cycle: str | None = None


def exists(home: str | Path) -> bool:
    """Whether a home has a run log (checked without creating anything)."""
    return (Path(home) / STATE_DIR / DB_NAME).exists()


def db_path(home: str | Path) -> Path:
    """Where the run log of a home lives (the folder is made on first use)."""
    return state_dir(home) / DB_NAME


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
            " errors=?, warnings=?, company_score=?, status=?, reason=?, snapshot=?, cycle=? WHERE id=?",
            (now(), totals.as_of, totals.units, totals.failed_units, totals.cells_written, totals.errors,
             totals.warnings, totals.company_score, totals.status, totals.reason,
             # ASCII: a file name may hold undecodable bytes, which UTF-8 text cannot carry.
             json.dumps(report_json, default=str) if report_json is not None else None,
             totals.cycle, run_id),
        )
        conn.executemany(
            "INSERT INTO unit_scores(run_id, as_of, unit_code, score, cycle) VALUES (?, ?, ?, ?, ?)",
            [(run_id, totals.as_of or "", code, score, totals.cycle) for code, score in unit_scores],
        )
        return _run(conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone())


def fail_run(home: str | Path, run_id: int, reason: str) -> None:
    """Close a run that failed as a whole, with its reason."""
    with connect(home) as conn:
        conn.execute("UPDATE runs SET finished=?, status='failed', reason=? WHERE id=?", (now(), reason, run_id))


def list_runs(home: str | Path, limit: int = 20, cycle: CycleSpan | None = None) -> list[RunRecord]:
    """The latest runs (of one cycle, if given), newest first."""
    where, args = _cycle_filter(cycle)
    with connect(home) as conn:
        rows = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE {where} ORDER BY id DESC LIMIT ?",
                            (*args, limit)).fetchall()
    return [_run(r) for r in rows]


# A cycle as the log filters by it: its name, and its first and last day (ISO) for runs from before cycles.
CycleSpan = tuple[str, str | None, str | None]


def _cycle_filter(cycle: CycleSpan | None, table: str = "") -> tuple[str, tuple[str, ...]]:
    """SQL that keeps a cycle's rows: those naming it, and unnamed ones (older logs) whose as-of lies in it."""
    if cycle is None:
        return "1=1", ()
    name, start, end = cycle
    if start and end:
        return (f"({table}cycle = ? OR ({table}cycle IS NULL AND {table}as_of BETWEEN ? AND ?))",
                (name, start, end))
    return f"{table}cycle = ?", (name,)


def get_run(home: str | Path, run_id: int) -> RunRecord | None:
    """One run by id."""
    with connect(home) as conn:
        row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id=?", (run_id,)).fetchone()
    return _run(row) if row else None


_RUN_COLUMNS = (
    "id, kind, trigger, started, finished, as_of, units, failed_units, cells_written, errors,"
    " warnings, company_score, status, reason, undo_of, cycle"
)


def latest_report_run(home: str | Path, cycle: CycleSpan | None = None) -> RunRecord | None:
    """The newest sync that left a report (without loading it); of one cycle, a close counts too (a closed
    cycle's final grades). Without a cycle a close never hides the newest sync of the cycle that goes on."""
    where, args = _cycle_filter(cycle)
    kinds = "('sync', 'close')" if cycle else "('sync')"
    with connect(home) as conn:
        row = conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE kind IN {kinds} AND snapshot IS NOT NULL AND {where}"
            " ORDER BY id DESC LIMIT 1", args,
        ).fetchone()
    return _run(row) if row else None


def get_report(home: str | Path, run_id: int) -> dict[str, Any] | None:
    """The report JSON a run left."""
    with connect(home) as conn:
        row = conn.execute("SELECT snapshot FROM runs WHERE id=?", (run_id,)).fetchone()
    if row is None or row["snapshot"] is None:
        return None
    return json.loads(row["snapshot"])  # type: ignore[no-any-return]


def unit_trends(home: str | Path, limit: int = 60,
                cycle: CycleSpan | None = None) -> dict[str, list[tuple[str, float | None]]]:
    """Each unit's score by as-of day (the last run of each day, of one cycle if given), oldest first."""
    where, args = _cycle_filter(cycle, "s.")
    with connect(home) as conn:
        rows = conn.execute(
            "SELECT s.unit_code, s.as_of, s.score FROM unit_scores s"
            " WHERE s.run_id = (SELECT MAX(t.run_id) FROM unit_scores t"
            "   WHERE t.unit_code = s.unit_code AND t.as_of = s.as_of)"
            f" AND {where} ORDER BY s.as_of", args,
        ).fetchall()
    trends: dict[str, list[tuple[str, float | None]]] = {}
    for r in rows:
        trends.setdefault(r["unit_code"], []).append((r["as_of"], r["score"]))
    return {code: points[-limit:] for code, points in trends.items()}


# --- cycles ---------------------------------------------------------------------------------------


def closed_cycles(home: str | Path) -> dict[str, str]:
    """Closed cycles by name, each with a note saying when and by which run."""
    if not exists(home):
        return {}
    with connect(home) as conn:
        rows = conn.execute("SELECT name, closed, close_run FROM cycles WHERE closed IS NOT NULL").fetchall()
    return {r["name"]: f"closed {str(r['closed'])[:10]} by run {r['close_run']}" for r in rows}


def close_cycle(home: str | Path, name: str, start: str | None, end: str | None, run_id: int) -> None:
    """Mark a cycle closed by a run: later syncs of it write nothing."""
    with connect(home) as conn:
        conn.execute(
            "INSERT INTO cycles(name, start, end, closed, close_run) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET start=excluded.start, end=excluded.end, closed=excluded.closed,"
            " close_run=excluded.close_run", (name, start, end, now(), run_id))


def reopen_cycle(home: str | Path, name: str) -> bool:
    """Open a closed cycle again; False when it was not closed."""
    with connect(home) as conn:
        cur = conn.execute("UPDATE cycles SET closed=NULL WHERE name=? AND closed IS NOT NULL", (name,))
        return cur.rowcount > 0


def cycle_scores(home: str | Path) -> dict[str, dict[str, tuple[float | None, bool]]]:
    """Each cycle's score of each unit: the final grade of a closed cycle (its close run), else the score of the
    cycle's newest sync; by cycle, then unit code: (score, final)."""
    with connect(home) as conn:
        closing = {r["name"]: r["close_run"] for r in conn.execute(
            "SELECT name, close_run FROM cycles WHERE closed IS NOT NULL").fetchall()}
        rows = conn.execute(
            "SELECT s.cycle, s.unit_code, s.score, s.run_id FROM unit_scores s JOIN runs r ON r.id = s.run_id"
            " WHERE s.cycle IS NOT NULL AND r.kind IN ('sync', 'close') ORDER BY s.run_id"
        ).fetchall()
    out: dict[str, dict[str, tuple[float | None, bool]]] = {}
    for r in rows:
        name, run_id = r["cycle"], r["run_id"]
        final = closing.get(name)
        if final is not None and run_id != final:
            continue  # a closed cycle shows its final grades only
        out.setdefault(name, {})[r["unit_code"]] = (r["score"], final is not None)
    return out


# --- the journal ----------------------------------------------------------------------------------
# A file name with bytes that are not UTF-8 is kept escaped (safe_text; the xlsx backend never writes such a
# file), so SQLite's UTF-8 text never meets an undecodable name.


def journal_planned(home: str | Path, run_id: int, locator: str, source: str,
                    updates: list[CellUpdate], id_col: int | None) -> None:
    """Record the cells a run is about to write into one workbook, before it is replaced."""
    locator, source = safe_text(locator), safe_text(source)
    with connect(home) as conn:
        conn.execute("INSERT OR REPLACE INTO journal(run_id, locator, source, state) VALUES (?, ?, ?, 'planned')",
                     (run_id, locator, source))
        conn.execute("DELETE FROM cell_changes WHERE run_id=? AND locator=?", (run_id, locator))
        _insert_cells(conn, run_id, locator, source, updates, id_col, "planned")


def journal_done(home: str | Path, run_id: int, locator: str, written: bool) -> None:
    """Mark a workbook's journalled cells written, or drop them when the write did not happen."""
    locator = safe_text(locator)
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
    locator = safe_text(locator)
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
    locator, source = safe_text(locator), safe_text(source)
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


def run_to_undo(home: str | Path, run_id: int | None, cycle: CycleSpan | None = None,
                exclude: int | None = None) -> RunRecord:
    """The run `undo` should revert: the one named, or the newest (of a cycle) that wrote cells and is not
    undone yet."""
    where, args = _cycle_filter(cycle, "r.")
    with connect(home) as conn:
        if run_id is None:
            row = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs r WHERE kind IN ('sync', 'close') AND status != 'running'"
                " AND EXISTS (SELECT 1 FROM cell_changes c WHERE c.run_id = r.id)"
                f" AND NOT EXISTS (SELECT 1 FROM runs u WHERE u.undo_of = r.id) AND {where}"
                " ORDER BY id DESC LIMIT 1", args,
            ).fetchone()
            if row is None:
                scope = f" of cycle {cycle[0]}" if cycle else ""
                raise ConfigError(f"there is no run{scope} left to undo: no sync has changed any cell yet")
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
