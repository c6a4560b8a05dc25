"""Blueprint: the dashboard, server-rendered HTML; a token login sets a session cookie."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from sheets_sync import operations
from sheets_sync.core import bands
from sheets_sync.core.messages import coverage_text
from sheets_sync.errors import SyncBusy

from . import charts, data
from .auth import bearer_ok, checked_token
from .i18n import level_label, pick_lang, status_key, status_label, t
from .sessions import SessionStore

bp = Blueprint("dashboard", __name__)
F = TypeVar("F", bound=Callable[..., Any])
MAX_FINDINGS_SHOWN = 12
AT_RISK = {"at risk", "off track", "no data"}


@bp.after_request
def _headers(response: Any) -> Any:
    """Pages of OKRs are private: no caching, no framing, nothing but our own files."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    return response


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _sessions() -> SessionStore:
    return current_app.extensions["okr_sync"]["sessions"]  # type: ignore[no-any-return]


def _session_ok() -> bool:
    """The session is one this process started and has not ended, for a token that is still configured."""
    held = session.get("auth")
    if not isinstance(held, str) or not _sessions().valid(session.get("sid"), held):
        return False
    ok = False
    for token in current_app.config.get("TOKENS") or []:
        ok |= hmac.compare_digest(held, _digest(token))
    return ok


def _bearer_ok() -> bool | None:
    """True/False for an Authorization header, None when there is none."""
    return bearer_ok()


# Query parameters a sign-in may carry back to the page asked for; anything else (a token!) is dropped.
_NEXT_PARAMS = ("lang",)


def _return_path() -> str:
    """The page asked for, with only harmless query parameters, for /login?next=."""
    kept = [(k, v) for k, v in request.args.items(multi=True) if k in _NEXT_PARAMS and len(v) <= 10]
    return request.path + ("?" + urlencode(kept) if kept else "")


