"""Kill `okr-sync sync` at N random moments (kill -9) and print what each left behind.

    python benchmarks/fault_injection.py --kills 120

Counts corrupt workbooks, writes the run log does not record, killed runs undo could not revert, and temporary
files left after the next run. Every figure should be 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from kill_harness import fresh_company, run_kills  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        figures = run_kills(fresh_company(Path(tmp) / "okrs"), args.kills, args.seed)
        took = time.perf_counter() - started
    print(f"kills                          {figures.kills}")
    print(f"  killed after writing a file  {figures.killed_mid_write}")
    print(f"corrupt workbooks              {figures.corrupt_workbooks}")
    print(f"unrecorded writes              {figures.unrecorded_writes}")
    print(f"records of writes not made     {figures.phantom_records}")
    print(f"killed runs undo did not revert {figures.undo_failures}")
    print(f"temp files left after next run {figures.temp_files_left}")
    print(f"time                           {took:.0f} s")
    for problem in figures.problems[:20]:
        print("  ", problem)
    return 1 if figures.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
