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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

SHEETS_MIME = "application/vnd.google-apps.spreadsheet"
EPOCH = dt.datetime(1899, 12, 30)
ERROR_TYPES = {
    "#DIV/0!": "DIVIDE_BY_ZERO",
    "#VALUE!": "VALUE",
    "#REF!": "REF",
    "#NAME?": "NAME",
    "#NUM!": "NUM",
    "#N/A": "N_A",
    "#ERROR!": "ERROR",
    "#NULL!": "NULL_VALUE",
}
GOOGLE_TOKEN_AUD = "https://oauth2.googleapis.com/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
READ_METHODS = {
    "spreadsheets.get",
    "values.get",
    "values.batchGet",
    "values.batchGetByDataFilter",
    "developerMetadata.search",
}


class ApiError(Exception):
    """An error answered in Google's JSON error shape."""

    STATUS = {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED",
        500: "INTERNAL",
        503: "UNAVAILABLE",
    }

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def response(self) -> Response:
        body = {"error": {"code": self.code, "message": self.message, "status": self.STATUS.get(self.code, "UNKNOWN")}}
        return Response(json.dumps(body), status=self.code, mimetype="application/json")


# ---------------------------------------------------------------- cells, ranges, values


@dataclass
class Cell:
    """A cell: its entered value (or formula), its format and validation."""

    value: Any = None  # str, float, bool or None; errors are ErrorValue
    formula: str | None = None
    fmt: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] | None = None
    note: str | None = None

    @property
    def empty(self) -> bool:
        return self.value is None and self.formula is None


@dataclass(frozen=True)
class ErrorValue:
    code: str


def col_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def col_letters(n: int) -> str:
    out = ""
    while n > 0:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def quote_sheet(title: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title) and not re.fullmatch(r"[A-Za-z]{1,3}[0-9]+", title):
        return title
    return "'" + title.replace("'", "''") + "'"


def split_a1(text: str) -> tuple[str | None, str]:
    """'My Sheet'!A1:B2 -> ("My Sheet", "A1:B2"); Sheet1 -> ("Sheet1", "")."""
    text = text.strip()
    if text.startswith("'"):
        i, name = 1, ""
        while i < len(text):
            if text[i] == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    name += "'"
                    i += 2
                    continue
                rest = text[i + 1 :]
                if rest.startswith("!"):
                    return name, rest[1:]
                if rest == "":
                    return name, ""
                raise ApiError(400, f"Unable to parse range: {text}")
            name += text[i]
            i += 1
        raise ApiError(400, f"Unable to parse range: {text}")
    if "!" in text:
        name, _, cells = text.partition("!")
        return name, cells
    return None, text


_CELL = re.compile(r"^([A-Za-z]*)(\d*)$")


def parse_cells(cells: str) -> tuple[int, int | None, int, int | None]:
    """A1 cell part -> 0-based (row0, row1 exclusive or None, col0, col1 exclusive or None)."""
    if cells == "":
        return 0, None, 0, None
    parts = cells.split(":")
    if len(parts) > 2:
        raise ApiError(400, f"Unable to parse range: {cells}")
    m1 = _CELL.match(parts[0].replace("$", ""))
    m2 = _CELL.match(parts[-1].replace("$", ""))
    if not m1 or not m2 or (not m1.group(1) and not m1.group(2)):
        raise ApiError(400, f"Unable to parse range: {cells}")
    c1, r1, c2, r2 = m1.group(1), m1.group(2), m2.group(1), m2.group(2)
    if len(parts) == 1 and (not c1 or not r1):
        raise ApiError(400, f"Unable to parse range: {cells}")
    row0 = int(r1) - 1 if r1 else 0
    col0 = col_index(c1) - 1 if c1 else 0
    row1 = int(r2) if r2 else None
    col1 = col_index(c2) if c2 else None
    if r1 == "" and r2 != "" and len(parts) == 2 and c1:
        row1 = int(r2)
    if row0 < 0 or col0 < 0:
        raise ApiError(400, f"Unable to parse range: {cells}")
    return row0, row1, col0, col1


def to_serial(value: dt.date | dt.datetime) -> float:
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    delta = value - EPOCH
    return delta.days + delta.seconds / 86400


def from_serial(serial: float) -> dt.datetime:
    return EPOCH + dt.timedelta(days=serial)


