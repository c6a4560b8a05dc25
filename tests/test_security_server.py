"""The server under attack (issue 10): one test per case, named after it, through Flask's test client."""

from __future__ import annotations

import json
import logging
import re
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from addin_fixtures import payload
from conftest import AUTH, SERVER_TOKEN
from flask import Flask
from flask.testing import FlaskClient
from sheets_sync.server import create_app
from sheets_sync.server.serve import build_app

from sheets_sync.errors import ConfigError
from sheets_sync.runlog import store

TOKEN_LINE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def deep_json(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "the page has no CSRF field"
    return match.group(1)


def sign_in(client: FlaskClient, token: str = SERVER_TOKEN) -> Any:
    csrf = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"token": token, "csrf": csrf})


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


# --- POST /addin/api/score with origin A99999999999 and one row --------------------------------------


@pytest.mark.parametrize(
    ("origin", "grid"),
    [
        ("A99999999999", [["x"]]),  # the case of the issue: 23 GB before
        ("OKRs!A4990:B5010", [["x", "y"]] * 20),  # inside the row limit alone, past it with the offset
        ("ZZZ1", [["x"]]),  # column 18278: past Excel's XFD and our column limit
        ("GR1", [["x"] * 10]),  # column 200 + 10 columns
    ],
)
def test_score_with_origin_A99999999999_and_one_row_is_refused_before_allocating(
    client: FlaskClient, origin: str, grid: list[list[str]]
) -> None:
    body = {"sheets": {"OKRs": grid}, "origins": {"OKRs": origin}, "source": "x.xlsx"}
    tracemalloc.start()
    try:
        response = client.post("/addin/api/score", json=body, headers=AUTH)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code in (400, 413)
    message = response.json["message"]
    assert "OKRs" in message and "origin" in message and "limit" in message
    assert peak < 20 * 1024 * 1024, f"{peak / 2**20:.0f} MiB allocated for a refused request"


def test_score_refuses_many_sheets_that_together_pass_the_cell_limit(client: FlaskClient) -> None:
    # 20 sheets, each within its own limit (4,999 rows × 200 columns from the origin), 20 million cells in all.
    sheets = {f"S{i}": [["x"]] for i in range(20)}
    origins = {f"S{i}": "GR4999" for i in range(20)}
    tracemalloc.start()
    try:
        response = client.post("/addin/api/score", json={"sheets": sheets, "origins": origins}, headers=AUTH)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code in (400, 413)
    assert peak < 20 * 1024 * 1024


def test_an_origin_is_echoed_short_in_its_error(client: FlaskClient) -> None:
    body = {"sheets": {"OKRs": [["x"]]}, "origins": {"OKRs": "Q" * 100_000}}
    response = client.post("/addin/api/score", json=body, headers=AUTH)
    assert response.status_code == 400 and len(response.get_data()) < 2000


# --- JSON nested 8,000 deep -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/sync", "/addin/api/score", "/addin/api/validate"])
def test_json_nested_8000_deep_is_400_not_500(client: FlaskClient, company: Path, path: str) -> None:
    for body in (deep_json(8000), b'{"sheets": ' + deep_json(8000) + b"}"):
        response = client.post(path, data=body, headers={**AUTH, "Content-Type": "application/json"})
        assert response.status_code == 400, response.get_data(as_text=True)[:300]
        assert "nested" in response.json["message"]
    assert not store.exists(company) or store.list_runs(company) == []


# --- Sign out ---------------------------------------------------------------------------------------


def test_sign_out_revokes_the_session(app: Flask) -> None:
    client = app.test_client()
    assert sign_in(client).status_code == 302
    captured = session_cookie(client)
    page = client.get("/").get_data(as_text=True)
    assert client.post("/logout", data={"csrf": csrf_of(page)}).status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", captured)
    response = thief.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert thief.post("/sync", data={"csrf": csrf_of(page)}).status_code == 302  # no sync, back to sign-in


def test_a_session_from_another_server_process_is_not_accepted(company: Path) -> None:
    key = {"SECRET_KEY": "k" * 64, "WORKSPACE": str(company), "TOKENS": [SERVER_TOKEN], "TESTING": True}
    first = create_app(key).test_client()
    sign_in(first)
    again = create_app(key).test_client()  # a restart: same signing key, no session record
    again.set_cookie("session", session_cookie(first))
    assert again.get("/").status_code == 302


