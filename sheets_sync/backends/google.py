"""Google Sheets backend: units' spreadsheets read and written in a few batched, quota-safe calls.

Per spreadsheet a sync makes one metadata read and one values read. Writing (only when something
changed) first looks at the ID column and the rows' developer metadata in one atomic call: each
row is bound to its ID by row metadata, which Google moves with the row when people insert,
delete or move rows. Every computed cell is then written in one values:batchUpdateByDataFilter
addressed by that metadata, never by row number, and the write's own answer shows the row each
figure landed on; should values have moved without their rows (a sort in that instant), the
figures are put right at once. A spreadsheets:batchUpdate is made only to bind new rows or to
create the History sheet."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ..core import schema
from ..core.model import CellValue, RawWorkbook, WorkbookChanges, column_letter
from ..errors import AuthError, ConfigError, OkrSyncError, QuotaError, RemoteError
from .google_client import (
    GoogleClient,
    Limits,
    _msg,
    cell_value,
    quote_sheet,
    raw_value,
    spreadsheet_key,
)
from .google_rollup import ROLLUP_KEYS, GoogleRollupTarget
from .google_template import create_spreadsheet

__all__ = [
    "GoogleBackend",
    "GoogleRollupTarget",
    "Limits",
    "ROW_KEY",
    "create_spreadsheet",
    "read_sources",
]

# Developer metadata key binding an OKRs row to its local ID.
ROW_KEY = "okr-sync.row"
_META_FIELDS = (
    "spreadsheetId,properties(title),sheets(properties(sheetId,title,index,gridProperties(rowCount,columnCount)))"
)
_SNAP_FIELDS = (
    "sheets(properties(sheetId,title),data(startRow,startColumn,rowData(values(effectiveValue)),"
    "rowMetadata(developerMetadata(metadataId,metadataKey,metadataValue))))"
)


@dataclass
class _SheetInfo:
    sheet_id: int
    title: str
    rows: int
    cols: int


@dataclass
class _Book:
    """What a read learned about a spreadsheet, for the write that follows."""

    key: str
    title: str
    sheets: dict[str, _SheetInfo]
    header_row: int | None = None  # 1-based header row of the OKRs sheet
    header_keys: dict[int, str] = field(default_factory=dict)  # 1-based column -> column key
    tokens: dict[int, str] = field(default_factory=dict)  # 0-based OKRs row -> binding token
    token_rows: dict[str, int] = field(default_factory=dict)  # binding token -> 0-based row
    okrs_grid: list[list[CellValue]] = field(default_factory=list)  # OKRs as read
    grid_rows: dict[str, int] = field(default_factory=dict)  # rows with data per sheet read


@dataclass
class _Snapshot:
    """One atomic look at the OKRs sheet: the ID of each row, our metadata on it, the header."""

    ids: dict[int, str]  # 0-based row -> binding token of the ID it carries
    meta: dict[int, list[tuple[int, str]]]  # 0-based row -> [(metadataId, value)]
    header: list[Any]

    def bound(self) -> dict[str, int]:
        """IDs whose metadata sits on exactly one row, that row carrying exactly that ID."""
        where: dict[str, list[int]] = {}
        for row, items in self.meta.items():
            for _, value in items:
                where.setdefault(value, []).append(row)
        id_rows: dict[str, list[int]] = {}
        for row, text in self.ids.items():
            id_rows.setdefault(text, []).append(row)
        out = {}
        for value, rows in where.items():
            if len(rows) == 1 and self.ids.get(rows[0]) == value and len(id_rows[value]) == 1:
                out[value] = rows[0]
        return out

    def stale(self) -> list[int]:
        """Metadata ids on a row whose ID is not theirs, or duplicated on several rows."""
        counts: dict[str, int] = {}
        for items in self.meta.values():
            for _, value in items:
                counts[value] = counts.get(value, 0) + 1
        out = []
        for row, items in self.meta.items():
            for meta_id, value in items:
                if self.ids.get(row) != value or counts[value] > 1:
                    out.append(meta_id)
        return out


def binding_tokens(ids: dict[int, str]) -> dict[int, str]:
    """Row -> the token its metadata carries: the ID, or `ID#2`, `ID#3` for later rows that
    repeat an ID (the validator flags those; their Check messages must still reach them)."""
    seen: dict[str, int] = {}
    out = {}
    for row in sorted(ids):
        seen[ids[row]] = seen.get(ids[row], 0) + 1
        out[row] = ids[row] if seen[ids[row]] == 1 else f"{ids[row]}#{seen[ids[row]]}"
    return out


def row_key(row_id: Any, kind: Any, text: Any) -> str | None:
    """What binds a row: its ID; for a row without one (the validator flags it), its Type and
    text, so its Check message still reaches it and no other row."""
    local = _id_text(row_id)
    if local is not None:
        return local
    kind_text, body = _id_text(kind) or "", _id_text(text) or ""
    if not kind_text and not body:
        return None
    digest = hashlib.sha1(f"{kind_text}|{body}".encode()).hexdigest()[:12]
    return f"~{digest}"


def _id_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _header_key(value: Any) -> str | None:
    return schema.HEADER_LOOKUP.get(schema.normalize(value)) if value not in (None, "") else None


class GoogleBackend:
    """Unit workbooks as Google spreadsheets: listed by link/key and by Drive folder."""

    def __init__(
        self,
        spreadsheets: list[str],
        folders: list[str] | None = None,
        credentials: str | None = None,
        *,
        limits: Limits | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.spreadsheets = list(spreadsheets)
        self.folders = list(folders or [])
        self.credentials = credentials
        self.limits = limits
        self._sleep = sleep
        self._client: GoogleClient | None = None
        self._books: dict[str, _Book] = {}
        self.listed: list[str] = []

    @property
    def client(self) -> GoogleClient:
        """The HTTP client, made on first use so a workspace without Google needs no key."""
        if self._client is None:
            self._client = GoogleClient(self.credentials, self.limits, self._sleep)
        return self._client

    # ---- listing

    def list_units(self) -> list[str]:
        """Keys of the listed spreadsheets, then of every spreadsheet in the listed folders."""
        keys: list[str] = []
        for spec in self.spreadsheets:
            key = spreadsheet_key(spec)
            if key not in keys:
                keys.append(key)
        for folder in self.folders:
            folder_id = _folder_id(folder)
            with self.client.errors(f"Google Drive folder {folder_id}"):
                files = self.client.list_folder(folder_id)
            for f in files:
                # The rollup spreadsheet is the service's own, never a unit.
                if f["id"] not in keys and f["id"] not in ROLLUP_KEYS:
                    keys.append(f["id"])
        self.listed = keys  # the workspace's own spreadsheets: KR Sources may point into them
        return keys

    # ---- reading

    def read(self, locator: str) -> RawWorkbook:
        """Settings, OKRs and History in two calls: the metadata, then one batched values read."""
        key = spreadsheet_key(locator)
        client = self.client
        with client.errors(f"Google spreadsheet {key}"):
            meta = client.get(key, _META_FIELDS)
        title = str(meta.get("properties", {}).get("title") or key)
        infos: dict[str, _SheetInfo] = {}
        for s in meta.get("sheets", []):
            p = s.get("properties", {})
            gp = p.get("gridProperties", {})
            infos[p["title"]] = _SheetInfo(
                int(p.get("sheetId", 0)), p["title"], int(gp.get("rowCount", 1000)), int(gp.get("columnCount", 26))
            )
        names = list(infos)
        wanted = [
            n
            for n in (
                schema.match_sheet(names, s) for s in (schema.SHEET_SETTINGS, schema.SHEET_OKRS, schema.SHEET_HISTORY)
            )
            if n is not None
        ]
        sheets: dict[str, list[list[CellValue]]] = {}
        if wanted:
            with client.errors(title):
                ranges = client.batch_get(key, [quote_sheet(n) for n in wanted])
            for name, vr in zip(wanted, ranges, strict=False):
                sheets[name] = [[cell_value(v) for v in row] for row in vr.get("values", [])]
        book = _Book(key, title, infos, grid_rows={n: len(g) for n, g in sheets.items()})
        okrs = schema.match_sheet(names, schema.SHEET_OKRS)
        if okrs is not None:
            for i, row in enumerate(sheets.get(okrs, [])):
                keys = {c: k for c, v in enumerate(row, start=1) if (k := _header_key(v))}
                if len(keys) >= 3:
                    book.header_row, book.header_keys = i + 1, keys
                    cols = _key_columns(keys)
                    if cols[0] is not None:
                        grid = sheets.get(okrs, [])
                        ids = {}
                        for r in range(i + 1, len(grid)):
                            found = row_key(*(_cell_at(grid[r], c) for c in cols))
                            if found is not None:
                                ids[r] = found
                        book.tokens = binding_tokens(ids)
                        book.token_rows = {t: r for r, t in book.tokens.items()}
                        book.okrs_grid = grid
                    break
        self._books[key] = book
        return RawWorkbook(source=title, sheets=sheets, sheet_names=names, locator=key)

    # ---- writing

    def apply(self, locator: str, changes: WorkbookChanges) -> None:
        """Write the computed cells bound to their rows by ID, and append History rows."""
        if changes.empty:
            return
        key = spreadsheet_key(locator)
        book = self._books.get(key)
        if book is None:
            self.read(key)
            book = self._books[key]
        okrs = changes.okrs_sheet
        by_token: dict[str, dict[int, CellValue]] = {}
        others: list[dict[str, Any]] = []
        for u in changes.updates:
            row_id = (u.row_id or "").strip()
            token = book.tokens.get(u.row - 1)
            if u.sheet == okrs and row_id:
                if token is None or token.split("#")[0] != row_id:
                    token = row_id
                by_token.setdefault(token, {})[u.col] = u.new
            elif u.sheet == okrs and token is not None and token.startswith("~"):
                by_token.setdefault(token, {})[u.col] = u.new
            elif u.sheet != okrs:
                a1 = f"{quote_sheet(u.sheet)}!{column_letter(u.col)}{u.row}"
                others.append({"dataFilter": {"a1Range": a1}, "values": [[raw_value(u.new)]]})
        info = book.sheets.get(okrs or "")
        id_col = changes.id_col
        bindable = info is not None and id_col is not None and book.header_row is not None
        client = self.client
        with client.errors(book.title):
            appends, structural = self._history(book, changes)
            bound: dict[str, int] = {}
            if by_token and bindable:
                assert info is not None and id_col is not None
                bound = self._bind(book, info, id_col, by_token, structural)
            elif structural:
                client.batch_update(key, structural)
            data = [self._row_write(info, t, cells) for t, cells in by_token.items()
                    if t in bound and info is not None] + others + appends  # fmt: skip
            if data:
                answer = client.values_by_filter(key, data)
                misplaced = self._misplaced(book, answer)
                if misplaced and info is not None and id_col is not None:
                    self._repair(book, info, id_col, by_token, misplaced)
        for name, rows in ((a["dataFilter"]["a1Range"], a["values"]) for a in appends):
            sheet = name.split("!")[0]
            for title in book.grid_rows:
                if quote_sheet(title) == sheet:
                    book.grid_rows[title] += len(rows)

    def _bind(
        self,
        book: _Book,
        info: _SheetInfo,
        id_col: int,
        wanted: dict[str, dict[int, CellValue]],
        structural: list[dict[str, Any]],
    ) -> dict[str, int]:
        """Rows bound to the tokens, after binding new ones (with `structural` in the same call)
        and looking again: a binding counts only once a look shows it on its row."""
        cols = {c for cells in wanted.values() for c in cells}
        snap = self._snapshot(book, info, id_col)
        self._check_columns(book, snap, cols)
        bound = snap.bound()
        requests = structural + self._binding_requests(info, snap, set(wanted) - set(bound))
        if requests:
            self.client.batch_update(book.key, requests)
            # Rows may have moved between the look and the binding: look again.
            snap = self._snapshot(book, info, id_col)
            self._check_columns(book, snap, cols)
            bound = snap.bound()
        return bound

    @staticmethod
    def _row_write(info: _SheetInfo | None, token: str, cells: dict[int, CellValue]) -> dict[str, Any]:
        """One row's cells, addressed by its binding; null cells are left as they are."""
        assert info is not None
        line: list[Any] = [None] * max(cells)
        for col, value in cells.items():
            line[col - 1] = raw_value(value)
        return {
            "dataFilter": {"developerMetadataLookup": {
                "metadataKey": ROW_KEY, "metadataValue": token, "locationType": "ROW",
                "metadataLocation": {"sheetId": info.sheet_id},
                "locationMatchingStrategy": "INTERSECTING_LOCATION"}},
            "majorDimension": "ROWS", "values": [line]}  # fmt: skip

    def _misplaced(self, book: _Book, answer: dict[str, Any]) -> list[tuple[int, str]]:
        """Rows whose ID, read back in the write's own answer, is not the one written for (values
        moved without their rows, e.g. a sort, in the instant between the look and the write)."""
        id_col, type_col, text_col = _key_columns(book.header_keys)
        out = []
        for response in answer.get("responses", []):
            look = response.get("dataFilter", {}).get("developerMetadataLookup")
            if not look:
                continue
            token = str(look.get("metadataValue", ""))
            row = (response.get("updatedData", {}).get("values") or [[]])[0]
            found = row_key(*(_cell_at(row, c) for c in (id_col, type_col, text_col)))
            m = re.search(r"!\$?[A-Za-z]+(\d+)", str(response.get("updatedRange", "")))
            if found != token.split("#")[0] and m:
                out.append((int(m.group(1)) - 1, token))
        return out

    def _repair(
        self,
        book: _Book,
        info: _SheetInfo,
        id_col: int,
        by_token: dict[str, dict[int, CellValue]],
        misplaced: list[tuple[int, str]],
    ) -> None:
        """Put right what a misplaced write changed: rebind, rewrite every row's own figures and
        give each hit row back its values (its new figures, or those it held when read)."""
        snap = self._snapshot(book, info, id_col)
        victims: dict[str, dict[int, CellValue]] = {}
        for row, token in misplaced:
            victim = snap.ids.get(row)
            if victim is None:
                continue
            read_row = book.token_rows.get(victim)
            for col in by_token.get(token, {}):
                if col in by_token.get(victim, {}):
                    value = by_token[victim][col]
                elif read_row is not None and read_row < len(book.okrs_grid):
                    value = _cell_at(book.okrs_grid[read_row], col)
                else:
                    value = None
                victims.setdefault(victim, {})[col] = value
        wanted = {t: dict(c) for t, c in by_token.items()}
        for victim, cells in victims.items():
            wanted.setdefault(victim, {}).update({c: v for c, v in cells.items() if c not in wanted.get(victim, {})})
        bound = self._bind(book, info, id_col, wanted, [])
        data = [self._row_write(info, t, c) for t, c in wanted.items() if t in bound]
        if data and self._misplaced(book, self.client.values_by_filter(book.key, data)):
            raise RemoteError(
                _msg(
                    f"{book.title} › {info.title}: rows kept moving while okr-sync wrote (a sort?); "
                    "some computed cells may be on the wrong rows until the next sync. Run it again",
                    f"{book.title} › {info.title}：写入时行仍在移动（排序？）；部分计算单元格可能暂时位于错误的行，"
                    "下次同步会纠正。请重新同步",
                )
            )

    def _snapshot(self, book: _Book, info: _SheetInfo, id_col: int) -> _Snapshot:
        # Rows read plus a margin for rows people insert meanwhile; the whole column would
        # bring a thousand rows of metadata for nothing.
        last = min(info.rows, book.grid_rows.get(info.title, 0) + 200)
        _, type_col, text_col = _key_columns(book.header_keys)
        cols = [id_col, type_col, text_col]
        ranges = [f"{quote_sheet(info.title)}!{book.header_row}:{book.header_row}"] + [
            f"{quote_sheet(info.title)}!{column_letter(c)}1:{column_letter(c)}{last}" for c in cols if c is not None
        ]
        body = self.client.get(book.key, _SNAP_FIELDS, ranges)
        sheet = next(
            (s for s in body.get("sheets", []) if s.get("properties", {}).get("sheetId") == info.sheet_id), None
        )
        if sheet is None or len(sheet.get("data", [])) != len(ranges):
            raise RemoteError(
                _msg(
                    f"{book.title} › {info.title}: the sheet was renamed or deleted during the sync; "
                    "nothing was written. Run the sync again",
                    f"{book.title} › {info.title}：同步期间该工作表被重命名或删除，未写入任何内容。请重新同步",
                )
            )
        header, column = sheet["data"][0], sheet["data"][1]
        start = int(column.get("startRow", 0))
        columns = [_column_values(d) for d in sheet["data"][1:]]
        if type_col is None:
            columns.insert(1, {})
        if text_col is None:
            columns.insert(2, {})
        ids: dict[int, str] = {}
        for r in range(book.header_row or 0, last):
            found = row_key(*(col.get(r) for col in columns))
            if found is not None:
                ids[r] = found
        meta: dict[int, list[tuple[int, str]]] = {}
        for i, rm in enumerate(column.get("rowMetadata", [])):
            for m in rm.get("developerMetadata", []):
                if m.get("metadataKey") == ROW_KEY:
                    meta.setdefault(start + i, []).append((int(m["metadataId"]), str(m.get("metadataValue", ""))))
        header_values = []
        for cell in (header.get("rowData") or [{}])[0].get("values", []):
            ev = cell.get("effectiveValue", {})
            header_values.append(ev.get("stringValue"))
        return _Snapshot(binding_tokens(ids), meta, header_values)

    def _check_columns(self, book: _Book, snap: _Snapshot, cols: set[int]) -> None:
        for col in cols:
            now = _header_key(snap.header[col - 1]) if col <= len(snap.header) else None
            if now != book.header_keys.get(col):
                raise RemoteError(
                    _msg(
                        f"{book.title} › OKRs: columns were inserted, deleted or moved during the "
                        "sync; nothing was written. Run the sync again",
                        f"{book.title} › OKRs：同步期间有列被插入、删除或移动，未写入任何内容。请重新同步",
                    )
                )

    @staticmethod
    def _binding_requests(info: _SheetInfo, snap: _Snapshot, unbound: set[str]) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = []
        for meta_id in snap.stale():
            requests.append(
                {"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {"metadataId": meta_id}}}}
            )
        id_rows: dict[str, list[int]] = {}
        for row, text in snap.ids.items():
            id_rows.setdefault(text, []).append(row)
        for row_id in sorted(unbound):
            rows = id_rows.get(row_id, [])
            if len(rows) != 1:
                continue  # gone, or on several rows: not ours to guess
            requests.append(
                {
                    "createDeveloperMetadata": {
                        "developerMetadata": {
                            "metadataKey": ROW_KEY,
                            "metadataValue": row_id,
                            "visibility": "DOCUMENT",
                            "location": {
                                "dimensionRange": {
                                    "sheetId": info.sheet_id,
                                    "dimension": "ROWS",
                                    "startIndex": rows[0],
                                    "endIndex": rows[0] + 1,
                                }
                            },
                        }
                    }
                }
            )
        return requests

    def _history(self, book: _Book, changes: WorkbookChanges) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Values to append to owned sheets (by A1, they are ours) and any sheet to create first."""
        data: list[dict[str, Any]] = []
        requests: list[dict[str, Any]] = []
        for owned in changes.appends:
            if not owned.rows:
                continue
            info = book.sheets.get(owned.name)
            rows = [[raw_value(v) for v in r] for r in owned.rows]
            if info is None:
                sheet_id = _new_sheet_id(book)
                requests += _owned_sheet_requests(sheet_id, owned.name, owned.header, len(book.sheets))
                info = _SheetInfo(sheet_id, owned.name, 1000, 26)
                book.sheets[owned.name] = info
                book.grid_rows[owned.name] = 1
                start = 2
            else:
                used = book.grid_rows.get(owned.name, 0)
                if used == 0:
                    rows.insert(0, list(owned.header))
                start = used + 1
            end = start + len(rows) - 1
            if end > info.rows:
                grow = end - info.rows + 500
                requests.append({"appendDimension": {"sheetId": info.sheet_id, "dimension": "ROWS", "length": grow}})
                info.rows += grow
            width = max(len(r) for r in rows)
            a1 = f"{quote_sheet(owned.name)}!A{start}:{column_letter(width)}{end}"
            data.append({"dataFilter": {"a1Range": a1}, "majorDimension": "ROWS", "values": rows})
        return data, requests


def _new_sheet_id(book: _Book) -> int:
    taken = {s.sheet_id for s in book.sheets.values()}
    candidate = 7_000_001
    while candidate in taken:
        candidate += 1
    return candidate


def _owned_sheet_requests(sheet_id: int, name: str, header: list[str], index: int) -> list[dict[str, Any]]:
    """Create an owned sheet (History) with a bold, frozen header written as text."""
    cells = [
        {
            "userEnteredValue": {"stringValue": h},
            "userEnteredFormat": {
                "textFormat": {"bold": True},
                "backgroundColor": {"red": 0.93, "green": 0.93, "blue": 0.93},
            },
        }
        for h in header
    ]
    return [
        {
            "addSheet": {
                "properties": {
                    "sheetId": sheet_id,
                    "title": name,
                    "index": index,
                    "gridProperties": {"rowCount": 1000, "columnCount": 26, "frozenRowCount": 1},
                }
            }
        },
        {
            "updateCells": {
                "start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0},
                "rows": [{"values": cells}],
                "fields": "userEnteredValue,userEnteredFormat",
            }
        },
    ]


def _key_columns(keys: dict[int, str]) -> tuple[int | None, int | None, int | None]:
    """1-based ID, Type and text columns from a header's column keys."""
    where = {k: c for c, k in keys.items()}
    return where.get("id"), where.get("type"), where.get("text")


def _column_values(data: dict[str, Any]) -> dict[int, Any]:
    """0-based row -> effective value of a one-column GridData."""
    start = int(data.get("startRow", 0))
    out = {}
    for i, rd in enumerate(data.get("rowData", [])):
        values = rd.get("values", [])
        ev = values[0].get("effectiveValue", {}) if values else {}
        value = ev.get("stringValue", ev.get("numberValue", ev.get("boolValue")))
        if value is not None:
            out[start + i] = value
    return out


def _cell_at(row: list[CellValue], col: int | None) -> CellValue:
    return row[col - 1] if col is not None and col <= len(row) else None


def _folder_id(text: str) -> str:
    m = re.search(r"/folders/([A-Za-z0-9_-]+)", text)
    return m.group(1) if m else text.strip()


# ---------------------------------------------------------------- KR Source links


_RANGE_RE = re.compile(r"[#&?]range=([^&#\s]+)")
_GID_RE = re.compile(r"[#&?]gid=(\d+)")
_CELL_RE = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d{1,7})$")


