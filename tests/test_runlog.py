"""The run log, the lock and the operations that write: migrations, journal, undo, one writer at a time."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

import pytest

from sheets_sync import engine, locking, operations
from sheets_sync.core.model import CellError, CellUpdate, RawWorkbook, WorkbookChanges
from sheets_sync.core.values import same_value
from sheets_sync.errors import ConfigError, SyncBusy
from sheets_sync.report import SyncReport, UnitReport
from sheets_sync.runlog import codec, store


class MemoryBackend:
    """A store of grids in memory that applies updates like a real backend would."""

    def __init__(self, books: dict[str, dict[str, list[list[object]]]]) -> None:
        self.books = books
        self.applied: list[WorkbookChanges] = []

    def list_units(self) -> list[str]:
        return list(self.books)

    def read(self, locator: str) -> RawWorkbook:
        sheets = {name: [list(r) for r in grid] for name, grid in self.books[locator].items()}
        return RawWorkbook(locator, sheets, list(sheets), locator)  # type: ignore[arg-type]

    def apply(self, locator: str, changes: WorkbookChanges) -> None:
        self.applied.append(changes)
        for u in changes.updates:
            grid = self.books[locator][u.sheet]
            while len(grid) < u.row:
                grid.append([])
            line = grid[u.row - 1]
            while len(line) < u.col:
                line.append(None)
            line[u.col - 1] = u.new


class FakeWorkspace:
    def __init__(self, home: Path, backend: MemoryBackend) -> None:
        self.home = self.state_home = home
        self.lock_homes = [home]
        self.backends = [backend]
        self.config: dict[str, object] = {}
        self.config_path = None
        self.rollup_location = None

    def local_folders(self) -> list[Path]:
        return []


OKRS = [
    ["Type", "ID", "Objective / Key result", "Score", "Status"],
    ["O", "O1", "Grow", None, None],
    ["KR", "KR1.1", "Leads", None, None],
    ["KR", "KR1.2", "Deals", None, None],
]


def write_run(ws: FakeWorkspace, backend: MemoryBackend, updates: list[CellUpdate]) -> int:
    """Apply updates through the backend and record them as a finished run."""
    changes = WorkbookChanges(updates=updates, id_col=2, okrs_sheet="OKRs")
    backend.apply("mkt.xlsx", changes)
    unit = UnitReport("mkt.xlsx", "mkt.xlsx", "MKT", "Marketing", "department", score=0.5)
    unit.changes, unit.written = changes, True
    report = SyncReport(dt.date(2026, 11, 1), dt.datetime.now(), units=[unit])
    run_id, _ = store.start_run(ws.home, "sync", "cli", report.as_of)
    store.journal_planned(ws.home, run_id, "mkt.xlsx", "mkt.xlsx", changes.updates, changes.id_col)
    store.journal_done(ws.home, run_id, "mkt.xlsx", True)
    totals = store.RunTotals("2026-11-01", 1, 0, report.cells_written, 0, 0, None, "ok", None)
    store.finish_run(ws.home, run_id, totals, report.to_json(), [("MKT", 0.5)])
    return run_id


@pytest.fixture
def ws(tmp_path: Path) -> FakeWorkspace:
    backend = MemoryBackend({"mkt.xlsx": {"OKRs": [list(r) for r in OKRS]}})
    return FakeWorkspace(tmp_path, backend)


def backend_of(ws: FakeWorkspace) -> MemoryBackend:
    return ws.backends[0]


def test_migrations_create_schema_once_and_record_version(tmp_path: Path) -> None:
    with store.connect(tmp_path) as conn:
        version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    assert version == len(store.MIGRATIONS)
    # A second connection from a fresh process state finds nothing to do.
    conn = sqlite3.connect(tmp_path / ".okr-sync" / "state.db")
    assert store.migrate(conn) == len(store.MIGRATIONS)
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(store.MIGRATIONS)
    conn.close()


def test_migrating_an_old_database_applies_only_the_missing_steps(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.executescript(store.MIGRATIONS[0] + "INSERT INTO schema_version VALUES (1);")
    assert store.migrate(conn) == len(store.MIGRATIONS)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "cell_changes_run" in names
    conn.close()


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "on track",
        "有风险",
        0,
        3,
        0.75,
        True,
        False,
        dt.date(2026, 10, 1),
        dt.datetime(2026, 10, 1, 9, 30),
        CellError("#N/A"),
    ],
)
def test_cell_values_round_trip_with_their_type(value: object) -> None:
    back = codec.decode_value(codec.encode_value(value))  # type: ignore[arg-type]
    assert back == value and type(back) is type(value)


def test_same_value_tolerates_what_a_reread_changes() -> None:
    assert same_value(1, 1.0)
    assert same_value(0.1 + 0.2, 0.3)
    assert same_value(dt.date(2026, 1, 2), dt.datetime(2026, 1, 2))
    assert same_value(None, "")
    assert not same_value(0.5, 0.51)
    assert not same_value("on track", "at risk")
    assert not same_value(True, 1)


def test_runs_and_cells_are_recorded(ws: FakeWorkspace) -> None:
    run_id = write_run(
        ws,
        backend_of(ws),
        [CellUpdate("OKRs", 3, 4, None, 0.4, "KR1.1"), CellUpdate("OKRs", 3, 5, None, "at risk")],
    )
    [run] = store.list_runs(ws.home)
    assert (run.id, run.status, run.trigger, run.cells_written) == (run_id, "ok", "cli", 2)
    assert run.as_of == "2026-11-01" and run.finished
    cells = store.run_cells(ws.home, run_id)
    assert [(c.cell, c.old, c.new) for c in cells] == [("D3", None, 0.4), ("E3", None, "at risk")]
    assert cells[0].where == "mkt.xlsx › OKRs › D3"
    record, snap = operations.latest_report(ws)  # type: ignore[arg-type, misc]
    assert record.id == run_id and snap["units"][0]["unit"] == "MKT"
    assert store.unit_trends(ws.home) == {"MKT": [("2026-11-01", 0.5)]}


def test_undo_restores_untouched_cells_and_skips_a_cell_a_person_edited(ws: FakeWorkspace) -> None:
    backend = backend_of(ws)
    run_id = write_run(
        ws,
        backend,
        [
            CellUpdate("OKRs", 3, 4, None, 0.4, "KR1.1"),
            CellUpdate("OKRs", 4, 4, None, 0.9, "KR1.2"),
            CellUpdate("OKRs", 4, 5, "no data", "on track", "KR1.2"),
        ],
    )
    backend.books["mkt.xlsx"]["OKRs"][2][3] = 0.55  # a person overwrote D3 by hand

    result = operations.undo(ws)

    assert result.undone_run == run_id
    assert sorted(c.cell for c in result.restored) == ["D4", "E4"]
    [skipped] = result.skipped
    assert skipped.cell.cell == "D3" and skipped.code == "changed"
    assert "0.55" in skipped.reason and "0.4" in skipped.reason
    grid = backend.books["mkt.xlsx"]["OKRs"]
    assert grid[2][3] == 0.55 and grid[3][3] is None and grid[3][4] == "no data"
    # The undo is a run of its own, with its cells, so it can be undone in turn.
    newest = store.list_runs(ws.home)[0]
    assert (newest.id, newest.kind, newest.undo_of, newest.cells_written) == (
        result.run_id,
        "undo",
        run_id,
        2,
    )
    assert "1 cells skipped" in (newest.reason or "")
    again = operations.undo(ws, result.run_id)
    assert sorted(c.cell for c in again.restored) == ["D4", "E4"]
    assert grid[3][3] == 0.9 and grid[3][4] == "on track"


def test_undo_names_the_later_run_that_wrote_a_cell_since(ws: FakeWorkspace) -> None:
    backend = backend_of(ws)
    first = write_run(ws, backend, [CellUpdate("OKRs", 3, 4, None, 0.4, "KR1.1")])
    second = write_run(ws, backend, [CellUpdate("OKRs", 3, 4, 0.4, 0.6, "KR1.1")])
    result = operations.undo(ws, first)
    [skipped] = result.skipped
    assert skipped.code == "changed-by-run"
    assert f"run {second} wrote it since" in skipped.reason and "0.6" in skipped.reason
    assert backend.books["mkt.xlsx"]["OKRs"][2][3] == 0.6


def test_undo_follows_a_row_that_moved_by_its_id(ws: FakeWorkspace) -> None:
    backend = backend_of(ws)
    write_run(ws, backend, [CellUpdate("OKRs", 4, 4, None, 0.9, "KR1.2")])
    grid = backend.books["mkt.xlsx"]["OKRs"]
    grid.insert(1, ["", "", "a row someone inserted", None, None])
    result = operations.undo(ws)
    assert [c.cell for c in result.restored] == ["D5"]
    assert grid[4][3] is None


def test_undo_skips_cells_of_a_row_that_was_deleted(ws: FakeWorkspace) -> None:
    backend = backend_of(ws)
    write_run(ws, backend, [CellUpdate("OKRs", 4, 4, None, 0.9, "KR1.2")])
    del backend.books["mkt.xlsx"]["OKRs"][3]
    result = operations.undo(ws)
    assert not result.restored
    assert [s.code for s in result.skipped] == ["row-gone"]
    assert backend.applied[-1].updates[0].new == 0.9  # nothing was written by the undo


def test_default_undo_skips_runs_already_undone_and_unknown_runs_are_errors(
    ws: FakeWorkspace,
) -> None:
    backend = backend_of(ws)
    first = write_run(ws, backend, [CellUpdate("OKRs", 3, 4, None, 0.4, "KR1.1")])
    second = write_run(ws, backend, [CellUpdate("OKRs", 4, 4, None, 0.9, "KR1.2")])
    assert operations.undo(ws).undone_run == second
    assert operations.undo(ws).undone_run == first
    with pytest.raises(ConfigError, match="no run left to undo"):
        operations.undo(ws)
    with pytest.raises(ConfigError, match="no run 999"):
        operations.undo(ws, 999)


def test_lock_refuses_a_second_holder_and_names_the_first(tmp_path: Path) -> None:
    with locking.hold([tmp_path], who="api"):
        holder = locking.current_holder([tmp_path])
        assert holder is not None and holder.who.startswith("api (")
        with pytest.raises(
            SyncBusy, match=r"already running \(started .* by api \(.*@.*\)\) — try again when it finishes"
        ):
            with locking.hold([tmp_path], who="cli"):
                pass
    assert locking.current_holder([tmp_path]) is None
    with locking.hold([tmp_path], who="cli"):
        pass


def test_lock_excludes_other_threads_too(tmp_path: Path) -> None:
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with locking.hold([tmp_path], who="schedule"):
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    assert inside.wait(5)
    try:
        with pytest.raises(SyncBusy):
            with locking.hold([tmp_path], who="cli"):
                pass
        assert not locking.wait_idle([tmp_path], timeout=0.3)
    finally:
        release.set()
        thread.join()
    assert locking.wait_idle([tmp_path], timeout=1)


def test_a_failing_run_is_recorded_with_its_reason(ws: FakeWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kw: object) -> SyncReport:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(engine, "sync", broken)
    # The front end gets the exception itself (the CLI and the server keep its traceback out of sight).
    with pytest.raises(ZeroDivisionError):
        operations.sync(ws, trigger="api")  # type: ignore[arg-type]
    [run] = store.list_runs(ws.home)
    assert run.status == "failed" and run.trigger == "api"
    assert "ZeroDivisionError: division by zero" in (run.reason or "")
    assert locking.current_holder([ws.home]) is None


def test_runner_refuses_while_another_sync_holds_the_lock(ws: FakeWorkspace) -> None:
    with locking.hold([ws.home], who="schedule"):
        with pytest.raises(SyncBusy, match="by schedule"):
            operations.sync(ws, trigger="cli")  # type: ignore[arg-type]
    assert not store.exists(ws.home) or store.list_runs(ws.home) == []


def test_undo_on_real_workbooks_after_a_person_edited_one_cell(tmp_path: Path) -> None:
    import openpyxl

    from sheets_sync.demo import write_demo_company
    from sheets_sync.workspace import Workspace

    folder = tmp_path / "okrs"
    write_demo_company(folder)
    workspace = Workspace.from_path(folder)
    report = operations.sync(workspace, as_of=dt.date(2026, 11, 15), trigger="cli")
    run_id = report.run_id
    assert run_id is not None and report.cells_written > 0
    cells = [c for c in store.run_cells(workspace.state_home, run_id) if c.source == "mkt.xlsx"]
    assert len(cells) == len(next(u for u in report.units if u.source == "mkt.xlsx").changes.updates)
    edited = next(c for c in cells if isinstance(c.new, float))
    untouched = next(c for c in cells if c is not edited and c.old is None)

    # A person types over one computed cell in Excel and saves.
    book = openpyxl.load_workbook(folder / "mkt.xlsx")
    book[edited.sheet][edited.cell] = 0.123
    book.save(folder / "mkt.xlsx")

    result = operations.undo(Workspace.from_path(folder))

    assert result.undone_run == run_id
    [skipped] = [s for s in result.skipped if s.cell.source == "mkt.xlsx"]
    assert skipped.cell.cell == edited.cell and skipped.code == "changed"
    assert "0.123" in skipped.reason
    assert f"mkt.xlsx › {edited.sheet} › {edited.cell}" in str(result)
    assert len(result.restored) == report.cells_written - 1
    grid = XlsxBackendReader(folder / "mkt.xlsx").sheet(edited.sheet)
    assert grid[edited.row - 1][edited.col - 1] == 0.123
    row = grid[untouched.row - 1]
    assert (row[untouched.col - 1] if untouched.col <= len(row) else None) in (None, "")
    assert operations.log(workspace)[0].kind == "undo"


class XlsxBackendReader:
    """Read a workbook back through the real xlsx backend."""

    def __init__(self, path: Path) -> None:
        from sheets_sync.backends.xlsx import XlsxBackend

        self.raw = XlsxBackend(path.parent).read(str(path))

    def sheet(self, name: str) -> list[list[object]]:
        return self.raw.sheets[name]  # type: ignore[return-value]


def test_a_run_whose_process_died_is_marked_interrupted_by_the_next(ws: FakeWorkspace) -> None:
    dead, _ = store.start_run(ws.home, "sync", "schedule")  # its process was killed: never finished
    write_run(ws, backend_of(ws), [CellUpdate("OKRs", 3, 4, None, 0.4, "KR1.1")])
    record = store.get_run(ws.home, dead)
    assert record is not None and record.status == "interrupted"
    assert "interrupted" in (record.reason or "")
