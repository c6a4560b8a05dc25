"""The emulator follows Google's documented behaviour, exercised with real gspread + google-auth."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re

import gspread
import pytest
import requests
from conftest_google import *  # noqa: F403
from conftest_google import GoogleApi
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2.service_account import Credentials
from google_emulator_model import parse_cells, split_a1

SCOPES = ["https://www.googleapis.com/auth/spreadsheets", "https://www.googleapis.com/auth/drive"]


def client(api: GoogleApi) -> gspread.Client:
    """A plain gspread client whose session sends Google's hosts to the emulator."""
    creds = Credentials.from_service_account_file(str(api.key_path), scopes=SCOPES)

    class Session(AuthorizedSession):
        def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
            for host in ("https://sheets.googleapis.com", "https://www.googleapis.com"):
                url = url.replace(host, api.url)
            return super().request(method, url, *args, **kwargs)

    class AuthSession(requests.Session):
        def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
            url = re.sub(r"^https://[a-z0-9.-]+\.googleapis\.com", api.url, url)
            return super().request(method, url, *args, **kwargs)

    auth_request = Request(session=AuthSession())
    return gspread.Client(creds, session=Session(creds, auth_request=auth_request))


def test_a1_parsing_quoted_names_and_open_ranges() -> None:
    assert split_a1("'My Sheet'!A1:B2") == ("My Sheet", "A1:B2")
    assert split_a1("'It''s'!A1") == ("It's", "A1")
    assert split_a1("Sheet1") == (None, "Sheet1")
    assert parse_cells("A:A") == (0, None, 0, 1)
    assert parse_cells("B2:D") == (1, None, 1, 4)
    assert parse_cells("3:3") == (2, 3, 0, None)


