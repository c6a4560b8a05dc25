"""The real task pane in headless Chromium, served by our server, on a stand-in of the Excel JS API."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from addin_fixtures import END_OF_CYCLE, TOKEN, big_rows, excel_js_sheets, excel_values, mkt_rows
from builders import kr, o, okrs_grid, settings_grid, unit, write_xlsx
from conftest import screenshot_target
from playwright.sync_api import Browser, Page
from sheets_sync.server import create_app
from werkzeug.serving import make_server

HERE = Path(__file__).resolve().parent
STANDIN = (HERE / "addin_excel_standin.js").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("workspace")
    write_xlsx(
        folder / "CO.xlsx",
        unit("CO", "company", [o("O1", "+1 market"), kr("KR1.1", "Revenue", target=10, current=8)]),
    )
    write_xlsx(
        folder / "SALES.xlsx",
        unit(
            "SALES",
            "department",
            [o("O1", "Close deals", aligns_to="CO/O1"), kr("KR1.1", "Deals", target=10, current=2)],
            parent="CO",
        ),
    )
    app = create_app({"TOKENS": [TOKEN], "WORKSPACE": str(folder)})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(5)



@pytest.fixture
def page(browser: Browser, server_url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 380, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    # The stand-in takes the place of Office.js from Microsoft's CDN; nothing leaves the machine.
    pg.route(
        "https://appsforoffice.microsoft.com/**",
        lambda route: route.fulfill(body=STANDIN, content_type="application/javascript"),
    )
    pg.goto(f"{server_url}/addin/taskpane.html")
    pg.wait_for_selector("body[data-ready='1']")
    yield pg
    assert errors == []
    context.close()


def workbook(
    lang: str = "en", rows: list[dict[str, Any]] | None = None, name: str | None = None, **kw: Any
) -> dict[str, Any]:
    settings = "设置" if lang == "zh" else "Settings"
    return {
        "name": "MKT.xlsx",
        "sheets": {
            settings: excel_values(settings_grid("MKT", "company", None, lang, name=name)),
            "OKRs": {"anchor": "A1", "rows": excel_values(okrs_grid(rows or mkt_rows(), lang))},
            "Notes": [["my own sheet", 1]],
        },
        **kw,
    }


def seed(page: Page, spec: dict[str, Any]) -> None:
    page.evaluate("spec => window.__excelStandin.reset(spec)", spec)


def login(page: Page, token: str = TOKEN) -> None:
    page.evaluate("() => window.OkrClient.setToken('')")
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.is_visible("#token-box")
    page.fill("#token", token)
    page.click("#save-token")
    page.wait_for_selector("#token-box", state="hidden")


def click_and_wait(page: Page, button: str, action: str) -> None:
    page.evaluate("() => document.body.removeAttribute('data-last-action')")
    page.click(button)
    page.wait_for_selector(f"body[data-last-action='{action}']", timeout=20000)


def cell(page: Page, sheet: str, a1: str) -> dict[str, Any]:
    return page.evaluate("([s, a]) => window.__excelStandin.cell(s, a)", [sheet, a1])


def state(page: Page) -> dict[str, Any]:
    return page.evaluate("() => window.__excelStandin.state()")


def test_score_cycle_fills_the_sheet_in_one_write_sync(page: Page) -> None:
    spec = workbook(
        notes=[
            {"sheet": "OKRs", "cell": "C2", "content": "Ana: check with sales"},
            {"sheet": "OKRs", "cell": "K6", "content": "okr-sync: Error: stale note from last run"},
        ]
    )
    login(page)
    seed(page, spec)
    before = page.evaluate("() => window.__excelStandin.sheetValues('OKRs')")
    page.fill("#as-of", END_OF_CYCLE)
    click_and_wait(page, "#btn-score", "score")
    assert "error" not in page.get_attribute("#status", "class"), page.inner_text("#status")
    st = state(page)
    assert st["writeSyncs"] == 1  # every value, colour and note in one batch
    # Progress Q, Score R, Status S, Check T.
    assert cell(page, "OKRs", "R2")["value"] == 0.75 and cell(page, "OKRs", "R2")["fill"] == "#C6EFCE"
    assert cell(page, "OKRs", "R2")["format"] == "0.00" and cell(page, "OKRs", "Q3")["format"] == "0%"
    assert cell(page, "OKRs", "R3")["value"] == 0.5 and cell(page, "OKRs", "R3")["fill"] == "#FFEB9C"
    assert cell(page, "OKRs", "S4")["value"] == "done"
    assert cell(page, "OKRs", "S5")["value"] == "off track" and cell(page, "OKRs", "S5")["fill"] == "#FFC7CE"
    assert cell(page, "OKRs", "R6")["value"] == 0.2
    # Input columns (A..P) are exactly as they were.
    after = page.evaluate("() => window.__excelStandin.sheetValues('OKRs')")
    assert [line[:16] for line in after] == [line[:16] for line in before]
    assert page.evaluate("() => window.__excelStandin.sheetValues('Notes')") == [["my own sheet", 1]]
    notes = {(n["sheet"], n["cell"]): n["content"] for n in st["notes"]}
    assert notes[("OKRs", "C2")] == "Ana: check with sales"  # people's notes stay
    assert ("OKRs", "K6") not in notes  # our stale note is gone
    assert notes[("OKRs", "R5")].startswith("okr-sync: Warning:")
    # The pane: unit score, objectives with their colours, findings as links.
    assert page.inner_text("#score-badge") == "0.48"
    items = page.query_selector_all("#objectives > li")
    assert [i.get_attribute("data-id") for i in items] == ["O1", "O2"]
    assert "rgb(198, 239, 206)" in items[0].get_attribute("style")  # #C6EFCE
    assert "rgb(255, 199, 206)" in items[1].get_attribute("style")  # #FFC7CE
    page.click("#findings a")
    page.wait_for_function("() => window.__excelStandin.state().selected === 'OKRs!R5'")


def test_pane_screenshot(page: Page, tmp_path: Path) -> None:
    rows = mkt_rows() + [
        o("O3", "Make the brand known in two new regions", owner="Chen"),
        kr("KR3.1", "Share of voice in DACH", metric="percent", start="5%", target="20%", current="16%"),
        kr("KR3.2", "Regional launch events held", start=0, target=6, current="six"),
    ]
    login(page)
    seed(page, workbook(rows=rows, name="Marketing"))
    page.fill("#as-of", END_OF_CYCLE)
    click_and_wait(page, "#btn-score", "score")
    assert page.inner_text("#unit-name") == "MKT · Marketing"
    assert len(page.query_selector_all("#objectives > li")) == 3
    height = page.evaluate("() => document.body.scrollHeight")
    page.set_viewport_size({"width": 380, "height": height + 8})
    target = screenshot_target("addin-pane.png", tmp_path)
    page.screenshot(path=str(target))
    assert target.read_bytes()[:4] == b"\x89PNG" and target.stat().st_size > 10_000


def test_score_cycle_twice_keeps_one_note_per_cell(page: Page) -> None:
    login(page)
    seed(page, workbook())
    page.fill("#as-of", END_OF_CYCLE)
    click_and_wait(page, "#btn-score", "score")
    click_and_wait(page, "#btn-score", "score")
    st = state(page)
    assert st["writeSyncs"] == 2
    assert [n["cell"] for n in st["notes"]] == ["R5"]


def test_validate_writes_check_and_notes_only(page: Page) -> None:
    rows = mkt_rows()
    rows[1]["target"] = "lots"
    login(page)
    seed(page, workbook(rows=rows))
    click_and_wait(page, "#btn-validate", "validate")
    st = state(page)
    assert st["writeSyncs"] == 1
    assert "lots" in cell(page, "OKRs", "T3")["value"]
    assert cell(page, "OKRs", "R2") is None  # Score untouched by Validate
    assert any(n["cell"] == "K3" and "lots" in n["content"] for n in st["notes"])
    assert "K3" in page.inner_text("#findings")


def test_refresh_rollup_writes_owned_sheets(page: Page) -> None:
    login(page)
    seed(page, workbook())
    page.fill("#as-of", END_OF_CYCLE)
    click_and_wait(page, "#btn-rollup", "rollup")
    assert "error" not in page.get_attribute("#status", "class"), page.inner_text("#status")
    assert "2 units, company score" in page.inner_text("#status")
    st = state(page)
    assert st["writeSyncs"] == 1
    names = [s["name"] for s in st["sheets"]]
    assert {"OKR Rollup", "OKR Units", "OKR Alignment", "OKR Issues", "OKR Dependencies"} <= set(names)
    values = page.evaluate("() => window.__excelStandin.sheetValues('OKR Rollup')")
    header = values[0]
    assert header[:4] == ["Unit", "Level", "Type", "ID"]
    assert cell(page, "OKR Rollup", "A1")["bold"] is True
    texts = [line[header.index("Objective / Key result")] for line in values[1:]]
    assert "+1 market" in texts  # text stays text: written with an apostrophe, not as a formula
    row = texts.index("+1 market") + 2
    col = chr(65 + header.index("Objective / Key result"))
    assert cell(page, "OKR Rollup", f"{col}{row}")["prefixed"] is True
    assert all(c["formula"] is None for s in st["sheets"] for c in s["cells"].values())
    # A second refresh replaces the sheets' content, never adds duplicates.
    click_and_wait(page, "#btn-rollup", "rollup")
    assert [s["name"] for s in state(page)["sheets"]] == names
    # The unit's own sheets are untouched.
    assert page.evaluate("() => window.__excelStandin.sheetValues('Notes')") == [["my own sheet", 1]]


def test_chinese_workbook_and_comments_on_older_excel(page: Page) -> None:
    login(page)
    seed(page, workbook(lang="zh", apiVersion=1.10))
    page.fill("#as-of", END_OF_CYCLE)
    click_and_wait(page, "#btn-score", "score")
    assert cell(page, "OKRs", "S2")["value"] == "正常"
    assert cell(page, "OKRs", "S5")["value"] == "落后"
    assert page.inner_text("#btn-score") == "周期评分"
    st = state(page)
    assert [n.get("kind") for n in st["notes"]] == ["comments"]
    assert "警告" in st["notes"][0]["content"]


def test_wrong_token_shows_the_token_box_with_a_message(page: Page) -> None:
    login(page, "not-the-token")
    seed(page, workbook())
    click_and_wait(page, "#btn-score", "score")
    assert "refused the token" in page.inner_text("#status")
    assert page.is_visible("#token-box")
    assert state(page)["writeSyncs"] == 0


def test_workbook_without_okrs_sheet_says_so(page: Page) -> None:
    login(page)
    seed(page, {"name": "Budget.xlsx", "sheets": {"Budget": [["a", 1]]}})
    click_and_wait(page, "#btn-validate", "validate")
    assert "no OKRs sheet" in page.inner_text("#status")
    assert state(page)["writeSyncs"] == 0


def test_ribbon_commands_run_without_the_pane(browser: Browser, server_url: str) -> None:
    context = browser.new_context()
    pg = context.new_page()
    pg.route(
        "https://appsforoffice.microsoft.com/**",
        lambda route: route.fulfill(body=STANDIN, content_type="application/javascript"),
    )
    pg.goto(f"{server_url}/addin/commands.html")
    pg.wait_for_function("() => Object.keys(Office.actions._handlers).length === 3")
    seed(pg, {**workbook(), "roaming": {"okrSyncToken": TOKEN}})
    done = pg.evaluate(
        """() => new Promise(resolve => {
            Office.actions._handlers.okrScoreCycle({completed: () => resolve(true)});
        })"""
    )
    assert done is True
    st = pg.evaluate("() => window.__excelStandin.state()")
    assert st["writeSyncs"] == 1
    assert pg.evaluate("() => window.__excelStandin.cell('OKRs', 'S2').value") in ("on track", "at risk", "off track")
    context.close()


def test_protected_template_sheets_are_unlocked_and_locked_again(page: Page) -> None:
    options = {"allowFormatCells": True, "allowInsertRows": True, "allowAutoFilter": True}
    login(page)
    seed(page, workbook(protect={"OKRs": {"options": options}}))
    page.fill("#as-of", END_OF_CYCLE)
    click_and_wait(page, "#btn-score", "score")
    assert "error" not in page.get_attribute("#status", "class"), page.inner_text("#status")
    st = state(page)
    assert st["writeSyncs"] == 1 and st["unprotects"] == 1
    okrs = next(s for s in st["sheets"] if s["name"] == "OKRs")
    assert okrs["protected"] is True and okrs["protectionOptions"] == options
    assert cell(page, "OKRs", "R2")["value"] == 0.75


def test_password_protected_sheet_is_reported_and_nothing_written(page: Page) -> None:
    login(page)
    seed(page, workbook(protect={"OKRs": {"password": "pw"}}))
    before = page.evaluate("() => window.__excelStandin.sheetValues('OKRs')")
    click_and_wait(page, "#btn-score", "score")
    assert "protected with a password" in page.inner_text("#status")
    assert page.evaluate("() => window.__excelStandin.sheetValues('OKRs')") == before
    assert all(
        c["fill"] is None for c in next(s for s in state(page)["sheets"] if s["name"] == "OKRs")["cells"].values()
    )


def test_real_chinese_template_workbook(page: Page) -> None:
    path = HERE.parent / "templates" / "example-company-zh" / "mkt.xlsx"
    sheets = excel_js_sheets(path)
    template_protection = {"allowFormatCells": True, "allowSort": True, "allowAutoFilter": True}
    spec = {
        "name": "mkt.xlsx",
        "sheets": sheets,
        "protect": {"OKRs": {"options": template_protection}, "设置": {"options": {}}},
    }
    login(page)
    seed(page, spec)
    page.fill("#as-of", "2026-11-15")
    click_and_wait(page, "#btn-score", "score")
    assert "error" not in page.get_attribute("#status", "class"), page.inner_text("#status")
    st = state(page)
    assert st["writeSyncs"] == 1
    header = sheets["OKRs"][2]
    status_col = chr(65 + header.index("状态"))
    statuses = {cell(page, "OKRs", f"{status_col}{r}")["value"] for r in range(4, len(sheets["OKRs"]) + 1)}
    assert statuses <= {"正常", "有风险", "落后", "完成", "无数据", ""} and statuses & {"正常", "有风险", "落后"}
    assert page.inner_text("#btn-score") == "周期评分"
    okrs = next(s for s in st["sheets"] if s["name"] == "OKRs")
    assert okrs["protected"] and okrs["protectionOptions"] == template_protection
    for name in sheets:  # every input cell and every other sheet is as it was
        values = page.evaluate("n => window.__excelStandin.sheetValues(n)", name)
        for r, line in enumerate(sheets[name]):
            for c, value in enumerate(line):
                if name == "OKRs" and r >= 3 and header[c] in ("进度", "得分", "状态", "校验", "对齐得分"):
                    continue
                if name == "OKRs" and r < 2 and header[c] in ("得分", "校验"):
                    continue  # the unit summary above the table (the standard's "unit summary")
                got = values[r][c] if r < len(values) and c < len(values[r]) else ""
                assert got == value, (name, r + 1, c + 1, got, value)


def test_500_krs_in_one_write_sync(page: Page) -> None:
    login(page)
    seed(page, workbook(rows=big_rows(100, 5)))
    page.fill("#as-of", END_OF_CYCLE)
    started = time.perf_counter()
    click_and_wait(page, "#btn-score", "score")
    elapsed = time.perf_counter() - started
    assert "error" not in page.get_attribute("#status", "class"), page.inner_text("#status")
    st = page.evaluate("() => window.__excelStandin.counters()")
    assert st["writeSyncs"] == 1 and st["writeOps"] > 2000
    assert len(page.query_selector_all("#objectives > li")) == 100
    assert elapsed < 10, elapsed


def test_token_kept_in_add_in_storage_when_office_has_no_roaming_settings(page: Page) -> None:
    seed(page, {**workbook(), "roaming": False})
    if page.is_visible("#change-token"):
        page.click("#change-token")
    page.fill("#token", TOKEN)
    page.click("#save-token")
    page.wait_for_selector("#token-box", state="hidden")
    assert page.evaluate("() => window.localStorage.getItem('okrSyncToken')") == TOKEN
    assert "okrSyncToken" not in state(page)["roaming"]
    page.fill("#as-of", END_OF_CYCLE)
    click_and_wait(page, "#btn-score", "score")
    assert cell(page, "OKRs", "R2")["value"] == 0.75
    page.evaluate("() => window.localStorage.removeItem('okrSyncToken')")
