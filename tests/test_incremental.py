"""Incremental and parallel syncs equal a fresh serial one: same reports, same rollup, same cells written."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from builders import kr, o, okrs_grid, settings_grid, write_xlsx

from sheets_sync import engine, operations, reading
from sheets_sync.backends import xlsx
from sheets_sync.backends.xlsx import XlsxBackend
from sheets_sync.core import schema
from sheets_sync.core.model import CellUpdate, WorkbookChanges
from sheets_sync.demo import write_demo_company
from sheets_sync.report import SyncReport
from sheets_sync.workspace import Workspace

AS_OF = dt.date(2026, 11, 20)


@pytest.fixture(autouse=True)
def _trust_fresh_files(monkeypatch: pytest.MonkeyPatch) -> None:
    # Test files are seconds old: vouch for them at once (the settling window has its own test below).
    monkeypatch.setattr(xlsx, "SETTLE_NS", 0)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every workbook read from disk in this process (the pool is off while counting)."""
    seen: list[str] = []
    original = XlsxBackend.read

    def counting(self: XlsxBackend, locator: str) -> Any:
        seen.append(Path(locator).name)
        return original(self, locator)

    monkeypatch.setattr(XlsxBackend, "read", counting)
    return seen


def parallel(monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    """Force the process pool on (two workers from three workbooks up) or off, whatever the machine."""
    monkeypatch.setattr(reading, "PARALLEL_THRESHOLD", 3 if on else 10**9)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)


def fresh_serial(folder: Path, rollup: Path, monkeypatch: pytest.MonkeyPatch, write_back: bool = True) -> SyncReport:
    """A sync of a copy of the folder as it is now: no run log, no cache, no pool."""
    copy = folder.with_name(folder.name + "-fresh")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".okr-sync"))
    rollup.unlink(missing_ok=True)
    current = folder.parent / "rollup.xlsx"
    if current.exists():  # the rollup as the run finds it: rewritten, or left as it is, by both
        shutil.copyfile(current, rollup)
    with monkeypatch.context() as m:
        parallel(m, False)
        return engine.sync(Workspace.from_path(copy, rollup=rollup), AS_OF, write_back=write_back)


def comparable(report: SyncReport, folder: Path) -> dict[str, Any]:
    data = report.to_json(with_changes=True, with_rollup=True)
    # Check-ins are the run log's (found against the KRs as the last run saw them): a fresh copy has none.
    for key in ("run_id", "started", "finished", "rollup", "kind", "checkins"):
        data.pop(key, None)
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
    return json.loads(text.replace(str(folder) + "-fresh", str(folder)))  # type: ignore[no-any-return]


def parts(path: Path) -> dict[str, bytes]:
    """A workbook's zip parts; the rollup's write time (docProps/core.xml) is the one thing allowed to differ."""
    with zipfile.ZipFile(path) as z:
        out = {name: z.read(name) for name in z.namelist()}
    if "docProps/core.xml" in out:
        out["docProps/core.xml"] = re.sub(rb"<dcterms:(created|modified)[^<]*</dcterms:\1>", b"",
                                          out["docProps/core.xml"])
    return out


def assert_same_as_fresh(report: SyncReport, folder: Path, rollup: Path, fresh: SyncReport, fresh_rollup: Path,
                         ) -> None:
    assert comparable(report, folder) == comparable(fresh, folder)
    assert parts(rollup) == parts(fresh_rollup)
    copy = folder.with_name(folder.name + "-fresh")
    for path in sorted(folder.glob("*.xlsx")):
        assert cells(path) == cells(copy / path.name), path.name


def cells(path: Path) -> dict[str, Any]:
    """What a workbook holds, but for History's first column: the moment of the sync, which no two runs share."""
    try:
        raw = XlsxBackend(path.parent).read(str(path))
    except Exception as exc:  # noqa: BLE001 - a broken file compares by its message
        return {"error": str(exc)}
    history = schema.match_sheet(raw.sheet_names, schema.SHEET_HISTORY)
    sheets = {name: [line[1:] if name == history else line for line in grid] for name, grid in raw.sheets.items()}
    return {"sheets": sheets, "names": raw.sheet_names, "parts": sorted(parts(path))}


def edit_current(path: Path, row: int, col: int, value: Any) -> None:
    """A person's edit: one cell changed, the file saved in place (same inode)."""
    XlsxBackend(path.parent).apply(str(path), WorkbookChanges(updates=[CellUpdate("OKRs", row, col, None, value)]))


