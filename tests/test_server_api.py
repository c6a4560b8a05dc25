"""The JSON API through Flask's test client on the real demo company (.xlsx files on disk)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
from conftest import AUTH
from conftest import SERVER_TOKEN as TOKEN
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sheets_sync.server import create_app

from sheets_sync import locking
from sheets_sync.runlog import store


def fingerprint(folder: Path) -> dict[str, str]:
    """Every workbook's bytes, hashed, so a test can tell that nothing was written."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.xlsx"))}


def runs(folder: Path) -> list[store.RunRecord]:
    return store.list_runs(folder, limit=100)


ENDPOINTS = [
    ("get", "/api/status"),
    ("get", "/api/units"),
    ("get", "/api/rollup"),
    ("get", "/api/history?id=MKT/KR1.2"),
    ("get", "/api/runs"),
    ("post", "/api/sync"),
]


def test_healthz_needs_no_token(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_static_files_need_no_token(client: FlaskClient) -> None:
    response = client.get("/static/dashboard.css")
    assert response.status_code == 200 and b"--green" in response.data


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": "Bearer "},
    ],
)
def test_every_endpoint_refuses_a_missing_or_wrong_token(
    client: FlaskClient, company: Path, headers: dict[str, str]
) -> None:
    before = fingerprint(company)
    for method, path in ENDPOINTS:
        response = getattr(client, method)(path, headers=headers)
        assert response.status_code == 401, path
        assert "Bearer" in response.json["message"]
    assert fingerprint(company) == before and runs(company) == []


def test_status_before_any_sync_is_a_preview(client: FlaskClient, company: Path) -> None:
    before = fingerprint(company)
    body = client.get("/api/status", headers=AUTH).json
    assert body["preview"] is True and body["last_run"] is None and body["running"] is False
    assert body["company_score"] == 0.58 and body["unit_count"] == 5 and body["errors"] == 1
    assert fingerprint(company) == before  # a preview is a dry run


def test_sync_writes_records_and_reports(client: FlaskClient, company: Path) -> None:
    before = fingerprint(company)
    response = client.post("/api/sync", headers=AUTH, json={"as_of": "2026-11-15"})
    assert response.status_code == 200
    body = response.json
    assert body["as_of"] == "2026-11-15" and body["status"] == "ok" and body["unit_count"] == 5
    assert body["cells_written"] > 50 and body["errors"] == 1 and body["exit_code"] == 1
    assert any(f["where"].startswith("mkt-seo.xlsx › OKRs › ") for f in body["findings"])
    after = fingerprint(company)
    assert after != before and "okr-rollup.xlsx" in after
    [run] = runs(company)
    assert (run.id, run.trigger, run.status) == (body["run_id"], "api", "ok")
    assert len(store.run_cells(company, run.id)) == body["cells_written"]

    status = client.get("/api/status", headers=AUTH).json
    assert status["preview"] is False and status["last_run"]["id"] == run.id
    assert status["as_of"] == "2026-11-15"


def test_dry_run_writes_nothing_and_records_nothing(client: FlaskClient, company: Path) -> None:
    before = fingerprint(company)
    response = client.post("/api/sync", headers=AUTH, json={"dry_run": True})
    assert response.status_code == 200
    assert response.json["run_id"] is None and response.json["cells_written"] == 0
    assert fingerprint(company) == before and runs(company) == []


def test_sync_with_no_body_or_empty_object(client: FlaskClient, company: Path) -> None:
    assert client.post("/api/sync", headers=AUTH).status_code == 200
    assert client.post("/api/sync", headers=AUTH, json={}).status_code == 200
    assert [r.status for r in runs(company)] == ["ok", "ok"]


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"{not json", "application/json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "application/json", "not valid JSON"),
        (b'["as_of"]', "application/json", "must be a JSON object"),
        (b'"2026-11-01"', "application/json", "must be a JSON object"),
        (b'{"as_of": "2026-13-01"}', "application/json", "as_of must be a date"),
        (b'{"as_of": "tomorrow"}', "application/json", "as_of must be a date"),
        (b'{"as_of": 20261101}', "application/json", "as_of must be a date"),
        (b'{"as_of": "../../etc/passwd"}', "application/json", "as_of must be a date"),
        (b'{"dry_run": "yes"}', "application/json", "dry_run must be true or false"),
        (b'{"path": "/etc/passwd"}', "application/json", "Unknown field 'path'"),
        (b"as_of=2026-11-01", "application/x-www-form-urlencoded", "not valid JSON"),
    ],
)
def test_bad_sync_bodies_are_400_and_write_nothing(
    client: FlaskClient, company: Path, body: bytes, content_type: str, message: str
) -> None:
    before = fingerprint(company)
    response = client.post("/api/sync", headers={**AUTH, "Content-Type": content_type}, data=body)
    assert response.status_code == 400
    assert response.json["error"] == "Bad Request" and message in response.json["message"]
    assert fingerprint(company) == before and runs(company) == []


