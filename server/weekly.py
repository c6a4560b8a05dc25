"""Blueprint: the weekly loop — unit and key-result pages with trends, check-ins (JSON, the add-in's form), what
changed this week, and messages that could not be delivered."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from flask import Blueprint, abort, jsonify, render_template, request, url_for
from markupsafe import Markup, escape

from sheets_sync.operations import checkins as checkin_ops
from sheets_sync.operations import notify
from sheets_sync.runlog import store, weekly

from . import charts, data
from .auth import require_token, token_name
from .dashboard import login_required
from .i18n import pick_lang, status_key, status_label, t

bp = Blueprint("weekly", __name__)

_CODE = re.compile(r"^[\w.\-]{1,40}$", re.UNICODE)
WORDS: dict[str, tuple[str, str]] = {
    "changes": ("What changed this week", "本周变化"),
    "no_changes": ("No check-ins in the last 7 days.", "最近 7 天没有更新。"),
    "checkins": ("Check-ins", "更新记录"),
    "owner": ("Owner", "负责人"), "current": ("Current", "当前值"), "target": ("Target", "目标值"),
    "due": ("Due", "截止日期"), "confidence": ("Confidence", "信心指数"), "workbook": ("Workbook", "工作簿"),
    "cycle": ("Cycle", "周期"), "trend_kr": ("Score and confidence over time", "得分与信心指数走势"),
    "key_results": ("Key results", "关键结果"), "last_checkin": ("Last check-in", "上次更新"),
    "never": ("never", "从未"), "who": ("Who", "更新人"), "when": ("When", "时间"), "comment": ("Comment", "说明"),
    "undelivered": ("Messages not delivered (retried on the next run)", "未送达的消息（下次运行时重试）"),
    "back": ("Dashboard", "看板"),
}


def w(key: str, lang: str) -> str:
    en, zh = WORDS[key]
    return zh if lang == "zh" else en


def _home() -> Any:
    home = data.workspace().state_home
    return home if store.exists(home) else None


@bp.app_template_global()
def gid_link(global_id: Any) -> Markup:
    """A global ID (UNIT/KR1.2, UNIT/O1) or a unit code as a link to its page; anything else as text."""
    text = str(global_id or "")
    unit, _, local = text.partition("/")
    if not unit or not _CODE.match(unit) or (local and not _CODE.match(local)):
        return Markup(f'<span class="gid">{escape(text)}</span>')
    href = url_for("weekly.kr_page", code=unit, kr=local) if local.upper().startswith("KR") else \
        url_for("weekly.unit_page", code=unit)
    return Markup(f'<a class="gid" href="{escape(href)}">{escape(text)}</a>')


def changes(days: int = 7) -> dict[str, Any]:
    """The check-ins of the last days (by the latest as-of on record) and messages that failed."""
    home = _home()
    if home is None:
        return {"since": None, "checkins": [], "undelivered": []}
    recent = weekly.checkins(home, limit=1)
    end = dt.date.fromisoformat(recent[0].as_of) if recent else dt.date.today()
    since = (end - dt.timedelta(days=days)).isoformat()
    return {"since": since, "checkins": [c.as_dict() for c in weekly.checkins(home, since=since, limit=50)],
            "undelivered": notify.pending_failures(data.workspace())}


@bp.app_template_global()
def weekly_changes() -> dict[str, Any]:
    return changes()


@bp.app_template_global()
def weekly_word(key: str, lang: str) -> str:
    return w(key, lang)


@bp.app_template_global()
def num(value: Any) -> str:
    """A figure as people read it: 1400 not 1400.0, an em dash for nothing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def trend_chart(points: list[dict[str, Any]], title: str) -> Markup:
    """Score (line on the colour bands) and confidence (dashed, 0–10 scaled to the same height) by day."""
    base = charts.sparkline([(p["as_of"], p["score"]) for p in points], title)
    conf = [(i, p["confidence"]) for i, p in enumerate(points) if p.get("confidence") is not None]
    scored = [p for p in points if p["score"] is not None]
    if len(conf) < 2 or len(scored) != len(points):
        return base
    width, height, pad, n = 220, 84, 6, len(points)
    coords = " ".join(f"{pad + (width - 2 * pad) * i / (n - 1):.1f},"
                      f"{pad + (height - 2 * pad) * (1 - max(0.0, min(c / 10, 1.0))):.1f}" for i, c in conf)
    line = f'<polyline class="line confidence" stroke-dasharray="4 3" points="{coords}"/>'
    return Markup(str(base).replace("</svg>", line + "</svg>"))


def _today() -> str:
    return dt.date.today().isoformat()


def _unit_payload(code: str) -> dict[str, Any]:
    """A unit's key results in one cycle (?cycle=, else the one running today, else the latest)."""
    home = _home()
    states = weekly.kr_states(home, code) if home else []
    if not states:
        abort(404, description=f"There is no unit {code[:40]!r} with key results on record; run a sync first.")
    wanted = request.args.get("cycle")
    running = [s for s in states if s.current_on(_today())]
    if wanted is not None:
        cycle = wanted
    elif running:
        cycle = max(running, key=lambda s: s.cycle_end or "").cycle
    else:
        cycle = max(states, key=lambda s: (s.cycle_end or "", s.cycle)).cycle
    mine = [s for s in states if s.cycle == cycle]
    if not mine:
        abort(404, description=f"{code[:40]} has no key results in cycle {str(wanted)[:40]!r}.")
    unit = mine[0].unit_code
    return {
        "unit": unit, "cycle": cycle or None, "source": mine[0].source, "path": mine[0].path,
        "cycles": sorted({s.cycle for s in states if s.cycle}),
        "trend": [{"as_of": d, "score": s} for d, s in store.unit_trends(home).get(unit, [])],
        "key_results": [s.as_dict() for s in mine],
        "checkins": [c.as_dict() for c in weekly.checkins(home, unit_code=unit, cycle=cycle or None, limit=100)],
    }


