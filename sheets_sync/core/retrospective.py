"""The Retrospective sheet a closed cycle leaves in each unit: final grades and what each one asks people."""

from __future__ import annotations

from . import schema
from .bands import GRADE_GREEN, GRADE_YELLOW, grade_band
from .cycle_model import Cycle
from .model import CellValue, OwnedSheet, WorkbookChanges
from .parse import Row, Unit
from .schema import Lang, label

SHEET: dict[Lang, str] = {"en": "Retrospective", "zh": "复盘"}
HEADERS: dict[Lang, list[str]] = {
    "en": ["Cycle", "ID", "Objective", "Commitment", "Final score", "Grade", "Measured", "To discuss"],
    "zh": ["周期", "编号", "目标", "承诺类型", "最终得分", "等级", "已测量", "复盘提示"],
}
_G, _Y, _Y_TOP = f"{GRADE_GREEN:.1f}", f"{GRADE_YELLOW:.1f}", f"{GRADE_GREEN - 0.01:.2f}"
GRADES: dict[Lang, dict[str, str]] = {
    "en": {"green": f"green ({_G}–1.0)", "yellow": f"yellow ({_Y}–{_Y_TOP})", "red": f"red (below {_Y})"},
    "zh": {"green": f"绿（{_G}–1.0）", "yellow": f"黄（{_Y}–{_Y_TOP}）", "red": f"红（低于 {_Y}）"},
}
# The end-of-cycle rules of the standard, as questions for the team.
PROMPTS: dict[Lang, dict[str, str]] = {
    "en": {
        "below": f"Below {_Y}: what got in the way, and what would you do differently?",
        "committed": "Committed but below 1.0: what made the commitment slip?",
        "aspirational": "Aspirational at 1.0: was the target set too low?",
        "unscored": "No final score: which key results could not be measured, and why?",
        "fine": "What helped? Carry over what is unfinished (Carry over column) before new-cycle.",
    },
    "zh": {
        "below": f"低于 {_Y}：遇到了什么阻碍？下次会怎么做？",
        "committed": "承诺型目标未达到 1.0：承诺为什么没有兑现？",
        "aspirational": "挑战型目标达到 1.0：目标是否定得太低？",
        "unscored": "没有最终得分：哪些关键结果无法测量？为什么？",
        "fine": "哪些做法有帮助？未完成的请在“延续”列标记，再运行 new-cycle。",
    },
}


def prompt(objective: Row, lang: Lang) -> str:
    """The question an objective's final grade asks."""
    texts = PROMPTS[lang]
    score = objective.score
    if score is None:
        return texts["unscored"]
    if score < GRADE_YELLOW:
        return texts["below"]
    if objective.commitment == "committed" and score < 1.0:
        return texts["committed"]
    if objective.commitment == "aspirational" and score >= 1.0:
        return texts["aspirational"]
    return texts["fine"]


def sheet_for(unit: Unit, cycle: Cycle | None) -> OwnedSheet:
    """One row per objective: its final score, grade band, how much was measured and the question it asks."""
    lang = unit.lang
    rows: list[list[CellValue]] = []
    for objective in unit.objectives:
        band = grade_band(objective.score)
        coverage = objective.coverage
        rows.append([
            cycle.name if cycle else unit.settings.cycle, objective.local_id, objective.text,
            label(schema.COMMITMENTS, objective.commitment, lang), objective.score,
            GRADES[lang][band] if band else None,
            f"{coverage.measured}/{coverage.total}" if coverage else None, prompt(objective, lang),
        ])
    return OwnedSheet(SHEET[lang], HEADERS[lang], rows)


def add_retrospective(unit: Unit, changes: WorkbookChanges, cycle: Cycle | None) -> None:
    """Append the Retrospective sheet to a unit's changes, unless the workbook already has one (a close after a
    reopen keeps the first retrospective and what people made of it)."""
    names = {schema.normalize(n) for n in unit.raw.sheet_names}
    if any(schema.normalize(name) in names for name in SHEET.values()):
        return
    changes.appends.append(sheet_for(unit, cycle))
