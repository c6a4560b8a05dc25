"""The add-in's HTTP API: realistic workbooks in, cells to write out; bad requests refused cleanly."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from addin_fixtures import TOKEN, big_rows, excel_values, mkt_rows, payload
from builders import kr, o, unit, write_xlsx
from flask.testing import FlaskClient
from sheets_sync.server import create_app

AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    app = create_app({"TOKENS": [TOKEN], "TESTING": True, "WORKSPACE": None})
    return app.test_client()


def post(client: FlaskClient, body: Any, path: str = "/addin/api/score", **kw: Any) -> Any:
    return client.post(path, json=body, headers={**AUTH, **kw.pop("headers", {})}, **kw)


def cells(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {u["a1"]: u for u in result["updates"]}


def test_score_returns_figures_colours_and_objectives(client: FlaskClient) -> None:
    r = post(client, payload())
    assert r.status_code == 200
    data = r.get_json()
    assert data["score"] == 0.48 and data["language"] == "en" and data["unit"] == "MKT"
    by_a1 = cells(data)
    # Columns: Progress Q, Score R, Status S, Check T (builders.HEADER_KEYS order).
    assert by_a1["R2"]["value"] == 0.75 and by_a1["R2"]["fill"] == "#C6EFCE"
    assert by_a1["R3"]["value"] == 0.5 and by_a1["R3"]["fill"] == "#FFEB9C"
    assert by_a1["S5"]["value"] == "off track" and by_a1["S5"]["fill"] == "#FFC7CE"
    assert by_a1["Q3"]["format"] == "0%" and by_a1["R3"]["format"] == "0.00"
    assert [(ob["id"], ob["score"], ob["status_key"]) for ob in data["objectives"]] == [
        ("O1", 0.75, "on track"),
        ("O2", 0.2, "off track"),
    ]
    assert [k["id"] for k in data["objectives"][0]["krs"]] == ["KR1.1", "KR1.2"]
    # Only computed columns are written: Q..U; never an input column.
    assert {u["key"] for u in data["updates"]} <= {"progress", "score", "status", "check", "aligned_score"}
    assert all(u["col"] >= 17 for u in data["updates"])


def test_validate_writes_check_column_only_and_notes_cells(client: FlaskClient) -> None:
    rows = mkt_rows()
    rows[1]["target"] = "lots"  # unreadable number: an error on KR1.1's Target cell (K3)
    r = post(client, payload(rows=rows), "/addin/api/validate")
    data = r.get_json()
    assert r.status_code == 200
    assert {u["key"] for u in data["updates"]} == {"check"}
    assert all("fill" not in u for u in data["updates"])
    errors = [f for f in data["findings"] if f["severity"] == "error"]
    assert errors and errors[0]["cell"] == "K3" and errors[0]["sheet"] == "OKRs"
    assert "MKT.xlsx › OKRs › K3" == errors[0]["where"]
    note = {n["a1"]: n for n in data["notes"]}["K3"]
    assert note["text"].startswith("okr-sync: Error: ") and "lots" in note["text"]
    check = cells(data)["T3"]["value"]
    assert check and "K3" in check


def test_banner_rows_and_used_range_origin_anchor_exactly(client: FlaskClient) -> None:
    body = payload(banner=True)
    # The used range starts at B2 when column A and row 1 are empty: send it with its origin.
    body["origins"] = {"OKRs": "B2"}
    data = post(client, body).get_json()
    # Banner, blank row, header: O1 is the grid's 4th row, so sheet row 5 from origin B2,
    # and every column moves one right (Score R -> S).
    assert cells(data)["S5"]["value"] == 0.75
    assert data["objectives"][0]["a1"] == "C5"
    assert all(f["col"] is None or f["col"] >= 2 for f in data["findings"])


def test_chinese_workbook_gets_chinese_labels_and_messages(client: FlaskClient) -> None:
    rows = mkt_rows()
    rows[2]["current"] = "是"
    data = post(client, payload(lang="zh", rows=rows)).get_json()
    assert data["language"] == "zh"
    statuses = {u["a1"]: u["value"] for u in data["updates"] if u["key"] == "status"}
    assert statuses["S2"] == "正常" and statuses["S4"] == "完成" and statuses["S5"] == "落后"
    assert data["objectives"][1]["status_key"] == "off track"
    assert any("警告" in n["text"] for n in data["notes"])
    assert all("\u4e00" <= ch <= "\u9fff" for ch in data["findings"][0]["message"][:1]) or any(
        "\u4e00" <= ch <= "\u9fff" for ch in data["findings"][0]["message"]
    )


def test_error_values_and_bad_values_become_findings_not_zeros(client: FlaskClient) -> None:
    rows = mkt_rows()
    rows[1]["current"] = "#DIV/0!"
    data = post(client, payload(rows=rows)).get_json()
    messages = [f for f in data["findings"] if f["cell"] == "L3"]
    assert messages and messages[0]["severity"] == "error"
    kr11 = data["objectives"][0]["krs"][0]
    assert kr11["score"] is None  # unscored, never a silent 0


def test_text_values_come_back_as_plain_strings(client: FlaskClient) -> None:
    rows = [o("O1", '=HYPERLINK("x")'), kr("KR1.1", "=1+1", start=0, target=10, current=5)]
    data = post(client, payload(rows=rows)).get_json()
    assert data["objectives"][0]["text"] == '=HYPERLINK("x")'
    assert data["objectives"][0]["krs"][0]["score"] == 0.5


def test_500_kr_workbook(client: FlaskClient) -> None:
    data = post(client, payload(rows=big_rows(100, 5))).get_json()
    assert len(data["objectives"]) == 100
    assert sum(len(ob["krs"]) for ob in data["objectives"]) == 500
    assert data["score"] is not None
    scored = [u for u in data["updates"] if u["key"] == "score"]
    assert len(scored) == 600 and all("fill" in u for u in scored)


def test_context_workspace_units_help_alignment(tmp_path: Path) -> None:
    co = unit("CO", "company", [o("O1", "Win the market"), kr("KR1.1", "Revenue", target=10, current=5)])
    write_xlsx(tmp_path / "CO.xlsx", co)
    app = create_app({"TOKENS": [TOKEN], "TESTING": True, "WORKSPACE": str(tmp_path)})
    rows = mkt_rows()
    rows[0]["aligns_to"] = "CO/KR1.1"
    rows[3]["aligns_to"] = "CO/O9"  # names nothing: an error
    data = post(app.test_client(), payload(level="department", rows=rows)).get_json()
    rules = {(f["id"], f["rule"]) for f in data["findings"]}
    assert not any(i == "O1" and "align" in rule for i, rule in rules)
    assert any(i == "O2" and "align" in rule for i, rule in rules)


# --- refused requests ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/addin/api/score", "/addin/api/validate"])
@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic " + TOKEN, "Bearer "])
def test_token_required(client: FlaskClient, path: str, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    r = client.post(path, json=payload(), headers=headers)
    assert r.status_code == 401
    assert "Bearer" in r.get_json()["message"]


def test_rollup_needs_token(client: FlaskClient) -> None:
    assert client.get("/addin/api/rollup").status_code == 401


@pytest.mark.parametrize(
    "raw, fragment",
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"sheets": {"OKRs": [[NaN]]}}', "not valid JSON"),
        (b"[1, 2]", "JSON object"),
    ],
)
def test_malformed_json_is_400(client: FlaskClient, raw: bytes, fragment: str) -> None:
    r = client.post("/addin/api/score", data=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400
    assert fragment in r.get_json()["message"]


@pytest.mark.parametrize(
    "sheets, fragment",
    [
        (None, "'sheets' must be"),
        ({}, "'sheets' must be"),
        ([["a"]], "'sheets' must be"),
        ({"OKRs": "text"}, "list of lists"),
        ({"OKRs": [1, 2]}, "list of lists"),
        ({"OKRs": [[{"a": 1}]]}, "row 1, column 1 holds a dict"),
        ({"OKRs": [[[1]]]}, "holds a list"),
        ({"OKRs": [["x" * 40000]]}, "longer than"),
        ({"OKRs": [[None]] * 6000}, "limit is 5000 rows"),
        ({"OKRs": [[None] * 300]}, "200 columns"),
    ],
)
def test_wrong_shapes_are_400(client: FlaskClient, sheets: Any, fragment: str) -> None:
    r = post(client, {"sheets": sheets, "source": "x.xlsx"})
    assert r.status_code == 400
    assert fragment in r.get_json()["message"]


@pytest.mark.parametrize(
    "extra, fragment",
    [
        ({"origins": {"OKRs": "nowhere"}}, "top-left cell"),
        ({"origins": "B2"}, "top-left cell"),
        ({"as_of": "tomorrow"}, "'as_of' must be"),
        ({"source": 12}, "'source' must be"),
        ({"sheet_names": "OKRs"}, "'sheet_names' must be"),
    ],
)
def test_bad_fields_are_400(client: FlaskClient, extra: dict[str, Any], fragment: str) -> None:
    r = post(client, {**payload(), **extra})
    assert r.status_code == 400
    assert fragment in r.get_json()["message"]


def test_messages_in_chinese_when_asked(client: FlaskClient) -> None:
    r = client.post("/addin/api/score", data=b"{", headers={**AUTH, "Accept-Language": "zh-CN,zh;q=0.9"})
    assert r.status_code == 400
    assert "JSON" in r.get_json()["message"] and "请求内容" in r.get_json()["message"]


def test_oversized_body_is_413_with_a_message(tmp_path: Path) -> None:
    app = create_app({"TOKENS": [TOKEN], "TESTING": True, "MAX_CONTENT_LENGTH": 10_000})
    body = payload(rows=big_rows(20, 5))
    assert len(json.dumps(body)) > 10_000
    r = post(app.test_client(), body)
    assert r.status_code == 413
    assert "10000 bytes" in r.get_json()["message"]


def test_rollup_without_workspace_is_503_with_a_message(client: FlaskClient) -> None:
    r = client.get("/addin/api/rollup", headers=AUTH)
    assert r.status_code == 503
    assert "OKR_SYNC_CONFIG" in r.get_json()["message"]


def test_rollup_returns_the_owned_sheets(tmp_path: Path) -> None:
    write_xlsx(
        tmp_path / "CO.xlsx", unit("CO", "company", [o("O1", "+1 market"), kr("KR1.1", "Rev", target=10, current=8)])
    )
    write_xlsx(
        tmp_path / "MKT.xlsx",
        unit(
            "MKT",
            "department",
            [o("O1", "Leads", aligns_to="CO/O1"), kr("KR1.1", "L", target=4, current=1)],
            parent="CO",
        ),
    )
    app = create_app({"TOKENS": [TOKEN], "TESTING": True, "WORKSPACE": str(tmp_path)})
    client = app.test_client()
    r = client.get("/addin/api/rollup?as_of=2026-12-31", headers=AUTH)
    assert r.status_code == 200
    data = r.get_json()
    names = [s["name"] for s in data["sheets"]]
    assert names[:2] == ["OKR Rollup", "OKR Units"] and "OKR Issues" in names
    rollup = data["sheets"][0]
    ids = [row[rollup["headers"].index("ID")] for row in rollup["rows"]]
    assert "CO/O1" in ids and "MKT/KR1.1" in ids
    texts = [row[rollup["headers"].index("Objective / Key result")] for row in rollup["rows"]]
    assert "+1 market" in texts  # plain text here; the client writes it with an apostrophe
    assert any(f[2] == "#C6EFCE" for f in rollup["fills"])
    zh = client.get("/addin/api/rollup?lang=zh&as_of=2026-12-31", headers=AUTH).get_json()
    assert zh["sheets"][0]["name"] == "OKR 汇总" and "编号" in zh["sheets"][0]["headers"]
    assert client.get("/addin/api/rollup?as_of=someday", headers=AUTH).status_code == 400


def test_static_pane_manifest_and_icons_are_served(client: FlaskClient) -> None:
    pane = client.get("/addin/taskpane.html")
    assert pane.status_code == 200 and b"okr-client.js" in pane.data
    assert client.get("/addin/commands.html").status_code == 200
    assert client.get("/addin/okr-client.js").status_code == 200
    assert client.get("/addin/assets/icon-32.png").data[:4] == b"\x89PNG"
    assert b"<OfficeApp" in client.get("/addin/manifest.xml").data
    assert client.get("/addin/").status_code == 302
    assert client.get("/addin/../server/auth.py").status_code == 404


def test_excel_grid_helper_is_rectangular() -> None:
    assert excel_values([[1], [1, 2, None]]) == [[1, "", ""], [1, 2, ""]]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_demo_company_unit_scores_exactly_as_the_sync_writes_it(tmp_path: Path, lang: str) -> None:
    """The add-in on a real template workbook gives the very cells `okr-sync sync` writes."""
    import shutil

    from addin_fixtures import excel_js_sheets

    from sheets_sync import engine
    from sheets_sync.workspace import Workspace

    folder = tmp_path / "okr"
    shutil.copytree(ROOT / "templates" / f"example-company-{lang}", folder)
    settings = "设置" if lang == "zh" else "Settings"
    before = excel_js_sheets(folder / "sales.xlsx")
    app = create_app({"TOKENS": [TOKEN], "TESTING": True, "WORKSPACE": str(folder)})
    body = {"source": "sales.xlsx", "sheets": {n: before[n] for n in (settings, "OKRs")}, "as_of": "2026-11-15"}
    data = post(app.test_client(), body).get_json()
    assert data["unit"] == "SALES" and data["language"] == lang

    engine.sync(Workspace.from_path(folder), dt.date(2026, 11, 15), write_rollup=False)
    after = excel_js_sheets(folder / "sales.xlsx")["OKRs"]
    header = before["OKRs"][2]
    computed = {header.index(h) + 1 for h in header if h in ("Progress", "Score", "Status", "进度", "得分", "状态")}
    expected = {(r + 1, c): after[r][c - 1] for r in range(3, len(after)) for c in computed}
    assert sum(isinstance(v, float) for v in expected.values()) >= 10  # scores and progress to compare
    answered = {(u["row"], u["col"]): u["value"] for u in data["updates"] if "value" in u}
    for (row, col), value in expected.items():
        got = answered.get((row, col), before["OKRs"][row - 1][col - 1])
        assert got == value or (got is None and value == ""), (row, col, got, value)
    # The alignment to the company's KRs resolved against the workspace: no missing-target error.
    assert not [f for f in data["findings"] if f["rule"].startswith("align") and f["severity"] == "error"]


def test_one_colour_per_row_pace_in_the_cycle_grade_after_it(client: FlaskClient) -> None:
    from sheets_sync.core import bands

    def fill(name: str) -> str:
        return f"#{bands.PALETTE[name].fill}"

    mid = post(client, payload(as_of="2026-11-15")).get_json()
    end = post(client, payload()).get_json()
    for data in (mid, end):
        by_a1 = cells(data)
        for row in range(2, 7):  # Score R and Status S share one colour on every row
            assert by_a1[f"R{row}"]["fill"] == by_a1[f"S{row}"]["fill"], row
    # The unit's 0.48: on pace at mid-cycle (the status colour), yellow once the cycle has ended (the grade).
    assert mid["score"] == end["score"] == 0.48
    assert mid["fill"] == fill("green") and end["fill"] == fill("yellow")
    # O1's KR1.2 (yes) is done: blue while the cycle runs, the grade's green after it.
    assert cells(mid)["R4"]["fill"] == fill("blue") and cells(end)["R4"]["fill"] == fill("green")


def test_the_pane_takes_its_colours_from_the_server(client: FlaskClient) -> None:
    from sheets_sync.core import bands

    css = client.get("/addin/bands.css").get_data(as_text=True)
    assert f"--blue-bg: #{bands.PALETTE['blue'].fill};" in css
    assert client.get("/addin/api/bands").get_json() == bands.as_json()
    page = client.get("/addin/taskpane.html").get_data(as_text=True)
    assert page.index('href="bands.css"') < page.index('href="taskpane.css"')
