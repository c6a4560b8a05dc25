"""Google Sheets backend: units' spreadsheets read and written in a few batched, quota-safe calls.

Per spreadsheet a sync makes one metadata read and one values read. Writing (only when something
changed) first looks at the ID column and the rows' developer metadata in one atomic call: each
row is bound to its ID by row metadata, which Google moves with the row when people insert,
delete or move rows. A spreadsheets:batchUpdate is made only to bind new rows or to create the
History sheet, and its own answer is the look after the binding. Every computed cell is then
written in one values:batchUpdateByDataFilter addressed by that metadata, never by row number,
and the write's own answer shows the row each figure landed on; should values have moved without
their rows (a sort in that instant), the figures are put right at once, and figures left on a
row without an ID are cleared. The batchUpdate is never resent blind: after a lost answer the
spreadsheet is looked at first, and only what is still missing is sent.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ..core import schema
from ..core.model import CellValue, RawWorkbook, WorkbookChanges, column_letter
from ..core.values import SERIAL_EPOCH
from ..core.writeback import header_keys
from ..errors import AnswerLost, AuthError, ConfigError, OkrSyncError, QuotaError, RemoteError
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
from .google_rows import (
    ORPHAN,
    ROW_KEY,
    Snapshot,
    binding_tokens,
    cell_at,
    column_values,
    header_key,
    key_columns,
    row_key,
)
from .google_template import create_spreadsheet

__all__ = [
    "GoogleBackend",
    "GoogleRollupTarget",
    "Limits",
    "ROW_KEY",
    "create_spreadsheet",
    "read_sources",
]

_FIGURE_KEYS = frozenset(c.key for c in schema.COMPUTED_COLUMNS)
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
                schema.match_sheet(names, s) for s in (schema.SHEET_SETTINGS, schema.SHEET_OKRS, schema.SHEET_HISTORY,
                                                           schema.SHEET_PEOPLE)
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
                keys = {c: k for c, v in enumerate(row, start=1) if (k := header_key(v))}
                if len(keys) >= 3:
                    book.header_row, book.header_keys = i + 1, keys
                    cols = key_columns(keys)
                    if cols[0] is not None:
                        grid = sheets.get(okrs, [])
                        ids = {}
                        for r in range(i + 1, len(grid)):
                            found = row_key(*(cell_at(grid[r], c) for c in cols))
                            if found is not None:
                                ids[r] = found
                        book.tokens = binding_tokens(ids)
                        book.token_rows = {t: r for r, t in book.tokens.items()}
                        book.okrs_grid = grid
                    break
        self._books[key] = book
        return RawWorkbook(source=title, sheets=sheets, sheet_names=names, locator=key)

    def modified_by(self, locator: str) -> str | None:
        """Who edited last (a Drive revision's lastModifyingUser), asked only when a check-in needs a name;
        unknown rather than a failure."""
        key = spreadsheet_key(locator)
        try:
            with self.client.errors(f"Google spreadsheet {key}"):
                return self.client.last_modifier(key)
        except OkrSyncError:
            return None

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
        plan = _plan_owned(book, changes)
        with client.errors(book.title):
            data: list[dict[str, Any]] = []
            if by_token and bindable:
                assert info is not None and id_col is not None
                snap = self._bind(book, info, id_col, by_token, plan)
                bound = snap.bound()
                data += self._orphan_clears(book, info, snap)
                data += [self._row_write(info, t, cells) for t, cells in by_token.items() if t in bound]
            elif plan.owned:
                self._send_once(book, plan.requests, lambda: self._look_at_sheets(book, plan), plan.commit)
            data += others + plan.appends
            if data:
                answer = client.values_by_filter(key, data)
                misplaced = self._misplaced(book, answer)
                if misplaced and info is not None and id_col is not None:
                    self._repair(book, info, id_col, by_token, misplaced)
        for owned in plan.owned:
            book.grid_rows[owned.title] = owned.end

    def _send_once(
        self,
        book: _Book,
        requests: Callable[[], list[dict[str, Any]]],
        look: Callable[[], None],
        done: Callable[[], None],
        **answer: Any,
    ) -> dict[str, Any] | None:
        """One spreadsheets:batchUpdate that is never resent blind: after a lost answer, `look`
        refreshes what `requests` is computed from, so what was applied is not asked for again.
        None when nothing (more) is needed; else the answer."""
        for _ in range(self.client.limits.attempts):
            wanted = requests()
            if not wanted:
                return None
            try:
                reply = self.client.batch_update(book.key, wanted, once=True, **answer)
            except AnswerLost:
                look()
                continue
            done()
            return reply
        raise RemoteError(
            _msg(
                f"{book.title}: Google did not confirm a change after {self.client.limits.attempts} tries "
                "(it is all-or-nothing, so the spreadsheet is whole). Run the sync again",
                f"{book.title}：重试 {self.client.limits.attempts} 次后 Google 仍未确认修改（修改要么全部生效，"
                "要么全不生效，表格完好）。请重新同步",
            )
        )

    def _bind(
        self, book: _Book, info: _SheetInfo, id_col: int, wanted: dict[str, dict[int, CellValue]], plan: _OwnedPlan
    ) -> Snapshot:
        """A look at the rows as they are now, after binding new ones (with `plan`'s sheets in the
        same call): a binding counts only once a look shows it on its row. The binding call's own
        answer is that look, so binding costs no read after it."""
        cols = {c for cells in wanted.values() for c in cells} | set(_figure_columns(book))
        ranges, roles = self._snapshot_ranges(book, info, id_col)
        snap = self._snapshot(book, info, id_col)
        self._check_columns(book, snap, cols)

        def requests() -> list[dict[str, Any]]:
            self._check_columns(book, snap, cols)
            return plan.requests() + self._binding_requests(info, snap, set(wanted) - set(snap.bound()))

        def look() -> None:
            nonlocal snap
            if plan.owned:
                self._look_at_sheets(book, plan)
            snap = self._snapshot(book, info, id_col)

        fields = f"updatedSpreadsheet({_SNAP_FIELDS})"
        reply = self._send_once(book, requests, look, plan.commit, response_ranges=ranges, fields=fields)
        if reply is not None:
            snap = self._parse_snapshot(book, info, reply.get("updatedSpreadsheet", {}), roles)
            self._check_columns(book, snap, cols)
        return snap

    def _look_at_sheets(self, book: _Book, plan: _OwnedPlan) -> None:
        """After a lost answer: which owned sheets exist now, and how many rows they have."""
        meta = self.client.get(book.key, _META_FIELDS)
        now = {s["properties"]["title"]: s["properties"] for s in meta.get("sheets", [])}
        for owned in plan.owned:
            props = now.get(owned.title)
            if props is None:
                continue
            if owned.new and int(props.get("sheetId", -1)) != owned.sheet_id:
                raise RemoteError(
                    _msg(
                        f"{book.title} › {owned.title}: the sheet was made by someone else during the sync; "
                        "nothing was appended to it. Run the sync again",
                        f"{book.title} › {owned.title}：同步期间他人创建了该工作表，未追加任何内容。请重新同步",
                    )
                )
            grid = props.get("gridProperties", {})
            rows, cols = int(grid.get("rowCount", 1000)), int(grid.get("columnCount", 26))
            book.sheets[owned.title] = _SheetInfo(owned.sheet_id, owned.title, rows, cols)
            owned.new = False

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

    @staticmethod
    def _orphan_clears(book: _Book, info: _SheetInfo, snap: Snapshot) -> list[dict[str, Any]]:
        """Clear the figures on rows we wrote that hold no ID any more, addressed by the metadata
        on them (it moves with the row); only computed cells, never a person's."""
        figures = _figure_columns(book)
        if not figures:
            return []
        line: list[Any] = [None] * max(figures)
        for col in figures:
            line[col - 1] = ""
        return [
            {"dataFilter": {"developerMetadataLookup": {"metadataId": meta_id, "locationType": "ROW",
                                                        "metadataLocation": {"sheetId": info.sheet_id}}},
             "majorDimension": "ROWS", "values": [list(line)]}
            for meta_id, _ in snap.orphans().values()
        ]  # fmt: skip

    def _misplaced(self, book: _Book, answer: dict[str, Any]) -> list[tuple[int, str]]:
        """Rows whose ID, read back in the write's own answer, is not the one written for (values
        moved without their rows, e.g. a sort, in the instant between the look and the write)."""
        id_col, type_col, text_col = key_columns(book.header_keys)
        out = []
        for response in answer.get("responses", []):
            look = response.get("dataFilter", {}).get("developerMetadataLookup")
            if not look or "metadataValue" not in look:
                continue  # an A1 write to an owned sheet, or an orphan's figures cleared
            token = str(look.get("metadataValue", ""))
            row = (response.get("updatedData", {}).get("values") or [[]])[0]
            found = row_key(*(cell_at(row, c) for c in (id_col, type_col, text_col)))
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
        """Put right what a misplaced write changed: rebind, rewrite every row's own figures, give
        each hit row back its values (its new figures, or those it held when read) and clear what
        landed on a row without an ID."""
        snap = self._snapshot(book, info, id_col)
        victims: dict[str, dict[int, CellValue]] = {}
        for row, token in misplaced:
            victim = snap.ids.get(row)
            if victim is None:
                continue  # a row without an ID: an orphan now, cleared below
            read_row = book.token_rows.get(victim)
            for col in by_token.get(token, {}):
                if col in by_token.get(victim, {}):
                    value = by_token[victim][col]
                elif read_row is not None and read_row < len(book.okrs_grid):
                    value = cell_at(book.okrs_grid[read_row], col)
                else:
                    value = None
                victims.setdefault(victim, {})[col] = value
        wanted = {t: dict(c) for t, c in by_token.items()}
        for victim, cells in victims.items():
            wanted.setdefault(victim, {}).update({c: v for c, v in cells.items() if c not in wanted.get(victim, {})})
        snap = self._bind(book, info, id_col, wanted, _OwnedPlan(book))
        bound = snap.bound()
        data = self._orphan_clears(book, info, snap)
        data += [self._row_write(info, t, c) for t, c in wanted.items() if t in bound]
        if data and self._misplaced(book, self.client.values_by_filter(book.key, data)):
            raise RemoteError(
                _msg(
                    f"{book.title} › {info.title}: rows kept moving while okr-sync wrote (a sort?); "
                    "some computed cells may be on the wrong rows until the next sync. Run it again",
                    f"{book.title} › {info.title}：写入时行仍在移动（排序？）；部分计算单元格可能暂时位于错误的行，"
                    "下次同步会纠正。请重新同步",
                )
            )

    def _snapshot_ranges(self, book: _Book, info: _SheetInfo, id_col: int) -> tuple[list[str], list[str | int]]:
        """The look's ranges: the header row, then the ID, Type and text columns and the figure
        columns; with the role of each ("header", "id", "type", "text" or a figure column)."""
        # Rows read plus a margin for rows people insert meanwhile; the whole column would
        # bring a thousand rows of metadata for nothing.
        last = min(info.rows, book.grid_rows.get(info.title, 0) + 200)
        _, type_col, text_col = key_columns(book.header_keys)
        sheet = quote_sheet(info.title)
        ranges = [f"{sheet}!{book.header_row}:{book.header_row}"]
        roles: list[str | int] = ["header"]
        columns: list[tuple[str | int, int | None]] = [("id", id_col), ("type", type_col), ("text", text_col)]
        columns += [(c, c) for c in _figure_columns(book)]
        for role, col in columns:
            if col is not None:
                ranges.append(f"{sheet}!{column_letter(col)}1:{column_letter(col)}{last}")
                roles.append(role)
        return ranges, roles

    def _snapshot(self, book: _Book, info: _SheetInfo, id_col: int) -> Snapshot:
        ranges, roles = self._snapshot_ranges(book, info, id_col)
        return self._parse_snapshot(book, info, self.client.get(book.key, _SNAP_FIELDS, ranges), roles)

    def _parse_snapshot(self, book: _Book, info: _SheetInfo, body: dict[str, Any], roles: list[str | int]) -> Snapshot:
        """A look from a spreadsheets.get answer, or from a batchUpdate's updatedSpreadsheet."""
        sheet = next(
            (s for s in body.get("sheets", []) if s.get("properties", {}).get("sheetId") == info.sheet_id), None
        )
        if sheet is None or len(sheet.get("data", [])) != len(roles):
            raise RemoteError(
                _msg(
                    f"{book.title} › {info.title}: the sheet was renamed or deleted during the sync; "
                    "nothing was written. Run the sync again",
                    f"{book.title} › {info.title}：同步期间该工作表被重命名或删除，未写入任何内容。请重新同步",
                )
            )
        data = dict(zip(roles, sheet["data"], strict=True))
        header, column = data["header"], data["id"]
        values = {role: column_values(d) for role, d in data.items() if role != "header"}
        last = int(column.get("startRow", 0)) + len(column.get("rowMetadata", []))
        ids: dict[int, str] = {}
        for r in range(book.header_row or 0, last):
            found = row_key(*(values.get(role, {}).get(r) for role in ("id", "type", "text")))
            if found is not None:
                ids[r] = found
        meta: dict[int, list[tuple[int, str]]] = {}
        start = int(column.get("startRow", 0))
        for i, rm in enumerate(column.get("rowMetadata", [])):
            for m in rm.get("developerMetadata", []):
                if m.get("metadataKey") == ROW_KEY:
                    meta.setdefault(start + i, []).append((int(m["metadataId"]), str(m.get("metadataValue", ""))))
        figures = {
            r
            for role, col in values.items()
            if isinstance(role, int)
            for r, v in col.items()
            if r >= (book.header_row or 0)
        }
        header_values = []
        for cell in (header.get("rowData") or [{}])[0].get("values", []):
            ev = cell.get("effectiveValue", {})
            header_values.append(ev.get("stringValue"))
        return Snapshot(binding_tokens(ids), meta, header_values, figures)

    def _check_columns(self, book: _Book, snap: Snapshot, cols: set[int]) -> None:
        for col in cols:
            now = header_key(snap.header[col - 1]) if col <= len(snap.header) else None
            if now != book.header_keys.get(col):
                raise RemoteError(
                    _msg(
                        f"{book.title} › OKRs: columns were inserted, deleted or moved during the "
                        "sync; nothing was written. Run the sync again",
                        f"{book.title} › OKRs：同步期间有列被插入、删除或移动，未写入任何内容。请重新同步",
                    )
                )

    @staticmethod
    def _binding_requests(info: _SheetInfo, snap: Snapshot, unbound: set[str]) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = []
        for meta_id in snap.stale():
            requests.append(
                {"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {"metadataId": meta_id}}}}
            )
        for meta_id, value in snap.orphans().values():
            if value != ORPHAN:
                # Its old ID may be bound afresh to the row it moved to: no two rows share a token.
                requests.append(
                    {
                        "updateDeveloperMetadata": {
                            "dataFilters": [{"developerMetadataLookup": {"metadataId": meta_id}}],
                            "developerMetadata": {"metadataValue": ORPHAN},
                            "fields": "metadataValue",
                        }
                    }
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


@dataclass
class _Owned:
    """One owned sheet (History) to append to: where the rows go, and whether we create it."""

    title: str
    header: list[str]
    sheet_id: int
    new: bool
    index: int
    end: int  # last 1-based row after the append
    dated: dict[int, str] = field(default_factory=dict)  # 0-based date columns to format, with their type


@dataclass
class _OwnedPlan:
    """Appends to owned sheets (by A1: they are ours) and the sheets or rows they need first,
    computed from what the spreadsheet is known to hold, so a look after a lost answer can
    drop what was already made."""

    book: _Book
    owned: list[_Owned] = field(default_factory=list)
    appends: list[dict[str, Any]] = field(default_factory=list)

    def requests(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for o in self.owned:
            info = self.book.sheets.get(o.title)
            rows = 1000 if o.new or info is None else info.rows
            if o.new:
                out += _owned_sheet_requests(o.sheet_id, o.title, o.header, o.index)
                out += _date_format_requests(o.sheet_id, o.dated, 1, rows)
            if o.end > rows:
                grow = o.end - rows + 500
                out.append({"appendDimension": {"sheetId": o.sheet_id, "dimension": "ROWS", "length": grow}})
                out += _date_format_requests(o.sheet_id, o.dated, rows, rows + grow)
        return out

    def commit(self) -> None:
        """What the spreadsheet holds once the requests were applied."""
        for o in self.owned:
            info = self.book.sheets.get(o.title)
            rows = 1000 if o.new or info is None else info.rows
            if o.end > rows:
                rows = o.end + 500
            self.book.sheets[o.title] = _SheetInfo(o.sheet_id, o.title, rows, info.cols if info else 26)
            o.new = False


def _plan_owned(book: _Book, changes: WorkbookChanges) -> _OwnedPlan:
    plan = _OwnedPlan(book)
    for owned in changes.appends:
        if not owned.rows:
            continue
        info = book.sheets.get(owned.name)
        # A History laid out by this version has its date columns formatted: times go in as real
        # date-times (serial numbers). One written by an earlier version keeps text times.
        dated = _date_columns(owned.header) if info is None or "as_of" in header_keys(owned.header) else {}
        rows = [[_serial(v) if i in dated else raw_value(v) for i, v in enumerate(r)] for r in owned.rows]
        if info is None:
            taken = {o.sheet_id for o in plan.owned}
            sheet_id, new, start = _new_sheet_id(book, taken), True, 2
        else:
            used = book.grid_rows.get(owned.name, 0)
            if used == 0:
                rows.insert(0, list(owned.header))
            sheet_id, new, start = info.sheet_id, False, used + 1
        end = start + len(rows) - 1
        plan.owned.append(_Owned(owned.name, list(owned.header), sheet_id, new, len(book.sheets), end, dated))
        width = max(len(r) for r in rows)
        a1 = f"{quote_sheet(owned.name)}!A{start}:{column_letter(width)}{end}"
        plan.appends.append({"dataFilter": {"a1Range": a1}, "majorDimension": "ROWS", "values": rows})
    return plan


def _date_columns(header: list[str]) -> dict[int, str]:
    """0-based History columns holding a date-time (Time) or a date (As of), with their format type."""
    kinds = {"time": "DATE_TIME", "as_of": "DATE"}
    return {i: kinds[k] for i, k in enumerate(header_keys(header)) if k in kinds}


def _serial(value: CellValue) -> Any:
    """A date or date-time as a spreadsheet serial number, so the cell is a real date."""
    if isinstance(value, dt.date):
        moment = value if isinstance(value, dt.datetime) else dt.datetime(value.year, value.month, value.day)
        delta = moment.replace(tzinfo=None) - SERIAL_EPOCH
        return delta.days + delta.seconds / 86400
    return raw_value(value)


def _date_format_requests(sheet_id: int, dated: dict[int, str], first: int, end: int) -> list[dict[str, Any]]:
    """Format History's date columns over rows first..end (0-based, end exclusive)."""
    patterns = {"DATE_TIME": "yyyy-mm-dd hh:mm:ss", "DATE": "yyyy-mm-dd"}
    return [
        {
            "repeatCell": {
                "range": {"sheetId": sheet_id, "startRowIndex": first, "endRowIndex": end,
                          "startColumnIndex": col, "endColumnIndex": col + 1},
                "cell": {"userEnteredFormat": {"numberFormat": {"type": kind, "pattern": patterns[kind]}}},
                "fields": "userEnteredFormat.numberFormat",
            }
        }
        for col, kind in dated.items()
    ]


def _figure_columns(book: _Book) -> list[int]:
    """1-based columns of the OKRs sheet the service computes (never a person's)."""
    return sorted(c for c, k in book.header_keys.items() if k in _FIGURE_KEYS)


def _new_sheet_id(book: _Book, planned: set[int]) -> int:
    taken = {s.sheet_id for s in book.sheets.values()} | planned
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
