"""Check-ins on Google Sheets: who comes from the Drive revision's lastModifyingUser (the emulator's
revisions.list), never the service account's own writes, and Drive is asked only when something changed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from builders import kr, o, unit
from conftest_google import *  # noqa: F403
from conftest_google import GoogleApi

from sheets_sync import operations
from sheets_sync.workspace import Workspace


def test_a_google_check_in_names_the_person_from_the_drive_revision(google_api: GoogleApi, tmp_path: Path) -> None:
    emu = google_api.emulator
    key = emu.add_spreadsheet("Company OKRs", unit("CO", "company", [
        o("O1", "Grow revenue"), kr("KR1.1", "Revenue", start=0, target=100, current=50, confidence=6)]))
    cfg = tmp_path / "okr-sync.toml"
    cfg.write_text(f'[[sources]]\ngoogle = "{key}"\n[rollup]\npath = "rollup.xlsx"\n', encoding="utf-8")
    first = operations.sync(Workspace.from_path(cfg), as_of=dt.date(2026, 11, 2))
    assert first.checkins == [] and emu.calls["drive.revisions.list"] == 0
    # Ana types a new Current and a comment in Google Sheets; the service then writes its own cells (a revision
    # by the service account, which revisions.list marks `me`).
    emu.set_cell(key, "OKRs", "L3", 64, by="Ana Li <ana@example.com>")
    emu.set_cell(key, "OKRs", "P3", "Two big deals closed", by="Ana Li <ana@example.com>")
    second = operations.sync(Workspace.from_path(cfg), as_of=dt.date(2026, 11, 9))
    [checkin] = second.checkins
    assert (checkin["id"], checkin["who"], checkin["via"], checkin["comment"]) == (
        "CO/KR1.1", "Ana Li", "google", "Two big deals closed")
    assert checkin["old"]["current"] == 50 and checkin["new"]["current"] == 64
    assert emu.calls["drive.revisions.list"] == 1
    emu.reset_counts()
    third = operations.sync(Workspace.from_path(cfg), as_of=dt.date(2026, 11, 16))
    assert third.checkins == [] and emu.calls["drive.revisions.list"] == 0
    history = emu.values(key, "History")
    assert history[0][9:11] == ["By", "Comment"]
    assert [r[9:11] for r in history if len(r) > 9 and r[2] == "KR1.1"][-1] == ["Ana Li", "Two big deals closed"]
