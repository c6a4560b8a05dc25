"""`okr-sync new --google`: a unit spreadsheet laid out like the xlsx template, with dropdowns,
colour bands, a frozen header, warning-only protection of computed columns, shared by Drive."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..core import schema
from ..core.model import column_index
from ..core.schema import Lang
from .google_client import GoogleClient, Limits, spreadsheet_url
from .google_rollup import _NAVY, _WHITE, rgb

_GREY_HEADER = {"red": 0.35, "green": 0.35, "blue": 0.35}
_COMPUTED_FILL = {"red": 0.93, "green": 0.93, "blue": 0.93}
_EPOCH = dt.datetime(1899, 12, 30)


def _cell(value: Any) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, dt.datetime | dt.date):
        d = value if isinstance(value, dt.datetime) else dt.datetime(value.year, value.month, value.day)
        return {
            "userEnteredValue": {"numberValue": (d - _EPOCH).days},
            "userEnteredFormat": {"numberFormat": {"type": "DATE", "pattern": "yyyy-mm-dd"}},
        }
    if isinstance(value, bool):
        return {"userEnteredValue": {"boolValue": value}}
    if isinstance(value, int | float):
        return {"userEnteredValue": {"numberValue": value}}
    return {"userEnteredValue": {"stringValue": str(value)}}


def _rng(sheet_id: int, r0: int, r1: int, c0: int, c1: int) -> dict[str, int]:
    return {"sheetId": sheet_id, "startRowIndex": r0, "endRowIndex": r1, "startColumnIndex": c0, "endColumnIndex": c1}


def create_spreadsheet(
    *,
    level: str,
    code: str,
    parent: str | None = None,
    name: str | None = None,
    owner: str | None = None,
    lang: str = "en",
    cycle: str | None = None,
    share: Sequence[str] = (),
    credentials: str | None = None,
    limits: Limits | None = None,
    okrs: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """Create a unit spreadsheet from the standard template (with rows, for new-cycle), share it, return its link."""
    from ..templates import DATA_ROWS, HEADER_ROW, build_template

    wb = build_template(level=level, code=code, parent=parent, name=name, owner=owner, lang=lang, cycle=cycle,
                        okrs=okrs)
    language: Lang = "zh" if lang == "zh" else "en"
    client = GoogleClient(credentials, limits)
    title = str(wb.properties.title or f"OKRs {code}")
    sheets = []
    for i, ws in enumerate(wb.worksheets):
        sheets.append(
            {
                "properties": {
                    "sheetId": i + 1,
                    "title": ws.title,
                    "index": i,
                    "gridProperties": {"rowCount": max(ws.max_row + 50, 300), "columnCount": max(ws.max_column, 26)},
                }
            }
        )
    with client.errors(f"new spreadsheet {title}"):
        created = client.create(
            {"properties": {"title": title, "locale": "zh_CN" if language == "zh" else "en_US"}, "sheets": sheets}
        )
        key = created["spreadsheetId"]
        requests: list[dict[str, Any]] = []
        okrs_name = schema.sheet_label(schema.SHEET_OKRS, language)
        for i, ws in enumerate(wb.worksheets):
            sheet_id = i + 1
            rows = []
            for row in ws.iter_rows(min_row=1, max_row=ws.max_row):
                rows.append({"values": [_cell(c.value) for c in row]})
            requests.append(
                {
                    "updateCells": {
                        "start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0},
                        "rows": rows,
                        "fields": "userEnteredValue,userEnteredFormat.numberFormat",
                    }
                }
            )
            for letter, dim in ws.column_dimensions.items():
                if dim.width:
                    col = column_index(letter) - 1
                    requests.append(
                        {
                            "updateDimensionProperties": {
                                "range": {
                                    "sheetId": sheet_id,
                                    "dimension": "COLUMNS",
                                    "startIndex": col,
                                    "endIndex": col + 1,
                                },
                                "properties": {"pixelSize": int(dim.width * 7 + 5)},
                                "fields": "pixelSize",
                            }
                        }
                    )
            if ws.title == okrs_name:
                requests += _okrs_requests(sheet_id, ws, language, HEADER_ROW, HEADER_ROW + DATA_ROWS)
        client.batch_update(key, requests)
        for email in share:
            client.share(key, email.strip())
    return spreadsheet_url(key)


def _okrs_requests(sheet_id: int, ws: Any, lang: Lang, header_row: int, last_row: int) -> list[dict[str, Any]]:
    col_of: dict[str, int] = {}
    for c in range(1, ws.max_column + 1):
        key = schema.HEADER_LOOKUP.get(schema.normalize(ws.cell(header_row, c).value or ""))
        if key:
            col_of[key] = c - 1
    first = header_row  # 0-based index of the first data row
    out: list[dict[str, Any]] = [
        {
            "updateSheetProperties": {
                "properties": {"sheetId": sheet_id, "gridProperties": {"frozenRowCount": header_row}},
                "fields": "gridProperties.frozenRowCount",
            }
        },
        {
            "repeatCell": {
                "range": _rng(sheet_id, 0, 1, 0, 1),
                "cell": {"userEnteredFormat": {"textFormat": {"bold": True, "fontSize": 16, "foregroundColor": _NAVY}}},
                "fields": "userEnteredFormat.textFormat",
            }
        },
    ]
    for key, c in col_of.items():
        computed = schema.COLUMNS_BY_KEY[key].computed
        out.append(
            {
                "repeatCell": {
                    "range": _rng(sheet_id, header_row - 1, header_row, c, c + 1),
                    "cell": {
                        "userEnteredFormat": {
                            "backgroundColor": _GREY_HEADER if computed else _NAVY,
                            "textFormat": {"bold": True, "foregroundColor": _WHITE},
                            "horizontalAlignment": "CENTER",
                            "wrapStrategy": "WRAP",
                        }
                    },
                    "fields": "userEnteredFormat",
                }
            }
        )
        if computed:
            out.append(
                {
                    "repeatCell": {
                        "range": _rng(sheet_id, first, last_row, c, c + 1),
                        "cell": {"userEnteredFormat": {"backgroundColor": _COMPUTED_FILL}},
                        "fields": "userEnteredFormat.backgroundColor",
                    }
                }
            )
    formats = {
        "progress": {"type": "PERCENT", "pattern": "0%"},
        "score": {"type": "NUMBER", "pattern": "0.00"},
        "aligned_score": {"type": "NUMBER", "pattern": "0.00"},
        "due": {"type": "DATE", "pattern": "yyyy-mm-dd"},
    }
    for key, fmt in formats.items():
        if key in col_of:
            c = col_of[key]
            out.append(
                {
                    "repeatCell": {
                        "range": _rng(sheet_id, first, last_row, c, c + 1),
                        "cell": {"userEnteredFormat": {"numberFormat": fmt}},
                        "fields": "userEnteredFormat.numberFormat",
                    }
                }
            )
    # Dropdowns warn rather than refuse: the standard accepts other spellings.
    for key, table in (("type", schema.TYPES), ("commitment", schema.COMMITMENTS), ("metric", schema.METRICS)):
        if key in col_of:
            c = col_of[key]
            labels = [schema.label(table, v, lang) for v in table]
            out.append(
                {
                    "setDataValidation": {
                        "range": _rng(sheet_id, first, last_row, c, c + 1),
                        "rule": {
                            "condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": v} for v in labels]},
                            "strict": False,
                            "showCustomUi": True,
                        },
                    }
                }
            )
    checks = {
        "confidence": {"type": "NUMBER_BETWEEN", "values": [{"userEnteredValue": "0"}, {"userEnteredValue": "10"}]},
        "weight": {"type": "NUMBER_GREATER", "values": [{"userEnteredValue": "0"}]},
    }
    for key, condition in checks.items():
        if key in col_of:
            c = col_of[key]
            out.append(
                {
                    "setDataValidation": {
                        "range": _rng(sheet_id, first, last_row, c, c + 1),
                        "rule": {"condition": condition, "strict": False},
                    }
                }
            )
    # Colours: the template's own conditional formats, translated, so both templates share one colour language.
    out += colour_rules(sheet_id, ws)
    computed_cols = sorted(c for k, c in col_of.items() if schema.COLUMNS_BY_KEY[k].computed)
    if computed_cols:
        note = (
            "okr-sync writes these columns; edits are overwritten at the next sync"
            if lang == "en"
            else "这些列由 okr-sync 写入；手动修改会在下次同步时被覆盖"
        )
        out.append(
            {
                "addProtectedRange": {
                    "protectedRange": {
                        "range": _rng(sheet_id, header_row - 1, last_row, computed_cols[0], computed_cols[-1] + 1),
                        "description": note,
                        "warningOnly": True,
                    }
                }
            }
        )
    return out




# A reference into another sheet: Sheets' conditional formats reach other sheets only through INDIRECT.
_SHEET_REF = re.compile(r"((?:'[^']+'|[A-Za-z_][\w.]*)!\$?[A-Z]{1,3}\$?\d+(?::\$?[A-Z]{1,3}\$?\d+)?)")


def colour_rules(sheet_id: int, ws: Any) -> list[dict[str, Any]]:
    """The xlsx template's formula conditional formats as Sheets CUSTOM_FORMULA rules, in the same order."""
    out: list[dict[str, Any]] = []
    rules = sorted(
        ((rule.priority or 0, str(cf.sqref), rule) for cf in ws.conditional_formatting for rule in cf.rules),
        key=lambda item: item[0],
    )
    for _, sqref, rule in rules:
        if rule.type != "expression" or not rule.formula or rule.dxf is None:
            continue
        formula = _SHEET_REF.sub(lambda m: f'INDIRECT("{m.group(1).replace(chr(34), chr(34) * 2)}")', rule.formula[0])
        fmt: dict[str, Any] = {}
        fill = rule.dxf.fill
        colour = (fill.bgColor.rgb if fill is not None and fill.bgColor is not None else None) or (
            fill.fgColor.rgb if fill is not None and fill.fgColor is not None else None
        )
        if isinstance(colour, str) and colour not in ("00000000",):
            fmt["backgroundColor"] = rgb(colour[-6:])
        font = rule.dxf.font
        if font is not None:
            text: dict[str, Any] = {}
            if font.color is not None and isinstance(font.color.rgb, str):
                text["foregroundColor"] = rgb(font.color.rgb[-6:])
            if font.b:
                text["bold"] = True
            if text:
                fmt["textFormat"] = text
        ranges = [_a1_range(sheet_id, part) for part in sqref.split()]
        out.append({
            "addConditionalFormatRule": {
                "index": len(out),
                "rule": {
                    "ranges": ranges,
                    "booleanRule": {
                        "condition": {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": f"={formula}"}]},
                        "format": fmt,
                    },
                },
            }
        })
    return out


def _a1_range(sheet_id: int, ref: str) -> dict[str, int]:
    """'R5:R54' -> a 0-based, end-exclusive GridRange."""
    first, _, last = ref.partition(":")
    last = last or first
    (r1, c1), (r2, c2) = (_split(first), _split(last))
    return _rng(sheet_id, r1 - 1, r2, c1 - 1, c2)


def _split(cell: str) -> tuple[int, int]:
    match = re.fullmatch(r"\$?([A-Z]{1,3})\$?(\d+)", cell)
    if match is None:
        raise ValueError(cell)
    return int(match[2]), column_index(match[1])
