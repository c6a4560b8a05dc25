"""The Microsoft 365 backend on the Graph stand-in: few calls, rows bound by ID while people edit, text kept
text, throttling, app-only uploads that never overwrite, sign-in and the token cache."""

from __future__ import annotations

import datetime as dt
import io
import os
import stat
import time
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from builders import kr, o, unit, write_xlsx
from conftest_microsoft import *  # noqa: F403
from conftest_microsoft import MicrosoftApi
from graph_standin import app_certificate

from sheets_sync.backends import microsoft
from sheets_sync.backends.microsoft import MicrosoftBackend, merge_ranges
from sheets_sync.core.model import CellUpdate, WorkbookChanges
from sheets_sync.engine import SyncReport, sync
from sheets_sync.errors import AuthError, ConfigError
from sheets_sync.workspace import Workspace

AS_OF = dt.date(2026, 11, 15)
# Columns of the builders' OKRs sheet: B is the ID, L Current, Q..U the computed cells.
ID, CURRENT, PROGRESS, SCORE = 2, 12, 17, 18


def _team(code: str, current: float = 4) -> dict[str, list[list[Any]]]:
    return unit(code, "team", [o("O1", "Help", aligns_to="CO/O1"), kr("KR1.1", "Work", target=10, current=current),
                               kr("KR1.2", "More work", target=20, current=5)], parent="CO")


def _company(api: MicrosoftApi, tmp: Path, teams: int = 2) -> tuple[Path, dict[str, str], str]:
    """CO plus `teams` teams in one SharePoint folder; the rollup beside it. (config, urls, rollup url)."""
    standin = api.standin
    folder = standin.add_folder("OKRs")
    books = {"co": unit("CO", "company", [o("O1", "Grow"), kr("KR1.1", "Revenue", target=100, current=40)])}
    books |= {f"t{i}": _team(f"T{i}") for i in range(teams)}
    urls = {}
    for name, sheets in books.items():
        write_xlsx(tmp / f"{name}.xlsx", sheets)
        urls[name] = standin.add_workbook(folder, f"{name}.xlsx", (tmp / f"{name}.xlsx").read_bytes())
    rollup = folder + "/okr-rollup.xlsx"
    return api.config(tmp / "ws", [folder], rollup), urls, rollup


def _run(config: Path) -> SyncReport:
    return sync(Workspace.from_path(config), AS_OF)


def _cell(api: MicrosoftApi, url: str, row: int, col: int, sheet: str = "OKRs") -> Any:
    return api.standin.workbook(url)[sheet].cell(row, col).value


def test_second_sync_downloads_only_what_changed_and_a_quiet_one_writes_nothing(
        ms_api: MicrosoftApi, tmp_path: Path) -> None:
    config, urls, _ = _company(ms_api, tmp_path)
    ms_api.login(config)
    standin = ms_api.standin
    first = _run(config)
    assert not first.failed_units and all(u.written for u in first.units) and first.rollup_written
    assert standin.calls["download"] == 3
    assert standin.calls["workbook.createSession"] == standin.calls["workbook.closeSession"] == 3
    # One look and one write $batch per workbook; adjacent cells go as one range (the KR rows' Q:S as one).
    cells = sum(len(u.changes.updates) for u in first.units)
    assert standin.calls["$batch"] == 6 and standin.calls["range.patch"] <= cells / 2
    assert _cell(ms_api, urls["t0"], 3, SCORE) == 0.4
    _run(config)  # re-reads the workbooks okr-sync itself wrote: their cTags moved
    standin.reset_counts()
    quiet = _run(config)
    assert not quiet.failed_units and not quiet.rollup_written
    assert standin.write_calls() == 0 and standin.calls["download"] == 0
    assert standin.graph_calls() == 2  # the folder's children, the rollup's eTag
    assert standin.calls["login.token"] == 0  # the access token is still good: no sign-in traffic
    # One check-in: only that workbook is downloaded; it and CO (whose aligned score moves) are written.
    ms_api.standin.edit(urls["t1"], lambda wb: wb["OKRs"].cell(3, CURRENT, 8))
    standin.reset_counts()
    after = _run(config)
    assert standin.calls["download"] == 1
    assert [u.source for u in after.units if u.written] == ["co.xlsx", "t1.xlsx"]
    assert _cell(ms_api, urls["t1"], 3, SCORE) == 0.8 and after.rollup_written