# --- the demo company -------------------------------------------------------------------------------------


def test_demo_company_parallel_and_incremental_syncs_equal_fresh_serial_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "demo"
    write_demo_company(folder)
    rollup, fresh_rollup = tmp_path / "rollup.xlsx", tmp_path / "fresh.xlsx"
    workspace = Workspace.from_path(folder, rollup=rollup)
    parallel(monkeypatch, True)

    # Before each run, a fresh serial sync of a copy of the folder as it is says what the run must do.
    expected = fresh_serial(folder, fresh_rollup, monkeypatch)
    first = operations.sync(workspace, AS_OF)  # parallel, cache empty
    assert first.cells_written > 0
    assert_same_as_fresh(first, folder, rollup, expected, fresh_rollup)

    names = sorted(p.name for p in folder.glob("*.xlsx"))
    edit_current(folder / names[1], 5, 12, 1234)
    expected = fresh_serial(folder, fresh_rollup, monkeypatch)
    second = operations.sync(workspace, AS_OF)  # the edited and the just-written workbooks are read again
    assert_same_as_fresh(second, folder, rollup, expected, fresh_rollup)
    # The weekly observer sees the edit as a check-in: found on parsed units every run, cache or not.
    edited = next(u.unit_code for u in second.units if Path(u.locator).name == names[1])
    assert [(c["unit"], c["new"]["current"]) for c in second.checkins] == [(edited, 1234)]

    expected = fresh_serial(folder, fresh_rollup, monkeypatch)
    third = operations.sync(workspace, AS_OF)
    assert third.cells_written == 0 and not third.rollup_written and third.checkins == []
    assert_same_as_fresh(third, folder, rollup, expected, fresh_rollup)


def test_a_sync_with_nothing_new_reads_no_workbook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   reads: list[str]) -> None:
    folder = tmp_path / "demo"
    write_demo_company(folder)
    workspace = Workspace.from_path(folder, rollup=tmp_path / "rollup.xlsx")
    parallel(monkeypatch, False)
    operations.sync(workspace, AS_OF)
    operations.sync(workspace, AS_OF)  # reads back what the first wrote; writes nothing
    reads.clear()
    report = operations.sync(workspace, AS_OF)
    assert reads == []
    assert report.cells_written == 0 and len(report.units) == 5 and report.company_score is not None
    # A rollup is recomputed from the cache too, and agrees with the sync.
    assert operations.rollup(workspace, AS_OF).company_score == report.company_score
    assert reads == []


# --- a generated 300-unit workspace -------------------------------------------------------------------


def _template(path: Path, lang: str) -> None:
    rows = [o("O1", "Win the market", aligns_to="CO/O1", owner="Ann"),
            kr("KR1.1", "Revenue", start=0, target=100, current=40, weight=2),
            kr("KR1.2", "Churn below 5%", metric="stay below", target=0.05, current=0.04),
            kr("KR1.3", "Partner portal", metric="yes-no", current="no", depends_on="U001/KR1.1"),
            o("O2", "Grow the team"),
            kr("KR2.1", "Hires", start=0, target=10, current=None, confidence="7/10", due=dt.date(2026, 12, 1))]
    write_xlsx(path, {"Settings": settings_grid("U000", "department", "CO", lang),
                      "OKRs": okrs_grid(rows, lang, banner=True)})


def generated_workspace(folder: Path, units: int) -> None:
    """The company and `units` departments: two templates written once, copied under new codes."""
    folder.mkdir()
    write_xlsx(folder / "co.xlsx", {"Settings": settings_grid("CO", "company"),
                                    "OKRs": okrs_grid([o("O1", "Be great"), kr("KR1", "Sales", target=10, current=5)])})
    templates = folder.parent / "templates"
    templates.mkdir()
    for lang in ("en", "zh"):
        _template(templates / f"{lang}.xlsx", lang)
    for index in range(units):
        codes = {b"U000": b"U%03d" % index, b"U001": b"U%03d" % ((index + 1) % units)}
        source = templates / ("zh.xlsx" if index % 4 == 0 else "en.xlsx")
        with zipfile.ZipFile(source) as old, zipfile.ZipFile(folder / f"u{index:03d}.xlsx", "w") as new:
            for info in old.infolist():
                data = old.read(info)
                if info.filename.startswith("xl/"):
                    data = re.sub(rb"U00[01]", lambda m, codes=codes: codes[m.group(0)], data)
                new.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)


