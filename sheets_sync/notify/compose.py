"""What reminders and digests say, in English and Chinese: one text form, one HTML form, chat lines."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from ..core import schema
from ..runlog.codec import json_safe
from ..runlog.weekly import KrState
from .channels import Mail

TEXT: dict[str, dict[str, str]] = {
    "remind_subject": {"en": "OKR check-in: {count} key result(s) need an update",
                       "zh": "OKR 更新提醒：{count} 个关键结果需要更新"},
    "remind_intro": {"en": "Hello {name}, these key results of yours have had no check-in for {days} days or more. "
                           "Please update Current, Confidence and a short comment (Notes):",
                     "zh": "{name}，您好：以下由您负责的关键结果已有 {days} 天或更久没有更新。"
                           "请更新当前值、信心指数，并在备注中写一句说明："},
    "final_subject": {"en": "OKR cycle {cycle} ends {end}: please enter your final grades",
                      "zh": "OKR 周期 {cycle} 将于 {end} 结束：请填写最终结果"},
    "final_intro": {"en": "Hello {name}, the cycle ends this week. Please enter the final Current of each of your "
                          "key results, with a comment on what you learned:",
                    "zh": "{name}，您好：本周期将于本周结束。请填写您负责的每个关键结果的最终当前值，"
                          "并在备注中写下收获："},
    "kr_line": {"en": "{id} {text}: current {current} of {target}, {status}, last check-in {last}. Update: {link}",
                "zh": "{id} {text}：当前值 {current}／目标值 {target}，{status}，上次更新 {last}。更新位置：{link}"},
    "never": {"en": "never", "zh": "从未"},
    "digest_subject": {"en": "OKR digest {start} – {end}: company {score}",
                       "zh": "OKR 周报 {start} – {end}：公司得分 {score}"},
    "scores": {"en": "Scores (change since {start})", "zh": "得分（自 {start} 以来的变化）"},
    "off_track": {"en": "Turned off track", "zh": "新近落后"},
    "blockers": {"en": "Blocked by dependencies", "zh": "依赖受阻"},
    "missing": {"en": "Missing check-ins", "zh": "未按时更新"},
    "errors": {"en": "Validation errors still open", "zh": "尚未解决的校验错误"},
    "comments": {"en": "This week's check-in comments", "zh": "本周更新说明"},
    "none": {"en": "none", "zh": "无"},
    "chart": {"en": "Unit scores over time", "zh": "各单元得分走势"},
    "footer": {"en": "Sent by okr-sync.", "zh": "由 okr-sync 发送。"},
}


def t(key: str, lang: str, **values: Any) -> str:
    return TEXT[key]["zh" if lang == "zh" else "en"].format(**values)


def _fmt(value: Any) -> str:
    value = json_safe(value)
    if value is None or value == "":
        return "—"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value)}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def status_label(status: str | None, lang: str) -> str:
    return schema.label(schema.STATUSES, status, "zh" if lang == "zh" else "en") if status else "—"


def reminder(name: str, lang: str, krs: list[tuple[KrState, str]], days: int, final: bool) -> Mail:
    """One owner's reminder: only their own key results, each with where to update it."""
    lines = []
    for state, link in krs:
        lines.append(t("kr_line", lang, id=state.global_id, text=state.text or "", current=_fmt(state.current),
                       target=_fmt(state.target), status=status_label(state.status, lang),
                       last=state.last_checkin or t("never", lang), link=link))
    if final:
        first = krs[0][0]
        subject = t("final_subject", lang, cycle=first.cycle or "", end=first.cycle_end or "")
        intro = t("final_intro", lang, name=name)
    else:
        subject = t("remind_subject", lang, count=len(krs))
        intro = t("remind_intro", lang, name=name, days=days)
    text = "\n".join([intro, "", *[f"- {line}" for line in lines], "", t("footer", lang)]) + "\n"
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    body = (f'<html lang="{lang}"><body><p>{html.escape(intro)}</p><ul>{items}</ul>'
            f"<p><small>{html.escape(t('footer', lang))}</small></p></body></html>")
    return Mail(subject, text, body)


@dataclass
class DigestData:
    """What a leaders' digest reports, already gathered."""

    start: str
    end: str
    company_score: float | None
    company_change: float | None
    units: list[tuple[str, float | None, float | None]] = field(default_factory=list)  # code, score, change
    off_track: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    chart: bytes | None = None
    series: list[str] = field(default_factory=list)


def _change(value: float | None) -> str:
    return "" if value is None else f" ({value:+.2f})"


def digest_sections(data: DigestData, lang: str) -> list[tuple[str, list[str]]]:
    scores = [f"{code}: {_fmt(score)}{_change(change)}" for code, score, change in data.units]
    return [
        (t("scores", lang, start=data.start), scores),
        (t("off_track", lang), data.off_track),
        (t("blockers", lang), data.blockers),
        (t("missing", lang), data.missing),
        (t("errors", lang), data.errors),
        (t("comments", lang), data.comments),
    ]


def digest(data: DigestData, lang: str) -> Mail:
    """The leaders' digest: scores and changes, what turned off track, blockers, gaps, errors, comments, chart."""
    score = _fmt(data.company_score) + _change(data.company_change)
    subject = t("digest_subject", lang, start=data.start, end=data.end, score=score)
    parts, blocks = [subject, ""], []
    for title, lines in digest_sections(data, lang):
        parts += [title, *([f"- {line}" for line in lines] or [f"- {t('none', lang)}"]), ""]
        items = "".join(f"<li>{html.escape(line)}</li>" for line in lines) or f"<li>{t('none', lang)}</li>"
        blocks.append(f"<h3>{html.escape(title)}</h3><ul>{items}</ul>")
    parts.append(t("footer", lang))
    legend = ", ".join(data.series)
    chart = (f'<h3>{html.escape(t("chart", lang))}</h3><img src="cid:chart" width="480" height="200" '
             f'alt="{html.escape(legend)}"><p><small>{html.escape(legend)}</small></p>') if data.chart else ""
    body = (f'<html lang="{lang}"><body><h2>{html.escape(subject)}</h2>{"".join(blocks[:1])}{chart}'
            f'{"".join(blocks[1:])}<p><small>{html.escape(t("footer", lang))}</small></p></body></html>')
    return Mail(subject, "\n".join(parts) + "\n", body, data.chart)


def chat_lines(data: DigestData, lang: str) -> list[str]:
    """The digest for a chat channel: one line per section."""
    return [f"{title}: " + ("; ".join(lines) if lines else t("none", lang)) for title, lines in
            digest_sections(data, lang)]