def test_rows_inserted_and_sorted_between_read_and_write_keep_their_figures(
        ms_api: MicrosoftApi, tmp_path: Path) -> None:
    config, urls, _ = _company(ms_api, tmp_path, teams=1)
    ms_api.login(config)
    url = urls["t0"]

    def people_edit() -> None:
        def change(wb: Any) -> None:
            ws = wb["OKRs"]
            ws.insert_rows(2)  # a new row above the objective
            ws.cell(2, 1, "O")
            ws.cell(2, ID, "O9")
            ws.cell(2, 3, "Added while the sync ran")
            # and the two KRs sorted the other way round
            for col in range(1, 17):
                a, b = ws.cell(4, col).value, ws.cell(5, col).value
                ws.cell(4, col, b)
                ws.cell(5, col, a)
        ms_api.standin.edit(url, change)

    ms_api.standin.before("workbook.createSession", people_edit)
    report = _run(config)
    assert not report.failed_units
    ws = ms_api.standin.workbook(url)["OKRs"]
    rows = {ws.cell(r, ID).value: r for r in range(2, 7)}
    assert ws.cell(rows["KR1.1"], SCORE).value == 0.4  # 4 of 10
    assert ws.cell(rows["KR1.2"], SCORE).value == 0.25  # 5 of 20
    assert ws.cell(rows["O9"], SCORE).value is None  # the new row got nobody's figures


def test_a_sort_in_the_instant_of_the_write_is_named_and_put_right_next_run(
        ms_api: MicrosoftApi, tmp_path: Path) -> None:
    config, urls, _ = _company(ms_api, tmp_path, teams=1)
    ms_api.login(config)

    def sort() -> None:
        def change(wb: Any) -> None:
            ws = wb["OKRs"]
            for col in range(1, 17):
                a, b = ws.cell(3, col).value, ws.cell(4, col).value
                ws.cell(3, col, b)
                ws.cell(4, col, a)
        ms_api.standin.edit(urls["t0"], change)

    # $batch calls: co's look and write, t0's look, then t0's write: sorted just before that one.
    ms_api.standin.before("$batch", sort, nth=4)
    report = _run(config)
    assert "rows moved" in ({u.source: u.error for u in report.failed_units}.get("t0.xlsx") or "")
    again = _run(config)
    assert not again.failed_units
    ws = ms_api.standin.workbook(urls["t0"])["OKRs"]
    rows = {ws.cell(r, ID).value: r for r in range(2, 5)}
    assert ws.cell(rows["KR1.1"], SCORE).value == 0.4 and ws.cell(rows["KR1.2"], SCORE).value == 0.25


def test_columns_moved_between_read_and_write_write_nothing(ms_api: MicrosoftApi, tmp_path: Path) -> None:
    config, urls, _ = _company(ms_api, tmp_path, teams=1)
    ms_api.login(config)
    ms_api.standin.before("workbook.createSession",
                          lambda: ms_api.standin.edit(urls["t0"], lambda wb: wb["OKRs"].insert_cols(3)))
    report = _run(config)
    failed = {u.source: u.error for u in report.failed_units}
    assert "columns were inserted" in (failed.get("t0.xlsx") or "")
    assert not any(_cell(ms_api, urls["t0"], r, c) for r in range(2, 5) for c in range(PROGRESS, 23))
    assert all(u.written for u in report.units if u.source != "t0.xlsx")


def test_text_that_looks_like_a_formula_stays_text(ms_api: MicrosoftApi, tmp_path: Path) -> None:
    config, urls, _ = _company(ms_api, tmp_path, teams=1)
    ms_api.login(config)
    workspace = Workspace.from_path(config)
    backend = workspace.backends[0]
    assert isinstance(backend, MicrosoftBackend)
    locator = next(loc for loc in backend.list_units() if loc.endswith("t0.xlsx"))
    backend.read(locator)
    changes = WorkbookChanges([CellUpdate("OKRs", 3, 20, None, "=HYPERLINK(\"x\")", "KR1.1"),
                               CellUpdate("OKRs", 4, 20, None, "-5 below target", "KR1.2")], [], ID, "OKRs")
    backend.apply(locator, changes)
    ws = ms_api.standin.workbook(urls["t0"])["OKRs"]
    assert ws.cell(3, 20).value == "=HYPERLINK(\"x\")" and ws.cell(3, 20).data_type == "s"
    assert ws.cell(4, 20).value == "-5 below target" and ws.cell(4, 20).data_type == "s"
    saved = openpyxl.load_workbook(io.BytesIO(ms_api.standin.content(urls["t0"])))["OKRs"]
    assert saved.cell(3, 20).data_type == "s"  # text in the file too, not a formula


