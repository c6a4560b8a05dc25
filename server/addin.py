"""Blueprint: the Excel add-in's task pane, commands page and JSON API under /addin/."""

from __future__ import annotations

import datetime as dt
import importlib.resources
import json
import logging
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    request,
    send_from_directory,
)
from werkzeug.exceptions import RequestEntityTooLarge

from sheets_sync import operations
from sheets_sync.core import bands
from sheets_sync.core.messages import coverage_text
from sheets_sync.core.model import Finding, RawWorkbook, a1, column_index
from sheets_sync.errors import ConfigError, OkrSyncError, SyncBusy
from sheets_sync.excel_layout import (
    anchor_grid,
    cell_notes,
    plan_cells,
    rollup_sheets,
    summarize,
    unit_phase,
)

from . import hygiene
from .auth import require_token
from .data import workspace as server_workspace

bp = Blueprint("addin", __name__)
log = logging.getLogger(__name__)

# Office on the web hosts the task pane in a frame under these sites (Excel, SharePoint, OneDrive,
# Microsoft 365); desktop Office opens it in a web view, where frame-ancestors does not apply.
OFFICE_FRAME_ANCESTORS = (
    "https://*.officeapps.live.com",
    "https://*.sharepoint.com",
    "https://onedrive.live.com",
    "https://*.office.com",
    "https://*.office365.com",
    "https://*.microsoft365.com",
    "https://*.cloud.microsoft",
)


@bp.after_request
def _headers(response: Response) -> Response:
    """The dashboard's protections, with a frame policy that lets Office host the pane."""
    ancestors = current_app.config.get("ADDIN_FRAME_ANCESTORS") or OFFICE_FRAME_ANCESTORS
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    # Office.js comes from Microsoft's CDN and sets inline styles of its own.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self' https://appsforoffice.microsoft.com https://ajax.aspnetcdn.com; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'self' " + " ".join(ancestors)
    )
    if request.path.startswith("/addin/api/"):
        response.headers["Cache-Control"] = "no-store"
    return response

# Shape limits: an OKR workbook is a few hundred rows; these leave a wide margin and bound the work.
MAX_SHEETS = 20
MAX_ROWS = 5000
MAX_COLS = 200
MAX_CELLS = 400_000
MAX_TOTAL_CELLS = 1_000_000  # all sheets of one request together, each counted from A1 with its origin
MAX_TEXT = 32767  # Excel's own limit for one cell
CONTEXT_TTL = 60.0

