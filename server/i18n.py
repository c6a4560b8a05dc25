"""The dashboard's words in English and Chinese, and how a request picks its language."""

from __future__ import annotations

from flask import request, session

from sheets_sync.core.schema import LEVELS, STATUSES, choice_lookup, label

LANGS = ("en", "zh")

STRINGS: dict[str, tuple[str, str]] = {
    "title": ("OKR dashboard", "OKR 看板"),
    "company_score": ("Company score", "公司得分"),
    "as_of": ("As of", "截至"),
    "units": ("Units", "单元"),
    "unit": ("Unit", "单元"),
    "name": ("Name", "名称"),
    "level": ("Level", "层级"),
    "score": ("Score", "得分"),
    "status": ("Status", "状态"),
    "errors": ("Errors", "错误"),
    "warnings": ("Warnings", "警告"),
    "unit_scores": ("Unit scores", "各单元得分"),
    "alignment": ("Alignment from the company down", "从公司向下的对齐"),
    "aligned_score": ("aligned", "对齐得分"),
    "dependencies": ("Dependencies at risk", "有风险的依赖"),
    "no_dependencies": ("No dependency is at risk.", "没有有风险的依赖。"),
    "from": ("From", "依赖方"),
    "to": ("Depends on", "被依赖"),
    "to_status": ("Its status", "其状态"),
    "note": ("Note", "说明"),
    "findings": ("Validation findings", "校验结果"),
    "no_findings": ("No findings: every sheet is clean.", "没有校验问题：所有工作表都正常。"),
    "where": ("Where", "位置"),
    "message": ("Message", "说明"),
    "rule": ("Rule", "规则"),
    "error": ("error", "错误"),
    "n_error": ("{n} error", "{n} 个错误"),
    "n_errors": ("{n} errors", "{n} 个错误"),
    "n_warning": ("{n} warning", "{n} 个警告"),
    "n_warnings": ("{n} warnings", "{n} 个警告"),
    "warning": ("warning", "警告"),
    "trend": ("Score trend this cycle", "本周期得分趋势"),
    "cycle": ("Cycle", "周期"),
    "cycle_trend": ("Score per cycle", "各周期得分"),
    "cycle_closed": ("closed", "已关闭"),
    "final_grades": ("Cycle {cycle} is closed: these are its final grades, as of {end}.",
                     "周期 {cycle} 已关闭：以下为截至 {end} 的最终评分。"),
    "cycle_hint": ("Solid: final grade of a closed cycle; light: the cycle is still open.",
                   "实色：已关闭周期的最终评分；浅色：周期仍在进行。"),
    "one_point": ("one sync so far", "目前只有一次同步"),
    "no_trend": ("no score yet", "尚无得分"),
    "last_sync": ("Last sync", "上次同步"),
    "never": (
        "No sync has been recorded yet: this is a preview of the workbooks as they are.",
        "尚未记录任何同步：以下是工作簿当前内容的预览。",
    ),
    "sync_ok": ("succeeded", "成功"),
    "sync_failed": ("failed", "失败"),
    "sync_running": ("A sync is running now (started {started} by {who}).", "正在同步（{started} 由 {who} 开始）。"),
    "by": ("by", "来源"),
    "cells_written": ("cells written", "个单元格已写入"),
    "sync_now": ("Sync now", "立即同步"),
    "sync_done": (
        "Sync {run} finished: {cells} cells written, {errors} errors.",
        "同步 {run} 已完成：写入 {cells} 个单元格，{errors} 个错误。",
    ),
    "next_run": ("Next scheduled sync", "下次定时同步"),
    "login": ("Sign in", "登录"),
    "token": ("Access token", "访问令牌"),
    "login_help": (
        "Paste a token from the server's okr-sync.toml ([server] tokens) or its OKR_SYNC_TOKENS.",
        "请粘贴服务器 okr-sync.toml（[server] tokens）或 OKR_SYNC_TOKENS 中的令牌。",
    ),
    "bad_token": ("That token is not valid. Check it and try again.", "令牌无效，请检查后重试。"),
    "logout": ("Sign out", "退出"),
    "language": ("中文", "English"),
    "objectives": ("Objectives", "目标"),
    "key_results": ("Key results", "关键结果"),
    "unreadable": ("could not be read", "无法读取"),
    "back": ("Back to the dashboard", "返回看板"),
    "show_all": ("Show all {n}", "显示全部 {n} 条"),
    "source": ("Workbook", "工作簿"),
    "trigger_cli": ("command line", "命令行"),
    "trigger_api": ("API", "API"),
    "trigger_schedule": ("schedule", "定时任务"),
    "trigger_dashboard": ("dashboard", "看板"),
    "bands": (
        "During the cycle a score takes its status colour (pace); once the cycle has ended, its grade: "
        "{green}–1.0 green, {yellow}–{below_green} yellow, below {yellow} red.",
        "周期内得分按状态（进度）着色；周期结束后按评分区间着色：{green}–1.0 绿色，{yellow}–{below_green} 黄色，"
        "低于 {yellow} 红色。",
    ),
    "csrf": ("The form expired; reload the page and try again.", "表单已过期，请刷新页面后重试。"),
}

_STATUS = choice_lookup(STATUSES)
_LEVEL = choice_lookup(LEVELS)


def t(key: str, lang: str, **fields: object) -> str:
    """The text for a key in a language, with {fields} filled in."""
    en, zh = STRINGS.get(key, (key, key))
    text = zh if lang == "zh" else en
    return text.format(**fields) if fields else text


def pick_lang() -> str:
    """?lang= first (remembered in the session), then the session, then Accept-Language."""
    asked = request.args.get("lang", "")
    if asked in LANGS:
        session["lang"] = asked
        return asked
    remembered = session.get("lang")
    if remembered in LANGS:
        return str(remembered)
    best = request.accept_languages.best_match(["en", "zh", "zh-CN", "zh-TW"], default="en")
    return "zh" if best.startswith("zh") else "en"


def status_key(text: object) -> str | None:
    """A status in either language -> its canonical value ('on track'...)."""
    from sheets_sync.core.schema import normalize

    return _STATUS.get(normalize(text)) if text else None


def status_label(text: object, lang: str) -> str:
    """A status shown in the page's language."""
    key = status_key(text)
    return label(STATUSES, key, "zh" if lang == "zh" else "en") if key else str(text or "")


def level_label(text: object, lang: str) -> str:
    """A level shown in the page's language."""
    from sheets_sync.core.schema import normalize

    key = _LEVEL.get(normalize(text)) if text else None
    return label(LEVELS, key, "zh" if lang == "zh" else "en") if key else str(text or "")
