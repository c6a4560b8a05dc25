"""A local emulator of the Google Sheets API v4, the few Drive v3 calls and the OAuth2 token endpoint.

It follows Google's documented behaviour (A1 ranges, render and input options, trimmed value
responses, all-or-nothing batchUpdate, developer metadata that moves with its rows, per-minute
quotas answering 429) so the real gspread + google-auth stack can be tested over real HTTP.
Faults (5xx, slow answers, an edit run between two calls) are switchable and every call is counted.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import itertools
import json
import re
import socket
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from google_emulator_model import (
    GOOGLE_TOKEN_AUD,
    JWT_GRANT,
    READ_METHODS,
    SHEETS_MIME,
    ApiError,
    Cell,
    ErrorValue,
    GridRange,
    Sheet,
    Spreadsheet,
    apply_fields,
    extended_value,
    mask_wants,
    meta_sheet,
    parse_fields,
    parse_user_entered,
    quote_sheet,
    render_value,
    resolve_a1,
    resolve_grid,
    shift_rows,
    split_a1,
    to_serial,
)
from google_emulator_requests import BatchRequests
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

# ---------------------------------------------------------------- quotas, faults, tokens


@dataclass
class Quota:
    """Per-credential per-window limits, as Google's 'per minute per user' quotas."""

    reads: int = 60
    writes: int = 60
    window: float = 60.0


@dataclass
class Fault:
    """Answer `status` (or sleep `delay` first) for the next `times` calls matching `method`."""

    method: str | None
    status: int | None = 503
    times: int = 1
    delay: float = 0.0
    spreadsheet: str | None = None
    after: bool = False  # apply the call first, then answer `status` (a lost answer)