def parse_source(spec: str) -> tuple[str, dict[str, Any]]:
    """A Source link to (key, DataFilter). Accepted forms:
    `https://docs.google.com/spreadsheets/d/KEY/edit#gid=0&range=B2` (the browser's link to a
    cell), `…/d/KEY/edit#range='Data'!B2`, and `https://docs.google.com/spreadsheets/d/KEY › Data
    › B2`."""
    text = spec.strip()
    key = spreadsheet_key(text)
    parts = [p.strip() for p in re.split(r"\s*›\s*", text)]
    if len(parts) >= 2:
        cell = parts[-1].replace("$", "").upper()
        if not _CELL_RE.match(cell):
            raise ConfigError(f"{spec}: end the Source with a cell such as B2")
        sheet = parts[1] if len(parts) == 3 else None
        a1 = f"{quote_sheet(sheet)}!{cell}" if sheet else cell
        return key, {"a1Range": a1}
    m = _RANGE_RE.search(text)
    if not m:
        raise ConfigError(
            f"{spec}: add the cell to the link, e.g. …/edit#gid=0&range=B2 "
            "(right-click the cell › Get link to this cell)"
        )
    rng = unquote(m.group(1))
    if "!" in rng:
        return key, {"a1Range": rng}
    cell = rng.replace("$", "").upper()
    cm = _CELL_RE.match(cell)
    if not cm:
        raise ConfigError(f"{spec}: range={rng} is not a single cell such as B2")
    g = _GID_RE.search(text)
    if g is None:
        return key, {"a1Range": cell}
    col = 0
    for ch in cm.group(1):
        col = col * 26 + ord(ch) - 64
    row = int(cm.group(2))
    return key, {
        "gridRange": {
            "sheetId": int(g.group(1)),
            "startRowIndex": row - 1,
            "endRowIndex": row,
            "startColumnIndex": col - 1,
            "endColumnIndex": col,
        }
    }


