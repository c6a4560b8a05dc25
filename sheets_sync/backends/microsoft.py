"""Microsoft 365 backend: unit workbooks in SharePoint and OneDrive, read and written through Microsoft Graph.

A sync lists each folder in one paged call and downloads only workbooks whose cTag changed since the last
sync (the xlsx reader parses the bytes). Writing differs by mode:
- service account (delegated): one workbook session per workbook; the OKRs sheet is re-read inside that
  session to bind each row by its ID, then every computed cell goes out in $batch calls of at most 20
  range writes, contiguous cells merged. People may have the workbook open meanwhile (co-authoring).
- app-only: the workbook API does not take application permissions, so the downloaded file is patched
  with the xlsx patcher and uploaded conditional on its eTag; a workbook open for editing (423) or
  changed meanwhile (412) is named and left for the next run, never overwritten.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from ..core import schema
from ..core.model import CellValue, Grid, RawWorkbook, WorkbookChanges, column_index, column_letter
from ..errors import ConfigError, OkrSyncError, RemoteError, WorkbookError, WorkbookLocked
from .microsoft_cache import TagCache
from .microsoft_client import GraphClient, GraphError, MicrosoftSettings, _msg, item_path, share_id
from .xlsx import XlsxBackend, _cell, _id_text, cell_in_workbook

EXTENSIONS = (".xlsx", ".xlsm")
# Graph's simple upload takes files up to 250 MB, but Microsoft advises upload sessions for large
# files; above this size the upload is made in fragments of a multiple of 320 KiB.
SIMPLE_UPLOAD_LIMIT = 4 * 1024 * 1024
FRAGMENT = 320 * 1024 * 10
_ITEM_FIELDS = "id,name,eTag,cTag,size,webUrl,file,folder,parentReference,lastModifiedBy"
# Excel reads a string written through the workbook API beginning with these as a formula; a leading
# apostrophe (Excel's own text prefix, not part of the value) keeps it text.
_FORMULA_START = ("=", "+", "-", "@", "'")
# Rows read beyond the last row written, when binding rows by ID: room for rows people insert meanwhile.
BIND_MARGIN = 200


@dataclass
class _Item:
    drive: str
    item: str
    name: str
    etag: str
    ctag: str
    size: int = 0
    modified_by: str | None = None  # lastModifiedBy's person; None for an application (the service, app-only)

    @property
    def key(self) -> str:
        return f"{self.drive}/{self.item}"

    @property
    def path(self) -> str:
        return item_path(self.drive, self.item)

    @property
    def tag(self) -> str:
        return self.ctag or self.etag


def _item(data: dict[str, Any]) -> _Item:
    drive = str((data.get("parentReference") or {}).get("driveId", ""))
    return _Item(drive, str(data["id"]), str(data.get("name", data["id"])), str(data.get("eTag", "")),
                 str(data.get("cTag", "")), int(data.get("size", 0) or 0), _person(data.get("lastModifiedBy")))


def _person(identity: Any) -> str | None:
    """The person of a Graph identitySet (lastModifiedBy): display name, else email; None without a user."""
    user = identity.get("user") if isinstance(identity, dict) else None
    if not isinstance(user, dict):
        return None
    name = str(user.get("displayName") or user.get("email") or "").strip()
    return name[:120] or None


def _locator(data: dict[str, Any]) -> str:
    return unquote(str(data.get("webUrl") or data.get("name") or data["id"]))


def _tag_cache(home: Path) -> TagCache:
    return TagCache(home / ".okr-sync" / "microsoft.db")


class _Graph:
    """What the backend and the rollup share: the client (made on first use) and link resolution."""

    def __init__(self, settings: MicrosoftSettings, home: Path, client: GraphClient | None = None) -> None:
        self.settings = settings
        self.cache = _tag_cache(home)
        self._client = client

    @property
    def client(self) -> GraphClient:
        if self._client is None:
            self._client = self.settings.client()
        return self._client

    def resolve(self, url: str, *, fresh: bool = False) -> tuple[dict[str, Any], bool]:
        """A SharePoint/OneDrive link's drive item, from the cache or /shares; (data, fetched now)."""
        known = None if fresh else self.cache.link(url)
        if known is not None:
            return {"id": known["item"], "name": known["name"], "webUrl": known["web_url"],
                    "parentReference": {"driveId": known["drive"]},
                    **({"folder": {}} if known["folder"] else {"file": {}})}, False
        data = self.client.json("GET", f"/shares/{share_id(url)}/driveItem?$select={_ITEM_FIELDS}",
                                what=f"{url}", ok=())
        drive = str((data.get("parentReference") or {}).get("driveId", ""))
        self.cache.put_link(url, drive, str(data["id"]), "folder" in data, str(data.get("name", "")),
                            str(data.get("webUrl", url)))
        return data, True


