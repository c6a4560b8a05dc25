"""Blueprint: the JSON API under /api/ (sync, status, units, rollup, history, runs)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request

from sheets_sync import operations
from sheets_sync.errors import UnknownCycle

from . import data
from .auth import require_token

bp = Blueprint("api", __name__)

MAX_SYNC_BODY = 16 * 1024


@bp.after_request
def _no_store(response: Any) -> Any:
    """OKR data is private: never cached by a proxy or browser."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SYNC_KEYS = {"as_of", "dry_run", "cycle"}


def _sync_options() -> tuple[dt.date | None, bool]:
    """Read and check the optional {"as_of": "YYYY-MM-DD", "dry_run": bool} body."""
    too_big = f"The body is larger than {MAX_SYNC_BODY // 1024} KB; send at most as_of, dry_run and cycle."
    if (request.content_length or 0) > MAX_SYNC_BODY:
        abort(413, description=too_big)
    raw = request.get_data(cache=True)  # chunked bodies stop at the app-wide MAX_CONTENT_LENGTH
    if len(raw) > MAX_SYNC_BODY:
        abort(413, description=too_big)
    if not raw.strip():
        return None, False
    try:
        body = json.loads(raw)
    except RecursionError:
        abort(400, description='The body is JSON nested too deeply; send e.g. {"as_of": "2026-11-01"}.')
    except (ValueError, UnicodeDecodeError) as exc:
        abort(
            400,
            description=f"The body is not valid JSON ({exc}). Send e.g. "
            '{"as_of": "2026-11-01", "dry_run": true}, or no body at all.',
        )
    if not isinstance(body, dict):
        abort(400, description='The body must be a JSON object like {"as_of": "2026-11-01"}.')
    unknown = sorted(set(body) - SYNC_KEYS)
    if unknown:
        abort(400, description=f"Unknown field {unknown[0]!r}; the fields are as_of, dry_run and cycle.")
    as_of = None
    if body.get("as_of") is not None:
        text = body["as_of"]
        try:
            if not isinstance(text, str) or not _DATE.match(text):
                raise ValueError
            as_of = dt.date.fromisoformat(text)
        except ValueError:
            abort(400, description="as_of must be a date written YYYY-MM-DD, like 2026-11-01.")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        abort(400, description="dry_run must be true or false.")
    return as_of, dry_run


def _sync_cycle() -> str | None:
    """The optional "cycle" of the sync body (already checked to be JSON by _sync_options)."""
    raw = request.get_data(cache=True)
    cycle = json.loads(raw).get("cycle") if raw.strip() else None
    if cycle is not None and (not isinstance(cycle, str) or not re.fullmatch(r"[\w .-]{1,24}", cycle)):
        abort(400, description="cycle must be a cycle name like 2026-Q4.")
    return cycle


@bp.post("/api/sync")
@require_token
def sync() -> Any:
    as_of, dry_run = _sync_options()
    cycle = _sync_cycle()
    workspace = dataclasses.replace(data.workspace(), cycle=cycle) if cycle else data.workspace()
    try:
        report = operations.sync(workspace, as_of=as_of, dry_run=dry_run, trigger="api")
    except UnknownCycle as exc:
        if not cycle:
            raise  # the server's own --cycle: its configuration, not this request
        abort(400, description=str(exc))
    if not dry_run:
        data.invalidate()
    body = report.to_json()
    # The units were synced and recorded, but a rollup that could not be written leaves the company view
    # stale: the run failed, and the answer says so with the same report.
    return jsonify(body), 503 if report.rollup_error else 200


def status_payload() -> dict[str, Any]:
    """Whether a sync runs now, the last run, and the latest report's own counts."""
    ws = data.workspace()
    scheduler = current_app.extensions["okr_sync"].get("scheduler")
    view = data.view()
    body = operations.status(ws).to_json()
    if view.preview:
        # Nothing recorded yet: the figures are a dry run's, said as such.
        body.update({key: view.snapshot.get(key) for key in operations.SUMMARY_FIELDS})
    body["preview"] = view.preview
    body["next_scheduled_run"] = scheduler.next_run.isoformat() if scheduler and scheduler.next_run else None
    return body


@bp.get("/api/status")
@require_token
def status() -> Any:
    return jsonify(status_payload())


@bp.get("/api/units")
@require_token
def units() -> Any:
    view = data.view()
    return jsonify(as_of=view.snapshot.get("as_of"), preview=view.preview, units=view.units)


@bp.get("/api/rollup")
@require_token
def rollup() -> Any:
    view = data.view()
    wanted = request.args.get("sheet")
    names = list(view.sheets)
    if wanted is not None and wanted not in view.sheets:
        abort(404, description=f"There is no rollup sheet {wanted[:60]!r}; the sheets are {', '.join(names)}.")
    chosen = [wanted] if wanted else names
    return jsonify(
        as_of=view.snapshot.get("as_of"),
        preview=view.preview,
        company_score=view.snapshot.get("company_score"),
        sheets={name: {"headers": view.sheets[name]["headers"], "rows": view.rows(name)} for name in chosen},
    )


@bp.get("/api/history")
@require_token
def history() -> Any:
    raw_id = request.args.get("id", "")
    parsed = data.parse_global_id(raw_id) if len(raw_id) <= 80 else None
    if parsed is None:
        abort(400, description="id must be a global ID like MKT/KR1.2 or CO/O1 (unit code, slash, local ID).")
    unit_code, local_id = parsed
    view = data.view()
    unit = next((u for u in view.units if (u.get("unit") or "").upper() == unit_code.upper()), None)
    if unit is None:
        abort(404, description=f"There is no unit {unit_code!r} in this workspace.")
    global_id = f"{unit['unit']}/{local_id}"
    known = {str(r.get("id") or "").upper() for r in view.records("Rollup")}
    if global_id.upper() not in known:
        abort(404, description=f"{global_id} is not an objective or key result of {unit['source']}.")
    rows = data.history_rows(unit, local_id, global_id)
    return jsonify(id=global_id, unit=unit["unit"], source=unit["source"], rows=rows)


@bp.get("/api/runs")
@require_token
def runs() -> Any:
    text = request.args.get("limit", "20")
    if not re.fullmatch(r"[0-9]{1,3}", text) or not 1 <= int(text) <= 500:
        abort(400, description="limit must be a whole number from 1 to 500.")
    return jsonify(runs=[r.as_dict() for r in operations.log(data.workspace(), int(text))])