def parse_user_entered(text: str) -> tuple[Any, str | None, dict[str, Any]]:
    """USER_ENTERED parsing of a string: (value, formula, numberFormat) as the Sheets UI does."""
    if text.startswith("'"):
        return text[1:], None, {}
    if text.startswith("=") and len(text) > 1:
        return None, text, {}
    s = text.strip()
    if s.upper() in ("TRUE", "FALSE"):
        return s.upper() == "TRUE", None, {}
    if s in ERROR_TYPES:
        return ErrorValue(s), None, {}
    m = re.fullmatch(r"([-+]?)\$?([\d,]*\.?\d+)(%?)", s)
    if m and (m.group(2).replace(",", "").replace(".", "", 1).isdigit()):
        num = float(m.group(2).replace(",", "")) * (-1 if m.group(1) == "-" else 1)
        if m.group(3):
            return num / 100, None, {"type": "PERCENT", "pattern": "0%"}
        if "$" in s:
            return num, None, {"type": "CURRENCY", "pattern": "$#,##0.00"}
        return num, None, {}
    m = re.fullmatch(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})", s)
    if m:
        try:
            d = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return text, None, {}
        return to_serial(d), None, {"type": "DATE", "pattern": "yyyy-mm-dd"}
    return text, None, {}


def json_number(v: float) -> int | float:
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def format_number(v: float, fmt: dict[str, Any]) -> str:
    kind = fmt.get("type", "")
    pattern = fmt.get("pattern", "")
    decimals = len(pattern.split(".")[1].rstrip("%")) if "." in pattern else 0
    if kind == "PERCENT":
        return f"{v * 100:.{decimals}f}%"
    if kind in ("DATE", "DATE_TIME"):
        d = from_serial(v)
        return d.strftime("%Y-%m-%d") if kind == "DATE" else d.strftime("%Y-%m-%d %H:%M:%S")
    if kind == "CURRENCY":
        return f"${v:,.2f}"
    if kind == "NUMBER" and pattern:
        return f"{v:,.{decimals}f}" if "," in pattern else f"{v:.{decimals}f}"
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.10g}"


# ---------------------------------------------------------------- formulas


class FormulaEval:
    """A tiny evaluator: numbers, strings, cell references, + - * / and SUM/AVERAGE/ROUND."""

    TOKEN = re.compile(
        r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>\"[^\"]*\")|"
        r"(?P<ref>(?:'(?:[^']|'')+'!|[A-Za-z_][A-Za-z0-9_]*!)?\$?[A-Za-z]{1,3}\$?\d+"
        r"(?::\$?[A-Za-z]{1,3}\$?\d+)?)|(?P<fn>[A-Za-z]+)\(|(?P<op>[-+*/(),]))"
    )

    def __init__(self, book: Spreadsheet, sheet: Sheet, depth: int = 0) -> None:
        self.book, self.sheet, self.depth = book, sheet, depth

    def evaluate(self, formula: str) -> Any:
        if self.depth > 50:
            return ErrorValue("#REF!")
        try:
            self.tokens = self._tokenize(formula[1:])
            self.pos = 0
            result = self._expr()
            if self.pos != len(self.tokens):
                return ErrorValue("#ERROR!")
            if isinstance(result, list):
                result = result[0] if result else None
            return result
        except ZeroDivisionError:
            return ErrorValue("#DIV/0!")
        except _FormulaError as e:
            return ErrorValue(e.code)

    def _tokenize(self, text: str) -> list[tuple[str, str]]:
        out, pos = [], 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = self.TOKEN.match(text, pos)
            if not m:
                raise _FormulaError("#ERROR!")
            kind = m.lastgroup or ""
            out.append((kind, m.group(kind)))
            pos = m.end()
        return out

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _expr(self) -> Any:
        left = self._term()
        while (t := self._peek()) and t[1] in "+-" and t[0] == "op":
            self.pos += 1
            right = self._term()
            a, b = self._num(left), self._num(right)
            left = a + b if t[1] == "+" else a - b
        return left

    def _term(self) -> Any:
        left = self._atom()
        while (t := self._peek()) and t[0] == "op" and t[1] in "*/":
            self.pos += 1
            right = self._atom()
            a, b = self._num(left), self._num(right)
            left = a * b if t[1] == "*" else a / b
        return left

    def _atom(self) -> Any:
        t = self._peek()
        if t is None:
            raise _FormulaError("#ERROR!")
        self.pos += 1
        kind, text = t
        if kind == "num":
            return float(text)
        if kind == "str":
            return text[1:-1]
        if kind == "op" and text == "-":
            return -self._num(self._atom())
        if kind == "op" and text == "(":
            value = self._expr()
            self._expect(")")
            return value
        if kind == "ref":
            return self._ref(text)
        if kind == "fn":
            args = []
            if not (self._peek() and self._peek() == ("op", ")")):
                args.append(self._expr())
                while self._peek() == ("op", ","):
                    self.pos += 1
                    args.append(self._expr())
            self._expect(")")
            return self._call(text.upper(), args)
        raise _FormulaError("#ERROR!")

    def _expect(self, op: str) -> None:
        if self._peek() != ("op", op):
            raise _FormulaError("#ERROR!")
        self.pos += 1

    def _ref(self, text: str) -> Any:
        name, cells = split_a1(text) if "!" in text else (None, text)
        sheet = self.book.sheet_by_title(name) if name else self.sheet
        if sheet is None:
            raise _FormulaError("#REF!")
        r0, r1, c0, c1 = parse_cells(cells.replace("$", ""))
        values = []
        for r in range(r0, r1 if r1 is not None else r0 + 1):
            for c in range(c0, c1 if c1 is not None else c0 + 1):
                values.append(self.book.effective(sheet, r, c, self.depth + 1))
        for v in values:
            if isinstance(v, ErrorValue):
                raise _FormulaError(v.code)
        return values if ":" in cells else values[0]

    def _call(self, fn: str, args: list[Any]) -> Any:
        flat: list[Any] = []
        for a in args:
            flat.extend(a if isinstance(a, list) else [a])
        nums = [float(v) for v in flat if isinstance(v, int | float) and not isinstance(v, bool)]
        if fn == "SUM":
            return sum(nums)
        if fn == "AVERAGE":
            return sum(nums) / len(nums)
        if fn == "ROUND":
            digits = int(self._num(args[1])) if len(args) > 1 else 0
            value = self._num(args[0])
            q = 10**digits
            return float(int(abs(value) * q + 0.5 + 1e-9)) / q * (1 if value >= 0 else -1)
        raise _FormulaError("#NAME?")

    @staticmethod
    def _num(v: Any) -> float:
        if isinstance(v, list):
            v = v[0] if v else None
        if v is None or v == "":
            return 0.0
        if isinstance(v, bool):
            return 1.0 if v else 0.0
        if isinstance(v, int | float):
            return float(v)
        raise _FormulaError("#VALUE!")


