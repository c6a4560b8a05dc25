"""The emulator's model of a spreadsheet: cells, A1 ranges, values, formulas, field masks."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Response

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
    # Drive revisions, oldest first: (modifiedTime, the modifying user's display name, email).
    revisions: list[tuple[str, str, str]] = field(default_factory=list)
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


# ---------------------------------------------------------------- helpers


def meta_sheet(m: dict[str, Any]) -> int | None:
    loc = m["location"]
    if "sheetId" in loc:
        return int(loc["sheetId"])
    if "dimensionRange" in loc:
        return int(loc["dimensionRange"]["sheetId"])
    return None


def shift_rows(book: Spreadsheet, s: Sheet, at: int, n: int) -> None:
    """Insert n rows before `at` (n > 0) or delete the -n rows before `at` (n < 0)."""
    if n < 0:
        lo = at + n
        s.cells = {(r, c): v for (r, c), v in s.cells.items() if not lo <= r < at}
        book.metadata = [
            m
            for m in book.metadata
            if not (dim_of(m, s, "ROWS") and lo <= m["location"]["dimensionRange"]["startIndex"] < at)
        ]
    s.cells = {(r + n if r >= at else r, c): v for (r, c), v in s.cells.items()}
    for m in book.metadata:
        if dim_of(m, s, "ROWS"):
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


def shift_cols(book: Spreadsheet, s: Sheet, at: int, n: int) -> None:
    if n < 0:
        lo = at + n
        s.cells = {(r, c): v for (r, c), v in s.cells.items() if not lo <= c < at}
    s.cells = {(r, c + n if c >= at else c): v for (r, c), v in s.cells.items()}
    for m in book.metadata:
        if dim_of(m, s, "COLUMNS"):
            d = m["location"]["dimensionRange"]
            if d["startIndex"] >= at:
                d["startIndex"] += n
                d["endIndex"] += n
    s.column_count += n


def dim_of(m: dict[str, Any], s: Sheet, dimension: str) -> bool:
    d = m["location"].get("dimensionRange")
    return bool(d and d["sheetId"] == s.sheet_id and d["dimension"] == dimension)


def chart_sources(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
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


def extended_value(value: Any, formula: str | None) -> dict[str, Any]:
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


def from_extended(ev: dict[str, Any] | None) -> tuple[Any, str | None]:
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


def render_value(value: Any, cell: Cell, render: str, dates: str) -> Any:
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