def login_required(view: F) -> F:
    """A Bearer token or a signed-in session; otherwise the login page (401 for a bad header)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        bearer = _bearer_ok()
        if bearer is False:
            abort(401, description="That token is not valid.")
        if not bearer and not _session_ok():
            return redirect(url_for("dashboard.login", next=_return_path()))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never an open redirect."""
    if not target:
        return url_for("dashboard.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("dashboard.index")
    return target


def _csrf() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return str(session["csrf"])


def _check_csrf() -> None:
    sent = request.form.get("csrf", "")
    if not hmac.compare_digest(sent, str(session.get("csrf", ""))) or not sent:
        abort(400, description=t("csrf", pick_lang()))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    lang = pick_lang()
    error = None
    if request.method == "POST":
        _check_csrf()  # a cross-site post has no form token of ours
        token = request.form.get("token", "").strip()
        if token and checked_token(token):
            session.clear()
            digest = _digest(token)
            session["sid"] = _sessions().start(digest)
            session["auth"] = digest
            session["lang"] = lang
            session.permanent = False
            return redirect(_safe_next(request.args.get("next")))
        error = t("bad_token", lang)
    status = 401 if error else 200
    return render_template("login.html", lang=lang, t=t, error=error, csrf=_csrf()), status


@bp.post("/logout")
def logout() -> Any:
    _check_csrf()
    _sessions().end(session.get("sid"))
    session.clear()
    return redirect(url_for("dashboard.login"))


@bp.post("/sync")
@login_required
def sync_now() -> Any:
    if not _bearer_ok():
        _check_csrf()
    lang = pick_lang()
    try:
        report = operations.sync(data.workspace(), trigger="dashboard")
    except SyncBusy as exc:
        flash(str(exc), "warning")
    else:
        data.invalidate()
        flash(t("sync_done", lang, run=report.run_id, cells=report.cells_written, errors=report.error_count), "ok")
    return redirect(url_for("dashboard.index"))


def _unit_order(units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Units as a tree walk from the company down, children by code; the unreadable last."""
    codes = {u.get("unit") for u in units if u.get("unit")}
    children: dict[Any, list[dict[str, Any]]] = {}
    for u in units:
        if u.get("unit"):
            parent = u.get("parent") if u.get("parent") in codes else None
            children.setdefault(parent, []).append(u)
    order: list[dict[str, Any]] = []
    seen: set[str] = set()

    def walk(parent: Any, depth: int) -> None:
        for u in sorted(children.get(parent, []), key=lambda x: str(x.get("unit"))):
            if u["path"] in seen:  # an alignment cycle must not loop the page
                continue
            seen.add(u["path"])
            order.append({**u, "depth": depth})
            walk(u.get("unit"), depth + 1)

    walk(None, 0)
    order += [{**u, "depth": 0} for u in units if u["path"] not in seen]
    return order


def _tree(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Alignment rows with depths -> nested nodes."""
    roots: list[dict[str, Any]] = []
    stack: list[dict[str, Any]] = []
    for row in rows:
        node = {"row": row, "children": []}
        depth = int(row.get("_depth") or 0)
        while len(stack) > depth:
            stack.pop()
        (stack[-1]["children"] if stack else roots).append(node)
        stack.append(node)
    return roots


def _when(stamp: str | None) -> str:
    """ISO time -> 2026-11-23 16:06."""
    return stamp[:16].replace("T", " ") if stamp else ""


@bp.get("/bands.css")
def bands_css() -> Any:
    """The status and grade colours as CSS custom properties, from the one definition in the core."""
    return current_app.response_class(bands.css(), mimetype="text/css")


@bp.get("/")
@login_required
def index() -> Any:
    lang = pick_lang()
    ws = data.workspace()
    view = data.view()
    units = _unit_order(view.units)
    shown = view.snapshot.get("cycle") or {}
    cycle = shown.get("name") if isinstance(shown, dict) else None
    span = (cycle, shown.get("start"), shown.get("end")) if cycle else None
    trends = operations.trends(ws, cycle=span)
    closed = operations.closed_cycles(ws)
    cycles = [c for c in view.snapshot.get("cycles") or [] if isinstance(c, dict) and c.get("name")]
    per_cycle = operations.cycle_scores(ws)
    order = [c["name"] for c in cycles] + sorted(set(per_cycle) - {c["name"] for c in cycles})
    cycle_charts = {
        u.get("unit"): charts.cycle_chart(
            [(name, *per_cycle[name][u.get("unit") or ""]) for name in order
             if (u.get("unit") or "") in per_cycle.get(name, {})],
            f"{u.get('unit')} {t('cycle_trend', lang)}")
        for u in units
    }
    last = operations.log(ws, limit=1)
    findings = sorted(
        view.snapshot.get("findings", []),
        key=lambda f: (f["severity"] != "error", str(f.get("unit") or ""), f["where"]),
    )
    deps = [r for r in view.records("Dependencies") if status_key(r.get("status")) in AT_RISK]
    holder = data.running()
    scheduler = current_app.extensions["okr_sync"].get("scheduler")
    company = next((u for u in units if u.get("level") == "company"), None)
    bars = charts.bar_chart(
        [(str(u.get("unit") or u["source"]), str(u.get("name") or ""), u.get("score"), u["tone"])
         for u in units],
        t("unit_scores", lang),
    )
    sparks = {
        u.get("unit"): charts.sparkline(
            trends.get(u.get("unit") or "", []), f"{u.get('unit')} {t('trend', lang)}"
        )
        for u in units
    }
    return render_template(
        "dashboard.html",
        lang=lang,
        t=t,
        view=view,
        units=units,
        company=company,
        company_score=view.snapshot.get("company_score"),
        company_coverage=view.snapshot.get("coverage"),
        measured=lambda c: coverage_text(c["measured"], c["total"], "zh" if lang == "zh" else "en"),
        company_tone=company["tone"] if company else charts.band(view.snapshot.get("company_score")),
        legend=t("bands", lang, green=f"{bands.GRADE_GREEN:.1f}", yellow=f"{bands.GRADE_YELLOW:.1f}",
                 below_green=f"{bands.GRADE_GREEN - 0.01:.2f}"),
        bars=bars,
        sparks=sparks,
        trends=trends,
        cycle=cycle,
        cycles=cycles,
        closed=closed,
        cycle_charts=cycle_charts,
        multi_cycle=len(order) > 1,
        tree=_tree(view.records("Alignment")),
        deps=deps,
        findings=findings,
        shown=MAX_FINDINGS_SHOWN,
        last=last[0] if last else None,
        holder=holder,
        next_run=_when(scheduler.next_run.isoformat()) if scheduler and scheduler.next_run else None,
        band=charts.band,
        fmt=charts.fmt,
        status_label=status_label,
        status_key=status_key,
        level_label=level_label,
        when=_when,
        csrf=_csrf(),
        bearer=bool(_bearer_ok()),
    )