class MicrosoftBackend(_Graph):
    """Unit workbooks in SharePoint / OneDrive folders or given one by one."""

    def __init__(self, sources: list[str], settings: MicrosoftSettings, home: Path,
                 client: GraphClient | None = None) -> None:
        super().__init__(settings, home, client)
        self.sources = list(sources)
        self._items: dict[str, _Item] = {}
        self._blobs: dict[str, bytes] = {}
        self._raws: dict[str, RawWorkbook] = {}

    # ---- listing

    def list_units(self) -> list[str]:
        """Workbooks of every source: a folder's in one paged children call, a lone workbook's tag in one GET."""
        out: list[str] = []
        skip = self.cache.rollup_items()
        for url in self.sources:
            try:
                found = self._list(url)
            except GraphError as exc:
                if exc.status != 404:
                    raise
                self.cache.forget_link(url)  # moved or re-created: resolve it afresh once
                found = self._list(url, fresh=True)
            for data in found:
                name = str(data.get("name", ""))
                if "file" not in data or name.startswith("~$") or not name.lower().endswith(EXTENSIONS):
                    continue
                if str(data["id"]) in skip:
                    continue  # the rollup is the service's own, never a unit
                locator = _locator(data)
                if locator not in self._items:
                    self._items[locator] = _item(data)
                    out.append(locator)
        return out

    def _list(self, url: str, *, fresh: bool = False) -> list[dict[str, Any]]:
        data, fetched = self.resolve(url, fresh=fresh)
        item = _item(data)
        if "folder" not in data:
            if not fetched:
                data = self.client.json("GET", f"{item.path}?$select={_ITEM_FIELDS}", what=url)
            return [data]
        query = f"$select={_ITEM_FIELDS}&$top=999"
        children = list(self.client.pages(f"{item.path}/children?{query}", what=url))
        for child in children:
            child.setdefault("parentReference", {}).setdefault("driveId", item.drive)
        return children

    # ---- reading

    def read(self, locator: str) -> RawWorkbook:
        """The cells of a workbook: from the tag cache when its cTag is unchanged, else one download."""
        item = self._items.get(locator)
        if item is None:
            data, _ = self.resolve(locator)
            item = _item(self.client.json("GET", f"{_item(data).path}?$select={_ITEM_FIELDS}", what=locator))
            self._items[locator] = item
        cached = self.cache.book(item.key, item.tag, locator) if item.tag else None
        if cached is not None:
            self._raws[locator] = cached
            return cached
        blob = self.download(item, locator)
        raw = XlsxBackend.read_bytes(blob, item.name, locator)
        if item.modified_by:
            # Who saved it last, as SharePoint saw it (listed with the item, no extra call); the file's own
            # lastModifiedBy may be a desktop save's from before.
            raw = replace(raw, modified_by=item.modified_by)
        self._blobs[locator] = blob
        self._raws[locator] = raw
        if item.tag:
            # The tag is the one listed: content changed after the listing only makes the next run read again.
            self.cache.put_book(item.key, item.tag, raw)
        return raw

    def download(self, item: _Item, what: str) -> bytes:
        response = self.client.request("GET", f"{item.path}/content", what=what)
        return response.content

    # ---- writing

    def apply(self, locator: str, changes: WorkbookChanges) -> None:
        if changes.empty:
            return
        if locator not in self._items:
            self.read(locator)
        item = self._items[locator]
        try:
            if self.settings.app_only:
                self._upload_patched(locator, item, changes)
            else:
                _WorkbookWrite(self.client, item, self._raws.get(locator), changes).run()
        except GraphError as exc:
            raise WorkbookError(item.name, str(exc).split(": ", 1)[-1]) from exc

    def _upload_patched(self, locator: str, item: _Item, changes: WorkbookChanges) -> None:
        """App-only: patch the downloaded file and upload it only if nobody changed it since."""
        blob = self._blobs.get(locator) or self.download(item, locator)
        pkg = XlsxBackend.patch(blob, changes, item.name)
        if pkg is None:
            return
        buffer = io.BytesIO()
        pkg.write(buffer)
        data = buffer.getvalue()
        try:
            answer = upload(self.client, item, data, what=item.name)
        except GraphError as exc:
            if exc.status == 423:
                raise WorkbookLocked(item.name, _msg(
                    "open for editing in Excel, so app-only mode cannot write it; nothing was written and it is "
                    "retried on the next run (the service-account mode writes into open workbooks)",
                    "正在 Excel 中编辑，仅应用模式无法写入；未写入任何内容，下次同步时重试"
                    "（服务账户模式可写入打开的工作簿）"),
                ) from exc
            if exc.status == 412:
                raise WorkbookError(item.name, _msg(
                    "changed in SharePoint since okr-sync read it; nothing was written and it is synced on the "
                    "next run", "读取后在 SharePoint 中被修改；未写入任何内容，下次同步时处理")) from exc
            raise
        new = _item({**answer, "parentReference": {"driveId": item.drive}})
        # The upload was atomic and conditional: the file now holds exactly these bytes.
        if new.tag:
            self.cache.put_book(new.key, new.tag, XlsxBackend.read_bytes(data, item.name, locator))
        self._items[locator] = new
        self._blobs[locator] = data