_MESSAGES: dict[str, tuple[str, str]] = {
    "too_large": (
        "The workbook sent is larger than the server accepts ({limit} bytes). Remove unused rows "
        "or columns from the OKRs sheet, or ask the admin to raise MAX_CONTENT_LENGTH.",
        "发送的工作簿超过服务器上限（{limit} 字节）。请删除 OKRs 表中未使用的行或列，"
        "或请管理员调高 MAX_CONTENT_LENGTH。",
    ),
    "bad_json": (
        "The request body is not valid JSON ({detail}). Send the sheets as JSON from the add-in.",
        "请求内容不是有效的 JSON（{detail}）。请通过加载项以 JSON 发送工作表。",
    ),
    "not_object": (
        "The request body must be a JSON object with a 'sheets' member.",
        "请求内容必须是含有 'sheets' 的 JSON 对象。",
    ),
    "no_sheets": (
        "'sheets' must be an object mapping sheet names to grids (lists of rows), with at most {limit} sheets.",
        "'sheets' 必须是从工作表名到数据网格（行的列表）的对象，最多 {limit} 个工作表。",
    ),
    "bad_grid": (
        "Sheet '{sheet}': the grid must be a list of rows, each a list of text, numbers, true/false or null; {detail}.",
        "工作表“{sheet}”：数据网格必须是行的列表，每行是文本、数字、true/false 或 null 的列表；{detail}。",
    ),
    "too_big": (
        "Sheet '{sheet}' reaches row {rows} and column {cols} (counted from A1, with its origin {origin}); "
        "the limit is {max_rows} rows × {max_cols} columns ({max_cells} cells in all). Clear unused rows and "
        "columns, then try again.",
        "工作表“{sheet}”到达第 {rows} 行、第 {cols} 列（从 A1 算起，含起始单元格 {origin}）；上限为 "
        "{max_rows} 行 × {max_cols} 列（共 {max_cells} 个单元格）。请清除未使用的行和列后重试。",
    ),
    "too_big_total": (
        "The sheets sent reach {cells} cells in all (each counted from A1, with its origin); the limit is "
        "{max_cells}. Clear unused rows and columns, then try again.",
        "发送的工作表共到达 {cells} 个单元格（每个都从 A1 算起，含起始单元格）；上限为 {max_cells}。"
        "请清除未使用的行和列后重试。",
    ),
    "too_deep": (
        "The request body is JSON nested too deeply; send the sheets as lists of rows from the add-in.",
        "请求内容的 JSON 嵌套层数过多；请通过加载项以行列表的形式发送工作表。",
    ),
    "bad_origin": (
        "'origins' must map sheet names to a top-left cell such as 'B3'; got {value!r} for '{sheet}'.",
        "'origins' 必须把工作表名映射到左上角单元格（如 'B3'）；“{sheet}”收到的是 {value!r}。",
    ),
    "bad_field": (
        "'{field}' must be {what}.",
        "'{field}' 必须是{what_zh}。",
    ),
    "no_workspace": (
        "This server has no workspace configured, so there is no company rollup to fetch. Start it "
        "with OKR_SYNC_CONFIG pointing at the OKR folder or okr-sync.toml.",
        "此服务器未配置工作区，无法获取公司汇总。请设置 OKR_SYNC_CONFIG 指向 OKR 文件夹或 okr-sync.toml 后再启动。",
    ),
    "busy": (
        "A sync is running on the server right now; try Refresh rollup again in a minute.",
        "服务器正在同步；请一分钟后再点“刷新汇总”。",
    ),
    "failed": (
        "The server could not finish: {detail}",
        "服务器未能完成：{detail}",
    ),
    "internal": (
        "The server hit an unexpected problem; the server log has the details under reference {ref}. "
        "Try again, and tell the admin if it keeps happening.",
        "服务器遇到意外问题，详情见服务器日志（编号 reference {ref}）。请重试；若反复出现请告知管理员。",
    ),
}


class BadRequest(Exception):
    """A request the add-in API refuses, with its status and message key."""

    def __init__(self, status: int, key: str, **values: Any) -> None:
        super().__init__(key)
        self.status = status
        self.key = key
        self.values = values


def _lang() -> str:
    """The language for messages: ?lang=, else the Accept-Language header."""
    wanted = (request.args.get("lang") or request.headers.get("Accept-Language") or "").lower()
    return "zh" if wanted.startswith("zh") else "en"


def _message(key: str, lang: str, **values: Any) -> str:
    en, zh = _MESSAGES[key]
    return (zh if lang == "zh" else en).format(**values)


def _error(status: int, key: str, **values: Any) -> Response:
    names = {400: "Bad Request", 409: "Conflict", 413: "Payload Too Large", 422: "Unprocessable"}
    names |= {500: "Internal Server Error", 503: "Service Unavailable"}
    response = jsonify(error=names.get(status, "Error"), message=_message(key, _lang(), **values))
    response.status_code = status
    return response


def addin_dir() -> Path:
    """Folder of manifest.xml, taskpane/ and assets/; ADDIN_DIR or OKR_SYNC_ADDIN_DIR override it."""
    configured = current_app.config.get("ADDIN_DIR") or os.environ.get("OKR_SYNC_ADDIN_DIR")
    if configured:
        return Path(configured)
    # The add-in's files install as the sheets_sync.excel_addin package (excel_addin/ in the repository).
    return Path(str(importlib.resources.files("sheets_sync.excel_addin")))


# --- static files -------------------------------------------------------------------------------


@bp.get("/addin/")
def addin_index() -> Any:
    return redirect("/addin/taskpane.html")


# Every URL of the shipped manifest starts with this; the served manifest names the server it came from.
MANIFEST_ORIGIN = "https://localhost:8443"


