"""Rows bound to their IDs: binding tokens, and one look at an OKRs sheet's IDs, metadata and figures."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..core import schema
from ..core.model import CellValue

# Developer metadata key binding an OKRs row to its local ID.
ROW_KEY = "okr-sync.row"
# Its value on a row that lost its ID while still holding our figures, until they are cleared.
ORPHAN = "!orphan"


@dataclass
class Snapshot:
    """One atomic look at the OKRs sheet: the ID of each row, our metadata on it, the header, and
    which rows hold figures (computed cells)."""

    ids: dict[int, str]  # 0-based row -> binding token of the ID it carries
    meta: dict[int, list[tuple[int, str]]]  # 0-based row -> [(metadataId, value)]
    header: list[Any]
    figures: set[int] = field(default_factory=set)  # 0-based rows with a non-empty computed cell

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

    def orphans(self) -> dict[int, tuple[int, str]]:
        """Rows we wrote (our metadata is on them) that hold no ID, Type or text any more but still
        hold figures: row -> the (metadataId, value) kept to clear them by."""
        return {
            row: items[0]
            for row, items in sorted(self.meta.items())
            if row not in self.ids and row in self.figures and items
        }

    def stale(self) -> list[int]:
        """Metadata ids on a row whose ID is not theirs, or duplicated on several rows (but not
        the one that marks an orphan until its figures are cleared)."""
        keep = {meta_id for meta_id, _ in self.orphans().values()}
        counts: dict[str, int] = {}
        for items in self.meta.values():
            for _, value in items:
                counts[value] = counts.get(value, 0) + 1
        out = []
        for row, items in self.meta.items():
            for meta_id, value in items:
                if meta_id not in keep and (self.ids.get(row) != value or counts[value] > 1):
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


def header_key(value: Any) -> str | None:
    return schema.HEADER_LOOKUP.get(schema.normalize(value)) if value not in (None, "") else None


def key_columns(keys: dict[int, str]) -> tuple[int | None, int | None, int | None]:
    """1-based ID, Type and text columns from a header's column keys."""
    where = {k: c for c, k in keys.items()}
    return where.get("id"), where.get("type"), where.get("text")


def column_values(data: dict[str, Any]) -> dict[int, Any]:
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


def cell_at(row: list[CellValue], col: int | None) -> CellValue:
    return row[col - 1] if col is not None and col <= len(row) else None
