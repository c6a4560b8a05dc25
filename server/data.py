"""What the API and dashboard show: the workspace, the latest run's report, trends, History rows."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import abort, current_app, has_request_context, request

from sheets_sync import operations
from sheets_sync.core import bands
from sheets_sync.core.rollup import ROLLUP_SHEETS
from sheets_sync.core.schema import HISTORY_HEADERS, HISTORY_KEYS, SHEET_HISTORY, match_sheet, normalize
from sheets_sync.core.values import SERIAL_EPOCH, clean_float
from sheets_sync.errors import ConfigError, UnknownCycle
from sheets_sync.locking import LockHolder, current_holder
from sheets_sync.operations import RunRecord
from sheets_sync.operations.workbooks import backend_for
from sheets_sync.runlog.codec import json_safe
from sheets_sync.workspace import Workspace

PREVIEW_TTL = 60.0
_LEGACY_KEYS = {(sheet, title): key for sheet, columns in ROLLUP_SHEETS.items() for key, title, _ in columns}
_cache_lock = threading.Lock()
_preview_lock = threading.Lock()

# A global ID: unit code, one slash, local ID. No path separators, dots-only parts or controls.
_CYCLE = re.compile(r"^[\w .-]{1,24}$")
_GLOBAL_ID = re.compile(r"^(?P<unit>[\w-]{1,40})/(?P<local>(?:O|KR)\d{1,4}(?:\.\d{1,4})?)$", re.IGNORECASE)


@dataclass
class View:
    """The latest known state of the company: the newest recorded sync's report, else a dry-run preview's."""

    run: RunRecord | None
    snapshot: dict[str, Any]
    preview: bool = False
    sheets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rollup = self.snapshot.get("rollup_book") or {}
        self.sheets = {s["name"]: s for s in rollup.get("sheets", [])}

    def records(self, sheet: str) -> list[dict[str, Any]]:
        """A rollup sheet's rows as column key -> value dicts (plus _tone, and _depth for Alignment).

        Keys, not titles: a column's title may be renamed without breaking a reader. A snapshot stored
        before keys existed gets them from the titles the rollup had then.
        """
        data = self.sheets.get(sheet)
        if not data:
            return []
        keys = data.get("keys") or [_LEGACY_KEYS.get((sheet, h), h) for h in data["headers"]]
        tones = data.get("tones") or []
        depths = data.get("depths") or []
        out = []
        for i, row in enumerate(data["rows"]):
            item = dict(zip(keys, row, strict=False))
            item["_tone"] = tones[i] if i < len(tones) else None
            if depths:
                item["_depth"] = depths[i] if i < len(depths) else 0
            out.append(item)
        return out

    def rows(self, sheet: str) -> list[dict[str, Any]]:
        """A rollup sheet's rows as header -> value dicts (plus _depth for Alignment)."""
        data = self.sheets.get(sheet)
        if not data:
            return []
        out = []
        depths = data.get("depths") or []
        for i, row in enumerate(data["rows"]):
            item = dict(zip(data["headers"], row, strict=False))
            if depths:
                item["_depth"] = depths[i] if i < len(depths) else 0
            out.append(item)
        return out

    @property
    def units(self) -> list[dict[str, Any]]:
        """Each unit's summary, joined with its row of the Units sheet."""
        by_code = {r.get("unit"): r for r in self.records("Units")}
        merged = []
        for u in self.snapshot.get("units", []):
            row = by_code.get(u.get("unit"), {})
            merged.append(
                {
                    **u,
                    "parent": row.get("parent"),
                    "objectives": row.get("objectives"),
                    "key_results": row.get("key_results"),
                    "on_track": row.get("on_track"),
                    "at_risk": row.get("at_risk"),
                    "off_track": row.get("off_track"),
                    "done": row.get("done"),
                    "no_data": row.get("no_data"),
                    "status": row.get("status"),
                    "tone": row.get("_tone") or bands.tone(None, u.get("score"), ended=False),
                }
            )
        return merged


def workspace() -> Workspace:
    """The server's workspace, loaded once per app."""
    ext = current_app.extensions["okr_sync"]
    with _cache_lock:
        if "workspace" not in ext:
            path = current_app.config.get("WORKSPACE")
            if not path:
                raise ConfigError("the server has no workspace: start it with `okr-sync serve okr-sync.toml`")
            ext["workspace"] = Workspace.from_path(path, cycle=current_app.config.get("CYCLE"))
        return ext["workspace"]  # type: ignore[no-any-return]