class _FormulaError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# ---------------------------------------------------------------- the spreadsheet model


@dataclass
class Sheet:
    """One sheet (tab): properties, cells, and what hangs off it."""

    sheet_id: int
    title: str
    index: int = 0
    row_count: int = 1000
    column_count: int = 26
    frozen_rows: int = 0
    frozen_cols: int = 0
    hidden: bool = False
    tab_color: dict[str, Any] | None = None
    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)
    protected: list[dict[str, Any]] = field(default_factory=list)
    conditional: list[dict[str, Any]] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)
    col_widths: dict[int, int] = field(default_factory=dict)

    def properties(self) -> dict[str, Any]:
        grid: dict[str, Any] = {"rowCount": self.row_count, "columnCount": self.column_count}
        if self.frozen_rows:
            grid["frozenRowCount"] = self.frozen_rows
        if self.frozen_cols:
            grid["frozenColumnCount"] = self.frozen_cols
        props: dict[str, Any] = {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": self.index,
            "sheetType": "GRID",
            "gridProperties": grid,
        }
        if self.hidden:
            props["hidden"] = True
        if self.tab_color:
            props["tabColor"] = self.tab_color
        return props

    def used_extent(self) -> tuple[int, int]:
        """(rows, cols) up to the last non-empty cell."""
        rows = cols = 0
        for (r, c), cell in self.cells.items():
            if not cell.empty:
                rows, cols = max(rows, r + 1), max(cols, c + 1)
        return rows, cols


@dataclass
class Spreadsheet:
    """A spreadsheet file: sheets, metadata, Drive parents and permissions."""

    key: str
    title: str
    sheets: list[Sheet] = field(default_factory=list)
    metadata: list[dict[str, Any]] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    # Emails allowed to open it; None = anyone with a token.
    shared_with: set[str] | None = None
    permissions: list[dict[str, Any]] = field(default_factory=list)
    locale: str = "en_US"
    time_zone: str = "Etc/GMT"

    def sheet_by_title(self, title: str | None) -> Sheet | None:
        for s in self.sheets:
            if s.title == title:
                return s
        # The API matches sheet names in ranges case-insensitively.
        for s in self.sheets:
            if title is not None and s.title.casefold() == title.casefold():
                return s
        return None

    def sheet_by_id(self, sheet_id: int) -> Sheet:
        for s in self.sheets:
            if s.sheet_id == sheet_id:
                return s
        raise ApiError(400, f"Invalid requests: No grid with id: {sheet_id}")

    def reindex(self) -> None:
        self.sheets.sort(key=lambda s: s.index)
        for i, s in enumerate(self.sheets):
            s.index = i

    def effective(self, sheet: Sheet, r: int, c: int, depth: int = 0) -> Any:
        cell = sheet.cells.get((r, c))
        if cell is None:
            return None
        if cell.formula:
            return FormulaEval(self, sheet, depth).evaluate(cell.formula)
        return cell.value

    def url(self) -> str:
        return f"https://docs.google.com/spreadsheets/d/{self.key}/edit"