def test_300_units_with_edits_between_runs_equal_fresh_serial_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "units"
    generated_workspace(folder, 300)
    rollup, fresh_rollup = tmp_path / "rollup.xlsx", tmp_path / "fresh.xlsx"
    workspace = Workspace.from_path(folder, rollup=rollup)
    parallel(monkeypatch, True)

    expected = fresh_serial(folder, fresh_rollup, monkeypatch, write_back=False)
    first = operations.rollup(workspace, AS_OF)  # parallel, fills the cache
    assert len(first.units) == 301
    assert_same_as_fresh(first, folder, rollup, expected, fresh_rollup)

    # Edits a cache must never miss: a value changed in place with its modification time put back, a workbook
    # replaced by another of exactly the same size, one deleted, one added, one broken.
    before = os.stat(folder / "u007.xlsx")
    edit_current(folder / "u007.xlsx", 5, 12, 99)
    os.utime(folder / "u007.xlsx", ns=(before.st_atime_ns, before.st_mtime_ns))
    same_size = [p for p in sorted(folder.glob("u*.xlsx")) if p.stat().st_size == (folder / "u010.xlsx").stat().st_size
                 and p.name != "u010.xlsx"]
    assert same_size, "the generator makes many workbooks of one size"
    stamp = os.stat(folder / "u010.xlsx")
    shutil.copyfile(same_size[0], folder / "u010.xlsx")  # now a duplicate unit code: found by validation
    os.utime(folder / "u010.xlsx", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    (folder / "u020.xlsx").unlink()
    shutil.copyfile(folder / "u021.xlsx", folder / "u999.xlsx")
    (folder / "u030.xlsx").write_bytes(b"not a workbook")

    expected = fresh_serial(folder, fresh_rollup, monkeypatch, write_back=False)
    second = operations.rollup(workspace, AS_OF)
    assert_same_as_fresh(second, folder, rollup, expected, fresh_rollup)
    assert any("u030.xlsx" in (u.error or "") for u in second.units)

    expected = fresh_serial(folder, fresh_rollup, monkeypatch)
    synced = operations.sync(workspace, AS_OF)  # writes back, from the cache where nothing changed
    assert synced.cells_written > 0
    assert_same_as_fresh(synced, folder, rollup, expected, fresh_rollup)


# --- when the cache must not serve ---------------------------------------------------------------------


def test_identity_changes_with_every_kind_of_save(tmp_path: Path) -> None:
    backend = XlsxBackend(tmp_path)
    path = tmp_path / "a.xlsx"
    _template(path, "en")
    first = backend.identity(str(path))
    assert first is not None and first == backend.identity(str(path))
    stamp = os.stat(path)
    edit_current(path, 5, 12, 41)  # saved in place, then the modification time put back
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert backend.identity(str(path)) not in (None, first)
    (tmp_path / "~$a.xlsx").write_bytes(b"owner")  # open in Excel: read() says so, never the cache
    assert backend.identity(str(path)) is None


def test_a_workbook_saved_moments_ago_is_not_vouched_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A second save within the same timestamp tick would leave size and times as they are: a file is trusted
    # only once it has been still for longer than the coarsest tick (2 s).
    monkeypatch.setattr(xlsx, "SETTLE_NS", 2_000_000_000)
    path = tmp_path / "a.xlsx"
    _template(path, "en")
    assert XlsxBackend(tmp_path).identity(str(path)) is None
    old = os.stat(path).st_mtime_ns - 10_000_000_000
    os.utime(path, ns=(old, old))  # the change time still says "just now"
    assert XlsxBackend(tmp_path).identity(str(path)) is None


def test_a_cache_entry_written_by_other_code_is_not_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          reads: list[str]) -> None:
    folder = tmp_path / "demo"
    write_demo_company(folder)
    workspace = Workspace.from_path(folder)
    parallel(monkeypatch, False)
    operations.rollup(workspace, AS_OF)
    reads.clear()
    monkeypatch.setattr(reading, "_version", "another-release")
    operations.rollup(workspace, AS_OF)
    assert len(reads) == 5


