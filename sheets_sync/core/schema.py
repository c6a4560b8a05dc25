"""The workbook standard's names: sheets, headers, settings keys and choices, in English and Chinese."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from .bands import STATUS_LABELS

Lang = Literal["en", "zh"]

SHEET_SETTINGS = "Settings"
SHEET_OKRS = "OKRs"
SHEET_HISTORY = "History"
SHEET_PEOPLE = "People"
# Rows of a worksheet (Excel and LibreOffice): a full History continues on "History 2", "History 3", …
MAX_SHEET_ROWS = 1_048_576
SHEET_NAMES: dict[str, dict[str, str]] = {
    SHEET_SETTINGS: {"en": "Settings", "zh": "设置"},
    SHEET_OKRS: {"en": "OKRs", "zh": "OKRs"},
    SHEET_HISTORY: {"en": "History", "zh": "历史"},
    SHEET_PEOPLE: {"en": "People", "zh": "人员"},
}


@lru_cache(maxsize=8192)
def _normalize(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\s\W_]+", "", folded)


def normalize(text: object) -> str:
    """Fold a name for matching: case-, space- and punctuation-insensitive, full-width folded."""
    return _normalize(str(text))


@dataclass(frozen=True)
class Column:
    """One column of the OKRs sheet."""

    key: str
    en: str
    zh: str
    computed: bool = False

    def header(self, lang: Lang) -> str:
        """The header text in a language."""
        return self.zh if lang == "zh" else self.en


INPUT_COLUMNS: tuple[Column, ...] = (
    Column("type", "Type", "类型"),
    Column("id", "ID", "编号"),
    Column("text", "Objective / Key result", "目标/关键结果"),
    Column("owner", "Owner", "负责人"),
    Column("aligns_to", "Aligns to", "对齐"),
    Column("depends_on", "Depends on", "依赖"),
    Column("commitment", "Commitment", "承诺类型"),
    Column("weight", "Weight", "权重"),
    Column("metric", "Metric", "度量"),
    Column("start", "Start", "起始值"),
    Column("target", "Target", "目标值"),
    Column("current", "Current", "当前值"),
    Column("source", "Source", "数据来源"),
    Column("confidence", "Confidence", "信心指数"),
    Column("due", "Due", "截止日期"),
    Column("notes", "Notes", "备注"),
)
COMPUTED_COLUMNS: tuple[Column, ...] = (
    Column("progress", "Progress", "进度", computed=True),
    Column("score", "Score", "得分", computed=True),
    Column("status", "Status", "状态", computed=True),
    Column("check", "Check", "校验", computed=True),
    Column("aligned_score", "Aligned score", "对齐得分", computed=True),
)
ALL_COLUMNS: tuple[Column, ...] = INPUT_COLUMNS + COMPUTED_COLUMNS
COLUMNS_BY_KEY: dict[str, Column] = {c.key: c for c in ALL_COLUMNS}
# Extra spellings people use; matched after normalize().
_HEADER_ALIASES: dict[str, str] = {
    "objective": "text",
    "keyresult": "text",
    "objectivekeyresult": "text",
    "okr": "text",
    "目标": "text",
    "关键结果": "text",
    "目标关键结果": "text",
}
HEADER_LOOKUP: dict[str, str] = {
    **{normalize(c.en): c.key for c in ALL_COLUMNS},
    **{normalize(c.zh): c.key for c in ALL_COLUMNS},
    **_HEADER_ALIASES,
}


@dataclass(frozen=True)
class SettingKey:
    """One key of the Settings sheet."""

    key: str
    en: str
    zh: str
    required: bool


SETTING_KEYS: tuple[SettingKey, ...] = (
    SettingKey("unit_code", "Unit code", "单元代码", True),
    SettingKey("unit_name", "Unit name", "单元名称", False),
    SettingKey("level", "Level", "层级", True),
    SettingKey("parent", "Parent unit", "上级单元", False),
    SettingKey("cycle", "Cycle", "周期", True),
    SettingKey("cycle_start", "Cycle start", "周期开始", True),
    SettingKey("cycle_end", "Cycle end", "周期结束", True),
    SettingKey("owner", "Owner", "负责人", False),
    SettingKey("language", "Language", "语言", False),
)
SETTING_LOOKUP: dict[str, str] = {
    **{normalize(s.en): s.key for s in SETTING_KEYS},
    **{normalize(s.zh): s.key for s in SETTING_KEYS},
}

# Choices: canonical value -> (English label, Chinese label).
TYPES: dict[str, tuple[str, str]] = {"O": ("O", "目标"), "KR": ("KR", "关键结果")}
LEVELS: dict[str, tuple[str, str]] = {
    "company": ("company", "公司"),
    "department": ("department", "部门"),
    "team": ("team", "团队"),
    "individual": ("individual", "个人"),
}
LEVEL_RANK: dict[str, int] = {"company": 0, "department": 1, "team": 2, "individual": 3}
METRICS: dict[str, tuple[str, str]] = {
    "number": ("number", "数值"),
    "percent": ("percent", "百分比"),
    "currency": ("currency", "金额"),
    "yes-no": ("yes-no", "是否"),
    "milestone": ("milestone", "里程碑"),
    "stay above": ("stay above", "保持高于"),
    "stay below": ("stay below", "保持低于"),
}
COMMITMENTS: dict[str, tuple[str, str]] = {
    "committed": ("committed", "承诺型"),
    "aspirational": ("aspirational", "挑战型"),
}
STATUSES: dict[str, tuple[str, str]] = dict(STATUS_LABELS)  # defined once, in bands
LANGUAGES: dict[str, tuple[str, str]] = {"en": ("en", "英文"), "zh": ("zh", "中文")}


def choice_lookup(choices: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Map every normalized spelling of a choice to its canonical value."""
    table: dict[str, str] = {}
    for canonical, (en, zh) in choices.items():
        for spelling in (canonical, en, zh):
            table[normalize(spelling)] = canonical
    return table


def label(choices: dict[str, tuple[str, str]], canonical: str, lang: Lang) -> str:
    """The label of a canonical choice in a language."""
    en, zh = choices[canonical]
    return zh if lang == "zh" else en


def sheet_label(sheet: str, lang: Lang) -> str:
    """The name of a standard sheet in a language."""
    return SHEET_NAMES[sheet][lang]


def match_sheet(names: list[str], sheet: str) -> str | None:
    """Find the workbook's own name for a standard sheet, in either language."""
    wanted = {normalize(v) for v in SHEET_NAMES[sheet].values()}
    for name in names:
        if normalize(name) in wanted:
            return name
    return None


HISTORY_KEYS: tuple[str, ...] = (
    "time", "as_of", "id", "current", "confidence", "progress", "score", "status", "measured", "by", "comment")
HISTORY_HEADERS: dict[Lang, tuple[str, ...]] = {
    "en": ("Time", "As of", "ID", "Current", "Confidence", "Progress", "Score", "Status", "Measured", "By",
           "Comment"),
    "zh": ("时间", "截至日期", "编号", "当前值", "信心指数", "进度", "得分", "状态", "已衡量", "更新人", "说明"),
}
# The People sheet (人员) of the company's workbook, or a people workbook named in okr-sync.toml.
PEOPLE_HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("Name", "姓名"), "email": ("Email", "E-mail", "邮箱", "电子邮件"), "chat": ("Chat", "聊天"),
    "manager": ("Manager", "上级", "经理"), "language": ("Language", "语言"),
}
