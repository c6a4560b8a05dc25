"""A sync killed at random moments: no corrupt workbook, no unrecorded write, undo reverts it, no temp file left.

A few kills here; `python benchmarks/fault_injection.py --kills 120` runs the long version.
"""

from __future__ import annotations

from pathlib import Path

from kill_harness import fresh_company, run_kills


def test_killed_syncs_leave_an_honest_log_that_undo_reverts(tmp_path: Path) -> None:
    figures = run_kills(fresh_company(tmp_path / "okrs"), kills=6, seed=11)
    assert figures.kills == 6
    assert figures.problems == []
    assert (figures.corrupt_workbooks, figures.unrecorded_writes, figures.phantom_records) == (0, 0, 0)
    assert (figures.undo_failures, figures.temp_files_left) == (0, 0)