@bp.get("/addin/manifest.xml")
def addin_manifest() -> Any:
    """The manifest with its URLs on this server's public address (PUBLIC_URL / OKR_SYNC_PUBLIC_URL, else the
    address it was fetched from over HTTPS), so an admin can give the Microsoft 365 admin center its link."""
    public = current_app.config.get("PUBLIC_URL") or os.environ.get("OKR_SYNC_PUBLIC_URL")
    if not public and request.is_secure:
        public = request.url_root
    if not public:
        return send_from_directory(addin_dir(), "manifest.xml", mimetype="application/xml")
    text = (addin_dir() / "manifest.xml").read_text(encoding="utf-8")
    response = Response(text.replace(MANIFEST_ORIGIN, str(public).rstrip("/")), mimetype="application/xml")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/addin/assets/<path:name>")
def addin_assets(name: str) -> Any:
    return send_from_directory(addin_dir() / "assets", name)


@bp.get("/addin/bands.css")
def addin_bands_css() -> Any:
    """The status and grade colours as CSS custom properties, from the one definition in the core."""
    return Response(bands.css(), mimetype="text/css", headers={"Cache-Control": "no-cache"})


@bp.get("/addin/api/bands")
def addin_bands() -> Response:
    """Grade bands, status names (en, zh) and colours: what the pane colours by."""
    return jsonify(bands.as_json())


@bp.get("/addin/<path:name>")
def addin_static(name: str) -> Any:
    response = send_from_directory(addin_dir() / "taskpane", name)
    # Office caches task panes hard; revalidate so an upgraded server is picked up.
    response.headers["Cache-Control"] = "no-cache"
    return response


