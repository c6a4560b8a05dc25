"""The company rollup as a Google spreadsheet: same sheets as the xlsx rollup, native charts,
colour bands, swapped in whole by one atomic spreadsheets:batchUpdate."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..core import schema
from ..core.model import CellValue
from ..core.rollup import ColumnKind, RollupBook, RollupSheet
from ..errors import AnswerLost, RemoteError
from .google_client import GoogleClient, Limits, spreadsheet_key

FINGERPRINT_KEY = "okr-sync.rollup-fingerprint"
OWNED_KEY = "okr-sync.owned"
# Keys of rollup spreadsheets this process writes: a Drive folder listing never takes them as units.
ROLLUP_KEYS: set[str] = set()

_META_FIELDS = (
    "properties(title),developerMetadata(metadataId,metadataKey,metadataValue),sheets(properties(sheetId,title))"
)
_NAVY = {"red": 0.12, "green": 0.22, "blue": 0.39}
_WHITE = {"red": 1.0, "green": 1.0, "blue": 1.0}
_BANDS = {
    "green": ({"red": 0.78, "green": 0.94, "blue": 0.81}, {"red": 0.0, "green": 0.38, "blue": 0.0}),
    "yellow": ({"red": 1.0, "green": 0.92, "blue": 0.61}, {"red": 0.61, "green": 0.34, "blue": 0.0}),
    "red": ({"red": 1.0, "green": 0.78, "blue": 0.81}, {"red": 0.61, "green": 0.0, "blue": 0.02}),
    "blue": ({"red": 0.74, "green": 0.84, "blue": 0.93}, {"red": 0.12, "green": 0.22, "blue": 0.39}),
    "grey": ({"red": 0.91, "green": 0.9, "blue": 0.9}, {"red": 0.35, "green": 0.35, "blue": 0.35}),
}
STATUS_BANDS = {"on track": "green", "at risk": "yellow", "off track": "red", "done": "blue",
                "no data": "grey"}  # fmt: skip
_NUMBER_FORMATS: dict[ColumnKind, dict[str, str]] = {
    "score": {"type": "NUMBER", "pattern": "0.00"},
    "percent": {"type": "PERCENT", "pattern": "0%"},
    "int": {"type": "NUMBER", "pattern": "0"},
}


def cell_data(value: CellValue, kind: ColumnKind) -> dict[str, Any]:
    """One rollup cell: numbers as numbers, everything else as a string (never a formula)."""
    if value is None or value == "":
        return {}
    if isinstance(value, bool):
        return {"userEnteredValue": {"stringValue": str(value).upper()}}
    if isinstance(value, int | float) and kind in _NUMBER_FORMATS:
        return {
            "userEnteredValue": {"numberValue": value},
            "userEnteredFormat": {"numberFormat": _NUMBER_FORMATS[kind]},
        }
    if isinstance(value, int | float):
        return {"userEnteredValue": {"numberValue": value}}
    return {"userEnteredValue": {"stringValue": str(value)}}


def band_rule(rng: dict[str, int], condition: dict[str, Any], band: str) -> dict[str, Any]:
    """One conditional-format request colouring a range in a band (green, yellow, red, blue, grey)."""
    fill, font = _BANDS[band]
    return {
        "addConditionalFormatRule": {
            "index": 0,
            "rule": {
                "ranges": [rng],
                "booleanRule": {
                    "condition": condition,
                    "format": {"backgroundColor": fill, "textFormat": {"foregroundColor": font}},
                },
            },
        }
    }


def band_rules(sheet_id: int, col: int, rows: int, kind: ColumnKind) -> list[dict[str, Any]]:
    """Conditional formats: 0.7+ green, 0.4–0.69 yellow, below red; status words by colour."""
    rng = {
        "sheetId": sheet_id,
        "startRowIndex": 1,
        "endRowIndex": max(rows, 2),
        "startColumnIndex": col,
        "endColumnIndex": col + 1,
    }

    def rule(condition: dict[str, Any], band: str) -> dict[str, Any]:
        return band_rule(rng, condition, band)

    def num(kind_: str, *values: float) -> dict[str, Any]:
        return {"type": kind_, "values": [{"userEnteredValue": str(v)} for v in values]}

    if kind in ("score", "percent"):
        return [
            rule(num("NUMBER_GREATER_THAN_EQ", 0.7), "green"),
            rule(num("NUMBER_BETWEEN", 0.4, 0.6999), "yellow"),
            rule(num("NUMBER_LESS", 0.4), "red"),
        ]
    if kind == "status":
        out = []
        for status, band in STATUS_BANDS.items():
            for text in schema.STATUSES[status]:
                out.append(rule({"type": "TEXT_EQ", "values": [{"userEnteredValue": text}]}, band))
        return out
    if kind == "severity":
        return [
            rule({"type": "TEXT_EQ", "values": [{"userEnteredValue": "error"}]}, "red"),
            rule({"type": "TEXT_EQ", "values": [{"userEnteredValue": "warning"}]}, "yellow"),
        ]
    return []


def sheet_requests(sheet: RollupSheet, sheet_id: int, title: str, index: int) -> list[dict[str, Any]]:
    """Add one rollup sheet under a temporary title, with its data, header and bands."""
    rows = len(sheet.rows) + 1
    cols = len(sheet.headers)
    header = [
        {
            "userEnteredValue": {"stringValue": h},
            "userEnteredFormat": {"backgroundColor": _NAVY, "textFormat": {"bold": True, "foregroundColor": _WHITE}},
        }
        for h in sheet.headers
    ]
    body = []
    for r, row in enumerate(sheet.rows):
        cells = [cell_data(v, k) for v, k in zip(row, sheet.kinds, strict=False)]
        if sheet.depths is not None and r < len(sheet.depths):
            for c in (0, 1):  # ID and Objective indent with the tree
                if c < len(cells) and sheet.depths[r]:
                    cells[c].setdefault("userEnteredFormat", {})["padding"] = {"left": 3 + 14 * sheet.depths[r]}
        body.append({"values": cells})
    requests: list[dict[str, Any]] = [
        {
            "addSheet": {
                "properties": {
                    "sheetId": sheet_id,
                    "title": title,
                    "index": index,
                    # Room beside and below the table for the Units charts.
                    "gridProperties": {"rowCount": max(rows + 1, 45), "columnCount": cols + 12, "frozenRowCount": 1},
                }
            }
        },
        {
            "updateCells": {
                "start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0},
                "rows": [{"values": header}, *body],
                "fields": "userEnteredValue,userEnteredFormat",
            }
        },
    ]
    for col, kind in enumerate(sheet.kinds):
        requests += band_rules(sheet_id, col, rows, kind)
    return requests


def chart_requests(units: RollupSheet, sheet_id: int) -> list[dict[str, Any]]:
    """Unit scores (bar chart) and status counts per unit (stacked columns) on the Units sheet."""
    rows = len(units.rows) + 1
    col = {h: i for i, h in enumerate(units.headers)}

    def source(c: int) -> dict[str, Any]:
        return {
            "sourceRange": {
                "sources": [
                    {
                        "sheetId": sheet_id,
                        "startRowIndex": 0,
                        "endRowIndex": rows,
                        "startColumnIndex": c,
                        "endColumnIndex": c + 1,
                    }
                ]
            }
        }

    def anchor(row: int) -> dict[str, Any]:
        return {
            "overlayPosition": {
                "anchorCell": {"sheetId": sheet_id, "rowIndex": row, "columnIndex": len(units.headers) + 1}
            }
        }

    scores = {
        "addChart": {
            "chart": {
                "position": anchor(0),
                "spec": {
                    "title": "Unit scores",
                    "basicChart": {
                        "chartType": "BAR",
                        "legendPosition": "NO_LEGEND",
                        "headerCount": 1,
                        "axis": [{"position": "BOTTOM_AXIS", "title": "Score"}],
                        "domains": [{"domain": source(col["Unit"])}],
                        "series": [{"series": source(col["Score"]), "targetAxis": "BOTTOM_AXIS"}],
                    },
                },
            }
        }
    }
    statuses = [h for h in ("On track", "At risk", "Off track", "Done", "No data") if h in col]
    colours = ["green", "yellow", "red", "blue", "grey"]
    counts = {
        "addChart": {
            "chart": {
                "position": anchor(20),
                "spec": {
                    "title": "Status counts per unit",
                    "basicChart": {
                        "chartType": "COLUMN",
                        "stackedType": "STACKED",
                        "legendPosition": "BOTTOM_LEGEND",
                        "headerCount": 1,
                        "domains": [{"domain": source(col["Unit"])}],
                        "series": [
                            {"series": source(col[h]), "targetAxis": "LEFT_AXIS", "color": _BANDS[c][1]}
                            for h, c in zip(statuses, colours, strict=False)
                        ],
                    },
                },
            }
        }
    }
    return [scores, counts]


class GoogleRollupTarget:
    """The rollup spreadsheet the service owns whole."""

    def __init__(
        self,
        spreadsheet: str,
        credentials: str | None = None,
        *,
        limits: Limits | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.spreadsheet = spreadsheet
        self.key = spreadsheet_key(spreadsheet)
        ROLLUP_KEYS.add(self.key)
        self.credentials = credentials
        self.limits = limits
        self._sleep = sleep
        self._client: GoogleClient | None = None
        self.title: str | None = None

    @property
    def client(self) -> GoogleClient:
        if self._client is None:
            self._client = GoogleClient(self.credentials, self.limits, self._sleep)
        return self._client

    def write_rollup(self, book: RollupBook) -> bool:
        """One read, then (if the content changed) one atomic batchUpdate that swaps every sheet.
        The swap is never resent blind: after a lost answer, a look at the fingerprint says
        whether it was applied (then it is written) or must be sent again."""
        client = self.client
        fingerprint = book.fingerprint()
        lost = False
        with client.errors(f"Google rollup spreadsheet {self.key}"):
            for _ in range(client.limits.attempts):
                meta = client.get(self.key, _META_FIELDS)
                title = str(meta.get("properties", {}).get("title") or self.key)
                if any(
                    m.get("metadataKey") == FINGERPRINT_KEY and m.get("metadataValue") == fingerprint
                    for m in meta.get("developerMetadata", [])
                ):
                    self.title = title
                    return lost  # unchanged, or our swap whose answer was lost
                try:
                    client.batch_update(self.key, swap_requests(book, meta, fingerprint), once=True)
                except AnswerLost:
                    lost = True
                    continue
                self.title = title
                return True
        raise RemoteError(
            f"Google rollup spreadsheet {self.key}: Google did not confirm the swap after "
            f"{client.limits.attempts} tries (the swap is all-or-nothing: readers see the previous "
            "rollup). Run the sync again / Google 仍未确认汇总表的替换（替换要么全部生效，要么全不生效："
            "读者看到的是上一版汇总）。请重新同步"
        )


def swap_requests(book: RollupBook, meta: dict[str, Any], fingerprint: str) -> list[dict[str, Any]]:
    """One atomic call: readers see the old rollup until it returns, then the new one. Each sheet
    keeps its id, so links to a tab (#gid=) survive every write."""
    old_meta = [m for m in meta.get("developerMetadata", []) if m.get("metadataKey") in (FINGERPRINT_KEY, OWNED_KEY)]
    old = [s["properties"] for s in meta.get("sheets", [])]
    ids = {str(p["title"]): int(p["sheetId"]) for p in old}
    taken = set(ids.values())

    def fresh() -> int:
        candidate = 100
        while candidate in taken:
            candidate += 1
        taken.add(candidate)
        return candidate

    placeholder = fresh()
    requests: list[dict[str, Any]] = [
        {"addSheet": {"properties": {"sheetId": placeholder, "title": f"~okr-sync {time.time_ns()}"}}}
    ]
    requests += [{"deleteSheet": {"sheetId": p["sheetId"]}} for p in old]
    for index, sheet in enumerate(book.sheets):
        sheet_id = ids[sheet.name] if sheet.name in ids else fresh()
        requests += sheet_requests(sheet, sheet_id, sheet.name, index)
        if sheet.name == "Units" and sheet.rows:
            requests += chart_requests(sheet, sheet_id)
    requests.append({"deleteSheet": {"sheetId": placeholder}})
    requests += [
        {"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {"metadataId": m["metadataId"]}}}}
        for m in old_meta
    ]
    for key, value in ((FINGERPRINT_KEY, fingerprint), (OWNED_KEY, "rollup")):
        requests.append(
            {
                "createDeveloperMetadata": {
                    "developerMetadata": {
                        "metadataKey": key,
                        "metadataValue": value,
                        "visibility": "DOCUMENT",
                        "location": {"spreadsheet": True},
                    }
                }
            }
        )
    return requests
