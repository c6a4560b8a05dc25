"""Build unit workbooks as grids (memory backend) or .xlsx files for tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sheets_sync.core import schema

HEADER_KEYS = ["type", "id", "text", "owner", "aligns_to", "depends_on", "commitment", "weight",
               "metric", "start", "target", "current", "source", "confidence", "due", "notes",
               "progress", "score", "status", "check", "aligned_score"]


def settings_grid(code: str, level: str, parent: str | None = None, lang: str = "en",
                  start: Any = dt.date(2026, 10, 1), end: Any = dt.date(2026, 12, 31),
                  name: str | None = None, cycle: str = "2026-Q4") -> list[list[Any]]:
    """A Settings sheet as rows of (key, value) in the given language."""
    values = {"unit_code": code, "unit_name": name or code, "level": level, "parent": parent,
              "cycle": cycle, "cycle_start": start, "cycle_end": end, "owner": "Owner",
              "language": lang}
    return [[(s.zh if lang == "zh" else s.en), values[s.key]] for s in schema.SETTING_KEYS]


def okrs_grid(rows: list[dict[str, Any]], lang: str = "en", banner: bool = False,
              keys: list[str] | None = None) -> list[list[Any]]:
    """An OKRs sheet: optional banner row, the header, then one line per row dict."""
    keys = keys or HEADER_KEYS
    header = [schema.COLUMNS_BY_KEY[k].header(lang) for k in keys]
    grid: list[list[Any]] = [["Q4 OKRs", None], []] if banner else []
    grid.append(header)
    for row in rows:
        grid.append([row.get(k) for k in keys])
    return grid


def unit(code: str, level: str, rows: list[dict[str, Any]], parent: str | None = None,
         lang: str = "en", **settings: Any) -> dict[str, list[list[Any]]]:
    """A whole unit workbook as {sheet: grid}."""
    okrs_name = "OKRs"
    settings_name = "设置" if lang == "zh" else "Settings"
    return {settings_name: settings_grid(code, level, parent, lang, **settings),
            okrs_name: okrs_grid(rows, lang)}


def o(id: str, text: str, **kw: Any) -> dict[str, Any]:
    return {"type": "O", "id": id, "text": text, **kw}


def kr(id: str, text: str, **kw: Any) -> dict[str, Any]:
    return {"type": "KR", "id": id, "text": text, **kw}


def write_xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """Write a workbook with openpyxl (values only)."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, grid in sheets.items():
        ws = wb.create_sheet(name)
        for r, line in enumerate(grid, start=1):
            for c, value in enumerate(line, start=1):
                if value is not None:
                    ws.cell(r, c, value)
    wb.save(path)
    return path