def test_merge_ranges_joins_adjacent_cells() -> None:
    cells = {(3, 17): 1, (3, 18): 2, (4, 17): 3, (4, 18): 4, (6, 17): 5, (6, 19): 6}
    assert merge_ranges(cells) == [(3, 17, 4, 18, [[1, 2], [3, 4]]), (6, 17, 6, 17, [[5]]), (6, 19, 6, 19, [[6]])]


def test_many_scattered_cells_go_in_batches_of_twenty(ms_api: MicrosoftApi, tmp_path: Path) -> None:
    config, urls, _ = _company(ms_api, tmp_path, teams=1)
    ms_api.login(config)
    backend = Workspace.from_path(config).backends[0]
    assert isinstance(backend, MicrosoftBackend)
    locator = next(loc for loc in backend.list_units() if loc.endswith("t0.xlsx"))
    backend.read(locator)
    # 45 cells two columns apart: no two merge, so 45 range writes in three $batch calls.
    updates = [CellUpdate("Notes", r, c, None, r * 100 + c) for r in range(1, 16) for c in (1, 3, 5)]
    ms_api.standin.edit(urls["t0"], lambda wb: wb.create_sheet("Notes"))
    ms_api.standin.reset_counts()
    backend.apply(locator, WorkbookChanges(updates, [], ID, "OKRs"))
    assert ms_api.standin.calls["range.patch"] == 45 and ms_api.standin.calls["$batch"] == 3
    assert _cell(ms_api, urls["t0"], 15, 5, "Notes") == 1505