def upload(client: GraphClient, item: _Item | None, data: bytes, *, what: str,
           parent: _Item | None = None, name: str | None = None) -> dict[str, Any]:
    """Replace an item's content if its eTag still matches (or create `name` in `parent`, failing if it
    exists); an upload session in fragments when large. Returns the new driveItem."""
    if item is not None:
        target, headers = item.path, {"If-Match": item.etag}
    else:
        assert parent is not None and name is not None
        target, headers = f"{parent.path}:/{quote(name)}:", {}
    if len(data) <= SIMPLE_UPLOAD_LIMIT:
        suffix = "" if item is not None else "?@microsoft.graph.conflictBehavior=fail"
        return client.json("PUT", f"{target}/content{suffix}", what=what, data=data,
                           headers={**headers, "Content-Type": "application/octet-stream"})
    body = {"item": {"@microsoft.graph.conflictBehavior": "replace" if item is not None else "fail"}}
    session = client.json("POST", f"{target}/createUploadSession", what=what, json=body, headers=headers)
    url = str(session["uploadUrl"])
    answer: dict[str, Any] = {}
    for start in range(0, len(data), FRAGMENT):
        chunk = data[start:start + FRAGMENT]
        end = start + len(chunk) - 1
        # The upload URL carries its own authorization: Graph asks for no Authorization header on it.
        response = client.request("PUT", url, what=what, auth=False, data=chunk, headers={
            "Content-Length": str(len(chunk)), "Content-Range": f"bytes {start}-{end}/{len(data)}"})
        answer = response.json() if response.content else {}
    return answer