def test_token_endpoint_takes_a_signed_jwt_from_the_key_file(google_api: GoogleApi) -> None:
    gc = client(google_api)
    key = google_api.emulator.add_spreadsheet("T", {"S": [[1]]})
    assert gc.open_by_key(key).title == "T"
    claims = google_api.emulator.token_claims[0]
    assert claims["iss"] == google_api.email
    assert "spreadsheets" in claims["scope"]
    # A JWT that is not signed RS256 is refused like Google refuses it.
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).decode().rstrip("=")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    answer = requests.post(
        google_api.url + "/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": f"{header}.{body}.x"},
        timeout=5,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_render_options_and_trimming(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = emu.add_spreadsheet(
        "Book",
        {
            "It's": [
                ["a", 1500, dt.date(2026, 10, 1), None],
                ["=B1*2", "x", None, None],
                [None, None, None, None],
            ]
        },
    )
    sh = client(google_api).open_by_key(key)
    ranges = ["'It''s'!A1:D5", "'It''s'!A:A"]
    raw = sh.values_batch_get(ranges, params={"valueRenderOption": "UNFORMATTED_VALUE"})
    first, column = raw["valueRanges"]
    assert first["values"] == [["a", 1500, 46296], [3000, "x"]]  # trailing empties trimmed
    assert first["range"] == "'It''s'!A1:D5"
    assert column["values"] == [["a"], [3000]]
    formatted = sh.values_batch_get(["'It''s'!A1:C2"])["valueRanges"][0]["values"]
    assert formatted == [["a", "1500", "2026-10-01"], ["3000", "x"]]
    formulas = sh.values_batch_get(["'It''s'!A2"], params={"valueRenderOption": "FORMULA"})
    assert formulas["valueRanges"][0]["values"] == [["=B1*2"]]
    dates = sh.values_batch_get(
        ["'It''s'!C1"], params={"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "FORMATTED_STRING"}
    )
    assert dates["valueRanges"][0]["values"] == [["2026-10-01"]]


def test_user_entered_vs_raw(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = emu.add_spreadsheet("Book", {"Data": [[None]]})
    ws = client(google_api).open_by_key(key).worksheet("Data")
    ws.update([["=1+1", "75%", "1,500", "'=text"]], "A1", value_input_option="USER_ENTERED")
    ws.update([["=1+1", "75%"]], "A2", value_input_option="RAW")
    assert emu.values(key, "Data") == [[2.0, 0.75, 1500.0, "=text"], ["=1+1", "75%", None, None]]
    assert ws.get("A1:B1", value_render_option="FORMULA") == [["=1+1", 0.75]]


def test_batch_update_is_all_or_nothing(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = emu.add_spreadsheet("Book", {"Data": [[1]]})
    sh = client(google_api).open_by_key(key)
    with pytest.raises(gspread.exceptions.APIError) as err:
        sh.batch_update(
            {
                "requests": [
                    {"addSheet": {"properties": {"title": "New"}}},
                    {"deleteSheet": {"sheetId": 424242}},
                ]
            }
        )
    assert err.value.code == 400
    assert [s.title for s in emu.book(key).sheets] == ["Data"]


def test_row_metadata_moves_with_its_row_and_data_filter_writes(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = emu.add_spreadsheet("Book", {"Data": [["id"], ["A"], ["B"]]})
    sheet_id = emu.book(key).sheets[0].sheet_id
    sh = client(google_api).open_by_key(key)
    sh.batch_update(
        {
            "requests": [
                {
                    "createDeveloperMetadata": {
                        "developerMetadata": {
                            "metadataKey": "row",
                            "metadataValue": "B",
                            "visibility": "DOCUMENT",
                            "location": {
                                "dimensionRange": {
                                    "sheetId": sheet_id,
                                    "dimension": "ROWS",
                                    "startIndex": 2,
                                    "endIndex": 3,
                                }
                            },
                        }
                    }
                }
            ]
        }
    )
    emu.edit(
        key,
        [{"insertDimension": {"range": {"sheetId": sheet_id, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}}}],
    )
    url = f"https://sheets.googleapis.com/v4/spreadsheets/{key}/values:batchUpdateByDataFilter"
    sh.client.request(
        "post",
        url,
        json={
            "valueInputOption": "RAW",
            "data": [
                {
                    "dataFilter": {"developerMetadataLookup": {"metadataKey": "row", "metadataValue": "B"}},
                    "values": [[None, "=written"]],
                }
            ],
        },
    )
    assert emu.values(key, "Data") == [["id", None], [None, None], ["A", None], ["B", "=written"]]


def test_quota_answers_429_with_googles_error(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    emu.quota.reads = 3
    key = emu.add_spreadsheet("Book", {"Data": [[1]]})
    sh = client(google_api).open_by_key(key)  # one read
    sh.values_batch_get(["Data"])
    sh.values_batch_get(["Data"])
    with pytest.raises(gspread.exceptions.APIError) as err:
        sh.values_batch_get(["Data"])
    assert err.value.code == 429
    assert err.value.error["status"] == "RESOURCE_EXHAUSTED"
    assert "Read requests per minute per user" in err.value.error["message"]
    assert emu.rejected_429 == 1


def test_faults_hooks_and_counter(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = emu.add_spreadsheet("Book", {"Data": [["x"]]})
    sh = client(google_api).open_by_key(key)
    emu.fail("values.batchGet", 503)
    with pytest.raises(gspread.exceptions.APIError) as err:
        sh.values_batch_get(["Data"])
    assert err.value.code == 503
    emu.before("values.batchGet", lambda e: e.set_cell(key, "Data", "A1", "edited"))
    assert sh.values_batch_get(["Data"])["valueRanges"][0]["values"] == [["edited"]]
    assert emu.calls["values.batchGet"] == 2 and emu.calls["spreadsheets.get"] == 1


def test_drive_list_by_folder_and_share(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    folder = emu.add_folder("OKRs")
    inside = emu.add_spreadsheet("In", {"S": [[1]]}, folder=folder)
    emu.add_spreadsheet("Out", {"S": [[1]]})
    hidden = emu.add_spreadsheet("Private", {"S": [[1]]}, folder=folder, shared_with={"someone@else.com"})
    gc = client(google_api)
    url = "https://www.googleapis.com/drive/v3/files"
    q = f"'{folder}' in parents and mimeType = 'application/vnd.google-apps.spreadsheet'"
    files = gc.http_client.request("get", url, params={"q": q}).json()["files"]
    assert [f["id"] for f in files] == [inside]
    with pytest.raises(PermissionError):  # gspread's name for Google's 403
        gc.open_by_key(hidden)
    gc.insert_permission(inside, "lee@example.com", perm_type="user", role="writer")
    assert any(p.get("emailAddress") == "lee@example.com" for p in emu.book(inside).permissions)


def test_values_append_and_batch_update_with_quoted_names(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = emu.add_spreadsheet("Book", {"It's mine": [["h1", "h2"], ["a", 1]]})
    sh = client(google_api).open_by_key(key)
    sh.values_append("'It''s mine'!A:B", {"valueInputOption": "RAW"}, {"values": [["=b", 2]]})
    sh.values_update("'It''s mine'!D1", {"valueInputOption": "USER_ENTERED"}, {"values": [["2026-10-01"]]})
    sh.values_batch_update(
        {"valueInputOption": "RAW", "data": [{"range": "'It''s mine'!C1:C2", "values": [["x"], ["y"]]}]}
    )
    assert emu.values(key, "It's mine") == [["h1", "h2", "x", 46296.0], ["a", 1.0, "y", None], ["=b", 2.0, None, None]]
    # A batch with one range outside the grid changes nothing.
    with pytest.raises(gspread.exceptions.APIError):
        sh.values_batch_update(
            {
                "valueInputOption": "RAW",
                "data": [
                    {"range": "'It''s mine'!E1", "values": [["z"]]},
                    {"range": "'It''s mine'!A5000", "values": [["far"]]},
                ],
            }
        )
    assert emu.values(key, "It's mine")[0][-1] == 46296.0
    assert len(emu.values(key, "It's mine")[0]) == 4


def test_batch_update_answers_with_the_spreadsheet_as_documented(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = emu.add_spreadsheet("Book", {"Data": [["id"], ["A"], ["B"]], "Other": [["x"]]})
    sh = client(google_api).open_by_key(key)
    url = f"https://sheets.googleapis.com/v4/spreadsheets/{key}:batchUpdate"
    add = {"addSheet": {"properties": {"title": "New"}}}
    # Without includeSpreadsheetInResponse there is no updatedSpreadsheet.
    plain = sh.client.request("post", url, json={"requests": [add]}).json()
    assert "updatedSpreadsheet" not in plain and plain["replies"][0]["addSheet"]["properties"]["title"] == "New"
    # responseRanges limit it to the sheets they intersect; the field mask decides on grid data.
    body = {
        "requests": [{"addSheet": {"properties": {"title": "Newer"}}}],
        "includeSpreadsheetInResponse": True,
        "responseRanges": ["Data!A1:A3"],
        "responseIncludeGridData": False,  # ignored: a field mask is set
    }
    fields = "updatedSpreadsheet(sheets(properties(title),data(rowData(values(effectiveValue)))))"
    answer = sh.client.request("post", url, json=body, params={"fields": fields}).json()
    assert list(answer) == ["updatedSpreadsheet"]
    (sheet,) = answer["updatedSpreadsheet"]["sheets"]
    assert sheet["properties"] == {"title": "Data"}
    values = [r["values"][0]["effectiveValue"]["stringValue"] for r in sheet["data"][0]["rowData"]]
    assert values == ["id", "A", "B"]
    # Without a mask, responseIncludeGridData decides; without responseRanges, every sheet.
    body = {"requests": [], "includeSpreadsheetInResponse": True}
    answer = sh.client.request("post", url, json=body).json()
    titles = [s["properties"]["title"] for s in answer["updatedSpreadsheet"]["sheets"]]
    assert titles == ["Data", "Other", "New", "Newer"]
    assert all("data" not in s for s in answer["updatedSpreadsheet"]["sheets"])
    # A bad responseRange fails the call, and then nothing was applied.
    newest = {"addSheet": {"properties": {"title": "Newest"}}}
    body = {"requests": [newest], "includeSpreadsheetInResponse": True, "responseRanges": ["Nope!A1"]}
    with pytest.raises(gspread.exceptions.APIError):
        sh.client.request("post", url, json=body)
    assert "Newest" not in [s.title for s in emu.book(key).sheets]


def test_get_with_ranges_returns_only_the_sheets_they_intersect(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = emu.add_spreadsheet("Book", {"Data": [["a"]], "Other": [["b"]]})
    sh = client(google_api).open_by_key(key)
    url = f"https://sheets.googleapis.com/v4/spreadsheets/{key}"
    body = sh.client.request("get", url, params={"ranges": ["Other!A1"], "fields": "sheets.properties.title"}).json()
    assert body == {"sheets": [{"properties": {"title": "Other"}}]}


def test_a_lost_answer_is_applied_then_dropped(google_api: GoogleApi) -> None:
    emu = google_api.emulator
    key = emu.add_spreadsheet("Book", {"Data": [["a"]]})
    sh = client(google_api).open_by_key(key)
    emu.lose("spreadsheets.batchUpdate", spreadsheet=key)
    with pytest.raises(gspread.exceptions.APIError) as err:
        sh.batch_update({"requests": [{"addSheet": {"properties": {"title": "New"}}}]})
    assert err.value.code == 503
    assert [s.title for s in emu.book(key).sheets] == ["Data", "New"]  # applied all the same
    # Retried blindly, the same non-idempotent call now fails: what okr-sync must not do.
    with pytest.raises(gspread.exceptions.APIError, match="already exists"):
        sh.batch_update({"requests": [{"addSheet": {"properties": {"title": "New"}}}]})