def test_a_sync_whose_rollup_is_unchanged_does_not_import_openpyxl(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    write_demo_company(folder)
    script = (
        "import sys, datetime as dt\n"
        "from sheets_sync import operations\n"
        "from sheets_sync.workspace import Workspace\n"
        f"ws = Workspace.from_path({str(folder)!r}, rollup={str(tmp_path / 'rollup.xlsx')!r})\n"
        "report = operations.sync(ws, dt.date(2026, 11, 20))\n"
        "print(report.rollup_written, 'openpyxl' in sys.modules)\n"
    )

    def run() -> str:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()[-2] + " " + done.stdout.split()[-1]

    assert run() == "True True"  # the first sync writes the rollup with openpyxl
    assert run() == "False False"


# --- cycles ----------------------------------------------------------------------------------------------------


def test_a_cached_unit_keeps_its_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reads: list[str]) -> None:
    from test_cycles import MID_Q4, write_three_cycles

    folder = tmp_path / "okrs"
    write_three_cycles(folder)
    parallel(monkeypatch, False)
    operations.sync(Workspace.from_path(folder), MID_Q4)
    operations.sync(Workspace.from_path(folder), MID_Q4)  # reads back what the first wrote
    reads.clear()
    q4 = operations.sync(Workspace.from_path(folder), MID_Q4)
    q1 = operations.rollup(Workspace.from_path(folder, cycle="2027-q1"), MID_Q4)
    assert reads == []  # every unit of every cycle came from the cache
    copy = tmp_path / "fresh"  # no run log, no cache
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".okr-sync", "okr-rollup*"))
    fresh = engine.sync(Workspace.from_path(copy), MID_Q4, write_back=False, write_rollup=False)
    fresh_q1 = engine.sync(Workspace.from_path(copy, cycle="2027-q1"), MID_Q4, write_back=False, write_rollup=False)
    for cached, serial in ((q4, fresh), (q1, fresh_q1)):
        assert [c.name for c in cached.cycles] == [c.name for c in serial.cycles] == ["2026-Q3", "2026-Q4", "2027-Q1"]
        assert cached.cycle == serial.cycle and cached.company_score == serial.company_score
        assert sorted(u.source for u in cached.units) == sorted(u.source for u in serial.units)
    assert sorted(u.source for u in q1.units) == ["co-2027-Q1.xlsx", "mkt-2027-Q1.xlsx"]


def test_a_rollup_reads_the_people_sheet_of_units_kept_without_grids(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # A rollup keeps no grid of any unit (memory) but the company's People sheet, which owners are checked against.
    from builders import unit

    folder = tmp_path / "okrs"
    folder.mkdir()
    co = unit("CO", "company", [o("O1", "Grow revenue"), kr("KR1.1", "Reach 10M revenue", target=10, current=5)])
    write_xlsx(folder / "co.xlsx", {**co, "People": [["Name", "Email"], ["Ana Li", "ana@example.com"]]})
    write_xlsx(folder / "mkt.xlsx", unit("MKT", "department", [
        o("O1", "Win the market", aligns_to="CO/O1", owner="ana li"), kr("KR1.1", "k", target=1, owner="Zed")],
        parent="CO"))
    parallel(monkeypatch, False)
    workspace = Workspace.from_path(folder, rollup=tmp_path / "rollup.xlsx")
    for _ in range(2):  # read from the files, then served from the cache
        report = operations.rollup(workspace, AS_OF)
        unknown = [(f.place.source, f.place.cell) for f in report.findings if f.rule == "owner-unknown"]
        assert unknown == [("mkt.xlsx", "D3")]


class _Planted:
    """What someone with write access to the units folder might slip into the run log's cache."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(os.environ["OKR_SYNC_PLANTED"]),))


def test_a_cache_entry_planted_in_the_run_log_is_never_unpickled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 reads: list[str]) -> None:
    import pickle
    import sqlite3
    import zlib

    folder = tmp_path / "demo"
    write_demo_company(folder)
    workspace = Workspace.from_path(folder)
    parallel(monkeypatch, False)
    operations.rollup(workspace, AS_OF)
    marker = tmp_path / "pwned"
    monkeypatch.setenv("OKR_SYNC_PLANTED", str(marker))
    # The run log lives in the units folder: rewrite every cache entry as a pickle that runs code when loaded.
    planted = zlib.compress(pickle.dumps(_Planted()))
    with sqlite3.connect(workspace.state_home / ".okr-sync" / "state.db") as conn:
        conn.execute("UPDATE read_cache SET data = ?", (planted,))
    reads.clear()
    report = operations.rollup(workspace, AS_OF)
    assert not marker.exists()
    assert len(reads) == 5 and report.company_score is not None  # read from the files instead