def _encode(value: CellValue) -> Any:
    """A value for the workbook API: numbers as numbers, None clears, text that Excel would read as a
    formula kept as text by Excel's apostrophe prefix."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def merge_ranges(cells: dict[tuple[int, int], Any]) -> list[tuple[int, int, int, int, list[list[Any]]]]:
    """Cells as rectangles (row0, col0, row1, col1, values): runs of adjacent columns, then runs of rows
    with the same columns stacked, so a block of computed cells is one range write."""
    runs: list[tuple[int, int, int, list[Any]]] = []
    for row in sorted({r for r, _ in cells}):
        cols = sorted(c for r, c in cells if r == row)
        start = prev = cols[0]
        for col in [*cols[1:], None]:
            if col is not None and col == prev + 1:
                prev = col
                continue
            runs.append((row, start, prev, [cells[(row, c)] for c in range(start, prev + 1)]))
            if col is not None:
                start = prev = col
    out: list[tuple[int, int, int, int, list[list[Any]]]] = []
    for row, c0, c1, values in runs:
        last = out[-1] if out else None
        if last is not None and last[2] == row - 1 and last[1] == c0 and last[3] == c1:
            out[-1] = (last[0], c0, row, c1, [*last[4], values])
        else:
            out.append((row, c0, row, c1, [values]))
    return out


def _sheet_path(book: str, sheet: str) -> str:
    """A worksheet addressed by name, as Graph documents it: …/workbook/worksheets/{id|name}."""
    return f"{book}/worksheets/{quote(sheet, safe='')}"


def _grid_from_range(body: dict[str, Any]) -> tuple[int, int, Grid]:
    """A range answer as (first row, first column, values); "" becomes None."""
    address = str(body.get("address", "A1")).split("!")[-1].split(":")[0]
    m = re.match(r"\$?([A-Z]+)\$?(\d+)", address)
    row0, col0 = 1, 1
    if m:
        col0 = 0
        for ch in m.group(1):
            col0 = col0 * 26 + ord(ch) - 64
        row0 = int(m.group(2))
    values = body.get("values") or []
    return row0, col0, [[_cell(v) for v in row] for row in values]


def _header_row(grid: Grid) -> int | None:
    """1-based row of the OKRs header: the first row naming three or more standard columns."""
    for i, row in enumerate(grid, start=1):
        keys = [v for v in row if v not in (None, "") and schema.HEADER_LOOKUP.get(schema.normalize(v))]
        if len(keys) >= 3:
            return i
    return None


class _WorkbookWrite:
    """One workbook session: look (IDs, header, owned sheets), write in batches, close."""

    def __init__(self, client: GraphClient, item: _Item, raw: RawWorkbook | None, changes: WorkbookChanges) -> None:
        self.client, self.item, self.raw, self.changes = client, item, raw, changes
        self.book = f"{item.path}/workbook"
        self.session = ""

    def _req(self, rid: str, method: str, url: str, body: Any = None,
             depends: list[str] | None = None) -> dict[str, Any]:
        """One $batch request inside this workbook session."""
        request: dict[str, Any] = {"id": rid, "method": method, "url": url,
                                   "headers": {"workbook-session-id": self.session}}
        if body is not None:
            request["body"] = body
            request["headers"]["Content-Type"] = "application/json"
        if depends:
            request["dependsOn"] = depends
        return request

    def run(self) -> None:
        what = self.item.name
        session = self.client.json("POST", f"{self.book}/createSession", what=what, json={"persistChanges": True})
        self.session = str(session["id"])
        try:
            self._write(what)
        finally:
            try:
                self.client.request("POST", f"{self.book}/closeSession", what=what,
                                    headers={"workbook-session-id": self.session})
            except OkrSyncError:
                pass  # an unclosed session expires on its own within minutes; the cells are written

    def _write(self, what: str) -> None:
        changes = self.changes
        okrs = changes.okrs_sheet
        look: list[dict[str, Any]] = []
        if okrs and any(u.sheet == okrs for u in changes.updates):
            look.append(self._req("okrs", "GET", f"{_sheet_path(self.book, okrs)}/usedRange(valuesOnly=true)"
                                  "?$select=address,values"))
        owned = [a for a in changes.appends if a.rows]
        for i, sheet in enumerate(owned):
            look.append(self._req(f"owned{i}", "GET", f"{_sheet_path(self.book, sheet.name)}"
                                  "/usedRange(valuesOnly=true)?$select=address,values"))
        answers = self.client.batch(look, what=what) if look else {}
        writes: list[dict[str, Any]] = []
        bound_rows: dict[int, str] = {}
        if "okrs" in answers:
            assert okrs is not None
            row0, col0, grid = _grid_from_range(self.client.check(answers["okrs"], f"{what} › {okrs}"))
            cells, bound_rows = self._bind(okrs, row0, col0, grid)
            for r0, c0, r1, c1, values in merge_ranges(cells):
                address = f"{column_letter(c0)}{r0}:{column_letter(c1)}{r1}"
                writes.append(self._req(f"w{len(writes)}", "PATCH",
                                        f"{_sheet_path(self.book, okrs)}/range(address='{address}')",
                                        {"values": values}))
        others: dict[str, dict[tuple[int, int], Any]] = {}
        for u in changes.updates:
            if u.sheet != okrs:
                others.setdefault(u.sheet, {})[(u.row, u.col)] = _encode(u.new)
        for other, cells in others.items():
            for r0, c0, r1, c1, values in merge_ranges(cells):
                address = f"{column_letter(c0)}{r0}:{column_letter(c1)}{r1}"
                writes.append(self._req(f"w{len(writes)}", "PATCH",
                                        f"{_sheet_path(self.book, other)}/range(address='{address}')",
                                        {"values": values}))
        for i, sheet in enumerate(owned):
            answer = answers.get(f"owned{i}", {})
            rows = [[_encode(v) for v in r] for r in sheet.rows]
            depends: list[str] = []
            if int(answer.get("status", 404)) == 404:
                add = self._req(f"add{i}", "POST", f"{self.book}/worksheets/add", {"name": sheet.name})
                writes.append(add)
                depends = [add["id"]]
                last = 0
            else:
                row0, _, grid = _grid_from_range(self.client.check(answer, f"{what} › {sheet.name}"))
                used = [i for i, r in enumerate(grid) if any(v not in (None, "") for v in r)]
                last = row0 + used[-1] if used else 0
            if last == 0:
                rows.insert(0, [_encode(h) for h in sheet.header])
            width = max(len(r) for r in rows)
            rows = [r + [""] * (width - len(r)) for r in rows]
            address = f"A{last + 1}:{column_letter(width)}{last + len(rows)}"
            writes.append(self._req(f"w{len(writes)}", "PATCH",
                                    f"{_sheet_path(self.book, sheet.name)}/range(address='{address}')",
                                    {"values": rows}, depends))
        if not writes:
            return
        verify = None
        if bound_rows and okrs:
            # Read the ID column back in the last $batch, after the writes (dependsOn orders them).
            col = column_letter(changes.id_col or 1)
            verify = self._req("verify", "GET", f"{_sheet_path(self.book, okrs)}/range(address='{col}1:{col}"
                               f"{max(bound_rows)}')?$select=address,values", depends=[w["id"] for w in writes])
        done = self.client.batch(writes + ([verify] if verify else []), what=what)
        for request in writes:
            self.client.check(done.get(request["id"], {"status": 500}), what)
        if verify is not None and okrs:
            self._verify(okrs, bound_rows, self.client.check(done.get("verify", {"status": 500}), what))

    def _bind(self, okrs: str, row0: int, col0: int, grid: Grid) -> tuple[dict[tuple[int, int], Any], dict[int, str]]:
        """Computed cells on the row that holds their ID now (rows may have been inserted or sorted since
        the read); a row whose ID is gone or on several rows is not written. Columns must not have moved."""
        changes = self.changes

        def at(row: int, col: int) -> CellValue:
            r, c = row - row0, col - col0
            return grid[r][c] if 0 <= r < len(grid) and 0 <= c < len(grid[r]) else None

        cols = {u.col for u in changes.updates if u.sheet == okrs}
        if self.raw is not None and okrs in self.raw.sheets:
            before = self.raw.sheets[okrs]
            header = _header_row(before)
            if header is not None:
                for col in cols:
                    was = before[header - 1][col - 1] if col <= len(before[header - 1]) else None
                    if schema.normalize(was or "") != schema.normalize(at(header, col) or ""):
                        raise RemoteError(_msg(
                            f"{self.item.name} › {okrs}: columns were inserted, deleted or moved during the sync; "
                            "nothing was written. Run the sync again",
                            f"{self.item.name} › {okrs}：同步期间有列被插入、删除或移动，未写入任何内容。请重新同步"))
        ids: dict[int, str] = {}
        if changes.id_col:
            last = row0 + len(grid) - 1
            ids = {r: _id_text(at(r, changes.id_col)) for r in range(1, last + 1)}
        cells: dict[tuple[int, int], Any] = {}
        bound: dict[int, str] = {}
        for u in changes.updates:
            if u.sheet != okrs:
                continue
            row = u.row
            if changes.id_col and u.row_id:
                wanted = _id_text(u.row_id)
                if ids.get(row) != wanted:
                    matches = [r for r, v in ids.items() if v == wanted]
                    if len(matches) != 1:
                        continue  # the row is gone or its ID is on several rows: never write a cell not ours
                    row = matches[0]
                bound[row] = wanted
            cells[(row, u.col)] = _encode(u.new)
        return cells, bound

    def _verify(self, okrs: str, bound: dict[int, str], answer: dict[str, Any]) -> None:
        """A sort in the instant between the look and the write is named, never silent."""
        row0, _, grid = _grid_from_range(answer)
        moved = [r for r, want in bound.items()
                 if not (0 <= r - row0 < len(grid) and grid[r - row0] and _id_text(grid[r - row0][0]) == want)]
        if moved:
            raise RemoteError(_msg(
                f"{self.item.name} › {okrs}: rows moved while okr-sync wrote (a sort?); some computed cells may be "
                "on the wrong rows until the next sync. Run it again",
                f"{self.item.name} › {okrs}：写入时行被移动（排序？）；部分计算单元格可能暂时位于错误的行，"
                "下次同步会纠正。请重新同步"))


# ---------------------------------------------------------------- the rollup


class MicrosoftRollupTarget(_Graph):
    """The company rollup as one workbook in SharePoint/OneDrive, uploaded whole, conditional on its eTag."""

    def __init__(self, url: str, settings: MicrosoftSettings, home: Path, client: GraphClient | None = None) -> None:
        super().__init__(settings, home, client)
        self.url = url

    def __str__(self) -> str:
        return self.url

    def write_rollup(self, book: Any) -> bool:
        from .xlsx_rollup import OWNED_PROPERTY as MARK
        from .xlsx_rollup import OWNED_VALUE, _stamp, build_workbook, read_marks

        fingerprint, stamp = book.fingerprint(), _stamp(book)
        name = unquote(self.url.rstrip("/").rsplit("/", 1)[-1])
        if not name.lower().endswith(".xlsx"):
            raise ConfigError(f"[rollup] {self.url}: name a workbook ending in .xlsx")
        known = self.cache.rollup(self.url)
        current = self._current(known)
        if current is not None and known is not None and current.etag == known["etag"]:
            if known["fingerprint"] == fingerprint and known["stamp"] == stamp:
                return False
        elif current is not None:
            # Not the file okr-sync last wrote: only overwrite a workbook that is a rollup of ours.
            blob = self.client.request("GET", f"{current.path}/content", what=self.url).content
            if current.size and read_marks(io.BytesIO(blob)).get(MARK) != OWNED_VALUE:
                raise ConfigError(f"{self.url} is not a rollup workbook written by okr-sync, so it was left "
                                  "untouched. Name a new file in [rollup]. / "
                                  "该文件不是 okr-sync 生成的汇总工作簿，未作改动。请在 [rollup] 中另选文件名。")
        data = _rollup_bytes(build_workbook(book, fingerprint, stamp))
        try:
            if current is not None:
                answer = upload(self.client, current, data, what=self.url)
            else:
                parent_url = self.url.rstrip("/").rsplit("/", 1)[0]
                parent, _ = self.resolve(parent_url)
                answer = upload(self.client, None, data, what=self.url, parent=_item(parent), name=name)
        except GraphError as exc:
            if exc.status in (409, 412, 423):
                raise RemoteError(f"{self.url}: the rollup is open or changed meanwhile (HTTP {exc.status}); the "
                                  "units were synced and the rollup is written on the next run") from exc
            raise
        drive = (current.drive if current else str((answer.get("parentReference") or {}).get("driveId", "")))
        self.cache.put_rollup(self.url, drive, str(answer["id"]), str(answer.get("eTag", "")), fingerprint, stamp)
        return True

    def _current(self, known: dict[str, str] | None) -> _Item | None:
        """The rollup item as it is now, or None when it does not exist yet."""
        path = item_path(known["drive"], known["item"]) if known else f"/shares/{share_id(self.url)}/driveItem"
        try:
            data = self.client.json("GET", f"{path}?$select={_ITEM_FIELDS}", what=self.url)
        except GraphError as exc:
            if exc.status == 404:
                return None
            raise
        if known:
            data.setdefault("parentReference", {}).setdefault("driveId", known["drive"])
        return _item(data)


def _rollup_bytes(built: Any) -> bytes:
    """The rollup package, made by the local rollup writer in a scratch folder."""
    import tempfile

    from .xlsx_rollup_book import package

    workbook, rows = built
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "rollup.xlsx"
        package(workbook, rows, target)
        return target.read_bytes()


# ---------------------------------------------------------------- new workbooks and KR Sources


def create_workbook(url: str, settings: MicrosoftSettings, home: Path, **options: Any) -> str:
    """`okr-sync new --sharepoint URL`: the standard template uploaded to a folder (named after the unit's
    code) or to the workbook URL given; never over an existing file. Returns the new workbook's link."""
    import tempfile

    from ..templates import write_template

    url = url.rstrip("/")
    if url.lower().endswith(EXTENSIONS):
        folder_url, name = url.rsplit("/", 1)
        name = unquote(name)
    else:
        folder_url, name = url, f"{str(options['code']).lower()}.xlsx"
    graph = _Graph(settings, home)
    folder, _ = graph.resolve(folder_url, fresh=True)
    if "folder" not in folder:
        raise ConfigError(f"{folder_url}: not a folder; give a SharePoint or OneDrive folder (or a new .xlsx in one)")
    with tempfile.TemporaryDirectory() as tmp:
        data = write_template(Path(tmp) / name, **options).read_bytes()
    try:
        answer = upload(graph.client, None, data, what=f"{folder_url}/{name}", parent=_item(folder), name=name)
    except GraphError as exc:
        if exc.status == 409:
            raise ConfigError(f"{folder_url}/{name} already exists; pick another name (nothing was changed)") from exc
        raise
    return unquote(str(answer.get("webUrl") or f"{folder_url}/{name}"))


