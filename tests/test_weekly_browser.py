"""Real Chromium: the dashboard's drill-down (front page → key result page with its trend) and the add-in's
check-in form on the Excel stand-in."""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from addin_fixtures import excel_values, mkt_rows
from builders import okrs_grid, settings_grid
from playwright.sync_api import Browser
from sheets_sync.server.serve import build_app
from weekly_parts import check_in
from werkzeug.serving import make_server

from sheets_sync import operations
from sheets_sync.demo import write_demo_company
from sheets_sync.workspace import Workspace

TOKEN = "weekly-browser-token-0123456789abcdef"
HERE = Path(__file__).resolve().parent
STANDIN = (HERE / "addin_excel_standin.js").read_text(encoding="utf-8")
WEEKS = [dt.date(2026, 11, 2), dt.date(2026, 11, 9), dt.date(2026, 11, 16)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("weekly") / "okrs"
    write_demo_company(folder)
    typed = [{}, {"Current": 1320, "Confidence": 8, "Notes": "Webinars"},
             {"Current": 1400, "Confidence": 5, "Notes": "Ads paused"}]
    for day, values in zip(WEEKS, typed, strict=True):
        if values:
            check_in(folder / "mkt.xlsx", "Priya Shah", {"KR1.1": values})
        operations.sync(Workspace.from_path(folder), as_of=day)
    app = build_app(folder, tokens=[TOKEN])
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(5)


def test_front_page_what_changed_links_to_a_key_result_page_with_its_trend(browser: Browser, server: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{server}/?lang=en")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("#changes")
    changes = page.locator("#changes table.checkins").inner_text()
    assert "MKT/KR1.1" in changes and "Priya Shah" in changes and "Ads paused" in changes
    # Every ID is a link: the alignment tree, the units, what changed.
    assert page.locator("#alignment a.gid").count() >= 10
    assert page.locator("#units a.gid").count() == 5
    page.locator("#changes a.gid", has_text="MKT/KR1.1").first.click()
    page.wait_for_selector("#kr-trend svg")
    assert page.url.endswith("/kr/MKT/KR1.1")
    assert page.locator("#kr-owner").inner_text() == "Priya Shah"
    assert page.locator("#kr-current").inner_text() == "1400"
    assert page.locator("#kr-target").inner_text() == "1600"
    assert page.locator("#kr-link").inner_text() == "mkt.xlsx"
    # Score and confidence over the three weeks: two lines through three points.
    assert page.locator("#kr-trend svg polyline").count() == 2
    assert page.locator("#kr-trend svg circle").count() == 3
    assert page.locator("#kr-trend table.trend tbody tr").count() == 3
    assert "Webinars" in page.locator("#kr-checkins").inner_text()
    page.locator("a.gid", has_text="MKT").first.click()
    page.wait_for_selector("#unit-krs")
    assert page.url.endswith("/unit/MKT")
    assert page.locator("#unit-krs tbody tr").count() == 6
    page.close()


def test_the_add_in_check_in_form_writes_one_batch_and_records_who(browser: Browser, server: str) -> None:
    context = browser.new_context(viewport={"width": 380, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.route("https://appsforoffice.microsoft.com/**",
               lambda route: route.fulfill(body=STANDIN, content_type="application/javascript"))
    page.goto(f"{server}/addin/taskpane.html")
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#token", TOKEN)
    page.click("#save-token")
    spec = {"name": "mkt.xlsx", "sheets": {
        "Settings": excel_values(settings_grid("MKT", "department", "CO")),
        "OKRs": {"anchor": "A1", "rows": excel_values(okrs_grid(mkt_rows()))}}}
    page.evaluate("spec => window.__excelStandin.reset(spec)", spec)
    page.click("#btn-load-krs")
    page.wait_for_selector("body[data-last-action='list']")
    assert page.locator("#ci-kr option").all_inner_texts()[0] == "KR1.1 — Leads per month (50)"
    assert page.locator("#ci-kr option").count() == 3
    page.select_option("#ci-kr", "KR1.1")
    page.fill("#ci-current", "64")
    page.fill("#ci-confidence", "7")
    page.fill("#ci-comment", "Partner webinar brought 14 leads")
    page.fill("#ci-who", "Ana Costa")
    before = page.evaluate("() => window.__excelStandin.state().writeSyncs")
    page.click("#btn-checkin")
    page.wait_for_selector("body[data-last-action='checkin']")
    assert "Checked in MKT/KR1.1" in page.inner_text("#status"), page.inner_text("#status")
    assert page.evaluate("() => window.__excelStandin.state().writeSyncs") == before + 1  # one write
    cell = "([s, a]) => window.__excelStandin.cell(s, a)"
    # Current L, Confidence N, Notes P of the KR's row (row 3).
    assert page.evaluate(cell, ["OKRs", "L3"])["value"] == 64
    assert page.evaluate(cell, ["OKRs", "N3"])["value"] == 7
    assert page.evaluate(cell, ["OKRs", "P3"])["value"] == "Partner webinar brought 14 leads"
    request = urllib.request.Request(f"{server}/api/checkins?unit=MKT&kr=KR1.1",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        newest = json.loads(response.read())["checkins"][0]
    assert (newest["who"], newest["via"], newest["new"]["current"], newest["new"]["confidence"],
            newest["comment"]) == ("Ana Costa", "addin", 64, 7, "Partner webinar brought 14 leads")
    assert errors == []
    context.close()