# --- /login and /logout -----------------------------------------------------------------------------


def test_login_and_logout_refuse_cross_site_posts(app: Flask) -> None:
    attacker = app.test_client()
    # A cross-site form post carries no CSRF token of ours (and SameSite=Strict keeps our cookie out).
    response = attacker.post("/login", data={"token": SERVER_TOKEN}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 400 and "reload the page" in response.get_data(as_text=True)
    assert attacker.get("/").status_code == 302
    forged = attacker.post("/login", data={"token": SERVER_TOKEN, "csrf": "forged"})
    assert forged.status_code == 400 and attacker.get("/").status_code == 302

    user = app.test_client()
    assert sign_in(user).status_code == 302
    assert user.post("/logout").status_code == 400  # a cross-site sign-out
    assert user.get("/").status_code == 200
    csrf = csrf_of(user.get("/").get_data(as_text=True))
    assert user.post("/logout", data={"csrf": csrf}).status_code == 302
    assert user.get("/").status_code == 302


def test_the_login_form_token_changes_at_sign_in(app: Flask) -> None:
    client = app.test_client()
    before = csrf_of(client.get("/login").get_data(as_text=True))
    sign_in(client)
    assert csrf_of(client.get("/").get_data(as_text=True)) != before


def test_failed_sign_ins_are_throttled_with_429_and_retry_after(app: Flask) -> None:
    client = app.test_client()
    for _ in range(10):
        assert sign_in(client, "w" * 40).status_code == 401
    response = sign_in(client, "w" * 40)
    assert response.status_code == 429 and 1 <= int(response.headers["Retry-After"]) <= 60
    # While throttled even the right token is not tried: the answer must not tell it apart.
    assert sign_in(client).status_code == 429
    assert app.test_client().get("/api/status", headers=AUTH).status_code == 429  # per client, not per cookie
    other = app.test_client()
    assert other.get("/api/status", headers=AUTH, environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 200


def test_failed_bearer_tokens_are_throttled_with_429_and_retry_after(app: Flask) -> None:
    client = app.test_client()
    throttle = app.extensions["okr_sync"]["throttle"]
    now = [1000.0]
    throttle.clock = lambda: now[0]
    wrong = {"Authorization": "Bearer " + "w" * 40}
    paths = ["/api/status", "/api/units", "/addin/api/rollup", "/", "/api/runs"]
    for i in range(10):
        assert client.get(paths[i % len(paths)], headers=wrong).status_code == 401
    response = client.get("/api/status", headers=wrong)
    assert response.status_code == 429 and response.headers["Retry-After"] == "60"
    assert "Retry" in response.json["message"] or "try again" in response.json["message"]
    assert client.post("/addin/api/score", json=payload(), headers=AUTH).status_code == 429
    # No header at all is not a guess: it does not count, and it is not throttled either.
    now[0] += 30
    assert client.get("/api/status", headers=wrong).headers["Retry-After"] == "30"
    now[0] += 31
    assert client.get("/api/status", headers=AUTH).status_code == 200


def test_missing_tokens_do_not_count_as_failures(app: Flask) -> None:
    client = app.test_client()
    for _ in range(30):
        assert client.get("/api/status").status_code == 401
    assert client.get("/api/status", headers=AUTH).status_code == 200


def test_the_server_limits_come_from_okr_sync_toml(company: Path, tmp_path: Path) -> None:
    config = tmp_path / "okr-sync.toml"
    server = (f'tokens = ["{SERVER_TOKEN}"]\nfailed_tokens_per_minute = 3\nsession_hours = 0.5\n'
              'addin_frame_ancestors = ["https://office.example.com"]\n')
    config.write_text(f'[[sources]]\npath = "{company}"\n\n[server]\n{server}', encoding="utf-8")
    app = build_app(config)
    assert app.extensions["okr_sync"]["sessions"].lifetime == 1800
    client = app.test_client()
    wrong = {"Authorization": "Bearer " + "w" * 40}
    assert [client.get("/api/runs", headers=wrong).status_code for _ in range(4)] == [401, 401, 401, 429]
    csp = client.get("/addin/taskpane.html").headers["Content-Security-Policy"]
    assert csp.endswith("frame-ancestors 'self' https://office.example.com")
    for bad, named in [("failed_tokens_per_minute = 0", "failed_tokens_per_minute"),
                       ('session_hours = "long"', "session_hours"),
                       ('addin_frame_ancestors = ["*"]', "addin_frame_ancestors")]:
        config.write_text(f'[[sources]]\npath = "{company}"\n\n[server]\ntokens = ["{SERVER_TOKEN}"]\n{bad}\n',
                          encoding="utf-8")
        with pytest.raises(ConfigError, match=f"okr-sync.toml: \\[server\\] {named} must be"):
            build_app(config)


@pytest.mark.parametrize("short", ["x", "s3cret-addin-token", "a" * 31])
def test_a_token_shorter_than_32_characters_is_refused_at_start_up(
    short: str, company: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as caught:
        create_app({"WORKSPACE": str(company), "TOKENS": [short]})
    message = str(caught.value)
    assert "32 characters" in message and TOKEN_LINE in message and "\n" not in message and short not in message
    monkeypatch.setenv("OKR_SYNC_TOKENS", short)
    with pytest.raises(ConfigError, match="32 characters"):
        build_app(company)
    monkeypatch.delenv("OKR_SYNC_TOKENS")
    config = tmp_path / "okr-sync.toml"
    config.write_text(f'[[sources]]\npath = "{company}"\n\n[server]\ntokens = ["{short}"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="okr-sync.toml.*32 characters"):
        build_app(config)
    with pytest.raises(ConfigError, match="32 characters"):
        build_app(company, tokens=[short])
    assert build_app(company, tokens=["y" * 32]).config["TOKENS"] == ["y" * 32]


# --- /addin/* headers -------------------------------------------------------------------------------

OFFICE_HOSTS = ["https://*.officeapps.live.com", "https://*.sharepoint.com", "https://*.office.com"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/addin/taskpane.html"),
        ("get", "/addin/commands.html"),
        ("get", "/addin/taskpane.js"),
        ("get", "/addin/manifest.xml"),
        ("get", "/addin/api/rollup"),
        ("post", "/addin/api/score"),
        ("post", "/addin/api/validate"),
        ("get", "/addin/nothing-here.html"),
    ],
)
def test_addin_answers_carry_security_headers_and_an_office_frame_policy(
    client: FlaskClient, method: str, path: str
) -> None:
    kwargs = {"json": payload()} if method == "post" else {}
    response = getattr(client, method)(path, headers=AUTH, **kwargs)
    assert response.status_code in (200, 404)
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "X-Frame-Options" not in headers  # DENY would keep Office from hosting the pane
    csp = headers["Content-Security-Policy"]
    ancestors = re.search(r"frame-ancestors ([^;]+)", csp)
    assert ancestors and all(host in ancestors.group(1).split() for host in OFFICE_HOSTS)
    assert "'self'" in ancestors.group(1).split() and "*" not in ancestors.group(1).split()
    assert "default-src 'self'" in csp and "object-src 'none'" in csp and "base-uri 'none'" in csp
    if "/api/" in path:
        assert headers["Cache-Control"] == "no-store"


def test_every_api_answer_is_no_store(client: FlaskClient) -> None:
    for path in ["/api/status", "/api/units", "/api/runs", "/api/nothing", "/api/openapi.json"]:
        for headers in (AUTH, {}):
            response = client.get(path, headers=headers)
            assert response.headers["Cache-Control"] == "no-store", path
            assert response.headers["X-Content-Type-Options"] == "nosniff", path


# --- /api/units and redirects -------------------------------------------------------------------------


def test_api_units_returns_no_absolute_server_paths(client: FlaskClient, company: Path) -> None:
    for _ in range(2):  # the preview, then the recorded run
        body = client.get("/api/units", headers=AUTH).get_data(as_text=True)
        assert str(company) not in body and str(company.resolve()) not in body
        units = json.loads(body)["units"]
        assert {u["path"] for u in units} >= {"co.xlsx", "mkt.xlsx"}
        client.post("/api/sync", headers=AUTH, json={"as_of": "2026-11-15"})


def test_a_token_in_the_query_string_is_not_echoed_in_the_login_redirect(client: FlaskClient) -> None:
    for query in (f"?token={SERVER_TOKEN}&lang=zh", f"?access_token={SERVER_TOKEN}", f"?x={SERVER_TOKEN[:40]}"):
        response = client.get("/" + query)
        assert response.status_code == 302
        location = response.headers["Location"]
        assert SERVER_TOKEN not in location and SERVER_TOKEN[:20] not in location
        assert location.startswith("/login?next=")
    assert "lang%3Dzh" in client.get("/?lang=zh").headers["Location"]  # harmless parameters survive


def test_no_answer_or_redirect_holds_an_absolute_path_or_a_token(client: FlaskClient, company: Path) -> None:
    # The rollup cannot be written: the sync's error names the file, which must not show where it lives.
    (company / "okr-rollup.xlsx").mkdir()
    seen: list[tuple[str, int, str]] = []

    def record(response: Any, label: str) -> None:
        text = response.get_data(as_text=True) + " " + " ".join(f"{k}: {v}" for k, v in response.headers.items())
        seen.append((label, response.status_code, text))

    record(client.post("/api/sync", headers=AUTH, json={"as_of": "2026-11-15"}), "sync")
    (company / "okr-rollup.xlsx").rmdir()
    record(client.post("/api/sync", headers=AUTH, json={"as_of": "2026-11-15"}), "sync again")
    for path in ["/api/status", "/api/units", "/api/rollup", "/api/runs", "/api/history?id=MKT/KR1.2",
                 f"/api/rollup?sheet={SERVER_TOKEN}", "/addin/api/rollup", "/api/openapi.json",
                 f"/?token={SERVER_TOKEN}", f"/login?next=/%3Ftoken%3D{SERVER_TOKEN}"]:
        record(client.get(path, headers=AUTH if "token=" not in path else {}), path)
        record(client.get(path, headers={**AUTH, "Accept": "text/html"}), path + " html")
    record(client.get("/", headers=AUTH), "dashboard")
    assert any(code == 503 for _, code, _ in seen)
    roots = {str(company), str(company.resolve()), str(company.parent), str(company.resolve().parent)}
    for label, code, text in seen:
        assert not any(root in text for root in roots), (label, code, text[:400])
        assert SERVER_TOKEN not in text, (label, code)


# --- unexpected errors ------------------------------------------------------------------------------


def test_an_unexpected_error_answers_a_reference_never_a_traceback(
    app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sheets_sync.server import data

    from sheets_sync import engine

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret detail at /srv/okr/private.xlsx")

    monkeypatch.setattr(data, "view", boom)
    monkeypatch.setattr(engine, "score_workbook", boom)
    monkeypatch.setattr(engine, "sync", boom)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    caplog.set_level(logging.ERROR)
    answers = [
        client.get("/api/units", headers=AUTH),
        client.get("/", headers=AUTH),
        client.post("/addin/api/score", json=payload(), headers=AUTH),
        client.get("/addin/api/rollup", headers=AUTH),
    ]
    refs = []
    for response in answers:
        text = response.get_data(as_text=True)
        assert response.status_code == 500
        assert "Traceback" not in text and "secret detail" not in text and "RuntimeError" not in text
        ref = re.search(r"reference ([0-9a-f]{8})", text)
        assert ref, text
        refs.append(ref.group(1))
    assert len(set(refs)) == 4
    for ref in refs:  # the log has what the answer does not
        assert any(ref in r.getMessage() and r.exc_info for r in caplog.records)


# --- OpenAPI ----------------------------------------------------------------------------------------


def test_openapi_lists_every_api_route_with_its_auth_scheme(app: Flask, client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.json
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    routes = {
        (method.lower(), re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(("/api/", "/addin/api/"))
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    published = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert routes <= published, routes - published
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path != "/api/openapi.json":
                assert op["security"] == [{"bearer": []}], (method, path)
                assert "401" in op["responses"] and "429" in op["responses"]


def test_fuzzing_the_openapi_description_gives_no_5xx(app: Flask) -> None:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings

    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    failures: list[str] = []
    calls: list[str] = []

    def fuzz(operation: Any) -> None:
        @settings(max_examples=15, deadline=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.headers = {**(case.headers or {}), **AUTH}
            response = case.call()
            calls.append(operation.path)
            if response.status_code >= 500:
                failures.append(f"{operation.method} {operation.path}: {response.status_code} {response.text[:300]}")

        run()

    for result in schema.get_all_operations():
        fuzz(result.ok())
    # Every operation but the description itself was called; those with inputs many times.
    assert set(calls) == set(schema.raw_schema["paths"]) - {"/api/openapi.json"} and len(calls) >= 60
    assert failures == []
