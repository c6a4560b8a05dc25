"""The company rollup as a Google spreadsheet: the xlsx rollup's sheets, Summary and charts, swapped in whole
by one atomic spreadsheets:batchUpdate."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..core import bands
from ..core.model import CellValue
from ..core.rollup import STATUS_COUNT_KEYS, SUMMARY_SHEET, TONED, ColumnKind, RollupBook, RollupSheet
from ..errors import AnswerLost, RemoteError
from .google_client import GoogleClient, Limits, spreadsheet_key

FINGERPRINT_KEY = "okr-sync.rollup-fingerprint"
OWNED_KEY = "okr-sync.owned"
# Keys of rollup spreadsheets this process writes: a Drive folder listing never takes them as units.
ROLLUP_KEYS: set[str] = set()

_META_FIELDS = (
    "properties(title),developerMetadata(metadataId,metadataKey,metadataValue),sheets(properties(sheetId,title))"
)


def rgb(hex_colour: str) -> dict[str, float]:
    """'FF8000' -> Sheets' {red, green, blue} in 0–1."""
    return {name: round(int(hex_colour[i:i + 2], 16) / 255, 3) for name, i in (("red", 0), ("green", 2), ("blue", 4))}


_NAVY = rgb(bands.HEADER.fill)
_WHITE = rgb(bands.HEADER.font)
_OBJECTIVE = rgb(bands.OBJECTIVE_FILL)
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


def tone_format(tone: str | None) -> dict[str, Any]:
    """The fill and text colour of a bands.PALETTE colour name (empty for none)."""
    if not tone:
        return {}
    colour = bands.PALETTE[tone]
    return {"backgroundColor": rgb(colour.fill), "textFormat": {"foregroundColor": rgb(colour.font)}}


def _row_cells(sheet: RollupSheet, r: int, row: list[CellValue]) -> list[dict[str, Any]]:
    """One data row: values, the row's tone on its toned cells, objective rows set apart, long text wrapped."""
    tone = tone_format(sheet.tone(r))
    strong = sheet.is_strong(r)
    cells = []
    for c, (value, kind) in enumerate(zip(row, sheet.kinds, strict=False)):
        cell = cell_data(value, kind)
        fmt: dict[str, Any] = dict(cell.get("userEnteredFormat", {}))
        if strong:
            fmt["backgroundColor"] = _OBJECTIVE
            fmt["textFormat"] = {"bold": True}
        if kind in TONED and value is not None and tone:
            fmt["backgroundColor"] = tone["backgroundColor"]
            fmt["textFormat"] = {**fmt.get("textFormat", {}), **tone["textFormat"]}
        if isinstance(value, str) and kind == "text":
            fmt["wrapStrategy"] = "WRAP"
            fmt["verticalAlignment"] = "TOP"
        if sheet.depths is not None and r < len(sheet.depths) and c in (0, 1) and sheet.depths[r]:
            fmt["padding"] = {"left": 3 + 14 * sheet.depths[r]}  # ID and Objective indent with the tree
        if fmt:
            cell["userEnteredFormat"] = fmt
        cells.append(cell)
    return cells


