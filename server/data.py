"""What the API and dashboard show: the workspace, the latest run's snapshot, trends, History rows."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from sheets_sync import engine, lock, state
from sheets_sync.core.schema import HISTORY_HEADERS, HISTORY_KEYS, SHEET_HISTORY, match_sheet, normalize
from sheets_sync.core.values import SERIAL_EPOCH, clean_float
from sheets_sync.errors import ConfigError
from sheets_sync.workspace import Workspace

PREVIEW_TTL = 60.0
_cache_lock = threading.Lock()
_preview_lock = threading.Lock()

# A global ID: unit code, one slash, local ID. No path separators, dots-only parts or controls.
_GLOBAL_ID = re.compile(r"^(?P<unit>[\w-]{1,40})/(?P<local>(?:O|KR)\d{1,4}(?:\.\d{1,4})?)$", re.IGNORECASE)


@dataclass
class View:
    """The latest known state of the company: from the newest recorded run, else a dry-run preview."""

    run: state.RunRecord | None
    snapshot: dict[str, Any]
    preview: bool = False
    sheets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rollup = self.snapshot.get("rollup") or {}
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
            row = by_code.get(u.get("unit_code"), {})
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
            ext["workspace"] = Workspace.from_path(path)
        return ext["workspace"]  # type: ignore[no-any-return]


def invalidate() -> None:
    """Forget cached previews after a real sync."""
    ext = current_app.extensions["okr_sync"]
    with _cache_lock:
        ext.pop("preview", None)


def view() -> View:
    """The newest recorded run's snapshot (parsed once per run), else a dry run cached a minute."""
    ws = workspace()
    ext = current_app.extensions["okr_sync"]
    latest = state.latest_snapshot_run(ws)
    if latest is not None:
        with _cache_lock:
            cached = ext.get("snapshot")
            if cached and cached[0] == latest.id:
                return View(latest, cached[1])
        snap = state.get_snapshot(ws, latest.id) or {}
        with _cache_lock:
            ext["snapshot"] = (latest.id, snap)
        return View(latest, snap)
    # One preview at a time: a crowd of first visitors must not start a crowd of dry runs.
    with _preview_lock:
        with _cache_lock:
            hit = ext.get("preview")
            if hit and time.monotonic() - hit[0] < PREVIEW_TTL:
                return View(None, hit[1], preview=True)
        report = engine.sync(ws, dry_run=True)
        snap = state.snapshot(report)
        with _cache_lock:
            ext["preview"] = (time.monotonic(), snap)
    return View(None, snap, preview=True)


def running() -> lock.LockHolder | None:
    """The sync running now, if any."""
    return lock.current_holder(workspace().home)


def parse_global_id(text: str) -> tuple[str, str] | None:
    """'MKT/KR1.2' -> ('MKT', 'KR1.2'); None for anything that is not a global ID."""
    match = _GLOBAL_ID.match(text.strip())
    if not match:
        return None
    return match["unit"], match["local"].upper()


def history_rows(locator: str, local_id: str, global_id: str) -> list[dict[str, Any]]:
    """The History rows of one objective or KR, read through the unit's backend."""
    ws = workspace()
    backend = state.backend_for(ws, locator, {})
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
        rows.append({k: state.json_safe(_tidy(line[i], k)) if i < len(line) else None for k, i in columns.items()})
    return rows


def _tidy(value: Any, key: str = "") -> Any:
    """History cells for JSON: serial dates (Google hands them over as numbers) as dates, floats rounded."""
    if key in ("time", "as_of") and isinstance(value, int | float) and not isinstance(value, bool):
        moment = SERIAL_EPOCH + dt.timedelta(seconds=round(float(value) * 86400))
        return moment if key == "time" else moment.date()
    return clean_float(value) if isinstance(value, float) else value