def test_throttling_is_honoured_then_a_workbook_that_stays_throttled_fails_alone(
        ms_api: MicrosoftApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKR_SYNC_MS_ATTEMPTS", "3")
    config, urls, _ = _company(ms_api, tmp_path, teams=2)
    ms_api.login(config)
    standin = ms_api.standin
    standin.fail("children", 429, times=1, retry_after=1)  # throttled once: wait as told, then fine
    order = sorted(urls)  # co, t0, t1 are written in this order; t0's session stays throttled
    standin.before("workbook.createSession", lambda: standin.fail("workbook.createSession", 503, times=3,
                                                                  retry_after=0), nth=2)
    started = time.monotonic()
    report = _run(config)
    assert time.monotonic() - started >= 1.0
    failed = {u.source: u.error or "" for u in report.failed_units}
    assert list(failed) == [f"{order[1]}.xlsx"] and "503" in failed[f"{order[1]}.xlsx"]
    assert "next run" in failed[f"{order[1]}.xlsx"]
    assert [u.source for u in report.units if u.written] == [f"{order[0]}.xlsx", f"{order[2]}.xlsx"]
    assert report.exit_code == 2 and report.rollup_written
    again = _run(config)  # the next run writes it
    assert not again.failed_units and _cell(ms_api, urls["t0"], 3, SCORE) == 0.4


def test_throttled_requests_inside_a_batch_are_retried(ms_api: MicrosoftApi, tmp_path: Path) -> None:
    config, urls, _ = _company(ms_api, tmp_path, teams=1)
    ms_api.login(config)
    ms_api.standin.fail("range.patch", 429, times=1, retry_after=0)
    report = _run(config)
    assert not report.failed_units and _cell(ms_api, urls["t0"], 3, SCORE) == 0.4


# ---------------------------------------------------------------- app-only mode


def _app_only(api: MicrosoftApi, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    monkeypatch.setenv("OKR_SYNC_MS_CLIENT_SECRET", api.standin.client_secret)
    config, urls, _ = _company(api, tmp, teams=2)
    text = config.read_text().replace('mode = "delegated"', 'mode = "app-only"')
    config.write_text(text)
    return config, urls


def test_app_only_writes_by_conditional_upload_and_never_uses_the_workbook_api(
        ms_api: MicrosoftApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, urls = _app_only(ms_api, tmp_path, monkeypatch)
    report = _run(config)
    assert not report.failed_units and all(u.written for u in report.units)
    assert ms_api.standin.calls["content.put"] == 4  # three units and the rollup
    assert not any(k.startswith(("workbook.", "range.")) for k in ms_api.standin.calls)
    assert _cell(ms_api, urls["t1"], 4, SCORE) == 0.25
    ms_api.standin.reset_counts()
    quiet = _run(config)  # the uploads' own eTags were kept: nothing is downloaded again
    assert not quiet.failed_units and ms_api.standin.calls["download"] == 0 and ms_api.standin.write_calls() == 0


def test_app_only_names_an_open_or_changed_workbook_and_overwrites_neither(
        ms_api: MicrosoftApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, urls = _app_only(ms_api, tmp_path, monkeypatch)
    standin = ms_api.standin
    standin.node(urls["t0"]).locked = True
    # t1 is edited by a person after okr-sync read it and before it uploads.
    standin.before("content.put", lambda: standin.edit(urls["t1"], lambda wb: wb["OKRs"].cell(3, 16, "note")),
                   nth=3)  # uploads: co, t0 (refused), then t1
    report = _run(config)
    failed = {u.source: u.error or "" for u in report.failed_units}
    assert set(failed) == {"t0.xlsx", "t1.xlsx"}
    assert "open for editing" in failed["t0.xlsx"] and "next run" in failed["t0.xlsx"]
    assert "changed in SharePoint" in failed["t1.xlsx"]
    assert _cell(ms_api, urls["t0"], 3, SCORE) is None
    assert _cell(ms_api, urls["t1"], 3, 16) == "note" and _cell(ms_api, urls["t1"], 3, SCORE) is None
    standin.node(urls["t0"]).locked = False
    again = _run(config)
    assert not again.failed_units
    assert _cell(ms_api, urls["t0"], 3, SCORE) == 0.4
    assert _cell(ms_api, urls["t1"], 3, 16) == "note" and _cell(ms_api, urls["t1"], 3, SCORE) == 0.4


def test_app_only_with_a_certificate(ms_api: MicrosoftApi, tmp_path: Path) -> None:
    pem, thumbprint = app_certificate(tmp_path)
    ms_api.standin.thumbprints.add(thumbprint)
    config, urls, _ = _company(ms_api, tmp_path, teams=1)
    config.write_text(config.read_text().replace('mode = "delegated"', f'certificate = "{pem}"'))
    report = _run(config)
    assert not report.failed_units and _cell(ms_api, urls["t0"], 3, SCORE) == 0.4
    ms_api.standin.thumbprints.clear()  # the certificate was removed from the app registration
    ms_api.standin.tokens.clear()
    with pytest.raises(AuthError, match="certificate"):
        Workspace.from_path(config).backends[0].list_units()


# ---------------------------------------------------------------- sign-in


def test_sign_in_keeps_a_private_token_cache_and_says_when_to_sign_in_again(
        ms_api: MicrosoftApi, tmp_path: Path) -> None:
    config, _, _ = _company(ms_api, tmp_path, teams=1)
    with pytest.raises(AuthError, match="okr-sync login microsoft"):
        Workspace.from_path(config).backends[0].list_units()
    assert ms_api.login(config) == ms_api.standin.user
    cache = tmp_path / "ws" / ".okr-sync" / "microsoft-token.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert "refreshtoken" in cache.read_text().lower()
    ms_api.standin.tokens.clear()  # every access token expired: the refresh token gets a new one silently
    ms_api.standin.reset_counts()
    assert not _run(config).failed_units
    assert ms_api.standin.calls["login.token"] == 1
    ms_api.standin.revoke_refresh_tokens()  # an admin revoked the sessions
    with pytest.raises(AuthError) as caught:
        Workspace.from_path(config).backends[0].list_units()
    assert "okr-sync login microsoft" in str(caught.value) and "\n" not in str(caught.value)
    os.chmod(cache, 0o644)
    with pytest.raises(AuthError, match="chmod 600"):
        Workspace.from_path(config).backends[0].list_units()


def test_a_config_without_the_microsoft_table_is_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "okr-sync.toml"
    config.write_text('[[sources]]\nsharepoint = "https://contoso.sharepoint.com/sites/HR/Shared Documents/OKRs"\n')
    with pytest.raises(ConfigError, match=r"\[microsoft\] table with tenant and client_id"):
        Workspace.from_path(config)


def test_a_large_rollup_goes_up_in_an_upload_session(
        ms_api: MicrosoftApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(microsoft, "SIMPLE_UPLOAD_LIMIT", 1000)
    monkeypatch.setattr(microsoft, "FRAGMENT", 320 * 1024)
    config, _, rollup = _company(ms_api, tmp_path, teams=1)
    ms_api.login(config)
    report = _run(config)
    assert report.rollup_written and ms_api.standin.calls["uploadSession.create"] == 1
    book = openpyxl.load_workbook(io.BytesIO(ms_api.standin.content(rollup)))
    assert "Units" in book.sheetnames
    # A person replaced the rollup with a workbook of their own: it is left alone.
    own = tmp_path / "own.xlsx"
    write_xlsx(own, {"Mine": [["keep me"]]})
    ms_api.standin.node(rollup).content = own.read_bytes()
    ms_api.standin.node(rollup).book = None
    ms_api.standin.node(rollup).version += 1
    ms_api.standin.edit(next(iter(_company_urls(ms_api))), lambda wb: wb["OKRs"].cell(3, CURRENT, 9))
    again = _run(config)
    assert again.rollup_error and "not a rollup workbook" in again.rollup_error
    assert openpyxl.load_workbook(io.BytesIO(ms_api.standin.content(rollup))).sheetnames == ["Mine"]


def _company_urls(api: MicrosoftApi) -> list[str]:
    return [api.standin.web_url(n) for n in api.standin.nodes.values()
            if n.name.startswith("t") and n.name.endswith(".xlsx")]


def test_undo_puts_back_what_a_run_wrote_in_sharepoint(ms_api: MicrosoftApi, tmp_path: Path) -> None:
    from sheets_sync import operations

    config, urls, _ = _company(ms_api, tmp_path, teams=1)
    ms_api.login(config)
    run_id = operations.sync(Workspace.from_path(config), as_of=AS_OF).run_id
    assert run_id is not None and _cell(ms_api, urls["t0"], 3, SCORE) == 0.4
    result = operations.undo(Workspace.from_path(config), run_id)
    assert not result.skipped
    assert _cell(ms_api, urls["t0"], 3, SCORE) is None and _cell(ms_api, urls["co"], 3, SCORE) is None


def test_a_workbook_open_in_excel_is_written_by_the_service_account(ms_api: MicrosoftApi, tmp_path: Path) -> None:
    config, urls, _ = _company(ms_api, tmp_path, teams=1)
    ms_api.login(config)
    ms_api.standin.node(urls["t0"]).locked = True  # open for editing: a whole-file upload would get 423
    report = _run(config)
    assert not report.failed_units and _cell(ms_api, urls["t0"], 3, SCORE) == 0.4


def test_a_folder_listing_follows_its_pages(ms_api: MicrosoftApi, tmp_path: Path) -> None:
    ms_api.standin.page_size = 2
    config, _, _ = _company(ms_api, tmp_path, teams=4)
    ms_api.login(config)
    report = _run(config)
    assert sorted(u.source for u in report.units) == ["co.xlsx", "t0.xlsx", "t1.xlsx", "t2.xlsx", "t3.xlsx"]
    assert ms_api.standin.calls["children"] == 3


def test_a_check_in_in_sharepoint_names_the_person_from_graph_last_modified_by(
        ms_api: MicrosoftApi, tmp_path: Path) -> None:
    from sheets_sync import operations

    config, urls, _ = _company(ms_api, tmp_path, teams=1)
    ms_api.login(config)
    operations.sync(Workspace.from_path(config), as_of=AS_OF)

    def check_in(wb: Any) -> None:
        wb["OKRs"].cell(3, CURRENT).value = 7

    ms_api.standin.edit(urls["t0"], check_in, by="Ana Li <ana@contoso.com>")
    report = operations.sync(Workspace.from_path(config), as_of=AS_OF + dt.timedelta(days=7))
    [checkin] = report.checkins
    assert (checkin["id"], checkin["who"], checkin["new"]["current"]) == ("T0/KR1.1", "Ana Li", 7)
    # The service's own write since then is no person's check-in.
    assert operations.sync(Workspace.from_path(config), as_of=AS_OF + dt.timedelta(days=14)).checkins == []