def sheet_requests(sheet: RollupSheet, sheet_id: int, title: str, index: int) -> list[dict[str, Any]]:
    """Add one rollup sheet under a temporary title, with its data, header and colours."""
    rows = len(sheet.rows) + 1
    cols = len(sheet.headers)
    header = [
        {
            "userEnteredValue": {"stringValue": h},
            "userEnteredFormat": {"backgroundColor": _NAVY, "textFormat": {"bold": True, "foregroundColor": _WHITE}},
        }
        for h in sheet.headers
    ]
    body = [{"values": _row_cells(sheet, r, row)} for r, row in enumerate(sheet.rows)]
    return [
        {
            "addSheet": {
                "properties": {
                    "sheetId": sheet_id,
                    "title": title,
                    "index": index,
                    "gridProperties": {"rowCount": max(rows + 1, 45), "columnCount": cols + 2, "frozenRowCount": 1},
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


def summary_requests(book: RollupBook, sheet_id: int, units_id: int | None) -> list[dict[str, Any]]:
    """The Summary sheet from the core's Summary (the xlsx rollup's figures), with the Units charts."""
    summary = book.summary()
    label = {"userEnteredFormat": {"textFormat": {"bold": True}}}

    def line(caption: str, value: CellValue, kind: ColumnKind = "int", tone: str | None = None) -> dict[str, Any]:
        cell = cell_data(value, kind)
        if tone:
            cell["userEnteredFormat"] = {**cell.get("userEnteredFormat", {}), **tone_format(tone)}
        return {"values": [{"userEnteredValue": {"stringValue": caption}, **label}, cell]}

    def note(text: str) -> dict[str, Any]:
        return {"values": [{"userEnteredValue": {"stringValue": text},
                            "userEnteredFormat": {"textFormat": {"italic": True}}}]}

    rows: list[dict[str, Any]] = [
        {"values": [{"userEnteredValue": {"stringValue": "OKR rollup · OKR 汇总"},
                     "userEnteredFormat": {"textFormat": {"bold": True, "fontSize": 16, "foregroundColor": _NAVY}}}]},
        {"values": []},
        line("Company score · 公司得分", summary.company_score, "score",
             summary.company_tone if summary.company_score is not None else None),
        line("As of · 截至", summary.as_of or None, "text"),
        line("Units · 单元", summary.units),
        line("Objectives · 目标", summary.objectives),
        line("Key results · 关键结果", summary.key_results),
        {"values": []},
        note("Objectives and key results by status · 目标与关键结果的状态"),
        *[line(f"{en[:1].upper()}{en[1:]} · {zh}", summary.statuses[s], tone=bands.STATUS_COLOUR_NAMES[s])
          for s in bands.STATUS_ORDER for en, zh in [bands.STATUS_LABELS[s]]],
        {"values": []},
        line("Errors · 错误", summary.errors, tone="red" if summary.errors else None),
        line("Warnings · 警告", summary.warnings, tone="yellow" if summary.warnings else None),
        {"values": []},
        note("Written by okr-sync on every sync: edit the units' workbooks, not this one."),
        note("本工作簿由 okr-sync 在每次同步时重写：请修改各单元的工作簿，不要在此编辑。"),
    ]
    requests: list[dict[str, Any]] = [
        {
            "addSheet": {
                "properties": {
                    "sheetId": sheet_id,
                    "title": SUMMARY_SHEET,
                    "index": 0,
                    "gridProperties": {"rowCount": max(len(rows) + 1, 45), "columnCount": 26},
                }
            }
        },
        {
            "updateCells": {
                "start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0},
                "rows": rows,
                "fields": "userEnteredValue,userEnteredFormat",
            }
        },
        {
            "updateDimensionProperties": {
                "range": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": 0, "endIndex": 1},
                "properties": {"pixelSize": 230},
                "fields": "pixelSize",
            }
        },
    ]
    units = book.find("Units")
    if units is not None and units.rows and units_id is not None:
        requests += chart_requests(units, units_id, sheet_id)
    return requests


def chart_requests(units: RollupSheet, units_id: int, summary_id: int | None = None) -> list[dict[str, Any]]:
    """Unit scores (bars in each unit's colour) and status counts per unit (stacked), on the Summary sheet."""
    rows = len(units.rows) + 1
    on = units_id if summary_id is None else summary_id

    def source(c: int) -> dict[str, Any]:
        return {
            "sourceRange": {
                "sources": [
                    {
                        "sheetId": units_id,
                        "startRowIndex": 0,
                        "endRowIndex": rows,
                        "startColumnIndex": c,
                        "endColumnIndex": c + 1,
                    }
                ]
            }
        }

    def anchor(column: int) -> dict[str, Any]:
        return {"overlayPosition": {"anchorCell": {"sheetId": on, "rowIndex": 1, "columnIndex": column}}}

    unit_col, score_col = units.col("unit"), units.col("score")
    out: list[dict[str, Any]] = []
    if unit_col is not None and score_col is not None:
        styles = [
            {"index": i, "color": rgb(bands.PALETTE[tone].strong)}
            for i in range(len(units.rows))
            if (tone := units.tone(i)) is not None
        ]
        out.append({
            "addChart": {
                "chart": {
                    "position": anchor(3),
                    "spec": {
                        "title": "Unit scores · 单元得分",
                        "basicChart": {
                            "chartType": "BAR",
                            "legendPosition": "NO_LEGEND",
                            "headerCount": 1,
                            "axis": [{"position": "BOTTOM_AXIS", "title": "Score"}],
                            "domains": [{"domain": source(unit_col)}],
                            "series": [{"series": source(score_col), "targetAxis": "BOTTOM_AXIS",
                                        "styleOverrides": styles}],
                        },
                    },
                }
            }
        })
    series = [
        {"series": source(col), "targetAxis": "LEFT_AXIS",
         "color": rgb(bands.PALETTE[bands.STATUS_COLOUR_NAMES[status]].strong)}
        for status in bands.STATUS_ORDER
        if (col := units.col(STATUS_COUNT_KEYS[status])) is not None
    ]
    if unit_col is not None and series:
        out.append({
            "addChart": {
                "chart": {
                    "position": anchor(12),
                    "spec": {
                        "title": "Status per unit · 各单元状态",
                        "basicChart": {
                            "chartType": "BAR",
                            "stackedType": "STACKED",
                            "legendPosition": "BOTTOM_LEGEND",
                            "headerCount": 1,
                            "domains": [{"domain": source(unit_col)}],
                            "series": series,
                        },
                    },
                }
            }
        })
    return out


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
    # The same sheets as the xlsx rollup: Summary first, then the core's sheets in order.
    summary_id = ids[SUMMARY_SHEET] if SUMMARY_SHEET in ids else fresh()
    units_id = None
    for index, sheet in enumerate(book.sheets, start=1):
        sheet_id = ids[sheet.name] if sheet.name in ids else fresh()
        requests += sheet_requests(sheet, sheet_id, sheet.name, index)
        if sheet.name == "Units":
            units_id = sheet_id
    requests += summary_requests(book, summary_id, units_id)
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
