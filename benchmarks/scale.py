"""Benchmark, run by hand: okr-sync at company scale against the reader's floor, side by side in one run.

    python benchmarks/scale.py                          # 200, 2,000 and 10,000 units
    python benchmarks/scale.py --units 200 2000 --keep /tmp/okr-scale --pandas-max 2000

For each size, on the same generated workspace (benchmarks/scale_workspace.py: real template workbooks, 4
objectives x 4 key results, a quarter in Chinese), each contender runs as its own process, as a user runs it:

  floor        python-calamine alone: open every workbook, read its Settings, OKRs and History sheets;
  rollup       `okr-sync rollup FOLDER -o OUT` with no run log yet (nothing cached), then again (all cached);
  sync first   `okr-sync sync COPY --rollup OUT` on a copy of the folder: reads, scores, writes every unit;
  sync again   the next sync: reads back the workbooks the first one wrote, writes nothing;
  sync no-op   a sync with nothing new: every workbook served from the run log's cache;
  pandas       benchmarks/rollup_vs_pandas.pandas_rollup (read_excel + concat + to_excel; no scores).

It prints each one's wall time, its ratio to the floor, and the process's peak memory (its own maximum resident
set; pool workers hold one workbook each and are not added). Timings vary by machine and load: compare ratios
of one run. Never part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from scale_workspace import make_workspace  # noqa: E402

AS_OF = "2026-11-20"
# The okr-sync command of this interpreter (not whichever `okr-sync` comes first on PATH).
CLI = [sys.executable, "-m", "sheets_sync"]
# A workbook saved less than 2 s ago is read again by the next run (it may still change within its
# timestamp tick): the runs here wait that long, as a scheduler 30 minutes apart does anyway.
SETTLE_S = 2.1

FLOOR = """
import os, sys
from python_calamine import CalamineWorkbook
folder = sys.argv[1]
wanted = {"settings", "设置", "okrs", "history", "历史"}
for name in sorted(os.listdir(folder)):
    if name.startswith((".", "~$")) or not name.endswith(".xlsx"):
        continue
    book = CalamineWorkbook.from_path(os.path.join(folder, name))
    for sheet in book.sheet_names:
        if sheet.strip().casefold() in wanted:
            book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
"""

PANDAS = """
import sys
sys.path.insert(0, sys.argv[3])
from pathlib import Path
from rollup_vs_pandas import pandas_rollup
pandas_rollup(Path(sys.argv[1]), Path(sys.argv[2]))
"""


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of one process run to its end."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode not in (0, 1):  # 1 = validation findings, still a full run
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({proc.returncode}):\n{err[-2000:]}")
    peak_kb = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss / 1024
    return elapsed, peak_kb / 1024


def run_size(units: int, keep: Path, pandas_max: int, sync_max: int) -> dict[str, tuple[float, float]]:
    folder = keep / f"u{units}"
    make_workspace(folder, units, keep / "base-200")
    scratch = Path(tempfile.mkdtemp(prefix="okr-scale-", dir=keep))
    try:
        copy = scratch / "units"
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".okr-sync"))
        shutil.rmtree(folder / ".okr-sync", ignore_errors=True)
        time.sleep(SETTLE_S)
        out: dict[str, tuple[float, float]] = {}
        out["floor (calamine alone)"] = timed([sys.executable, "-c", FLOOR, str(folder)])
        rollup = [*CLI, "rollup", str(folder), "-o", str(scratch / "rollup.xlsx"), "--as-of", AS_OF]
        out["okr-sync rollup"] = timed(rollup)
        out["okr-sync rollup, nothing new"] = timed(rollup)
        shutil.rmtree(folder / ".okr-sync", ignore_errors=True)
        if units <= sync_max:
            sync = [*CLI, "sync", str(copy), "--rollup", str(scratch / "sync-rollup.xlsx"), "--as-of", AS_OF]
            out["okr-sync sync, first run"] = timed(sync)
            time.sleep(SETTLE_S)
            out["okr-sync sync, reads back"] = timed(sync)
            time.sleep(SETTLE_S)
            out["okr-sync sync, nothing new"] = timed(sync)
        if units <= pandas_max:
            out["pandas script"] = timed([sys.executable, "-c", PANDAS, str(folder), str(scratch / "pandas.xlsx"),
                                          str(Path(__file__).parent)])
        return out
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[200, 2000, 10000])
    parser.add_argument("--keep", type=Path, default=Path(tempfile.gettempdir()) / "okr-scale",
                        help="where the generated workspaces live (reused on the next run)")
    parser.add_argument("--pandas-max", type=int, default=2000,
                        help="run the pandas script up to this many units (it takes minutes above)")
    parser.add_argument("--sync-max", type=int, default=10000,
                        help="run the three syncs up to this many units (a first sync writes every workbook)")
    args = parser.parse_args(argv)
    args.keep.mkdir(parents=True, exist_ok=True)
    print(f"cores: {os.cpu_count()}; load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    results: dict[int, dict[str, tuple[float, float]]] = {}
    for units in args.units:
        results[units] = figures = run_size(units, args.keep, args.pandas_max, args.sync_max)
        floor = figures["floor (calamine alone)"][0]
        print(f"\n{units:,} units")
        for name, (seconds, peak) in figures.items():
            print(f"  {name:<28} {seconds:7.2f} s  {seconds / floor:5.2f}x floor  peak {peak:6.0f} MB")
        sys.stdout.flush()
    if 2000 in results and 10000 in results:
        print("\n10,000 / 2,000 units:")
        for name in results[2000]:
            if name in results[10000]:
                print(f"  {name:<28} {results[10000][name][0] / results[2000][name][0]:5.2f}x the time")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\n(the largest peak of any process of the run: {peak:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