@pytest.mark.parametrize("size", [64 * 1024, 9 * 1024 * 1024])
def test_a_huge_body_is_413_and_writes_nothing(client: FlaskClient, company: Path, size: int) -> None:
    before = fingerprint(company)
    payload = b'{"as_of": "' + b"9" * size + b'"}'
    response = client.post("/api/sync", headers={**AUTH, "Content-Type": "application/json"}, data=payload)
    assert response.status_code == 413 and response.is_json
    if size < 1024 * 1024:
        assert "larger than 16 KB" in response.json["message"]
    assert fingerprint(company) == before and runs(company) == []


def test_sync_while_another_runs_is_409_with_a_clear_message(client: FlaskClient, company: Path) -> None:
    before = fingerprint(company)
    with locking.hold([company], who="schedule"):
        status = client.get("/api/status", headers=AUTH).json
        assert status["running"] is True and status["running_by"].startswith("schedule (")
        response = client.post("/api/sync", headers=AUTH)
    assert response.status_code == 409
    assert "a sync is already running" in response.json["message"]
    assert "by schedule" in response.json["message"]
    assert fingerprint(company) == before and runs(company) == []


def test_units(client: FlaskClient) -> None:
    client.post("/api/sync", headers=AUTH, json={"as_of": "2026-11-15"})
    body = client.get("/api/units", headers=AUTH).json
    units = {u["unit"]: u for u in body["units"]}
    assert set(units) == {"CO", "MKT", "MKT-SEO", "ENG", "SALES"}
    assert units["CO"]["level"] == "company" and units["CO"]["score"] == 0.58
    assert units["MKT-SEO"]["parent"] == "MKT" and units["MKT-SEO"]["errors"] == 1
    assert units["SALES"]["language"] == "zh"


def test_rollup_all_sheets_and_one_sheet(client: FlaskClient) -> None:
    client.post("/api/sync", headers=AUTH, json={"as_of": "2026-11-15"})
    body = client.get("/api/rollup", headers=AUTH).json
    assert list(body["sheets"]) == ["Rollup", "Units", "Alignment", "Issues", "Dependencies"]
    rollup_ids = [r["ID"] for r in body["sheets"]["Rollup"]["rows"]]
    assert "MKT/KR1.2" in rollup_ids
    alignment = body["sheets"]["Alignment"]["rows"]
    assert alignment[0]["ID"] == "CO/O1" and alignment[0]["_depth"] == 0
    units = client.get("/api/rollup?sheet=Units", headers=AUTH).json
    assert list(units["sheets"]) == ["Units"] and len(units["sheets"]["Units"]["rows"]) == 5


@pytest.mark.parametrize("sheet", ["../../etc/passwd", "units", "", "Rollup\x00", "%2e%2e"])
def test_rollup_unknown_sheet_is_404(client: FlaskClient, sheet: str) -> None:
    response = client.get("/api/rollup", query_string={"sheet": sheet}, headers=AUTH)
    assert response.status_code == 404 and "the sheets are Rollup" in response.json["message"]


def test_history_reads_the_history_sheet_through_the_backend(client: FlaskClient) -> None:
    client.post("/api/sync", headers=AUTH, json={"as_of": "2026-11-15"})
    client.post("/api/sync", headers=AUTH, json={"as_of": "2026-11-16"})
    body = client.get("/api/history?id=mkt/kr1.2", headers=AUTH).json
    assert body["id"] == "MKT/KR1.2" and body["source"] == "mkt.xlsx"
    assert len(body["rows"]) >= 1
    assert {r["id"] for r in body["rows"]} == {"KR1.2"}
    assert all(0 <= r["score"] <= 1 for r in body["rows"])


@pytest.mark.parametrize(
    "ident",
    [
        "",
        "../../etc/passwd",
        "MKT/../../etc/passwd",
        "/etc/passwd",
        "MKT/KR1.2/../x",
        "MKT\\KR1.2",
        "MKT/KR1.2\x00",
        "MKT/DROP TABLE runs",
        "x" * 5000,
        "MKT/KR1.2; rm -rf /",
    ],
)
def test_history_rejects_anything_but_a_global_id(client: FlaskClient, company: Path, ident: str) -> None:
    before = fingerprint(company)
    response = client.get("/api/history", query_string={"id": ident}, headers=AUTH)
    assert response.status_code == 400 and "global ID like MKT/KR1.2" in response.json["message"]
    assert fingerprint(company) == before