class GoogleEmulator(BatchRequests):
    """The emulated Google: state, counters, quotas, faults; `app` is the WSGI entry point."""

    def __init__(self, quota: Quota | None = None) -> None:
        self.books: dict[str, Spreadsheet] = {}
        self.folders: dict[str, str] = {}
        self.quota = quota or Quota()
        self.calls: Counter[str] = Counter()
        self.call_log: list[tuple[str, str | None, str]] = []
        self.rejected_429 = 0
        self.faults: list[Fault] = []
        self.hooks: list[tuple[str, str | None, Callable[[GoogleEmulator], None]]] = []
        self.tokens: dict[str, str] = {}
        self.revoked: set[str] = set()
        self.token_claims: list[dict[str, Any]] = []
        self._ids = itertools.count(1000)
        self._meta_ids = itertools.count(1)
        self._recent: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self.lock = threading.RLock()
        self.base_url = ""

    # ---- test helpers

    def add_spreadsheet(
        self,
        title: str,
        sheets: dict[str, list[list[Any]]],
        *,
        key: str | None = None,
        folder: str | None = None,
        shared_with: set[str] | None = None,
    ) -> str:
        """Create a spreadsheet from Python values as a person would type them; return its key."""
        key = key or "k" + uuid.uuid4().hex[:20]
        book = Spreadsheet(key, title, parents=[folder] if folder else [], shared_with=shared_with)
        for i, (name, rows) in enumerate(sheets.items()):
            sheet = Sheet(next(self._ids), name, i)
            sheet.row_count = max(1000, len(rows) + 10)
            sheet.column_count = max(26, max((len(r) for r in rows), default=0))
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    if value is None or value == "":
                        continue
                    sheet.cells[(r, c)] = self._python_cell(value)
            book.sheets.append(sheet)
        with self.lock:
            self.books[key] = book
        return key

    @staticmethod
    def _python_cell(value: Any) -> Cell:
        if isinstance(value, dt.datetime):
            return Cell(to_serial(value), fmt={"numberFormat": {"type": "DATE_TIME"}})
        if isinstance(value, dt.date):
            return Cell(to_serial(value), fmt={"numberFormat": {"type": "DATE"}})
        if isinstance(value, bool):
            return Cell(value)
        if isinstance(value, int | float):
            return Cell(float(value))
        if isinstance(value, str) and value.startswith("=") and len(value) > 1:
            return Cell(None, formula=value)
        return Cell(value)

    def add_folder(self, name: str, folder_id: str | None = None) -> str:
        folder_id = folder_id or "f" + uuid.uuid4().hex[:16]
        self.folders[folder_id] = name
        return folder_id

    def book(self, key: str) -> Spreadsheet:
        return self.books[key]

    def values(self, key: str, sheet: str) -> list[list[Any]]:
        """Effective values of a sheet, trimmed, for assertions (dates stay serial numbers)."""
        book = self.books[key]
        s = book.sheet_by_title(sheet)
        assert s is not None, sheet
        rows, cols = s.used_extent()
        grid = [[book.effective(s, r, c) for c in range(cols)] for r in range(rows)]
        return [[v.code if isinstance(v, ErrorValue) else v for v in row] for row in grid]

    def edit(self, key: str, requests: list[dict[str, Any]]) -> None:
        """Apply spreadsheets.batchUpdate requests as a person in the UI would, uncounted."""
        with self.lock:
            self._batch_update(self.books[key], requests)

    def set_cell(self, key: str, sheet: str, a1: str, value: Any, by: str | None = None) -> None:
        """Type a value as a person would; `by` ("Ana Li <ana@example.com>" or a name) makes a Drive revision."""
        with self.lock:
            book = self.books[key]
            g = resolve_a1(book, f"{quote_sheet(sheet)}!{a1}")
            g.sheet.cells[(g.r0, g.c0)] = self._python_cell(value)
            if by:
                name, _, email = by.partition(" <")
                self._revise(book, name.strip(), email.rstrip(">") or f"{name.strip().lower()}@example.com")

    def _revise(self, book: Spreadsheet, name: str, email: str) -> None:
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        book.revisions.append((stamp, name, email))

    def fail(self, method: str | None, status: int = 503, times: int = 1, spreadsheet: str | None = None) -> None:
        self.faults.append(Fault(method, status, times, spreadsheet=spreadsheet))

    def slow(self, method: str | None, delay: float, times: int = 1) -> None:
        self.faults.append(Fault(method, None, times, delay))

    def lose(
        self, method: str, times: int = 1, spreadsheet: str | None = None, status: int = 503, delay: float = 0.0
    ) -> None:
        """Apply the next `times` calls of `method`, then lose their answer: wait `delay` (past the
        client's timeout) and answer `status` instead of the result, as a dropped connection or a
        failing front end does after the change was made."""
        self.faults.append(Fault(method, status, times, delay, spreadsheet, after=True))

    def before(self, method: str, hook: Callable[[GoogleEmulator], None], spreadsheet: str | None = None) -> None:
        """Run `hook` once, just before the next call of `method` (an edit between two calls)."""
        self.hooks.append((method, spreadsheet, hook))

    def reset_counts(self) -> None:
        self.calls.clear()
        self.call_log.clear()
        self.rejected_429 = 0

    def write_calls(self, key: str | None = None) -> int:
        return sum(
            1
            for m, k, _ in self.call_log
            if m not in READ_METHODS and not m.startswith(("oauth", "drive")) and (key is None or k == key)
        )

    # ---- WSGI

    def app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except ApiError as e:
            response = e.response()
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        path = unquote(request.path)
        if path == "/token":
            return self._token(request)
        method, key, handler = self._route(request.method, path)
        identity = self._identity(request)
        with self.lock:
            self.calls[method] += 1
            self.call_log.append((method, key, identity))
            self._check_quota(identity, method)
            hooks = [h for h in self.hooks if h[0] == method and h[1] in (None, key)]
            for h in hooks:
                self.hooks.remove(h)
            fault = self._take_fault(method, key)
        if fault and not fault.after:
            self._answer_fault(fault)
        for _, _, hook in hooks:
            hook(self)
        with self.lock:
            if key is not None:
                book = self.books.get(key)
                if book is None:
                    raise ApiError(404, "Requested entity was not found.")
                if book.shared_with is not None and identity not in book.shared_with:
                    raise ApiError(403, "The caller does not have permission")
            body = handler(request, key)
            if key is not None and method not in READ_METHODS and not method.startswith(("drive", "oauth")):
                # A write through the API is a revision by the caller (the service account).
                self._revise(self.books[key], identity.split("@")[0], identity)
        if fault and fault.after:
            self._answer_fault(fault)  # the call was applied; its answer is lost
        return Response(json.dumps(body), mimetype="application/json")

    @staticmethod
    def _answer_fault(fault: Fault) -> None:
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status:
            raise ApiError(fault.status, "The service is currently unavailable.")

    def _route(self, verb: str, path: str) -> tuple[str, str | None, Callable[[Request, Any], Any]]:
        m = re.fullmatch(r"/v4/spreadsheets/([^/:]+)(.*)", path)
        if m:
            key, rest = m.group(1), m.group(2)
            table: list[tuple[str, str, str, Callable[[Request, Any], Any]]] = [
                ("GET", "", "spreadsheets.get", self._get),
                ("POST", ":batchUpdate", "spreadsheets.batchUpdate", self._sheets_batch_update),
                ("GET", "/values:batchGet", "values.batchGet", self._values_batch_get),
                ("POST", "/values:batchUpdate", "values.batchUpdate", self._values_batch_update),
                (
                    "POST",
                    "/values:batchUpdateByDataFilter",
                    "values.batchUpdateByDataFilter",
                    self._values_update_by_filter,
                ),
                ("POST", "/values:batchGetByDataFilter", "values.batchGetByDataFilter", self._values_get_by_filter),
                ("POST", "/developerMetadata:search", "developerMetadata.search", self._metadata_search),
            ]
            for v, suffix, name, fn in table:
                if verb == v and rest == suffix:
                    return name, key, fn
            vm = re.fullmatch(r"/values/(.+?)(:append|:clear)?", rest)
            if vm:
                rng, action = vm.group(1), vm.group(2)
                if verb == "GET" and not action:
                    return "values.get", key, lambda r, k: self._values_get(r, k, rng)
                if verb == "PUT" and not action:
                    return "values.update", key, lambda r, k: self._values_update(r, k, rng)
                if verb == "POST" and action == ":append":
                    return "values.append", key, lambda r, k: self._values_append(r, k, rng)
        if path == "/v4/spreadsheets" and verb == "POST":
            return "spreadsheets.create", None, self._create
        if path == "/drive/v3/files" and verb == "GET":
            return "drive.files.list", None, self._drive_list
        m = re.fullmatch(r"/drive/v3/files/([^/]+)/permissions", path)
        if m and verb == "POST":
            return "drive.permissions.create", m.group(1), self._drive_permission
        m = re.fullmatch(r"/drive/v3/files/([^/]+)/revisions", path)
        if m and verb == "GET":
            return "drive.revisions.list", m.group(1), self._drive_revisions
        raise ApiError(404, f"Not found: {verb} {path}")

    # ---- auth and quotas

    def _token(self, request: Request) -> Response:
        grant = request.form.get("grant_type")
        with self.lock:
            self.calls["oauth.token"] += 1
        if grant == JWT_GRANT:
            claims = _jwt_claims(request.form.get("assertion", ""))
            now = time.time()
            problems = []
            for k in ("iss", "aud", "iat", "exp", "scope"):
                if k not in claims:
                    problems.append(f"missing claim {k}")
            # google-auth signs for Google's token endpoint whatever token_uri says.
            if claims.get("aud") not in (GOOGLE_TOKEN_AUD, self.base_url + "/token"):
                problems.append("wrong audience")
            if not (claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0) + 300):
                problems.append("expired assertion")
            if problems:
                return _oauth_error("invalid_grant", "; ".join(problems))
            identity = claims["iss"]
            self.token_claims.append(claims)
        elif grant == "refresh_token":
            if not request.form.get("refresh_token") or not request.form.get("client_id"):
                return _oauth_error("invalid_request", "missing refresh_token or client_id")
            identity = "user:" + request.form["client_id"]
            if request.form["refresh_token"] in self.revoked:
                return _oauth_error("invalid_grant", "Token has been expired or revoked.")
        else:
            return _oauth_error("unsupported_grant_type", str(grant))
        if identity in self.revoked:
            return _oauth_error("invalid_grant", "Invalid JWT Signature.")
        token = "ya29." + uuid.uuid4().hex
        with self.lock:
            self.tokens[token] = identity
        body = {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
        return Response(json.dumps(body), mimetype="application/json")

    def _identity(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        identity = self.tokens.get(token)
        if identity is None:
            raise ApiError(401, "Request had invalid authentication credentials.")
        return identity

    def _check_quota(self, identity: str, method: str) -> None:
        if method.startswith("drive"):
            return
        kind = "read" if method in READ_METHODS else "write"
        limit = self.quota.reads if kind == "read" else self.quota.writes
        now = time.monotonic()
        recent = self._recent[(identity, kind)]
        while recent and recent[0] <= now - self.quota.window:
            recent.popleft()
        if len(recent) >= limit:
            self.rejected_429 += 1
            label = "Read requests" if kind == "read" else "Write requests"
            raise ApiError(
                429,
                f"Quota exceeded for quota metric '{label}' and limit '{label} per minute per "
                f"user' of service 'sheets.googleapis.com' for consumer 'project_number:1'.",
            )
        recent.append(now)

    def _take_fault(self, method: str, key: str | None) -> Fault | None:
        for f in self.faults:
            if f.method in (None, method) and f.spreadsheet in (None, key):
                f.times -= 1
                if f.times <= 0:
                    self.faults.remove(f)
                return f
        return None

    # ---- spreadsheets.get / create

    def _get(self, request: Request, key: str) -> dict[str, Any]:
        book = self.books[key]
        mask = parse_fields(request.args.get("fields", ""))
        ranges = request.args.getlist("ranges")
        grid = request.args.get("includeGridData", "false") == "true" or (
            bool(mask) and mask_wants(mask, "sheets", "data") and "sheets" in mask and "data" in mask["sheets"]
        )
        return apply_fields(self._spreadsheet_json(book, ranges, grid), mask)

    def _spreadsheet_json(self, book: Spreadsheet, ranges: list[str], grid: bool) -> dict[str, Any]:
        by_sheet: dict[int, list[GridRange]] = defaultdict(list)
        for r in ranges:
            g = resolve_a1(book, r)
            by_sheet[g.sheet.sheet_id].append(g)
        sheets = []
        for s in book.sheets:
            if ranges and s.sheet_id not in by_sheet:
                continue  # documented: only the portions that intersect the requested ranges
            item: dict[str, Any] = {"properties": s.properties()}
            meta = [
                m for m in book.metadata if meta_sheet(m) == s.sheet_id and m["location"]["locationType"] == "SHEET"
            ]
            if meta:
                item["developerMetadata"] = meta
            if s.protected:
                item["protectedRanges"] = s.protected
            if s.conditional:
                item["conditionalFormats"] = s.conditional
            if s.charts:
                item["charts"] = s.charts
            if grid:
                wanted = by_sheet.get(s.sheet_id) if ranges else [GridRange(s, 0, s.row_count, 0, s.column_count)]
                if wanted:
                    item["data"] = [self._grid_data(book, g) for g in wanted]
            sheets.append(item)
        return {
            "spreadsheetId": book.key,
            "properties": {"title": book.title, "locale": book.locale, "timeZone": book.time_zone},
            "sheets": sheets,
            "developerMetadata": [m for m in book.metadata if m["location"]["locationType"] == "SPREADSHEET"],
            "spreadsheetUrl": book.url(),
        }

    def _grid_data(self, book: Spreadsheet, g: GridRange) -> dict[str, Any]:
        rows_used, cols_used = g.sheet.used_extent()
        row_data = []
        for r in range(g.r0, min(g.r1, max(rows_used, g.r0))):
            values = []
            for c in range(g.c0, min(g.c1, cols_used)):
                values.append(self._cell_data(book, g.sheet, r, c))
            while values and not values[-1]:
                values.pop()
            row_data.append({"values": values} if values else {})
        by_row: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for m in book.metadata:
            d = m["location"].get("dimensionRange")
            if d and d["sheetId"] == g.sheet.sheet_id and d["dimension"] == "ROWS":
                for r in range(d["startIndex"], d["endIndex"]):
                    by_row[r].append(m)
        row_meta = []
        for r in range(g.r0, g.r1):
            props: dict[str, Any] = {"pixelSize": 21}
            if by_row.get(r):
                props["developerMetadata"] = by_row[r]
            row_meta.append(props)
        return {"startRow": g.r0, "startColumn": g.c0, "rowData": row_data, "rowMetadata": row_meta}

    def _cell_data(self, book: Spreadsheet, sheet: Sheet, r: int, c: int) -> dict[str, Any]:
        cell = sheet.cells.get((r, c))
        if cell is None:
            return {}
        out: dict[str, Any] = {}
        if not cell.empty:
            out["userEnteredValue"] = extended_value(cell.value, cell.formula)
            eff = book.effective(sheet, r, c)
            out["effectiveValue"] = extended_value(eff, None)
            out["formattedValue"] = render_value(eff, cell, "FORMATTED_VALUE", "SERIAL_NUMBER")
        if cell.fmt:
            out["userEnteredFormat"] = cell.fmt
        if cell.validation:
            out["dataValidation"] = cell.validation
        if cell.note:
            out["note"] = cell.note
        return out

    def _create(self, request: Request, _key: None) -> dict[str, Any]:
        body = request.get_json(force=True, silent=True) or {}
        key = "k" + uuid.uuid4().hex[:20]
        title = body.get("properties", {}).get("title", "Untitled spreadsheet")
        book = Spreadsheet(key, title, shared_with=None)
        book.locale = body.get("properties", {}).get("locale", "en_US")
        for i, spec in enumerate(body.get("sheets") or [{}]):
            props = spec.get("properties", {})
            s = Sheet(int(props.get("sheetId", next(self._ids))), props.get("title", f"Sheet{i + 1}"), i)
            gp = props.get("gridProperties", {})
            s.row_count = gp.get("rowCount", 1000)
            s.column_count = gp.get("columnCount", 26)
            s.frozen_rows = gp.get("frozenRowCount", 0)
            book.sheets.append(s)
        owner = self._identity(request)
        book.shared_with = {owner}
        book.permissions.append({"type": "user", "role": "owner", "emailAddress": owner})
        self.books[key] = book
        return self._spreadsheet_json(book, [], False)

    # ---- values

    def _values_get(self, request: Request, key: str, rng: str) -> dict[str, Any]:
        return self._read_range(self.books[key], rng, request.args)

    def _values_batch_get(self, request: Request, key: str) -> dict[str, Any]:
        book = self.books[key]
        ranges = request.args.getlist("ranges")
        return {"spreadsheetId": key, "valueRanges": [self._read_range(book, r, request.args) for r in ranges]}

    def _read_range(self, book: Spreadsheet, rng: str, args: Any) -> dict[str, Any]:
        g = resolve_a1(book, rng)
        return self._grid_values(book, g, args)

    def _grid_values(self, book: Spreadsheet, g: GridRange, args: Any) -> dict[str, Any]:
        render = args.get("valueRenderOption", "FORMATTED_VALUE")
        dates = args.get("dateTimeRenderOption", "SERIAL_NUMBER")
        major = args.get("majorDimension", "ROWS")
        rows = []
        for r in range(g.r0, g.r1):
            row = []
            for c in range(g.c0, g.c1):
                cell = g.sheet.cells.get((r, c))
                if cell is None or cell.empty:
                    row.append("")
                    continue
                if render == "FORMULA" and cell.formula:
                    row.append(cell.formula)
                    continue
                row.append(render_value(book.effective(g.sheet, r, c), cell, render, dates))
            while row and row[-1] == "":
                row.pop()
            rows.append(row)
        while rows and not rows[-1]:
            rows.pop()
        if major == "COLUMNS":
            width = max((len(r) for r in rows), default=0)
            cols = [[r[i] if i < len(r) else "" for r in rows] for i in range(width)]
            for col in cols:
                while col and col[-1] == "":
                    col.pop()
            rows = cols
        out: dict[str, Any] = {"range": g.a1(), "majorDimension": major}
        if rows:
            out["values"] = rows
        return out

    def _write(
        self, g: GridRange, values: list[list[Any]], mode: str, major: str = "ROWS", exact: bool = True
    ) -> dict[str, Any]:
        if major == "COLUMNS":
            width = max((len(v) for v in values), default=0)
            values = [[col[i] if i < len(col) else None for col in values] for i in range(width)]
        if mode not in ("RAW", "USER_ENTERED"):
            raise ApiError(400, "Invalid valueInputOption: " + str(mode))
        if exact and (len(values) > g.r1 - g.r0 or any(len(v) > g.c1 - g.c0 for v in values)):
            raise ApiError(400, f"Requested writing within range [{g.a1()}], but tried writing beyond it")
        updated = 0
        for i, row in enumerate(values):
            for j, value in enumerate(row):
                if value is None:
                    continue  # Null values are skipped (documented).
                r, c = g.r0 + i, g.c0 + j
                if r >= g.sheet.row_count or c >= g.sheet.column_count:
                    raise ApiError(
                        400,
                        f"Range exceeds grid limits. Max rows: "
                        f"{g.sheet.row_count}, max columns: "
                        f"{g.sheet.column_count}",
                    )
                old = g.sheet.cells.get((r, c))
                cell = Cell(fmt=dict(old.fmt) if old else {}, validation=old.validation if old else None)
                if isinstance(value, str) and mode == "USER_ENTERED":
                    v, formula, nf = parse_user_entered(value)
                    cell.value, cell.formula = v, formula
                    if nf:
                        cell.fmt["numberFormat"] = nf
                elif isinstance(value, bool | str):
                    cell.value = value if value != "" else None
                elif isinstance(value, int | float):
                    cell.value = float(value)
                else:
                    raise ApiError(400, f"Invalid value at 'data.values' ({value!r})")
                g.sheet.cells[(r, c)] = cell
                updated += 1
        return {
            "updatedRange": g.a1(),
            "updatedRows": len(values),
            "updatedColumns": max((len(v) for v in values), default=0),
            "updatedCells": updated,
        }

    def _values_update(self, request: Request, key: str, rng: str) -> dict[str, Any]:
        book = self.books[key]
        body = request.get_json(force=True)
        g = resolve_a1(book, rng)
        _, cells = split_a1(rng)
        single = bool(re.fullmatch(r"\$?[A-Za-z]+\$?\d+", cells))
        if single:  # A single cell as the range anchors a block of any size.
            g = GridRange(g.sheet, g.r0, g.sheet.row_count, g.c0, g.sheet.column_count)
        result = self._write(
            g, body.get("values", []), request.args.get("valueInputOption"), body.get("majorDimension", "ROWS")
        )
        return {"spreadsheetId": key, **result}

    def _values_batch_update(self, request: Request, key: str) -> dict[str, Any]:
        book = self.books[key]
        body = request.get_json(force=True)
        snapshot = copy.deepcopy(book.sheets)
        try:
            responses = []
            for vr in body.get("data", []):
                g = resolve_a1(book, vr["range"])
                _, cells = split_a1(vr["range"])
                if re.fullmatch(r"\$?[A-Za-z]+\$?\d+", cells):
                    g = GridRange(g.sheet, g.r0, g.sheet.row_count, g.c0, g.sheet.column_count)
                responses.append(
                    self._write(g, vr.get("values", []), body.get("valueInputOption"), vr.get("majorDimension", "ROWS"))
                )
        except ApiError:
            book.sheets = snapshot
            raise
        return {
            "spreadsheetId": key,
            "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
            "responses": responses,
        }

    def _values_append(self, request: Request, key: str, rng: str) -> dict[str, Any]:
        book = self.books[key]
        body = request.get_json(force=True)
        g = resolve_a1(book, rng)
        values = body.get("values", [])
        last = -1
        for (r, c), cell in g.sheet.cells.items():
            if not cell.empty and g.c0 <= c < g.c1 and r >= g.r0:
                last = max(last, r)
        start = max(last + 1, g.r0)
        need = start + len(values)
        if request.args.get("insertDataOption") == "INSERT_ROWS":
            shift_rows(book, g.sheet, start, len(values))
        if need > g.sheet.row_count:
            g.sheet.row_count = need
        target = GridRange(g.sheet, start, need, g.c0, g.sheet.column_count)
        result = self._write(target, values, request.args.get("valueInputOption"))
        return {"spreadsheetId": key, "tableRange": g.a1(), "updates": result}

    def _filter_ranges(self, book: Spreadsheet, f: dict[str, Any]) -> list[GridRange]:
        if "a1Range" in f:
            return [resolve_a1(book, f["a1Range"])]
        if "gridRange" in f:
            return [resolve_grid(book, f["gridRange"])]
        look = f.get("developerMetadataLookup")
        if look is None:
            raise ApiError(400, "Invalid dataFilter: one of a1Range, gridRange or developerMetadataLookup is required")
        out = []
        for m in self._lookup(book, look):
            loc = m["location"]
            kind = loc["locationType"]
            if kind in ("ROW", "COLUMN"):
                d = loc["dimensionRange"]
                s = book.sheet_by_id(d["sheetId"])
                if kind == "ROW":
                    out.append(GridRange(s, d["startIndex"], d["endIndex"], 0, s.column_count))
                else:
                    out.append(GridRange(s, 0, s.row_count, d["startIndex"], d["endIndex"]))
            elif kind == "SHEET":
                s = book.sheet_by_id(loc["sheetId"])
                out.append(GridRange(s, 0, s.row_count, 0, s.column_count))
        return out

    def _lookup(self, book: Spreadsheet, look: dict[str, Any]) -> list[dict[str, Any]]:
        found = []
        for m in book.metadata:
            if "metadataId" in look and m["metadataId"] != look["metadataId"]:
                continue
            if "metadataKey" in look and m["metadataKey"] != look["metadataKey"]:
                continue
            if "metadataValue" in look and m.get("metadataValue") != look["metadataValue"]:
                continue
            if "locationType" in look and m["location"]["locationType"] != look["locationType"]:
                continue
            loc = look.get("metadataLocation")
            # Documented default: INTERSECTING_LOCATION (rows of a sheet intersect the sheet).
            exact = look.get("locationMatchingStrategy") == "EXACT_LOCATION"
            if loc and "sheetId" in loc:
                if meta_sheet(m) != loc["sheetId"]:
                    continue
                if exact and m["location"]["locationType"] != "SHEET":
                    continue
            if loc and loc.get("spreadsheet") and exact and m["location"]["locationType"] != "SPREADSHEET":
                continue
            found.append(m)
        return found

    def _values_update_by_filter(self, request: Request, key: str) -> dict[str, Any]:
        book = self.books[key]
        body = request.get_json(force=True)
        snapshot = copy.deepcopy(book.sheets)
        responses = []
        try:
            for item in body.get("data", []):
                for g in self._filter_ranges(book, item.get("dataFilter", {})):
                    _, cells = split_a1(item["dataFilter"].get("a1Range", "x!A1:A1"))
                    if re.fullmatch(r"\$?[A-Za-z]+\$?\d+", cells):
                        g = GridRange(g.sheet, g.r0, g.sheet.row_count, g.c0, g.sheet.column_count)
                    result = self._write(
                        g, item.get("values", []), body.get("valueInputOption"), item.get("majorDimension", "ROWS")
                    )
                    response = {**result, "dataFilter": item["dataFilter"]}
                    if body.get("includeValuesInResponse"):
                        # Documented: the values of the whole requested range, after the write.
                        args = {
                            "valueRenderOption": body.get("responseValueRenderOption", "FORMATTED_VALUE"),
                            "dateTimeRenderOption": body.get("responseDateTimeRenderOption", "SERIAL_NUMBER"),
                        }
                        response["updatedData"] = self._grid_values(book, g, args)
                    responses.append(response)
        except ApiError:
            book.sheets = snapshot
            raise
        return {
            "spreadsheetId": key,
            "responses": responses,
            "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
        }

    def _values_get_by_filter(self, request: Request, key: str) -> dict[str, Any]:
        book = self.books[key]
        body = request.get_json(force=True)
        out = []
        for f in body.get("dataFilters", []):
            for g in self._filter_ranges(book, f):
                out.append({"valueRange": self._grid_values(book, g, body), "dataFilters": [f]})
        return {"spreadsheetId": key, "valueRanges": out}

    def _metadata_search(self, request: Request, key: str) -> dict[str, Any]:
        book = self.books[key]
        body = request.get_json(force=True)
        found = []
        for f in body.get("dataFilters", []):
            look = f.get("developerMetadataLookup")
            if look is None:
                raise ApiError(400, "developerMetadata.search needs developerMetadataLookup")
            found += [{"developerMetadata": m, "dataFilters": [f]} for m in self._lookup(book, look)]
        return {"matchedDeveloperMetadata": found} if found else {}

    # ---- Drive

    def _drive_list(self, request: Request, _key: None) -> dict[str, Any]:
        q = request.args.get("q", "")
        identity = self._identity(request)
        clauses = [c.strip() for c in re.split(r"\band\b", q) if c.strip()]
        files = []
        for book in self.books.values():
            if book.shared_with is not None and identity not in book.shared_with:
                continue
            ok = True
            for c in clauses:
                m = re.fullmatch(r"['\"]([^'\"]+)['\"]\s+in\s+parents", c) or re.fullmatch(
                    r"parents\s+in\s+['\"]([^'\"]+)['\"]", c
                )
                if m:
                    ok &= m.group(1) in book.parents
                    continue
                m = re.fullmatch(r"mimeType\s*=\s*['\"]([^'\"]+)['\"]", c)
                if m:
                    ok &= m.group(1) == SHEETS_MIME
                    continue
                m = re.fullmatch(r"name\s*=\s*['\"]([^'\"]+)['\"]", c)
                if m:
                    ok &= m.group(1) == book.title
                    continue
                if re.fullmatch(r"trashed\s*=\s*false", c):
                    continue
                raise ApiError(400, f"Invalid Value: q ({c})")
            if ok:
                files.append({"kind": "drive#file", "id": book.key, "name": book.title, "mimeType": SHEETS_MIME})
        files.sort(key=lambda f: f["name"])
        size = int(request.args.get("pageSize", 100))
        start = int(request.args.get("pageToken") or 0)
        page = files[start : start + size]
        body: dict[str, Any] = {"kind": "drive#fileList", "files": page}
        if start + size < len(files):
            body["nextPageToken"] = str(start + size)
        return apply_fields(body, parse_fields(request.args.get("fields", "")))

    def _drive_revisions(self, request: Request, key: str) -> dict[str, Any]:
        """Drive v3 revisions.list: revisions oldest first, paged (pageSize 1..1000, default 200), each with
        lastModifyingUser (a User: displayName, emailAddress, me = whether it is the caller)."""
        identity = self._identity(request)
        size = int(request.args.get("pageSize", 200))
        if not 1 <= size <= 1000:
            raise ApiError(400, "Invalid value for: pageSize")
        start = int(request.args.get("pageToken") or 0)
        items = [
            {"kind": "drive#revision", "id": str(i + 1), "mimeType": SHEETS_MIME, "modifiedTime": when,
             "lastModifyingUser": {"kind": "drive#user", "displayName": name, "emailAddress": email,
                                   "me": email == identity}}
            for i, (when, name, email) in enumerate(self.books[key].revisions)
        ]
        body: dict[str, Any] = {"kind": "drive#revisionList", "revisions": items[start : start + size]}
        if start + size < len(items):
            body["nextPageToken"] = str(start + size)
        return apply_fields(body, parse_fields(request.args.get("fields", "")))

    def _drive_permission(self, request: Request, key: str) -> dict[str, Any]:
        body = request.get_json(force=True)
        book = self.books[key]
        if body.get("type") not in ("user", "group", "domain", "anyone"):
            raise ApiError(400, "Invalid permission type")
        if body.get("role") not in ("owner", "writer", "commenter", "reader"):
            raise ApiError(400, "Invalid permission role")
        perm = {"kind": "drive#permission", "id": uuid.uuid4().hex[:10], **body}
        book.permissions.append(perm)
        if book.shared_with is not None and body.get("emailAddress"):
            book.shared_with.add(body["emailAddress"])
        return perm


# ---------------------------------------------------------------- helpers


def _jwt_claims(assertion: str) -> dict[str, Any]:
    parts = assertion.split(".")
    if len(parts) != 3:
        return {}
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return {}
    if header.get("alg") != "RS256" or not parts[2]:
        return {}
    return dict(claims)


def _oauth_error(code: str, description: str) -> Response:
    return Response(
        json.dumps({"error": code, "error_description": description}), status=400, mimetype="application/json"
    )


# ---------------------------------------------------------------- serving


class _QuietHandler(WSGIRequestHandler):
    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, delayed ACKs add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class EmulatorServer:
    """The emulator served over HTTP on 127.0.0.1 in a background thread."""

    def __init__(self, emulator: GoogleEmulator | None = None) -> None:
        self.emulator = emulator or GoogleEmulator()
        self._server = make_server("127.0.0.1", 0, self.emulator.app, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self.emulator.base_url = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> EmulatorServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def service_account_key(
    tmp_dir: Any, token_uri: str, email: str = "okr-sync@test-project.iam.gserviceaccount.com"
) -> Any:
    """Write a fresh service-account key file (a real RSA key) whose token_uri is the emulator."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": uuid.uuid4().hex,
        "private_key": pem,
        "client_email": email,
        "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    path = tmp_dir / f"key-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(info), encoding="utf-8")
    return path
