"""Kill a real `okr-sync sync` at random moments and check what it leaves: the workbooks, the log, undo, temp files.

Used by tests/test_fault_injection.py (a few kills) and benchmarks/fault_injection.py (100 and more).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sheets_sync import operations
from sheets_sync.backends.xlsx import XlsxBackend
from sheets_sync.core.schema import SHEET_HISTORY, match_sheet
from sheets_sync.runlog import store
from sheets_sync.workspace import Workspace

BASE_AS_OF = "2026-10-20"
KILLED_AS_OF = "2026-12-20"  # a later day: statuses and History differ, so every killed run has cells to write


@dataclass
class Figures:
    """What the kills left, added up."""

    kills: int = 0
    killed_mid_write: int = 0  # runs that had written at least one workbook when killed
    corrupt_workbooks: int = 0
    unrecorded_writes: int = 0  # workbooks changed by a killed run that the log does not say it wrote
    phantom_records: int = 0  # workbooks the log says were written but were not
    undo_failures: int = 0  # killed runs whose computed cells undo did not bring back
    temp_files_left: int = 0
    problems: list[str] = field(default_factory=list)


def okrs_grids(folder: Path) -> dict[str, object]:
    """Every unit's sheets but History as values (what undo must bring back), read through the real backend."""
    backend = XlsxBackend(folder)
    grids: dict[str, object] = {}
    for locator in backend.list_units():
        raw = backend.read(locator)
        history = match_sheet(list(raw.sheets), SHEET_HISTORY)
        grids[Path(locator).name] = {name: grid for name, grid in raw.sheets.items() if name != history}
    return grids


def digest(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.xlsx")) if p.name != "okr-rollup.xlsx"}


def okr_sync(*args: str) -> list[str]:
    return [sys.executable, "-m", "sheets_sync", *args]


def run_kills(folder: Path, kills: int, seed: int = 7) -> Figures:
    """Sync FOLDER (the demo company) once, then kill `kills` syncs at random moments, checking after each.

    The moments are spread over the whole length of a sync as measured on this machine now (the first sync),
    so kills land in start-up, reading, each workbook's write, the rollup and the log's closing alike.
    """
    rng = random.Random(seed)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    subprocess.run(okr_sync("sync", str(folder), "--as-of", BASE_AS_OF), env=env, capture_output=True, check=False)
    length = time.perf_counter() - started
    window = (0.2 * length, 1.1 * length)
    workspace = Workspace.from_path(folder)
    figures = Figures()
    for _ in range(kills):
        last_before = operations.log(workspace, 1)[0].id
        before_bytes = digest(folder)
        before_grids = okrs_grids(folder)
        proc = subprocess.Popen(okr_sync("sync", str(folder), "--as-of", KILLED_AS_OF), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(*window))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        figures.kills += 1
        killed = operations.log(workspace, 1)[0]
        changed = {name for name, data in digest(folder).items() if before_bytes.get(name) != data}
        if killed.id == last_before:  # killed before it opened its run: it must not have written anything
            figures.unrecorded_writes += len(changed)
            figures.problems += [f"{name} changed by a run that never opened" for name in sorted(changed)]
            continue
        for name in digest(folder):
            try:
                XlsxBackend(folder).read(str(folder / name))
            except Exception as exc:  # noqa: BLE001 - counting, not handling
                figures.corrupt_workbooks += 1
                figures.problems.append(f"{name} unreadable after kill: {exc}")
        if changed:
            figures.killed_mid_write += 1
        # The next run (here an undo of the killed one) settles the journal first, then reverts.
        undo = subprocess.run(okr_sync("undo", str(killed.id), str(folder)), env=env, capture_output=True,
                              text=True)
        recorded = {Path(c.locator).name for c in store.run_cells(workspace.state_home, killed.id)}
        # A workbook can be replaced with equal cells only if nothing changed; a replaced file must be on record.
        figures.unrecorded_writes += len(changed - recorded)
        figures.phantom_records += len(recorded - changed)
        for name in sorted(changed - recorded):
            figures.problems.append(f"run {killed.id}: {name} changed but is not on record")
        for name in sorted(recorded - changed):
            figures.problems.append(f"run {killed.id}: {name} on record but not changed")
        if okrs_grids(folder) != before_grids:
            figures.undo_failures += 1
            figures.problems.append(f"run {killed.id}: undo did not restore the cells ({undo.stdout.strip()[:200]})")
        leftovers = list(folder.rglob(".~okr-sync-*.tmp")) + list(folder.glob(".okr-rollup.xlsx.*.tmp"))
        figures.temp_files_left += len(leftovers)
    return figures


def fresh_company(target: Path) -> Path:
    """The demo company in a new folder."""
    from sheets_sync.demo import write_demo_company

    if target.exists():
        shutil.rmtree(target)
    write_demo_company(target)
    return target