@pytest.mark.parametrize(
    ("ident", "message"),
    [("NOPE/KR1.1", "no unit 'NOPE'"), ("MKT/KR9.9", "MKT/KR9.9 is not an objective")],
)
def test_history_of_an_unknown_unit_or_row_is_404(client: FlaskClient, ident: str, message: str) -> None:
    response = client.get("/api/history", query_string={"id": ident}, headers=AUTH)
    assert response.status_code == 404 and message in response.json["message"]


def test_runs_lists_newest_first_and_checks_limit(client: FlaskClient) -> None:
    client.post("/api/sync", headers=AUTH)
    client.post("/api/sync", headers=AUTH)
    body = client.get("/api/runs?limit=1", headers=AUTH).json
    assert [r["id"] for r in body["runs"]] == [2]
    assert [r["id"] for r in client.get("/api/runs", headers=AUTH).json["runs"]] == [2, 1]
    for bad in ["abc", "0", "501", "-1", "1e3", "²", "../1"]:
        response = client.get("/api/runs", query_string={"limit": bad}, headers=AUTH)
        assert response.status_code == 400, bad


@pytest.mark.parametrize(
    "path",
    [
        "/static/../../etc/passwd",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2fetc%2fpasswd",
        "/api/../../etc/passwd",
        "/api/nothing",
    ],
)
def test_path_tricks_are_404_never_a_file(client: FlaskClient, path: str) -> None:
    response = client.get(path, headers=AUTH)
    assert response.status_code in (400, 404)
    assert b"root:" not in response.data


def test_wrong_method_is_405_json(client: FlaskClient) -> None:
    response = client.get("/api/sync", headers=AUTH)
    assert response.status_code == 405 and response.is_json


def test_a_failing_sync_is_503_with_its_reason_and_recorded(client: FlaskClient, company: Path) -> None:
    # The rollup's place is taken by a folder: the sync cannot write it.
    (company / "okr-rollup.xlsx").mkdir()
    response = client.post("/api/sync", headers=AUTH)
    assert response.status_code == 503 and "okr-rollup.xlsx" in response.json["message"]
    [run] = runs(company)
    assert run.status == "failed" and "okr-rollup.xlsx" in (run.reason or "")
    # The units were written before the rollup failed: their cells are on record for undo.
    assert run.cells_written > 0 and len(store.run_cells(company, run.id)) == run.cells_written


def test_tokens_come_from_the_config_file_and_the_environment(company: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = company / "okr-sync.toml"
    from_config, from_env, second = (f"{name}-0123456789abcdef" for name in ("from-config-token-1234",
                                                                             "from-env-token-5678", "second-env-token"))
    config.write_text(f'[[sources]]\npath = "."\n\n[server]\ntokens = ["{from_config}"]\n', encoding="utf-8")
    monkeypatch.setenv("OKR_SYNC_TOKENS", f"{from_env}, {second}")
    client = create_app({"WORKSPACE": str(config), "TESTING": True}).test_client()
    for token in [from_config, from_env, second]:
        response = client.get("/api/runs", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, token
    assert client.get("/api/runs", headers=AUTH).status_code == 401


def test_tokens_never_reach_the_log(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client.get("/api/status", headers=AUTH)
    client.get("/api/status", headers={"Authorization": "Bearer a-wrong-token-value"})
    client.post("/api/sync", headers=AUTH, data=b"{bad")
    assert TOKEN not in caplog.text and "a-wrong-token-value" not in caplog.text


def test_no_configured_token_refuses_everyone(company: Path) -> None:
    client = create_app({"WORKSPACE": str(company), "TOKENS": [], "TESTING": True}).test_client()
    for header in [{}, {"Authorization": "Bearer "}, {"Authorization": "Bearer x"}]:
        assert client.get("/api/status", headers=header).status_code == 401


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(
        ["/api/status", "/api/units", "/api/rollup", "/api/history", "/api/runs", "/", "/login", "/healthz"]
    ),
    params=st.dictionaries(
        st.sampled_from(["id", "sheet", "limit", "lang", "next", "as_of", "x"]),
        st.text(max_size=60),
        max_size=3,
    ),
)
def test_no_query_string_makes_a_500(client: FlaskClient, path: str, params: dict[str, str]) -> None:
    response = client.get(path, query_string=params, headers=AUTH)
    assert response.status_code < 500, (path, params, response.data[:300])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_no_sync_body_makes_a_500_and_a_refused_one_writes_nothing(
    client: FlaskClient, company: Path, body: bytes
) -> None:
    before, logged = fingerprint(company), len(runs(company))
    response = client.post("/api/sync", headers={**AUTH, "Content-Type": "application/json"}, data=body)
    assert response.status_code in (200, 400), (body, response.data[:300])
    if response.status_code == 400:
        assert fingerprint(company) == before and len(runs(company)) == logged
