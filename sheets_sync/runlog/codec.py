"""Cell values as typed JSON for the run log, and any value made JSON-safe."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ..core.model import CellError, CellValue, NoCachedValue


def encode_value(value: CellValue) -> str:
    """A cell value as typed JSON, so undo writes back a date as a date and 1 as a number."""
    if value is None:
        return json.dumps({"t": "null"})
    if isinstance(value, bool):
        return json.dumps({"t": "bool", "v": value})
    if isinstance(value, int):
        return json.dumps({"t": "int", "v": value})
    if isinstance(value, float):
        return json.dumps({"t": "float", "v": value})
    if isinstance(value, dt.datetime):
        return json.dumps({"t": "datetime", "v": value.isoformat()})
    if isinstance(value, dt.date):
        return json.dumps({"t": "date", "v": value.isoformat()})
    if isinstance(value, CellError):
        return json.dumps({"t": "error", "v": value.code})
    if isinstance(value, NoCachedValue):
        return json.dumps({"t": "formula", "v": value.formula})
    return json.dumps({"t": "str", "v": str(value)}, ensure_ascii=False)


def decode_value(text: str) -> CellValue:
    """The inverse of encode_value."""
    data = json.loads(text)
    kind, value = data.get("t"), data.get("v")
    if kind == "null":
        return None
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "error":
        return CellError(value)
    if kind == "formula":
        return NoCachedValue(value)
    return str(value)


_AS_IS = frozenset({type(None), bool, int, float})


def json_safe(value: Any) -> Any:
    """A value any JSON encoder takes: dates as ISO text, error values as their code."""
    kind = type(value)
    if kind in _AS_IS:  # exact types first: a rollup carries a million cells
        return value
    if kind is str:
        return value if value.isascii() else safe_text(value)
    if kind is list:
        return [v if type(v) in _AS_IS else json_safe(v) for v in value]
    if isinstance(value, str):
        return safe_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    return str(value)


def safe_text(text: str) -> str:
    """Text that always encodes as UTF-8: undecodable bytes of a file name show escaped (caf\\xe9.xlsx), as
    every message shows them, never raise."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
