"""GoogleBackend against the emulator: calls per spreadsheet, binding rows by ID under concurrent
edits, credentials and access errors, retries and the quota limiter."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from builders import kr, o, okrs_grid, unit
from conftest_google import *  # noqa: F403
from conftest_google import GoogleApi
from google_emulator import GoogleEmulator

from sheets_sync.backends.google import ROW_KEY, GoogleBackend
from sheets_sync.backends.google_client import (
    Limits,
    RateLimiter,
    request_kind,
    rewrite_url,
    spreadsheet_key,
)
from sheets_sync.engine import sync
from sheets_sync.errors import AuthError, ConfigError, QuotaError, RemoteError
from sheets_sync.workspace import Workspace

AS_OF = dt.date(2026, 11, 15)
FAST = Limits(backoff=0.001, backoff_cap=0.01, attempts=4, timeout=5)


def company(emu: GoogleEmulator, **kw: Any) -> str:
    rows = [
        o("O1", "Grow revenue"),
        kr("KR1.1", "Revenue", start=0, target=100, current=50),
        kr("KR1.2", "Customers", start=10, target=20, current=20),
        kr("KR1.3", "Churn", start=30, target=20, current=25),
    ]
    return emu.add_spreadsheet("Company OKRs", unit("CO", "company", rows), **kw)


def okrs(emu: GoogleEmulator, key: str) -> dict[str, dict[str, Any]]:
    """OKRs rows by ID with the computed columns, as the emulator holds them."""
    grid = emu.values(key, "OKRs")
    header = grid[0]
    out = {}
    for row in grid[1:]:
        row = row + [None] * (len(header) - len(row))
        if row[1]:
            out[row[1]] = dict(zip(header, row, strict=True))
    return out


def run(backend: GoogleBackend) -> Any:
    return sync(Workspace([backend]), AS_OF, write_rollup=False)


def test_read_gives_title_key_and_serial_dates(google_api: GoogleApi) -> None:
    key = company(google_api.emulator)
    raw = GoogleBackend([f"https://docs.google.com/spreadsheets/d/{key}/edit#gid=0"]).read(key)
    assert raw.source == "Company OKRs" and raw.locator == key
    assert raw.sheet_names == ["Settings", "OKRs"]
    start = {r[0]: r[1] for r in raw.sheets["Settings"] if len(r) > 1}["Cycle start"]
    assert start == 46296  # 2026-10-01 as Google's serial number
    assert raw.sheets["OKRs"][2][:3] == ["KR", "KR1.1", "Revenue"]


def test_sync_calls_per_spreadsheet_and_nothing_new_writes_nothing(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = company(emu)
    backend = GoogleBackend([key])
    report = run(backend)
    assert not report.failed_units
    rows = okrs(emu, key)
    assert rows["KR1.1"]["Score"] == 0.5 and rows["KR1.2"]["Status"] == "done"
    assert rows["KR1.3"]["Progress"] == 0.5 and rows["O1"]["Score"] == 0.67
    assert emu.calls["values.batchGet"] == 1
    assert emu.calls["values.batchUpdateByDataFilter"] == 1
    # One spreadsheets:batchUpdate: bind the rows and create History.
    assert emu.calls["spreadsheets.batchUpdate"] == 1
    assert [s.title for s in emu.book(key).sheets] == ["Settings", "OKRs", "History"]
    assert len(emu.values(key, "History")) == 5  # header + O1 + 3 KRs
    emu.reset_counts()
    report = run(GoogleBackend([key]))
    assert not report.failed_units and report.cells_written == 0
    assert emu.write_calls() == 0
    assert dict(emu.calls) == {"oauth.token": 1, "spreadsheets.get": 1, "values.batchGet": 1}
    # A changed Current: one bind-check read and one values write, no structural call.
    emu.set_cell(key, "OKRs", "L3", 80)
    emu.reset_counts()
    run(GoogleBackend([key]))
    assert emu.calls["values.batchUpdateByDataFilter"] == 1
    assert emu.calls["spreadsheets.batchUpdate"] == 0
    assert okrs(emu, key)["KR1.1"]["Score"] == 0.8
    assert len(emu.values(key, "History")) == 7  # + KR1.1 and its objective O1


def _sheet_id(emu: GoogleEmulator, key: str, title: str = "OKRs") -> int:
    sheet = emu.book(key).sheet_by_title(title)
    assert sheet is not None
    return sheet.sheet_id


def _insert_row(emu: GoogleEmulator, key: str, index: int) -> None:
    emu.edit(
        key,
        [
            {
                "insertDimension": {
                    "range": {
                        "sheetId": _sheet_id(emu, key),
                        "dimension": "ROWS",
                        "startIndex": index,
                        "endIndex": index + 1,
                    }
                }
            }
        ],
    )
    emu.set_cell(key, "OKRs", f"A{index + 1}", "KR")
    emu.set_cell(key, "OKRs", f"B{index + 1}", "KR1.9")
    emu.set_cell(key, "OKRs", f"C{index + 1}", "Added by a person meanwhile")


@pytest.mark.parametrize("moment", ["values.batchUpdateByDataFilter", "spreadsheets.batchUpdate"])
def test_rows_inserted_during_the_sync_never_get_another_rows_figures(google_api: GoogleApi, moment: str) -> None:
    emu = google_api.emulator
    key = company(emu)
    # A person inserts a row above KR1.1 between the sync's read and its write (or its binding).
    emu.before(moment, lambda e: _insert_row(e, key, 2))
    report = run(GoogleBackend([key]))
    rows = okrs(emu, key)
    assert rows["KR1.9"]["Score"] is None and rows["KR1.9"]["Status"] is None
    if moment == "values.batchUpdateByDataFilter":
        # Rows were bound before the edit: every figure follows its row.
        assert rows["KR1.1"]["Score"] == 0.5 and rows["KR1.3"]["Score"] == 0.5
    # Whatever was written sits on the right row; the rest comes at the next sync.
    for kr_id, score in (("KR1.1", 0.5), ("KR1.2", 1.0), ("KR1.3", 0.5)):
        assert rows[kr_id]["Score"] in (None, score)
    assert not report.failed_units
    run(GoogleBackend([key]))
    rows = okrs(emu, key)
    assert [rows[i]["Score"] for i in ("KR1.1", "KR1.2", "KR1.3")] == [0.5, 1.0, 0.5]


def test_rows_deleted_and_moved_between_read_and_write(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = company(emu)
    run(GoogleBackend([key]))  # binds the rows
    emu.set_cell(key, "OKRs", "L3", 90)  # KR1.1 Current
    emu.set_cell(key, "OKRs", "L5", 20)  # KR1.3 Current
    sid = _sheet_id(emu, key)

    def edit(e: GoogleEmulator) -> None:
        # Delete KR1.2 (row 4), then move KR1.3 above KR1.1.
        e.edit(
            key,
            [
                {"deleteDimension": {"range": {"sheetId": sid, "dimension": "ROWS", "startIndex": 3, "endIndex": 4}}},
                {
                    "moveDimension": {
                        "source": {"sheetId": sid, "dimension": "ROWS", "startIndex": 3, "endIndex": 4},
                        "destinationIndex": 2,
                    }
                },
            ],
        )

    emu.before("values.batchUpdateByDataFilter", edit)
    report = run(GoogleBackend([key]))
    assert not report.failed_units
    grid = emu.values(key, "OKRs")
    assert [r[1] for r in grid[1:]] == ["O1", "KR1.3", "KR1.1"]
    rows = okrs(emu, key)
    assert rows["KR1.1"]["Score"] == 0.9 and rows["KR1.1"]["Current"] == 90
    assert rows["KR1.3"]["Score"] == 1.0 and rows["KR1.3"]["Status"] == "done"
    assert "KR1.2" not in rows


def test_a_stale_binding_is_dropped_not_trusted(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = company(emu)
    run(GoogleBackend([key]))
    # A person swaps two IDs by hand: the row metadata now disagrees with the ID cells.
    emu.set_cell(key, "OKRs", "B3", "KR1.3")
    emu.set_cell(key, "OKRs", "B5", "KR1.1")
    emu.set_cell(key, "OKRs", "L3", 70)  # and updates the row now called KR1.3
    run(GoogleBackend([key]))
    rows = okrs(emu, key)
    assert rows["KR1.3"]["Current"] == 70 and rows["KR1.3"]["Score"] == 0.7
    assert rows["KR1.1"]["Current"] == 25 and rows["KR1.1"]["Score"] == 0.5
    meta = [m for m in emu.book(key).metadata if m["metadataKey"] == ROW_KEY]
    by_row = {m["location"]["dimensionRange"]["startIndex"]: m["metadataValue"] for m in meta}
    # The stale bindings are gone; the row written is bound to the ID it carries now.
    assert by_row[2] == "KR1.3" and 4 not in by_row


def test_user_text_is_never_turned_into_a_formula(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    rows = [o("O1", "Grow"), kr("KR1.1", "Sales", target=100, current="=bad")]
    key = emu.add_spreadsheet("U", unit("CO", "company", rows))
    emu.set_cell(key, "OKRs", "L3", "=1+")  # an unparseable formula: #ERROR!
    run(GoogleBackend([key]))
    check = okrs(emu, key)["KR1.1"]["Check"]
    assert isinstance(check, str) and check
    cell = emu.book(key).sheet_by_title("OKRs").cells  # type: ignore[union-attr]
    assert all(c.formula is None for (r, col), c in cell.items() if col >= 16)


def test_missing_credentials_and_bad_files(
    google_api: GoogleApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    with pytest.raises(AuthError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        GoogleBackend(["k" * 20]).read("k" * 20)
    with pytest.raises(AuthError, match="not found"):
        GoogleBackend(["k" * 20], credentials=str(tmp_path / "nope.json")).read("k" * 20)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "external_account"}))
    with pytest.raises(AuthError, match="not supported"):
        GoogleBackend(["k" * 20], credentials=str(bad)).read("k" * 20)


def test_no_access_names_the_account_to_share_with(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = company(emu, shared_with={"boss@example.com"})
    other = company(emu)
    report = run(GoogleBackend([key, other]))
    failed = report.failed_units
    assert [u.locator for u in failed] == [key]
    assert google_api.email in (failed[0].error or "")
    assert "Share the spreadsheet" in (failed[0].error or "")
    assert okrs(emu, other)["KR1.1"]["Score"] == 0.5


def test_revoked_key_is_an_auth_error(google_api: GoogleApi) -> None:
    google_api.emulator.revoked.add(google_api.email)
    key = company(google_api.emulator)
    with pytest.raises(AuthError, match="refused the credentials"):
        GoogleBackend([key]).read(key)


def test_authorized_user_file(google_api: GoogleApi, tmp_path: Path) -> None:
    path = tmp_path / "user.json"
    path.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "cid",
                "client_secret": "s",
                "refresh_token": "r",
                "token_uri": google_api.url + "/token",
            }
        )
    )
    key = company(google_api.emulator)
    assert GoogleBackend([key], credentials=str(path)).read(key).source == "Company OKRs"


def test_5xx_is_retried_then_succeeds(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = company(emu)
    emu.fail("values.batchGet", 503, times=2)
    raw = GoogleBackend([key], limits=FAST).read(key)
    assert raw.sheets["OKRs"]
    assert emu.calls["values.batchGet"] == 3


def test_persistent_5xx_fails_that_sheet_only(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    bad, good = company(emu), company(emu)
    emu.fail("values.batchGet", 500, times=100, spreadsheet=bad)
    report = run(GoogleBackend([bad, good], limits=FAST))
    assert [u.locator for u in report.failed_units] == [bad]
    assert "500" in (report.failed_units[0].error or "")
    assert okrs(emu, good)["KR1.1"]["Score"] == 0.5
    with pytest.raises(RemoteError):
        GoogleBackend([bad], limits=FAST).read(bad)


def test_slow_answer_times_out_and_is_retried(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = company(emu)
    emu.slow("values.batchGet", 1.5)
    raw = GoogleBackend([key], limits=Limits(backoff=0.001, attempts=3, timeout=0.5)).read(key)
    assert raw.sheets["OKRs"]
    assert emu.calls["values.batchGet"] == 2


def test_drive_folder_lists_units(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    folder = emu.add_folder("OKRs")
    a = company(emu, folder=folder)
    b = company(emu, folder=folder)
    company(emu)  # elsewhere
    backend = GoogleBackend([], folders=[f"https://drive.google.com/drive/folders/{folder}"])
    assert sorted(backend.list_units()) == sorted([a, b])


def test_limiter_never_lets_more_than_n_through_in_a_window() -> None:
    limiter = RateLimiter(Limits(reads=5, writes=5, window=0.3))
    starts: list[float] = []
    lock = threading.Lock()

    def call() -> None:
        with limiter.slot("read"):
            with lock:
                starts.append(time.monotonic())
            time.sleep(0.01)

    threads = [threading.Thread(target=call) for _ in range(15)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts.sort()
    for i in range(len(starts) - 5):
        assert starts[i + 5] - starts[i] >= 0.3 - 1e-3
    assert request_kind("GET", "https://x/v4/spreadsheets/k/values:batchGet") == "read"
    assert request_kind("POST", "https://x/v4/spreadsheets/k/developerMetadata:search") == "read"
    assert request_kind("POST", "https://x/v4/spreadsheets/k:batchUpdate") == "write"
    assert request_kind("GET", "https://x/drive/v3/files") is None


def test_429_is_retried_and_a_stuck_quota_is_a_quota_error(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = company(emu)
    emu.fail("values.batchGet", 429, times=1)
    assert GoogleBackend([key], limits=FAST).read(key).sheets["OKRs"]
    # Another program eats the quota of the same account: after the retries, a QuotaError.
    emu.quota.reads = 0
    with pytest.raises(QuotaError, match="quota"):
        GoogleBackend([key], limits=FAST).read(key)


def test_a_row_without_an_id_gets_its_check_on_its_own_row(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    rows = [
        o("O1", "Grow"),
        kr("KR1.1", "Revenue", target=100, current=50),
        {"type": "KR", "text": "Forgot the ID", "target": 10, "current": 5},
    ]
    key = emu.add_spreadsheet("U", unit("CO", "company", rows))
    emu.before("values.batchUpdateByDataFilter", lambda e: _insert_row(e, key, 1))
    run(GoogleBackend([key]))
    grid = emu.values(key, "OKRs")
    by_text = {r[2]: r + [None] * (21 - len(r)) for r in grid[1:]}
    assert "ID" in str(by_text["Forgot the ID"][19])  # its Check names the missing ID
    assert by_text["Added by a person meanwhile"][19] is None
    assert by_text["Revenue"][17] == 0.5


def test_a_sort_in_the_instant_before_the_write_is_caught_and_put_right(
    google_api: GoogleApi,
) -> None:
    emu = google_api.emulator
    key = company(emu)
    run(GoogleBackend([key]))  # binds the rows
    before = okrs(emu, key)
    emu.set_cell(key, "OKRs", "L3", 80)  # only KR1.1 changes
    sid = _sheet_id(emu, key)
    # Sorting moves the values, not the rows their metadata is on (the pessimistic case).
    sort = [
        {
            "sortRange": {
                "range": {
                    "sheetId": sid,
                    "startRowIndex": 2,
                    "endRowIndex": 5,
                    "startColumnIndex": 0,
                    "endColumnIndex": 21,
                },
                "sortSpecs": [{"dimensionIndex": 2, "sortOrder": "ASCENDING"}],
            }
        }
    ]
    emu.before("values.batchUpdateByDataFilter", lambda e: e.edit(key, sort))
    emu.reset_counts()
    report = run(GoogleBackend([key]))
    assert not report.failed_units
    # The write's own answer showed the wrong row: one more write put it right.
    assert emu.calls["values.batchUpdateByDataFilter"] == 2
    grid = emu.values(key, "OKRs")
    assert [r[1] for r in grid[2:5]] == ["KR1.3", "KR1.2", "KR1.1"]
    rows = okrs(emu, key)
    assert rows["KR1.1"]["Score"] == 0.8 and rows["KR1.1"]["Progress"] == 0.8
    # The row the first write hit got its own figures back.
    for col in ("Progress", "Score", "Status", "Check"):
        assert rows["KR1.3"][col] == before["KR1.3"][col]
        assert rows["KR1.2"][col] == before["KR1.2"][col]


def test_a_sheet_without_type_or_text_columns_still_syncs(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    keys = ["id", "target", "current", "progress", "score", "status", "check"]
    sheets = unit("CO", "company", [])
    sheets["OKRs"] = okrs_grid([kr("KR1.1", "x", target=10, current=5)], keys=keys)
    key = emu.add_spreadsheet("Odd", sheets)
    report = run(GoogleBackend([key]))
    assert not report.failed_units
    assert emu.values(key, "OKRs")[1][6]  # its Check explains what is missing


@pytest.mark.parametrize("seed", range(16))
def test_random_edits_between_read_and_write_never_misplace_a_figure(google_api: GoogleApi, seed: int) -> None:
    rng = random.Random(seed)
    emu = google_api.emulator
    rows = [o("O1", "Grow")] + [
        kr(f"KR1.{i}", f"Result {i}", start=0, target=100, current=rng.randint(0, 100)) for i in range(1, 7)
    ]
    key = emu.add_spreadsheet("R", unit("CO", "company", rows))
    if seed % 2:
        run(GoogleBackend([key]))  # half the cases start from rows already bound
    for i in rng.sample(range(1, 7), 3):
        emu.set_cell(key, "OKRs", f"L{2 + i}", rng.randint(0, 120))
    sid = _sheet_id(emu, key)

    def by_id() -> dict[str, list[Any]]:
        return {r[1]: r + [None] * (21 - len(r)) for r in emu.values(key, "OKRs")[1:] if len(r) > 1 and r[1]}

    before = by_id()

    def edit(e: GoogleEmulator) -> None:
        for _ in range(3):
            n = len(e.values(key, "OKRs"))
            kind = rng.choice(["insert", "delete", "move", "sort"])
            if kind == "insert":
                _insert_row(e, key, rng.randint(1, n))
            elif kind == "delete" and n > 3:
                at = rng.randint(2, n - 1)
                e.edit(
                    key,
                    [
                        {
                            "deleteDimension": {
                                "range": {"sheetId": sid, "dimension": "ROWS", "startIndex": at, "endIndex": at + 1}
                            }
                        }
                    ],
                )
            elif kind == "move":
                a, b = rng.randint(1, n - 1), rng.randint(1, n)
                e.edit(
                    key,
                    [
                        {
                            "moveDimension": {
                                "source": {"sheetId": sid, "dimension": "ROWS", "startIndex": a, "endIndex": a + 1},
                                "destinationIndex": b,
                            }
                        }
                    ],
                )
            else:  # values move, row metadata stays
                e.edit(
                    key,
                    [
                        {
                            "sortRange": {
                                "range": {
                                    "sheetId": sid,
                                    "startRowIndex": 1,
                                    "endRowIndex": n,
                                    "startColumnIndex": 0,
                                    "endColumnIndex": 21,
                                },
                                "sortSpecs": [{"dimensionIndex": 11, "sortOrder": "ASCENDING"}],
                            }
                        }
                    ],
                )

    moment = rng.choice(["read", "bind check", "binding", "write"])
    if moment == "read":
        emu.before("values.batchGet", edit, spreadsheet=key)
    elif moment == "bind check":  # the first spreadsheets.get after the values read
        emu.before("values.batchGet", lambda e: e.before("spreadsheets.get", edit, key), key)
    elif moment == "binding":
        emu.before("spreadsheets.batchUpdate", edit, spreadsheet=key)
    else:
        emu.before("values.batchUpdateByDataFilter", edit, spreadsheet=key)
    report = run(GoogleBackend([key]))
    assert all("rows kept moving" in (u.error or "") for u in report.failed_units)
    after = by_id()
    if moment != "read":
        # Rows people added after the read got nothing: the sync never saw them.
        assert all(v is None for v in after.get("KR1.9", [None] * 21)[16:])
    # People's cells are untouched: every row's inputs are what they were.
    for row_id, line in after.items():
        if row_id in before:
            assert line[:16] == before[row_id][:16]
    # Each computed cell holds its own row's new figure or, if the sync left it for the next
    # run, its own old one: never another row's.
    check = sync(Workspace([GoogleBackend([key])]), AS_OF, write_back=False, write_rollup=False)
    for u in check.units[0].changes.updates:
        if u.row_id in before and u.row_id != "KR1.9":
            assert u.old == before[u.row_id][u.col - 1], (u.row_id, u.a1)


def test_links_keys_url_override_and_limits_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
    assert spreadsheet_key(f"https://docs.google.com/spreadsheets/d/{key}/edit#gid=0") == key
    assert spreadsheet_key(f"  {key} ") == key
    with pytest.raises(ConfigError, match="not a Google Sheets link"):
        spreadsheet_key("sales.xlsx")
    url = "https://sheets.googleapis.com/v4/spreadsheets/k/values:batchGet"
    assert rewrite_url(url, None) == url
    assert rewrite_url(url, "http://proxy:8080") == "http://proxy:8080/v4/spreadsheets/k/values:batchGet"
    drive = "https://www.googleapis.com/drive/v3/files"
    assert rewrite_url(drive, "http://proxy:8080") == "http://proxy:8080/drive/v3/files"
    monkeypatch.setenv("OKR_SYNC_GOOGLE_READS_PER_MINUTE", "30")
    assert Limits.from_env().reads == 30 and Limits.from_env().writes == 60
    monkeypatch.setenv("OKR_SYNC_GOOGLE_WRITES_PER_MINUTE", "lots")
    with pytest.raises(ConfigError, match="OKR_SYNC_GOOGLE_WRITES_PER_MINUTE"):
        Limits.from_env()
