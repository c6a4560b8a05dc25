"""What the API and dashboard show: the workspace, the latest run's report, trends, History rows."""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import abort, current_app, has_request_context, request

from sheets_sync import operations
from sheets_sync.core.schema import HISTORY_HEADERS, SHEET_HISTORY, match_sheet, normalize
from sheets_sync.errors import ConfigError
from sheets_sync.locking import LockHolder, current_holder
from sheets_sync.operations import RunRecord
from sheets_sync.operations.undo import backend_for
from sheets_sync.runlog.codec import json_safe
from sheets_sync.workspace import Workspace

PREVIEW_TTL = 60.0
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
        by_code = {r.get("Unit"): r for r in self.rows("Units")}
        merged = []
        for u in self.snapshot.get("units", []):
            row = by_code.get(u.get("unit"), {})
            merged.append(
                {
                    **u,
                    "parent": row.get("Parent unit"),
                    "objectives": row.get("Objectives"),
                    "key_results": row.get("Key results"),
                    "on_track": row.get("On track"),
                    "at_risk": row.get("At risk"),
                    "off_track": row.get("Off track"),
                    "done": row.get("Done"),
                    "no_data": row.get("No data"),
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
    if not _CYCLE.match(text):
        abort(400, description="cycle must be a cycle name like 2026-Q4.")
    from sheets_sync.core.cycle_model import cycle_name

    return cycle_name(text)


def view(cycle: str | None = None) -> View:
    """The newest recorded sync's report (of a cycle: the request's `?cycle=`), else a dry run cached a minute."""
    ws = workspace()
    cycle = cycle or requested_cycle() or ws.cycle
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
        snap = operations.preview(target).to_json(with_changes=False, with_rollup=True)
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
    keys = ("time", "id", "current", "confidence", "progress", "score", "status")
    lookup = {normalize(h): k for headers in HISTORY_HEADERS.values() for h, k in zip(headers, keys, strict=True)}
    columns = {lookup[normalize(h)]: i for i, h in enumerate(grid[0]) if normalize(h) in lookup}
    if "id" not in columns:
        return []
    wanted = {local_id.upper(), global_id.upper()}
    rows = []
    for line in grid[1:]:
        cell = line[columns["id"]] if columns["id"] < len(line) else None
        if cell is None or str(cell).strip().upper() not in wanted:
            continue
        rows.append({k: json_safe(line[i]) if i < len(line) else None for k, i in columns.items()})
    return rows
