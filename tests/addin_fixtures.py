"""Workbooks as the Excel JS API hands them to the add-in: values only, dates as serial numbers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from builders import kr, o, okrs_grid, settings_grid

TOKEN = "s3cret-addin-token-0123456789abcdef"
EXCEL_EPOCH = dt.date(1899, 12, 30)
END_OF_CYCLE = "2026-12-31"


def serial(day: dt.date) -> float:
    """A date as Excel's serial number, as Range.values returns it."""
    if isinstance(day, dt.datetime):
        start = dt.datetime.combine(EXCEL_EPOCH, dt.time())
        return (day - start).total_seconds() / 86400
    return (day - EXCEL_EPOCH).days


def excel_values(grid: list[list[Any]]) -> list[list[Any]]:
    """A grid as Range.values: rectangular, blanks as "", dates as serials."""
    width = max((len(line) for line in grid), default=0)
    out = []
    for line in grid:
        row = []
        for value in list(line) + [None] * (width - len(line)):
            if isinstance(value, dt.date):
                value = serial(value)
            row.append("" if value is None else value)
        out.append(row)
    return out


def mkt_rows() -> list[dict[str, Any]]:
    """Two objectives: O1 scores 0.75 (on track at the cycle's end), O2 0.2 (off track)."""
    return [
        o("O1", "Grow qualified pipeline", owner="Ana", aligns_to=None, weight=1),
        kr("KR1.1", "Leads per month", metric="number", start=0, target=100, current=50),
        kr("KR1.2", "Launch the partner page", metric="yes-no", target=None, current="yes"),
        o("O2", "Cut cost per lead", owner="Bo", weight=1),
        kr("KR2.1", "Cost per lead", metric="currency", start=30, target=20, current="28"),
    ]


def payload(
    code: str = "MKT",
    rows: list[dict[str, Any]] | None = None,
    lang: str = "en",
    banner: bool = False,
    level: str = "company",
    as_of: str | None = END_OF_CYCLE,
    source: str = "MKT.xlsx",
) -> dict[str, Any]:
    """The body the add-in posts for one workbook."""
    settings_name = "设置" if lang == "zh" else "Settings"
    okrs = okrs_grid(rows if rows is not None else mkt_rows(), lang, banner=banner)
    body: dict[str, Any] = {
        "source": source,
        "sheets": {
            settings_name: excel_values(settings_grid(code, level, None, lang)),
            "OKRs": excel_values(okrs),
        },
        "sheet_names": [settings_name, "OKRs", "Notes"],
    }
    if as_of:
        body["as_of"] = as_of
    return body


def big_rows(objectives: int = 100, krs_each: int = 5) -> list[dict[str, Any]]:
    """A large unit: `objectives` × `krs_each` key results with varied metrics and values."""
    rows: list[dict[str, Any]] = []
    metrics = ["number", "percent", "currency", "yes-no", "milestone"]
    for i in range(1, objectives + 1):
        rows.append(o(f"O{i}", f"Objective {i}", owner=f"Owner {i % 7}"))
        for j in range(1, krs_each + 1):
            metric = metrics[(i + j) % len(metrics)]
            current: Any = (i * 7 + j * 13) % 100
            target: Any = 100
            if metric == "yes-no":
                current, target = ("yes" if (i + j) % 2 else "no"), None
            elif metric == "milestone":
                current, target = f"{(i * j) % 100}%", None
            elif metric == "percent":
                current, target = f"{(i + j * 11) % 100}%", "90%"
            rows.append(
                kr(
                    f"KR{i}.{j}",
                    f"Key result {i}.{j}",
                    metric=metric,
                    start=0,
                    target=target,
                    current=current,
                    confidence=(i + j) % 11,
                    weight=1 + (j % 2),
                )
            )
    return rows


def excel_js_sheets(path: Any, names: list[str] | None = None) -> dict[str, list[list[Any]]]:
    """A real workbook's sheets as Range.values gives them (read with calamine): A1-anchored."""
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(path))
    out = {}
    for name in names or wb.sheet_names:
        grid = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
        out[name] = excel_values([[None if v == "" else v for v in line] for line in grid])
    return out
