"""The dashboard in real headless Chromium against waitress on loopback, on the demo company."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import waitress
from conftest import screenshot_target
from playwright.sync_api import Browser, Page
from sheets_sync.server.serve import build_app

from sheets_sync.backends.xlsx import XlsxBackend
from sheets_sync.core.model import CellUpdate, WorkbookChanges
from sheets_sync.core.schema import INPUT_COLUMNS, METRICS, choice_lookup, normalize
from sheets_sync.demo import write_demo_company

TOKEN = "browser-token-0123456789abcdef-0123456789"
# Check-ins through the cycle: the share of each KR's final progress reached by each as-of day.
CYCLE = [(dt.date(2026, 10, 6), 0.1), (dt.date(2026, 10, 20), 0.4),
         (dt.date(2026, 11, 3), 0.7), (dt.date(2026, 11, 15), 1.0)]  # fmt: skip
NUMERIC = {"number", "percent", "currency"}


def _columns(header: list[object]) -> dict[str, int]:
    by_name = {normalize(c.en): c.key for c in INPUT_COLUMNS}
    by_name |= {normalize(c.zh): c.key for c in INPUT_COLUMNS}
    return {by_name[normalize(h)]: i for i, h in enumerate(header) if normalize(h) in by_name}


def check_in(folder: Path, final: dict[str, list[tuple[int, int, float, float]]], share: float):
    """People type this week's Current: `share` of the way from Start to their final value."""
    backend = XlsxBackend(folder)
    for locator, cells in final.items():
        updates = [
            CellUpdate("OKRs", row, col, None, round(start + (end - start) * share, 4))
            for row, col, start, end in cells
        ]
        backend.apply(locator, WorkbookChanges(updates=updates))


def final_currents(folder: Path) -> dict[str, list[tuple[int, int, float, float]]]:
    """Each numeric KR's (row, Current column, start, final current) in every demo workbook."""
    backend = XlsxBackend(folder)
    metrics = choice_lookup(METRICS)
    out: dict[str, list[tuple[int, int, float, float]]] = {}
    for locator in backend.list_units():
        grid = backend.read(locator).sheets["OKRs"]
        head = next(i for i, r in enumerate(grid) if len(_columns(list(r))) >= 3)
        cols = _columns(list(grid[head]))
        for number, row in enumerate(grid[head + 1 :], start=head + 2):
            values = {k: row[i] if i < len(row) else None for k, i in cols.items()}
            metric = metrics.get(normalize(values.get("metric") or "number"))
            current, start = values.get("current"), values.get("start") or 0
            numeric = isinstance(current, int | float) and isinstance(start, int | float)
            if metric in NUMERIC and numeric and not values.get("source"):
                out.setdefault(locator, []).append(
                    (number, cols["current"] + 1, float(start), float(current))  # type: ignore[arg-type]
                )
    return out


def api(base: str, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method="POST" if data else "GET")
    request.add_header("Authorization", f"Bearer {TOKEN}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("browser") / "okrs"
    write_demo_company(folder)
    final = final_currents(folder)
    app = build_app(folder, tokens=[TOKEN])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    httpd = waitress.create_server(app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=httpd.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for as_of, share in CYCLE:
        check_in(folder, final, share)
        api(base, "/api/sync", {"as_of": as_of.isoformat()})
    yield base
    httpd.close()



def signed_in(browser: Browser, base: str, width: int, height: int = 900) -> Page:
    page = browser.new_page(viewport={"width": width, "height": height})
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    page.blocked = blocked  # type: ignore[attr-defined]
    page.goto(f"{base}/?lang=en")
    assert "/login" in page.url
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("#alignment")
    return page


def test_dashboard_renders_tree_chart_findings_and_trend(browser: Browser, server: str, tmp_path: Path) -> None:
    page = signed_in(browser, server, 1280)
    assert page.locator("h1").inner_text() == "Tidewater Software"
    assert page.locator("#company .big").inner_text() == "0.58"
    bars = page.locator("#unit-scores svg.bars g.bar")
    assert bars.count() == 5
    labels = page.locator("#unit-scores svg.bars text.label").all_text_contents()
    assert labels[0] == "CO" and set(labels) == {"CO", "ENG", "MKT", "MKT-SEO", "SALES"}
    box = page.locator("#unit-scores svg.bars").bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 100
    tree = page.locator("#alignment ul.tree")
    assert tree.locator(":scope > li").count() == 3  # the company's three objectives
    nested = page.locator("#alignment ul.tree ul ul li .gid").all_inner_texts()
    assert "MKT-SEO/O1" in nested  # three levels deep: CO → MKT → MKT-SEO
    findings = page.locator("#findings table.findings").first.inner_text()
    assert "mkt-seo.xlsx › OKRs › K10" in findings
    assert page.locator("#dependencies li").count() >= 1
    # Four check-ins: every unit's trend is a line through four points.
    assert page.locator("#trends svg polyline").count() == 5
    assert page.locator("#trends svg circle").count() == 20
    assert "succeeded" in page.locator("#last-sync").inner_text()
    target = screenshot_target("dashboard.png", tmp_path)
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 50_000
    assert page.blocked == []  # type: ignore[attr-defined]  # the CSP lets every part load
    page.close()


def test_dashboard_fits_a_phone_and_speaks_chinese(browser: Browser, server: str) -> None:
    page = signed_in(browser, server, 390, 844)
    page.click("a.lang")
    page.wait_for_selector("text=公司得分")
    assert "校验结果" in page.content()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1
    card = page.locator("#company").bounding_box()
    assert card is not None and card["width"] <= 390
    page.close()


def test_the_sync_button_runs_a_sync_in_the_browser(browser: Browser, server: str) -> None:
    page = signed_in(browser, server, 1280)
    before = api(server, "/api/runs?limit=1")["runs"][0]["id"]  # type: ignore[index]
    page.click("text=Sync now")
    page.wait_for_selector(".msg-ok")
    assert f"Sync {before + 1} finished" in page.locator(".msg-ok").inner_text()
    assert "by dashboard" in page.locator("#last-sync").inner_text()
    page.close()