_SOURCE_RE = re.compile(r"^(?P<book>https://.+?\.xls[xm])\s*(?:›|>|!)\s*(?:(?P<sheet>[^›>!]+?)\s*(?:›|>|!)\s*)?"
                        r"(?P<cell>\$?[A-Za-z]{1,3}\$?\d{1,7})\s*$")


def read_sources(specs: list[str], settings: MicrosoftSettings, home: Path,
                 allowed: list[str]) -> dict[str, CellValue | Exception]:
    """KR Source cells in SharePoint/OneDrive workbooks: each workbook downloaded once (or taken from the tag
    cache) and read with the xlsx reader. Only workbooks inside the workspace's sources may be named."""
    out: dict[str, CellValue | Exception] = {}
    groups: dict[str, list[tuple[str, str | None, str]]] = {}
    prefixes = [unquote(a).rstrip("/") for a in allowed]
    for spec in dict.fromkeys(specs):
        m = _SOURCE_RE.match(spec.strip())
        if m is None:
            out[spec] = ConfigError(f"{spec}: write it as https://…/data.xlsx › Sheet › B2")
            continue
        book = unquote(m.group("book"))
        if not any(book == p or book.startswith(p + "/") for p in prefixes):
            out[spec] = ConfigError(f"{spec}: the workbook is not inside a [[sources]] folder of okr-sync.toml; "
                                    "add its folder there first")
            continue
        groups.setdefault(book, []).append((spec, m.group("sheet"), m.group("cell").replace("$", "").upper()))
    backend = MicrosoftBackend([], settings, home)
    for book, items in groups.items():
        try:
            data, _ = backend.resolve(book)
            item = _item(data)
            blob = backend.download(item, book)
        except OkrSyncError as exc:
            for spec, _, _ in items:
                out[spec] = exc
            continue
        except Exception as exc:  # noqa: BLE001 - reported on the KR's Source cell
            for spec, _, _ in items:
                out[spec] = WorkbookError(book, f"cannot be read ({exc.__class__.__name__})")
            continue
        for spec, sheet, cell in items:
            m = re.match(r"([A-Z]+)(\d+)", cell)
            assert m
            try:
                # The same bounded reading as a local Source: only that sheet, only as far as the cell.
                out[spec] = cell_in_workbook(blob, item.name, sheet.strip().strip("'") if sheet else None,
                                             int(m.group(2)), column_index(m.group(1)))
            except OkrSyncError as exc:
                out[spec] = exc
            except Exception as exc:  # noqa: BLE001 - reported on the KR's Source cell
                out[spec] = WorkbookError(book, f"cannot be read ({exc.__class__.__name__})")
    return out