@dataclass
class GridRange:
    sheet: Sheet
    r0: int
    r1: int
    c0: int
    c1: int

    def a1(self) -> str:
        end_r = max(self.r1, self.r0 + 1)
        end_c = max(self.c1, self.c0 + 1)
        start = f"{col_letters(self.c0 + 1)}{self.r0 + 1}"
        end = f"{col_letters(end_c)}{end_r}"
        return f"{quote_sheet(self.sheet.title)}!{start}" + ("" if start == end else f":{end}")


def resolve_a1(book: Spreadsheet, text: str) -> GridRange:
    """Resolve an A1 range (quoted names, whole sheets, whole columns or rows) against a book."""
    name, cells = split_a1(text)
    if name is None:
        candidate = book.sheet_by_title(cells)
        if candidate is not None:
            name, cells = candidate.title, ""
        else:
            name = book.sheets[0].title
    sheet = book.sheet_by_title(name)
    if sheet is None:
        raise ApiError(400, f"Unable to parse range: {text}")
    r0, r1, c0, c1 = parse_cells(cells)
    r1 = sheet.row_count if r1 is None else r1
    c1 = sheet.column_count if c1 is None else c1
    if r0 >= sheet.row_count or c0 >= sheet.column_count:
        raise ApiError(
            400,
            f"Range ({text}) exceeds grid limits. Max rows: {sheet.row_count}, max columns: {sheet.column_count}",
        )
    return GridRange(sheet, r0, min(r1, sheet.row_count), c0, min(c1, sheet.column_count))


def resolve_grid(book: Spreadsheet, g: dict[str, Any]) -> GridRange:
    sheet = book.sheet_by_id(int(g.get("sheetId", 0)))
    return GridRange(
        sheet,
        int(g.get("startRowIndex", 0)),
        int(g.get("endRowIndex", sheet.row_count)),
        int(g.get("startColumnIndex", 0)),
        int(g.get("endColumnIndex", sheet.column_count)),
    )


# ---------------------------------------------------------------- field masks


def parse_fields(mask: str) -> dict[str, Any]:
    """'a,b(c,d),e.f' -> {'a': {}, 'b': {'c': {}, 'd': {}}, 'e': {'f': {}}}; {} means all."""
    tree: dict[str, Any] = {}
    pos = 0

    def parse_list(node: dict[str, Any]) -> None:
        nonlocal pos
        while pos < len(mask):
            m = re.match(r"\s*([A-Za-z_*][A-Za-z0-9_.*]*)\s*", mask[pos:])
            if not m:
                raise ApiError(400, f"Invalid field selection {mask}")
            pos += m.end()
            target = node
            for part in m.group(1).split("."):
                target = target.setdefault(part, {})
            if pos < len(mask) and mask[pos] == "(":
                pos += 1
                parse_list(target)
                if pos >= len(mask) or mask[pos] != ")":
                    raise ApiError(400, f"Invalid field selection {mask}")
                pos += 1
            if pos < len(mask) and mask[pos] == ",":
                pos += 1
                continue
            return

    parse_list(tree)
    return tree