def read_sources(
    specs: list[str], credentials: str | None = None, *, limits: Limits | None = None
) -> dict[str, CellValue | Exception]:
    """Values of KR Source cells given as Google Sheets links: one read call per spreadsheet."""
    out: dict[str, CellValue | Exception] = {}
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for spec in dict.fromkeys(specs):
        try:
            key, flt = parse_source(spec)
        except OkrSyncError as exc:
            out[spec] = exc
            continue
        groups.setdefault(key, []).append((spec, flt))
    if not groups:
        return out
    client = GoogleClient(credentials, limits)
    for key, items in groups.items():
        filters: list[dict[str, Any]] = []
        for _, flt in items:
            if flt not in filters:
                filters.append(flt)
        found: dict[str, CellValue | Exception] = {}
        try:
            found.update(_read_filters(client, key, filters))
        except (AuthError, QuotaError) as exc:
            for spec, _ in items:
                out[spec] = exc
            continue
        except OkrSyncError:
            # One bad range (a renamed sheet) fails Google's whole batch: then ask cell by cell.
            for flt in filters:
                try:
                    found.update(_read_filters(client, key, [flt]))
                except OkrSyncError as exc:
                    found[json.dumps(flt, sort_keys=True)] = exc
        for spec, flt in items:
            marker = json.dumps(flt, sort_keys=True)
            missing = RemoteError(f"{spec}: no such sheet or cell in that spreadsheet")
            out[spec] = found.get(marker, missing)
    return out


def _read_filters(client: GoogleClient, key: str, filters: list[dict[str, Any]]) -> dict[str, CellValue | Exception]:
    """One values:batchGetByDataFilter; values keyed by the JSON of the filter they answer."""
    body = {
        "dataFilters": filters,
        "valueRenderOption": "UNFORMATTED_VALUE",
        "dateTimeRenderOption": "SERIAL_NUMBER",
        "majorDimension": "ROWS",
    }
    url = f"https://sheets.googleapis.com/v4/spreadsheets/{key}/values:batchGetByDataFilter"
    with client.errors(f"Google spreadsheet {key}"):
        answer = client.http.request("post", url, json=body).json()
    found: dict[str, CellValue | Exception] = {}
    for vr in answer.get("valueRanges", []):
        values = vr.get("valueRange", {}).get("values", [[None]])
        value = cell_value(values[0][0] if values and values[0] else None)
        for f in vr.get("dataFilters", []):
            found[json.dumps(f, sort_keys=True)] = value
    return found
