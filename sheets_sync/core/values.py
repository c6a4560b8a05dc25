"""Typed values read the way people type them: numbers, dates, choices; rounding as a spreadsheet does."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal

from .model import CellError, CellValue, NoCachedValue
from .schema import normalize


class Unreadable(ValueError):
    """A cell value that cannot be read as the type its column needs."""

    def __init__(self, kind: str, value: CellValue) -> None:
        super().__init__(f"cannot read {value!r} as {kind}")
        self.kind = kind
        self.value = value


# Spreadsheets count days from 1899-12-30 (the 1900 leap-year bug folded in).
SERIAL_EPOCH = dt.datetime(1899, 12, 30)
_MAX_SERIAL = 2958465  # 9999-12-31

_MULTIPLIERS = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}
_CURRENCY = re.compile(r"(?i)(rmb|cny|usd|eur|hkd|元|块|圆|[¥$€£￥])")
_GROUPING = re.compile(r"(?<=\d)[,\s\u00a0\u2009\u202f'’](?=\d{3})")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


# The two value types no column can read; a set of exact types, tested per cell (faster than isinstance).
UNREADABLE_TYPES = frozenset({CellError, NoCachedValue})


def is_blank(value: CellValue) -> bool:
    """True for an empty cell or one holding only spaces."""
    return value is None or (isinstance(value, str) and not value.strip())


def is_unreadable(value: CellValue) -> bool:
    """True for an error value (#N/A...) or a formula without a computed value."""
    return type(value) in UNREADABLE_TYPES


def as_text(value: CellValue) -> str | None:
    """A cell as trimmed text; numbers without a spurious .0; None when blank."""
    if type(value) is str:  # most cells: text, trimmed, blank when only spaces
        return value.strip() or None
    if value is None or type(value) in UNREADABLE_TYPES or is_blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def parse_number(value: CellValue) -> float:
    """Read `1,500`, `1 500`, `¥20`, `20元`, `１５０`, `75%`, `1.5万` and numeric cells as a float."""
    if type(value) is float or type(value) is int:  # numeric cells, the common case (bool is not int here)
        return float(value)
    if isinstance(value, bool) or is_unreadable(value) or value is None:
        raise Unreadable("number", value)
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise Unreadable("number", value)
    text = unicodedata.normalize("NFKC", value).strip().replace("−", "-")
    text = _CURRENCY.sub("", text).strip()
    factor = 1.0
    if text.endswith("%"):
        text, factor = text[:-1].strip(), 0.01
    elif text and text[-1] in _MULTIPLIERS:
        text, factor = text[:-1].strip(), float(_MULTIPLIERS[text[-1]])
    text = _GROUPING.sub("", text).replace(" ", "")
    if not _NUMBER.fullmatch(text):
        raise Unreadable("number", value)
    return clean_float(float(text) * factor)


_DATE_PATTERNS = (
    re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?"),
    re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?"),
)


def parse_date(value: CellValue) -> dt.date:
    """Read a date cell, a serial number (Google, Excel JS) or text such as 2026-10-01 / 2026年10月1日."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 0 < value <= _MAX_SERIAL:
            return (SERIAL_EPOCH + dt.timedelta(days=float(value))).date()
        raise Unreadable("date", value)
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        for pattern in _DATE_PATTERNS:
            match = pattern.fullmatch(text)
            if match:
                year, month, day = (int(g) for g in match.groups()[:3])
                try:
                    return dt.date(year, month, day)
                except ValueError:
                    break
    raise Unreadable("date", value)


def parse_choice(value: CellValue, lookup: dict[str, str], kind: str) -> str:
    """Read a choice (Type, Metric, Commitment, Level) ignoring case and spaces, in English or Chinese."""
    text = as_text(value)
    if text is None:
        raise Unreadable(kind, value)
    found = lookup.get(normalize(text))
    if found is None:
        raise Unreadable(kind, value)
    return found


_FRACTION_OF_TEN = re.compile(r"\s*([0-9.]+)\s*/\s*10\s*")


def parse_confidence(value: CellValue) -> float:
    """Read a 0–10 Confidence as people type it: `7`, `7/10`, `70%` (= 7)."""
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value)
        match = _FRACTION_OF_TEN.fullmatch(text)
        if match:
            return parse_number(match.group(1))
        if text.strip().endswith("%"):
            return clean_float(parse_number(text) * 10)
    return parse_number(value)


def clean_float(value: float) -> float:
    """Drop binary noise: 0.8200000000000001 → 0.82 (15 significant digits, as a spreadsheet keeps)."""
    return float(format(value, ".15g"))


def typed_with(value: CellValue) -> str | None:
    """How a number cell was typed: "%" or a multiplier (万, 亿) when text carries one, else None."""
    if not isinstance(value, str):
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    text = _CURRENCY.sub("", text).strip()
    if text.endswith("%"):
        return "%"
    if text and text[-1] in _MULTIPLIERS:
        return text[-1]
    return None


_YES = {normalize(w) for w in ("yes", "y", "true", "1", "done", "是", "完成")}


def parse_yes_no(value: CellValue) -> float:
    """yes / y / true / 1 / done / 是 / 完成 → 1; anything else typed → 0."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return 1.0 if value == 1 else 0.0
    text = as_text(value)
    return 1.0 if text is not None and normalize(text) in _YES else 0.0


def round2(value: float) -> float:
    """Round to 2 decimals half up, as a spreadsheet's ROUND does (15 significant digits first)."""
    exact = Decimal(format(value, ".15g"))
    return float(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def weighted_mean(pairs: list[tuple[float, float]]) -> float | None:
    """Weight-weighted mean of (value, weight) pairs, rounded; None when there are none."""
    total = sum(w for _, w in pairs)
    if not pairs or total <= 0:
        return None
    return round2(sum(v * w for v, w in pairs) / total)


def same_value(old: CellValue, new: CellValue) -> bool:
    """Whether writing `new` over `old` would change what the cell shows."""
    if is_blank(old) and is_blank(new):
        return True
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new) and old == new
    if isinstance(old, int | float) and isinstance(new, int | float):
        return abs(float(old) - float(new)) < 1e-9
    if isinstance(old, str) and isinstance(new, str):
        return old == new
    if isinstance(old, dt.date) and isinstance(new, dt.date):
        # A date cell reads back as a midnight datetime from some stores.
        return _midnight(old) == _midnight(new)
    return False


def _midnight(value: dt.date) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime(value.year, value.month, value.day)