def invalidate() -> None:
    """Forget cached previews after a real sync."""
    ext = current_app.extensions["okr_sync"]
    with _cache_lock:
        for key in [k for k in ext if str(k).startswith("preview")]:
            ext.pop(key, None)


def requested_cycle() -> str | None:
    """The cycle a request asks for (`?cycle=2026-Q3`), canonical; None for the newest synced one."""
    text = request.args.get("cycle") if has_request_context() else None
    if not text:
        return None
    if not _CYCLE.fullmatch(text):
        abort(400, description="cycle must be a cycle name like 2026-Q4.")
    from sheets_sync.core.cycle_model import cycle_name

    return cycle_name(text)


def view(cycle: str | None = None) -> View:
    """The newest recorded sync's report (of a cycle: the request's `?cycle=`), else a dry run cached a minute."""
    ws = workspace()
    asked = None if cycle else requested_cycle()
    cycle = cycle or asked or ws.cycle
    ext = current_app.extensions["okr_sync"]
    latest = operations.latest_report(ws, operations.cycle_span(ws, cycle)) if cycle else operations.latest_report(ws)
    if latest is not None:
        run, report = latest
        return View(run, report)
    key = f"preview:{cycle or ''}"
    # One preview at a time: a crowd of first visitors must not start a crowd of dry runs.
    with _preview_lock:
        with _cache_lock:
            hit = ext.get(key)
            if hit and time.monotonic() - hit[0] < PREVIEW_TTL:
                return View(None, hit[1], preview=True)
        target = dataclasses.replace(ws, cycle=cycle) if cycle else ws
        try:
            snap = operations.preview(target).to_json(with_changes=False, with_rollup=True)
        except UnknownCycle as exc:
            if not asked:
                raise  # the server's own --cycle: its configuration, not this request
            abort(404, description=str(exc))
        with _cache_lock:
            ext[key] = (time.monotonic(), snap)
    return View(None, snap, preview=True)


def running() -> LockHolder | None:
    """The sync running now, if any."""
    return current_holder(workspace().lock_homes)


def parse_global_id(text: str) -> tuple[str, str] | None:
    """'MKT/KR1.2' -> ('MKT', 'KR1.2'); None for anything that is not a global ID."""
    match = _GLOBAL_ID.match(text.strip())
    if not match:
        return None
    return match["unit"], match["local"].upper()


def locator_of(unit: dict[str, Any]) -> str | None:
    """A reported unit's workbook (the report carries only its path relative to the workspace)."""
    ws = workspace()
    path = unit.get("path")
    if not path:
        return None
    for backend in ws.backends:
        try:
            for locator in backend.list_units():
                if locator == path or os.path.relpath(locator, ws.home) == os.path.normpath(path):
                    return locator
        except (OSError, ValueError, ConfigError):
            continue
    return None


def history_rows(unit: dict[str, Any], local_id: str, global_id: str) -> list[dict[str, Any]]:
    """The History rows of one objective or KR, read through the unit's backend."""
    ws = workspace()
    locator = locator_of(unit)
    if locator is None:
        return []
    backend = backend_for(ws, locator, {})
    if backend is None:
        return []
    raw = backend.read(locator)
    name = match_sheet(list(raw.sheets), SHEET_HISTORY)
    if name is None:
        return []
    grid = raw.sheets[name]
    if not grid:
        return []
    lookup = {normalize(h): k for headers in HISTORY_HEADERS.values()
              for h, k in zip(headers, HISTORY_KEYS, strict=True)}
    columns = {lookup[normalize(h)]: i for i, h in enumerate(grid[0]) if normalize(h) in lookup}
    if "id" not in columns:
        return []
    wanted = {local_id.upper(), global_id.upper()}
    rows = []
    for line in grid[1:]:
        cell = line[columns["id"]] if columns["id"] < len(line) else None
        if cell is None or str(cell).strip().upper() not in wanted:
            continue
        # Rows written before figures were rounded may hold float noise (0.8200000000000001).
        rows.append({k: json_safe(_tidy(line[i], k)) if i < len(line) else None for k, i in columns.items()})
    return rows


def _tidy(value: Any, key: str = "") -> Any:
    """History cells for JSON: serial dates (Google hands them over as numbers) as dates, floats rounded."""
    if key in ("time", "as_of") and isinstance(value, int | float) and not isinstance(value, bool):
        moment = SERIAL_EPOCH + dt.timedelta(seconds=round(float(value) * 86400))
        return moment if key == "time" else moment.date()
    return clean_float(value) if isinstance(value, float) else value