def apply_fields(value: Any, tree: dict[str, Any]) -> Any:
    if not tree or "*" in tree:
        return value
    if isinstance(value, list):
        return [apply_fields(v, tree) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, sub in tree.items():
            if key in value:
                out[key] = apply_fields(value[key], sub)
        return out
    return value


def mask_wants(tree: dict[str, Any], *path: str) -> bool:
    node = tree
    for part in path:
        if not node or "*" in node:
            return True
        if part not in node:
            return False
        node = node[part]
    return True


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


class GoogleEmulator:
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

    def set_cell(self, key: str, sheet: str, a1: str, value: Any) -> None:
        with self.lock:
            book = self.books[key]
            g = resolve_a1(book, f"{quote_sheet(sheet)}!{a1}")
            g.sheet.cells[(g.r0, g.c0)] = self._python_cell(value)

    def fail(self, method: str | None, status: int = 503, times: int = 1, spreadsheet: str | None = None) -> None:
        self.faults.append(Fault(method, status, times, spreadsheet=spreadsheet))

    def slow(self, method: str | None, delay: float, times: int = 1) -> None:
        self.faults.append(Fault(method, None, times, delay))

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
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.status:
            raise ApiError(fault.status, "The service is currently unavailable.")
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
        return Response(json.dumps(body), mimetype="application/json")

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
            item: dict[str, Any] = {"properties": s.properties()}
            meta = [
                m for m in book.metadata if _meta_sheet(m) == s.sheet_id and m["location"]["locationType"] == "SHEET"
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
            out["userEnteredValue"] = _extended(cell.value, cell.formula)
            eff = book.effective(sheet, r, c)
            out["effectiveValue"] = _extended(eff, None)
            out["formattedValue"] = _render(eff, cell, "FORMATTED_VALUE", "SERIAL_NUMBER")
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
                row.append(_render(book.effective(g.sheet, r, c), cell, render, dates))
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
            _shift_rows(book, g.sheet, start, len(values))
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
                if _meta_sheet(m) != loc["sheetId"]:
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

    # ---- spreadsheets.batchUpdate (all or nothing)

    def _sheets_batch_update(self, request: Request, key: str) -> dict[str, Any]:
        book = self.books[key]
        body = request.get_json(force=True)
        replies = self._batch_update(book, body.get("requests", []))
        return {"spreadsheetId": key, "replies": replies}

    def _batch_update(self, book: Spreadsheet, requests: list[dict[str, Any]]) -> list[Any]:
        work = copy.deepcopy(book)
        replies = []
        for i, req in enumerate(requests):
            if len(req) != 1:
                raise ApiError(400, f"Invalid requests[{i}]: exactly one request kind expected")
            ((kind, spec),) = req.items()
            handler = getattr(self, f"_req_{kind}", None)
            if handler is None:
                raise ApiError(
                    400,
                    f"Invalid JSON payload received. Unknown name \"{kind}\" at 'requests[{i}]': Cannot find field.",
                )
            try:
                replies.append(handler(work, spec) or {})
            except ApiError as e:
                raise ApiError(e.code, f"Invalid requests[{i}].{kind}: {e.message}") from None
            except (KeyError, TypeError, ValueError) as e:
                raise ApiError(400, f"Invalid requests[{i}].{kind}: {e!r}") from None
        # Commit only when every request succeeded.
        book.__dict__.update(work.__dict__)
        return replies

    def _req_addSheet(self, book: Spreadsheet, spec: dict[str, Any]) -> dict[str, Any]:
        props = spec.get("properties", {})
        title = props.get("title") or f"Sheet{len(book.sheets) + 1}"
        if book.sheet_by_title(title) is not None and book.sheet_by_title(title).title.casefold() == title.casefold():
            raise ApiError(400, f'A sheet with the name "{title}" already exists. Please enter another name.')
        sheet_id = int(props.get("sheetId", next(self._ids)))
        if any(s.sheet_id == sheet_id for s in book.sheets):
            raise ApiError(400, f"A sheet with id {sheet_id} already exists")
        s = Sheet(sheet_id, title, int(props.get("index", len(book.sheets))))
        gp = props.get("gridProperties", {})
        s.row_count = gp.get("rowCount", 1000)
        s.column_count = gp.get("columnCount", 26)
        s.frozen_rows = gp.get("frozenRowCount", 0)
        s.frozen_cols = gp.get("frozenColumnCount", 0)
        s.tab_color = props.get("tabColor")
        for other in book.sheets:
            if other.index >= s.index:
                other.index += 1
        book.sheets.append(s)
        book.reindex()
        return {"addSheet": {"properties": s.properties()}}

    def _req_deleteSheet(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        s = book.sheet_by_id(spec["sheetId"])
        if len(book.sheets) == 1:
            raise ApiError(400, "You can't remove all the sheets in a document.")
        book.sheets.remove(s)
        book.metadata = [m for m in book.metadata if _meta_sheet(m) != s.sheet_id]
        book.reindex()

    def _req_updateSheetProperties(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        props = spec["properties"]
        s = book.sheet_by_id(props["sheetId"])
        fields = [f.strip() for f in spec.get("fields", "").split(",") if f.strip()]
        if not fields:
            raise ApiError(400, "At least one field must be updated, but 'fields' is empty")
        for f in fields:
            if f == "title":
                other = book.sheet_by_title(props["title"])
                if other is not None and other is not s and other.title.casefold() == props["title"].casefold():
                    raise ApiError(
                        400, f'A sheet with the name "{props["title"]}" already exists. Please enter another name.'
                    )
                s.title = props["title"]
            elif f == "index":
                target = props["index"]
                s.index = target + 0.5 if target > s.index else target - 0.5
                book.reindex()
            elif f == "gridProperties.frozenRowCount":
                s.frozen_rows = props["gridProperties"].get("frozenRowCount", 0)
            elif f == "gridProperties.frozenColumnCount":
                s.frozen_cols = props["gridProperties"].get("frozenColumnCount", 0)
            elif f == "hidden":
                s.hidden = bool(props.get("hidden"))
            elif f == "tabColor":
                s.tab_color = props.get("tabColor")
            else:
                raise ApiError(400, f"Unsupported field in updateSheetProperties: {f}")

    def _req_updateSpreadsheetProperties(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        if "title" in spec.get("fields", ""):
            book.title = spec["properties"]["title"]

    def _req_repeatCell(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        g = resolve_grid(book, spec["range"])
        for r in range(g.r0, g.r1):
            for c in range(g.c0, g.c1):
                self._set_cell_fields(g.sheet, r, c, spec.get("cell", {}), spec["fields"])

    def _set_cell_fields(self, sheet: Sheet, r: int, c: int, data: dict[str, Any], fields: str) -> None:
        if r >= sheet.row_count or c >= sheet.column_count:
            raise ApiError(400, "Range exceeds grid limits")
        cell = sheet.cells.get((r, c)) or Cell()
        for f in [f.strip() for f in fields.split(",") if f.strip()]:
            top = f.split(".")[0].split("(")[0]
            if top == "userEnteredValue":
                ev = data.get("userEnteredValue")
                cell.value, cell.formula = _from_extended(ev)
            elif top == "userEnteredFormat":
                fmt = data.get("userEnteredFormat", {})
                if f == "userEnteredFormat" or f == "*":
                    cell.fmt = copy.deepcopy(fmt)
                else:
                    path = f.split(".")[1:]
                    src, dst = fmt, cell.fmt
                    for part in path[:-1]:
                        src = src.get(part, {})
                        dst = dst.setdefault(part, {})
                    if path[-1] in src:
                        dst[path[-1]] = copy.deepcopy(src[path[-1]])
                    else:
                        dst.pop(path[-1], None)
            elif top == "dataValidation":
                cell.validation = data.get("dataValidation")
            elif top == "note":
                cell.note = data.get("note")
            elif top == "*":
                cell.value, cell.formula = _from_extended(data.get("userEnteredValue"))
                cell.fmt = copy.deepcopy(data.get("userEnteredFormat", {}))
                cell.validation = data.get("dataValidation")
            else:
                raise ApiError(400, f"Unsupported cell field: {f}")
        sheet.cells[(r, c)] = cell

    def _req_updateCells(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        if "start" in spec:
            st = spec["start"]
            sheet = book.sheet_by_id(st.get("sheetId", 0))
            r0, c0 = st.get("rowIndex", 0), st.get("columnIndex", 0)
        else:
            g = resolve_grid(book, spec["range"])
            sheet, r0, c0 = g.sheet, g.r0, g.c0
        for i, row in enumerate(spec.get("rows", [])):
            for j, data in enumerate(row.get("values", [])):
                self._set_cell_fields(sheet, r0 + i, c0 + j, data, spec["fields"])

    def _req_appendCells(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        sheet = book.sheet_by_id(spec["sheetId"])
        start, _ = sheet.used_extent()
        rows = spec.get("rows", [])
        sheet.row_count = max(sheet.row_count, start + len(rows))
        for i, row in enumerate(rows):
            for j, data in enumerate(row.get("values", [])):
                self._set_cell_fields(sheet, start + i, j, data, spec["fields"])

    def _req_setDataValidation(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        g = resolve_grid(book, spec["range"])
        rule = spec.get("rule")
        if rule is not None and "condition" not in rule:
            raise ApiError(400, "Data validation rule needs a condition")
        for r in range(g.r0, g.r1):
            for c in range(g.c0, g.c1):
                cell = g.sheet.cells.setdefault((r, c), Cell())
                cell.validation = rule

    def _req_addConditionalFormatRule(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        rule = spec["rule"]
        ranges = [resolve_grid(book, g) for g in rule["ranges"]]
        if "booleanRule" not in rule and "gradientRule" not in rule:
            raise ApiError(400, "Conditional format rule needs booleanRule or gradientRule")
        sheet = ranges[0].sheet
        sheet.conditional.insert(int(spec.get("index", 0)), rule)

    def _req_addProtectedRange(self, book: Spreadsheet, spec: dict[str, Any]) -> dict[str, Any]:
        pr = copy.deepcopy(spec["protectedRange"])
        g = resolve_grid(book, pr["range"])
        pr["protectedRangeId"] = next(self._ids)
        g.sheet.protected.append(pr)
        return {"addProtectedRange": {"protectedRange": pr}}

    def _req_addChart(self, book: Spreadsheet, spec: dict[str, Any]) -> dict[str, Any]:
        chart = copy.deepcopy(spec["chart"])
        anchor = chart.get("position", {}).get("overlayPosition", {}).get("anchorCell", {})
        sheet_id = anchor.get("sheetId", chart.get("position", {}).get("sheetId"))
        if sheet_id is None:
            raise ApiError(400, "Chart position needs a sheet")
        sheet = book.sheet_by_id(sheet_id)
        if anchor.get("rowIndex", 0) >= sheet.row_count or anchor.get("columnIndex", 0) >= sheet.column_count:
            raise ApiError(400, "Chart anchor cell is outside the sheet's grid")
        for src in _chart_sources(chart.get("spec", {})):
            resolve_grid(book, src)
        chart["chartId"] = next(self._ids)
        sheet.charts.append(chart)
        return {"addChart": {"chart": chart}}

    def _req_createDeveloperMetadata(self, book: Spreadsheet, spec: dict[str, Any]) -> dict[str, Any]:
        meta = copy.deepcopy(spec["developerMetadata"])
        loc = meta.get("location", {})
        if "dimensionRange" in loc:
            d = loc["dimensionRange"]
            s = book.sheet_by_id(d["sheetId"])
            limit = s.row_count if d["dimension"] == "ROWS" else s.column_count
            if not 0 <= d["startIndex"] < d["endIndex"] <= limit:
                raise ApiError(400, "Invalid dimensionRange for developer metadata")
            loc["locationType"] = "ROW" if d["dimension"] == "ROWS" else "COLUMN"
        elif "sheetId" in loc:
            book.sheet_by_id(loc["sheetId"])
            loc["locationType"] = "SHEET"
        elif loc.get("spreadsheet"):
            loc["locationType"] = "SPREADSHEET"
        else:
            raise ApiError(400, "Developer metadata needs a location")
        if "visibility" not in meta:
            raise ApiError(400, "Developer metadata needs a visibility")
        meta["metadataId"] = meta.get("metadataId") or next(self._meta_ids)
        if any(m["metadataId"] == meta["metadataId"] for m in book.metadata):
            raise ApiError(400, f"Metadata id {meta['metadataId']} already exists")
        book.metadata.append(meta)
        return {"createDeveloperMetadata": {"developerMetadata": meta}}

    def _req_updateDeveloperMetadata(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        targets = []
        for f in spec["dataFilters"]:
            targets += self._lookup(book, f["developerMetadataLookup"])
        new = spec["developerMetadata"]
        for m in targets:
            for f in spec["fields"].split(","):
                if f.strip() in ("metadataValue", "metadataKey", "visibility"):
                    m[f.strip()] = new.get(f.strip())

    def _req_deleteDeveloperMetadata(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        targets = self._lookup(book, spec["dataFilter"]["developerMetadataLookup"])
        ids = {m["metadataId"] for m in targets}
        book.metadata = [m for m in book.metadata if m["metadataId"] not in ids]

    def _req_insertDimension(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        r = spec["range"]
        s = book.sheet_by_id(r["sheetId"])
        n = r["endIndex"] - r["startIndex"]
        if r["dimension"] == "ROWS":
            _shift_rows(book, s, r["startIndex"], n)
        else:
            _shift_cols(book, s, r["startIndex"], n)

    def _req_appendDimension(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        s = book.sheet_by_id(spec["sheetId"])
        if spec["dimension"] == "ROWS":
            s.row_count += spec["length"]
        else:
            s.column_count += spec["length"]

    def _req_deleteDimension(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        r = spec["range"]
        s = book.sheet_by_id(r["sheetId"])
        n = r["endIndex"] - r["startIndex"]
        if r["dimension"] == "ROWS":
            _shift_rows(book, s, r["endIndex"], -n)
        else:
            _shift_cols(book, s, r["endIndex"], -n)

    def _req_moveDimension(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        src = spec["source"]
        if src["dimension"] != "ROWS":
            raise ApiError(400, "The emulator moves rows only")
        s = book.sheet_by_id(src["sheetId"])
        a, b, dest = src["startIndex"], src["endIndex"], spec["destinationIndex"]
        order = list(range(s.row_count))
        block = order[a:b]
        rest = order[:a] + order[b:]
        insert_at = dest if dest <= a else dest - (b - a)
        new_order = rest[:insert_at] + block + rest[insert_at:]
        old_to_new = {old: new for new, old in enumerate(new_order)}
        s.cells = {(old_to_new[r], c): cell for (r, c), cell in s.cells.items()}
        for m in book.metadata:
            d = m["location"].get("dimensionRange")
            if d and d["sheetId"] == s.sheet_id and d["dimension"] == "ROWS" and d["endIndex"] - d["startIndex"] == 1:
                d["startIndex"] = old_to_new[d["startIndex"]]
                d["endIndex"] = d["startIndex"] + 1

    def _req_sortRange(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        """Sort the values of a range. Row developer metadata stays where it is: the values move,
        the rows do not (the conservative reading; code must not rely on either)."""
        g = resolve_grid(book, spec["range"])
        rows = list(range(g.r0, g.r1))
        content = {r: {c: g.sheet.cells.get((r, c)) for c in range(g.c0, g.c1)} for r in rows}

        def sort_key(r: int) -> tuple[Any, ...]:
            out: list[Any] = []
            for s in spec.get("sortSpecs", []):
                cell = content[r].get(s.get("dimensionIndex", 0))
                value = book.effective(g.sheet, r, s.get("dimensionIndex", 0)) if cell else None
                text = "" if value is None else str(value)
                out.append((value is None, text))
            return tuple(out)

        order = sorted(rows, key=sort_key)
        descending = any(s.get("sortOrder") == "DESCENDING" for s in spec.get("sortSpecs", []))
        if descending:
            filled = [r for r in order if not sort_key(r)[0][0]]
            order = filled[::-1] + [r for r in order if r not in filled]
        for target, source in zip(rows, order, strict=True):
            for c in range(g.c0, g.c1):
                cell = content[source][c]
                if cell is None:
                    g.sheet.cells.pop((target, c), None)
                else:
                    g.sheet.cells[(target, c)] = cell

    def _req_updateDimensionProperties(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        r = spec["range"]
        s = book.sheet_by_id(r["sheetId"])
        if r["dimension"] == "COLUMNS" and "pixelSize" in spec["fields"]:
            for c in range(r["startIndex"], r["endIndex"]):
                s.col_widths[c] = spec["properties"]["pixelSize"]

    def _req_autoResizeDimensions(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        book.sheet_by_id(spec["dimensions"]["sheetId"])

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


def _meta_sheet(m: dict[str, Any]) -> int | None:
    loc = m["location"]
    if "sheetId" in loc:
        return int(loc["sheetId"])
    if "dimensionRange" in loc:
        return int(loc["dimensionRange"]["sheetId"])
    return None


def _shift_rows(book: Spreadsheet, s: Sheet, at: int, n: int) -> None:
    """Insert n rows before `at` (n > 0) or delete the -n rows before `at` (n < 0)."""
    if n < 0:
        lo = at + n
        s.cells = {(r, c): v for (r, c), v in s.cells.items() if not lo <= r < at}
        book.metadata = [
            m
            for m in book.metadata
            if not (_dim(m, s, "ROWS") and lo <= m["location"]["dimensionRange"]["startIndex"] < at)
        ]
    s.cells = {(r + n if r >= at else r, c): v for (r, c), v in s.cells.items()}
    for m in book.metadata:
        if _dim(m, s, "ROWS"):
            d = m["location"]["dimensionRange"]
            if d["startIndex"] >= at:
                d["startIndex"] += n
                d["endIndex"] += n
    for pr in s.protected:
        g = pr["range"]
        if "startRowIndex" in g and g["startRowIndex"] >= at:
            g["startRowIndex"] += n
            g["endRowIndex"] += n
    s.row_count += n


def _shift_cols(book: Spreadsheet, s: Sheet, at: int, n: int) -> None:
    if n < 0:
        lo = at + n
        s.cells = {(r, c): v for (r, c), v in s.cells.items() if not lo <= c < at}
    s.cells = {(r, c + n if c >= at else c): v for (r, c), v in s.cells.items()}
    for m in book.metadata:
        if _dim(m, s, "COLUMNS"):
            d = m["location"]["dimensionRange"]
            if d["startIndex"] >= at:
                d["startIndex"] += n
                d["endIndex"] += n
    s.column_count += n


def _dim(m: dict[str, Any], s: Sheet, dimension: str) -> bool:
    d = m["location"].get("dimensionRange")
    return bool(d and d["sheetId"] == s.sheet_id and d["dimension"] == dimension)


def _chart_sources(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    def walk(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if "sourceRange" in node:
                yield from node["sourceRange"].get("sources", [])
            for v in node.values():
                yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)

    return walk(spec)


def _extended(value: Any, formula: str | None) -> dict[str, Any]:
    if formula:
        return {"formulaValue": formula}
    if isinstance(value, ErrorValue):
        return {"errorValue": {"type": ERROR_TYPES.get(value.code, "ERROR"), "message": value.code}}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int | float):
        return {"numberValue": json_number(float(value))}
    if value is None:
        return {}
    return {"stringValue": str(value)}


def _from_extended(ev: dict[str, Any] | None) -> tuple[Any, str | None]:
    if not ev:
        return None, None
    if "formulaValue" in ev:
        return None, ev["formulaValue"]
    if "numberValue" in ev:
        return float(ev["numberValue"]), None
    if "boolValue" in ev:
        return bool(ev["boolValue"]), None
    if "stringValue" in ev:
        return ev["stringValue"], None  # Stored as text even when it starts with "=".
    if "errorValue" in ev:
        return ErrorValue(ev["errorValue"].get("message", "#ERROR!")), None
    raise ApiError(400, f"Invalid ExtendedValue {ev}")


def _render(value: Any, cell: Cell, render: str, dates: str) -> Any:
    if isinstance(value, ErrorValue):
        return value.code
    if value is None:
        return ""
    nf = cell.fmt.get("numberFormat", {})
    if render == "FORMATTED_VALUE":
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, float):
            return format_number(value, nf)
        return value
    if isinstance(value, float):
        if dates == "FORMATTED_STRING" and nf.get("type") in ("DATE", "DATE_TIME", "TIME"):
            return format_number(value, nf)
        return json_number(value)
    return value


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
