"""What the Microsoft backend remembers between syncs: resolved links, each workbook's tag and cells, the rollup.

Kept in the workspace's .okr-sync/microsoft.db (SQLite, the backend's own; state.db is not touched), so a
workbook whose cTag has not changed since the last sync is not downloaded again.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

from ..core.model import CellError, CellValue, NoCachedValue, RawWorkbook

_SCHEMA = """
CREATE TABLE IF NOT EXISTS links (url TEXT PRIMARY KEY, drive TEXT NOT NULL, item TEXT NOT NULL,
                                  folder INTEGER NOT NULL, name TEXT NOT NULL, web_url TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS books (item_key TEXT PRIMARY KEY, tag TEXT NOT NULL, raw TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rollups (url TEXT PRIMARY KEY, drive TEXT NOT NULL, item TEXT NOT NULL,
                                    etag TEXT NOT NULL, fingerprint TEXT NOT NULL, stamp TEXT NOT NULL);
"""


def _encode(value: CellValue) -> Any:
    if isinstance(value, dt.datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if isinstance(value, CellError):
        return {"err": value.code}
    if isinstance(value, NoCachedValue):
        return {"f": value.formula}
    return value


def _decode(value: Any) -> CellValue:
    if isinstance(value, dict):
        if "dt" in value:
            return dt.datetime.fromisoformat(value["dt"])
        if "d" in value:
            return dt.date.fromisoformat(value["d"])
        if "err" in value:
            return CellError(value["err"])
        return NoCachedValue(value.get("f", ""))
    return value  # type: ignore[no-any-return]


def dump_raw(raw: RawWorkbook) -> str:
    sheets = {name: [[_encode(v) for v in row] for row in grid] for name, grid in raw.sheets.items()}
    return json.dumps({"source": raw.source, "names": raw.sheet_names, "sheets": sheets}, ensure_ascii=False)


def load_raw(text: str, locator: str) -> RawWorkbook:
    data = json.loads(text)
    sheets = {name: [[_decode(v) for v in row] for row in grid] for name, grid in data["sheets"].items()}
    return RawWorkbook(source=data["source"], sheets=sheets, sheet_names=list(data["names"]), locator=locator)


class TagCache:
    """One small SQLite file; every method opens, works and closes, so no handle outlives a call."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _db(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        db.executescript(_SCHEMA)
        return db

    def link(self, url: str) -> dict[str, Any] | None:
        with self._db() as db:
            row = db.execute("SELECT drive, item, folder, name, web_url FROM links WHERE url = ?", (url,)).fetchone()
        if row is None:
            return None
        return {"drive": row[0], "item": row[1], "folder": bool(row[2]), "name": row[3], "web_url": row[4]}

    def put_link(self, url: str, drive: str, item: str, folder: bool, name: str, web_url: str) -> None:
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO links VALUES (?, ?, ?, ?, ?, ?)",
                       (url, drive, item, int(folder), name, web_url))

    def forget_link(self, url: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM links WHERE url = ?", (url,))

    def book(self, key: str, tag: str, locator: str) -> RawWorkbook | None:
        """The cells read when the workbook last had this tag, or None."""
        with self._db() as db:
            row = db.execute("SELECT raw FROM books WHERE item_key = ? AND tag = ?", (key, tag)).fetchone()
        return None if row is None else load_raw(row[0], locator)

    def put_book(self, key: str, tag: str, raw: RawWorkbook) -> None:
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO books VALUES (?, ?, ?)", (key, tag, dump_raw(raw)))

    def rollup(self, url: str) -> dict[str, str] | None:
        with self._db() as db:
            row = db.execute("SELECT drive, item, etag, fingerprint, stamp FROM rollups WHERE url = ?",
                             (url,)).fetchone()
        return None if row is None else dict(zip(("drive", "item", "etag", "fingerprint", "stamp"), row,
                                                 strict=True))

    def rollup_items(self) -> set[str]:
        with self._db() as db:
            return {r[0] for r in db.execute("SELECT item FROM rollups")}

    def put_rollup(self, url: str, drive: str, item: str, etag: str, fingerprint: str, stamp: str) -> None:
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO rollups VALUES (?, ?, ?, ?, ?, ?)",
                       (url, drive, item, etag, fingerprint, stamp))
