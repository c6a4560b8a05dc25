"""The dashboard through Flask's test client: login, session, language, sync button, rendering."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import AUTH
from conftest import SERVER_TOKEN as TOKEN
from flask import Flask
from flask.testing import FlaskClient

from sheets_sync.core import bands
from sheets_sync.core.rollup import ROLLUP_SHEETS
from sheets_sync.runlog import store


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match
    return match.group(1)


def login(client: FlaskClient, token: str = TOKEN, next_: str = "/") -> object:
    csrf = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", query_string={"next": next_}, data={"token": token, "csrf": csrf})


def test_without_auth_the_dashboard_sends_you_to_login(client: FlaskClient) -> None:
    response = client.get("/?lang=zh")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    page = client.get("/login").get_data(as_text=True)
    assert 'type="password"' in page and "Access token" in page


def test_a_wrong_token_is_refused_with_a_message(client: FlaskClient) -> None:
    response = login(client, "not-the-token")
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert "That token is not valid" in response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert client.get("/").status_code == 302


def test_login_sets_an_httponly_strict_session_and_logout_ends_it(client: FlaskClient) -> None:
    response = login(client)
    assert response.status_code == 302 and response.headers["Location"] == "/"  # type: ignore[attr-defined]
    cookie = response.headers["Set-Cookie"]  # type: ignore[attr-defined]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    page = client.get("/")
    assert page.status_code == 200
    client.post("/logout", data={"csrf": csrf_of(page.get_data(as_text=True))})
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"])
def test_login_never_redirects_off_site(client: FlaskClient, target: str) -> None:
    response = login(client, next_=target)
    assert response.headers["Location"] == "/"  # type: ignore[attr-defined]


def test_a_session_ends_when_its_token_is_removed(app: Flask, client: FlaskClient) -> None:
    login(client)
    app.config["TOKENS"] = ["a-new-token-only"]
    assert client.get("/").status_code == 302


def test_a_bad_bearer_header_is_401_not_a_login_page(client: FlaskClient) -> None:
    response = client.get("/", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401 and "text/html" in response.content_type


def test_dashboard_renders_every_part_from_the_latest_run(client: FlaskClient, company: Path) -> None:
    client.post("/api/sync", headers=AUTH, json={"as_of": "2026-11-15"})
    page = client.get("/?lang=en", headers=AUTH).get_data(as_text=True)
    assert "Tidewater Software" in page and "As of 2026-11-15" in page
    # 0.58 at mid-cycle is on pace: the company's score takes its status colour (green), not a grade band.
    assert re.search(r'class="big b-green">0\.58<', page)
    # The bar chart: one bar per unit, in its status colour (pace at mid-cycle): Sales' 0.38 is on pace,
    # Marketing's 0.34 is at risk, and SEO's 0.32 (its unmeasured key result counts as 0) too.
    chart = page[page.index('id="unit-scores"') : page.index('id="alignment"')]
    assert chart.count('<g class="bar') == 5
    assert re.search(r'class="bar b-yellow"><title>SEO team: 0\.32', chart)
    assert re.search(r'class="bar b-yellow"><title>Marketing: 0\.34', chart)
    # The alignment tree, from the company down, nested.
    tree = page[page.index('id="alignment"') : page.index('id="dependencies"')]
    assert tree.index("CO/O1") < tree.index("MKT/O2") < tree.index("MKT-SEO/O1")
    assert tree.count("<ul>") >= 3
    # Dependencies at risk and validation findings with their places.
    deps = page[page.index('id="dependencies"') : page.index('id="trends"')]
    assert "ENG/O3" in deps and "SALES/KR2.3" in deps
    findings = page[page.index('id="findings"') : page.index('id="units"')]
    assert "mkt-seo.xlsx › OKRs › K10" in findings and "bad-number" in findings
    # Trends and the last sync.
    assert page.count('class="chart spark"') == 5
    assert "succeeded" in page and "by API" in page
    assert "cdn" not in page.lower() and "<script" not in page


def renamed(columns: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return [(key, f"{title} (renamed)", kind) for key, title, kind in columns]


def test_renaming_rollup_columns_does_not_break_the_dashboard(
    client: FlaskClient, company: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.post("/api/sync", headers=AUTH, json={"as_of": "2026-11-15"})
    before = client.get("/?lang=en", headers=AUTH).get_data(as_text=True)
    for name, columns in list(ROLLUP_SHEETS.items()):
        monkeypatch.setitem(ROLLUP_SHEETS, name, renamed(columns))
    client.post("/api/sync", headers=AUTH, json={"as_of": "2026-11-15"})
    rollup = client.get("/api/rollup", headers=AUTH).get_json()
    assert "Parent unit (renamed)" in rollup["sheets"]["Units"]["headers"]  # the titles did change...
    after = client.get("/?lang=en", headers=AUTH).get_data(as_text=True)
    # ...and the page reads the same: units nested under their parents, the tree, dependencies, colours.
    def section(page: str, part: str, end: str) -> str:
        start = page.index(f'id="{part}"')
        return page[start : page.index(end, start)]

    for part, end in (("unit-scores", 'id="alignment"'), ("alignment", 'id="dependencies"'),
                      ("dependencies", 'id="trends"'), ("units", "</main>")):
        assert section(after, part, end) == section(before, part, end), part
    assert "depth-1" in after and "ENG/O3" in after[after.index('id="dependencies"') :]


def test_colours_come_from_bands_css(client: FlaskClient) -> None:
    css = client.get("/bands.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    text = css.get_data(as_text=True)
    for name, colour in bands.PALETTE.items():
        assert f"--{name}-bg: #{colour.fill};" in text and f"--{name}-strong: #{colour.strong};" in text
    page = client.get("/login").get_data(as_text=True)
    assert page.index('href="/bands.css"') < page.index("dashboard.css")


def test_a_preview_is_shown_before_any_sync(client: FlaskClient, company: Path) -> None:
    page = client.get("/", headers=AUTH).get_data(as_text=True)
    assert "No sync has been recorded yet" in page and "0.58" in page
    assert store.list_runs(company) == []


@pytest.mark.parametrize(
    ("query", "headers", "expect"),
    [
        ("?lang=zh", {}, "公司得分"),
        ("", {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}, "公司得分"),
        ("", {"Accept-Language": "en-GB"}, "Company score"),
        ("?lang=../../etc/passwd", {}, "Company score"),
    ],
)
def test_language_from_query_or_accept_language(
    client: FlaskClient, query: str, headers: dict[str, str], expect: str
) -> None:
    page = client.get("/" + query, headers={**AUTH, **headers}).get_data(as_text=True)
    assert expect in page
    if expect == "公司得分":
        assert 'lang="zh-CN"' in page and "单元" in page and "校验结果" in page


def test_the_sync_button_needs_the_form_token_and_records_a_dashboard_run(client: FlaskClient, company: Path) -> None:
    login(client)
    assert client.post("/sync", data={"csrf": "forged"}).status_code == 400
    assert store.list_runs(company) == []
    csrf = csrf_of(client.get("/").get_data(as_text=True))
    response = client.post("/sync", data={"csrf": csrf})
    assert response.status_code == 302
    [run] = store.list_runs(company)
    assert run.trigger == "dashboard" and run.status == "ok"
    page = client.get("/").get_data(as_text=True)
    assert f"Sync {run.id} finished" in page and "by dashboard" in page


def test_html_errors_for_browsers_json_for_the_api(client: FlaskClient) -> None:
    html = client.get("/no-such-page", headers={**AUTH, "Accept": "text/html"})
    assert html.status_code == 404 and "<!doctype html>" in html.get_data(as_text=True)
    api = client.get("/api/no-such", headers=AUTH)
    assert api.status_code == 404 and api.is_json


def test_pages_are_private_and_unframeable(client: FlaskClient) -> None:
    response = client.get("/", headers=AUTH)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert 'style="' not in response.get_data(as_text=True)  # the CSP allows no inline style
    assert client.get("/api/status", headers=AUTH).headers["Cache-Control"] == "no-store"


def test_a_workbook_that_cannot_be_read_shows_with_its_reason(client: FlaskClient, company: Path) -> None:
    (company / "broken.xlsx").write_bytes(b"this is not a workbook")
    response = client.post("/api/sync", headers=AUTH)
    assert response.status_code == 200 and response.json["failed_units"]
    page = client.get("/?lang=en", headers=AUTH).get_data(as_text=True)
    findings = page[page.index('id="findings"') : page.index('id="units"')]
    assert "broken.xlsx" in findings and "unreadable-workbook" in findings
    units = page[page.index('id="units"') :]
    assert 'class="reason">broken.xlsx' in units
    assert "failed" in page[page.index('id="last-sync"') : page.index('id="unit-scores"')]