# --- request parsing ----------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_body() -> dict[str, Any]:
    """The JSON object of the request, or BadRequest with 413/400."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    try:
        data = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise BadRequest(413, "too_large", limit=limit) from None
    try:
        body = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except RecursionError:
        raise BadRequest(400, "too_deep") from None
    except (UnicodeDecodeError, ValueError) as exc:
        detail = str(exc).split(":")[0] if str(exc) else type(exc).__name__
        raise BadRequest(400, "bad_json", detail=detail or "empty body") from None
    if not isinstance(body, dict):
        raise BadRequest(400, "not_object")
    return body


def _extent(name: str, grid: Any, origin: tuple[int, int]) -> int:
    """Cells the grid spans from A1 once placed at its origin; BadRequest past the limits (nothing allocated)."""
    if not isinstance(grid, list) or not all(isinstance(line, list) for line in grid):
        raise BadRequest(400, "bad_grid", sheet=name, detail="it is not a list of lists")
    # The origin's offset counts: anchoring pads the grid with blank rows and columns up to it.
    rows = origin[0] - 1 + len(grid)
    cols = origin[1] - 1 + max((len(line) for line in grid), default=0)
    if rows > MAX_ROWS or cols > MAX_COLS or rows * cols > MAX_CELLS:
        raise BadRequest(
            400,
            "too_big",
            sheet=name,
            rows=rows,
            cols=cols,
            origin=a1(*origin),
            max_rows=MAX_ROWS,
            max_cols=MAX_COLS,
            max_cells=MAX_CELLS,
        )
    return rows * cols


def _check_grid(name: str, grid: list[list[Any]]) -> list[list[Any]]:
    for r, line in enumerate(grid, start=1):
        for c, value in enumerate(line, start=1):
            bad = None
            if isinstance(value, str):
                if len(value) > MAX_TEXT:
                    bad = f"the text at row {r}, column {c} is longer than {MAX_TEXT} characters"
            elif isinstance(value, float):
                if not math.isfinite(value):
                    bad = f"row {r}, column {c} is not a finite number"
            elif value is not None and not isinstance(value, bool | int):
                bad = f"row {r}, column {c} holds a {type(value).__name__}"
            if bad:
                raise BadRequest(400, "bad_grid", sheet=name, detail=bad)
    return grid


def _origin(name: str, value: Any) -> tuple[int, int]:
    """Top-left (row, col) of a grid, from 'B3' or 'Sheet1!B3:K20' (the used range's address)."""
    if value is None:
        return 1, 1
    if not isinstance(value, str) or len(value) > 300:
        raise BadRequest(400, "bad_origin", sheet=name, value=_short(value))
    text = value.rsplit("!", 1)[-1].split(":", 1)[0].replace("$", "").strip().upper()
    letters = "".join(ch for ch in text if ch.isalpha())
    digits = text[len(letters) :]
    ascii_cell = (letters + digits).isascii() and bool(letters) and digits.isdigit()
    if not ascii_cell or len(letters) > 3 or len(digits) > 12 or int(digits) < 1:
        raise BadRequest(400, "bad_origin", sheet=name, value=_short(value))
    return int(digits), column_index(letters)


def _short(value: Any) -> str:
    """A value as echoed in a message: at most 40 characters of it."""
    text = value if isinstance(value, str) else type(value).__name__
    return text if len(text) <= 40 else text[:40] + "…"


def parse_workbook(body: dict[str, Any]) -> tuple[RawWorkbook, dt.date | None]:
    """The posted sheets as a RawWorkbook anchored at A1, and the as-of day."""
    sheets = body.get("sheets")
    if not isinstance(sheets, dict) or not sheets or len(sheets) > MAX_SHEETS:
        raise BadRequest(400, "no_sheets", limit=MAX_SHEETS)
    source = body.get("source", "Excel workbook")
    if not isinstance(source, str) or not source.strip() or len(source) > 400:
        raise BadRequest(400, "bad_field", field="source", what="a workbook name", what_zh="工作簿名称")
    origins = body.get("origins") or {}
    if not isinstance(origins, dict):
        raise BadRequest(400, "bad_origin", sheet="*", value=_short(origins))
    names = body.get("sheet_names") or list(sheets)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise BadRequest(400, "bad_field", field="sheet_names", what="a list of names", what_zh="名称列表")
    # Every sheet's extent is checked before any grid is padded to its origin.
    placed = {name: _origin(name, origins.get(name)) for name in sheets}
    total = sum(_extent(name, grid, placed[name]) for name, grid in sheets.items())
    if total > MAX_TOTAL_CELLS:
        raise BadRequest(400, "too_big_total", cells=total, max_cells=MAX_TOTAL_CELLS)
    grids = {name: anchor_grid(_check_grid(name, grid), *placed[name]) for name, grid in sheets.items()}
    as_of = None
    if body.get("as_of"):
        try:
            as_of = dt.date.fromisoformat(str(body["as_of"]))
        except ValueError:
            raise BadRequest(
                400,
                "bad_field",
                field="as_of",
                what="a date like 2026-11-23",
                what_zh="日期，如 2026-11-23",
            ) from None
    return RawWorkbook(source=source.strip(), sheets=grids, sheet_names=names), as_of


# --- context: the other units of the configured workspace, for alignment checks --------------

_context_lock = threading.Lock()
_context_cache: dict[str, tuple[float, list[RawWorkbook]]] = {}


def workspace_units(workspace_path: str) -> list[RawWorkbook]:
    """Every unit of the server's workspace, read at most once a minute."""
    from sheets_sync.workspace import Workspace

    with _context_lock:
        hit = _context_cache.get(workspace_path)
        if hit and time.monotonic() - hit[0] < CONTEXT_TTL:
            return hit[1]
        units: list[RawWorkbook] = []
        try:
            workspace = Workspace.from_path(workspace_path)
            for backend in workspace.backends:
                for locator in backend.list_units():
                    try:
                        units.append(backend.read(locator))
                    except OkrSyncError as exc:
                        log.warning("add-in context: skipping %s: %s", locator, exc)
        except OkrSyncError as exc:
            log.warning("add-in context: workspace %s unreadable: %s", workspace_path, exc)
        _context_cache[workspace_path] = (time.monotonic(), units)
        return units


def _context_for(raw: RawWorkbook) -> list[RawWorkbook] | None:
    workspace = current_app.config.get("WORKSPACE")
    if not workspace:
        return None
    own = Path(raw.source).name.casefold()
    # The open workbook is posted fresh; leave out its saved copy. (A copy under another name is
    # harmless: the posted unit comes first, and the engine's first unit with a code wins.)
    return [u for u in workspace_units(str(workspace)) if Path(u.source).name.casefold() != own]


# --- the API ------------------------------------------------------------------------------------


def _finding_json(f: Finding) -> dict[str, Any]:
    out = f.as_dict()
    out["row"], out["col"] = f.place.row, f.place.col
    return out


def run_workbook(body: dict[str, Any], mode: str) -> dict[str, Any]:
    """Score (or only validate) a posted workbook; the JSON the add-in applies."""
    raw, as_of = parse_workbook(body)
    # Scoring writes cells (the pane puts them in): it holds the workspace's lock and is recorded as an
    # `addin` run. Validating writes nothing.
    workspace = server_workspace() if mode == "score" and current_app.config.get("WORKSPACE") else None
    report = operations.score_workbook(raw, as_of, _context_for(raw), workspace=workspace)
    updates = report.changes.updates
    ended, score_fill = unit_phase(raw, as_of, report.score)
    plans = plan_cells(raw, updates, "score" if mode == "score" else "validate", ended)
    valued = {(p.sheet, p.row, p.col) for p in plans if p.has_value}
    written = [u for u in updates if (u.sheet, u.row, u.col) in valued]
    return {
        **report.to_json(with_changes=False),
        "mode": mode,
        "fill": score_fill,
        # How much of the score is measured, worded once (core/messages.py) in the workbook's language.
        "coverage_text": coverage_text(report.coverage.measured, report.coverage.total, report.language)
        if report.coverage else None,
        "objectives": summarize(raw, written, ended),
        "findings": [_finding_json(f) for f in report.findings],
        "updates": [p.as_dict() for p in plans],
        "notes": cell_notes(raw, report.findings, report.language),
    }


def _api(mode: str) -> Response:
    try:
        return jsonify(run_workbook(read_body(), mode))
    except BadRequest as exc:
        return _error(exc.status, exc.key, **exc.values)
    except SyncBusy:
        return _error(409, "busy")
    except OkrSyncError as exc:
        return _error(422, "failed", detail=str(exc))
    except Exception:
        return _error(500, "internal", ref=hygiene.log_unexpected(f"add-in {mode}"))


@bp.post("/addin/api/score")
@require_token
def api_score() -> Response:
    return _api("score")


@bp.post("/addin/api/validate")
@require_token
def api_validate() -> Response:
    return _api("validate")


@bp.get("/addin/api/rollup")
@require_token
def api_rollup() -> Response:
    from sheets_sync.workspace import Workspace

    workspace = current_app.config.get("WORKSPACE")
    if not workspace:
        return _error(503, "no_workspace")
    lang = request.args.get("lang", "en")
    as_of = None
    if request.args.get("as_of"):
        try:
            as_of = dt.date.fromisoformat(request.args["as_of"])
        except ValueError:
            return _error(
                400,
                "bad_field",
                field="as_of",
                what="a date like 2026-11-23",
                what_zh="日期，如 2026-11-23",
            )
    try:
        report = operations.preview(Workspace.from_path(workspace), as_of)
    except ConfigError as exc:
        return _error(503, "failed", detail=str(exc))
    except OkrSyncError as exc:
        return _error(422, "failed", detail=str(exc))
    except Exception:
        return _error(500, "internal", ref=hygiene.log_unexpected("add-in rollup"))
    if report.rollup is None:
        return _error(503, "no_workspace")
    return jsonify(
        as_of=report.as_of.isoformat(),
        company_score=report.company_score,
        units=len(report.units),
        sheets=rollup_sheets(report.rollup, "zh" if lang.lower().startswith("zh") else "en"),
    )


# --- HTTPS for one person's machine -------------------------------------------------------------


def serve_https(config: str, cert: str, key: str, host: str = "127.0.0.1", port: int = 8443) -> None:
    """Serve the whole app over HTTPS with werkzeug, for sideloading the add-in on one machine."""
    from werkzeug.serving import run_simple

    from .serve import build_app

    app = build_app(config)
    run_simple(host, port, app, ssl_context=(cert, key), threaded=True, use_reloader=False)