def _kr_state(code: str, kr: str) -> weekly.KrState:
    home = _home()
    state = checkin_ops.pick_state(weekly.kr_states(home, code) if home else [], kr, _today(),
                                   request.args.get("cycle"))
    if state is None:
        abort(404, description=f"There is no key result {code[:40]}/{kr[:40]} on record; run a sync first.")
    return state


def _kr_payload(state: weekly.KrState) -> dict[str, Any]:
    home = _home()
    return {"key_result": state.as_dict(), "trend": weekly.kr_trend(home, state.unit_code, state.kr_id, state.cycle),
            "checkins": [c.as_dict() for c in weekly.checkins(home, unit_code=state.unit_code, kr_id=state.kr_id,
                                                               cycle=state.cycle or None)]}


# --- JSON ---------------------------------------------------------------------------------------


@bp.get("/api/checkins")
@require_token
def api_checkins() -> Any:
    args = request.args
    for key in ("unit", "kr", "cycle"):
        if args.get(key) is not None and not _CODE.match(args[key]):
            abort(400, description=f"{key} must be a code or ID like MKT or KR1.2.")
    since = args.get("since")
    if since is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", since):
        abort(400, description="since must be a date written YYYY-MM-DD.")
    limit = args.get("limit", "500")
    if not re.fullmatch(r"[0-9]{1,4}", limit) or not 1 <= int(limit) <= 5000:
        abort(400, description="limit must be a whole number from 1 to 5000.")
    found = checkin_ops.list_checkins(data.workspace(), unit=args.get("unit"), kr=args.get("kr"), since=since,
                                      cycle=args.get("cycle"), limit=int(limit))
    return jsonify(checkins=found)


def _number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        abort(400, description=f"{key} must be a number.")
    return float(value)


def record_checkin(via: str) -> Any:
    """Record one check-in from a JSON body {id, current?, confidence?, comment?, who?}."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description='Send a JSON object like {"id": "MKT/KR1.1", "current": 1300, "comment": "…"}.')
    gid = str(body.get("id") or "")
    code, _, kr = gid.partition("/")
    if not _CODE.match(code or "-/") or not _CODE.match(kr or "-/"):
        abort(400, description="id must be a global key-result ID like MKT/KR1.1.")
    confidence = _number(body, "confidence")
    if confidence is not None and not 0 <= confidence <= 10:
        abort(400, description="confidence must be from 0 to 10.")
    current = body.get("current")
    bad = isinstance(current, bool) or (current is not None and not isinstance(current, str | int | float))
    if bad or (isinstance(current, str) and len(current) > 200) or (
            isinstance(current, float) and not math.isfinite(current)):
        abort(400, description="current must be a number or a short text.")
    comment = body.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > 2000):
        abort(400, description="comment must be text of at most 2000 characters.")
    named = token_name()
    sent = body.get("who")
    who = (sent.strip()[:120] if isinstance(sent, str) and sent.strip() and via == "addin" else None) or named
    checkin = checkin_ops.record(data.workspace(), code, kr, who=who, via=via, current=current,
                                 confidence=confidence, comment=comment)
    return jsonify(checkin=checkin.as_dict()), 201


@bp.post("/api/checkins")
@require_token
def api_checkin_post() -> Any:
    return record_checkin("api")


@bp.post("/addin/api/checkin")
@require_token
def addin_checkin() -> Any:
    """The add-in's check-in form: it wrote the cells itself; the name it sends is who."""
    return record_checkin("addin")


@bp.get("/api/unit/<code>")
@require_token
def api_unit(code: str) -> Any:
    return jsonify(_unit_payload(code))


@bp.get("/api/kr/<code>/<kr>")
@require_token
def api_kr(code: str, kr: str) -> Any:
    return jsonify(_kr_payload(_kr_state(code, kr)))


@bp.get("/api/changes")
@require_token
def api_changes() -> Any:
    return jsonify(changes())


# --- pages --------------------------------------------------------------------------------------


def _page(template: str, **values: Any) -> Any:
    lang = pick_lang()
    return render_template(template, lang=lang, t=t, w=w, fmt=charts.fmt, band=charts.band,
                           status_label=status_label, status_key=status_key, **values)


@bp.get("/unit/<code>")
@login_required
def unit_page(code: str) -> Any:
    payload = _unit_payload(code)
    spark = charts.sparkline([(p["as_of"], p["score"]) for p in payload["trend"]], payload["unit"])
    return _page("unit.html", u=payload, spark=spark)


@bp.get("/kr/<code>/<kr>")
@login_required
def kr_page(code: str, kr: str) -> Any:
    state = _kr_state(code, kr)
    payload = _kr_payload(state)
    chart = trend_chart(payload["trend"], payload["key_result"]["id"])
    return _page("kr.html", k=payload["key_result"], trend=payload["trend"], checkins=payload["checkins"],
                 chart=chart, link=notify.workbook_link(data.workspace(), state))
