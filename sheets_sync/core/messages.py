"""Every validation rule: a stable code, a severity and its message in English and Chinese."""

from __future__ import annotations

from dataclasses import dataclass

from .model import Finding, Place, Severity
from .schema import COLUMNS_BY_KEY, SETTING_KEYS, Lang


@dataclass(frozen=True)
class Rule:
    """One rule of the validator."""

    code: str
    severity: Severity
    en: str
    zh: str


_RULES: tuple[Rule, ...] = (
    # Errors: the row (or unit) is left unscored.
    Rule("settings-missing", "error",
         "The workbook has no Settings sheet. Add a sheet named 'Settings' with Unit code, Level, "
         "Cycle, Cycle start and Cycle end.",
         "工作簿缺少“设置”工作表。请添加名为“设置”的工作表，填写单元代码、层级、周期、周期开始和周期结束。"),
    Rule("setting-missing", "error",
         "Settings has no '{key}'. Add a row '{key}' with its value.",
         "“设置”中缺少“{key}”。请添加一行“{key}”并填写其值。"),
    Rule("setting-unreadable", "error",
         "'{value}' is not a valid {key}. {hint}",
         "“{value}”不是有效的{key}。{hint}"),
    Rule("cycle-dates", "error",
         "Cycle end ({end}) is not after Cycle start ({start}). Fix the dates in Settings.",
         "周期结束（{end}）不晚于周期开始（{start}）。请在“设置”中修正日期。"),
    Rule("okrs-missing", "error",
         "The workbook has no OKRs sheet. Add a sheet named 'OKRs' (start from `okr-sync new`).",
         "工作簿缺少“OKRs”工作表。请添加名为“OKRs”的工作表（可用 `okr-sync new` 生成模板）。"),
    Rule("header-missing", "error",
         "No header row found: no row holds three known headers such as Type, ID and Objective / Key "
         "result. Restore the header row.",
         "找不到表头行：没有任何一行包含至少三个已知表头（如 类型、编号、目标/关键结果）。请恢复表头行。"),
    Rule("duplicate-unit", "error",
         "Unit code {code} is also used by {other}. Give each unit its own code in Settings.",
         "单元代码 {code} 也被 {other} 使用。请在“设置”中为每个单元使用不同的代码。"),
    Rule("missing-type", "error",
         "Type is empty. Type O for an objective or KR for a key result.",
         "类型为空。目标请填 O（目标），关键结果请填 KR（关键结果）。"),
    Rule("missing-id", "error",
         "ID is empty. Give the row an ID such as O1 or KR1.2.",
         "编号为空。请填写编号，如 O1 或 KR1.2。"),
    Rule("missing-text", "error",
         "The {kind} has no text. Write what you want to achieve.",
         "该{kind}没有内容。请写下要达成的内容。"),
    Rule("duplicate-id", "error",
         "ID {id} is used more than once (rows {rows}). Give each row its own ID.",
         "编号 {id} 被重复使用（第 {rows} 行）。请为每一行使用不同的编号。"),
    Rule("kr-without-objective", "error",
         "Key result {id} has no objective {objective}. Add {objective} or renumber the key result.",
         "关键结果 {id} 找不到所属目标 {objective}。请添加 {objective} 或修改关键结果编号。"),
    Rule("bad-number", "error",
         "{column} '{value}' is not a number. Type a number such as 1500, 1,500, 75% or 1.5万.",
         "{column}“{value}”不是数字。请填写数字，如 1500、1,500、75% 或 1.5万。"),
    Rule("bad-date", "error",
         "{column} '{value}' is not a date. Type a date such as 2026-10-01 or 2026年10月1日.",
         "{column}“{value}”不是日期。请填写日期，如 2026-10-01 或 2026年10月1日。"),
    Rule("bad-choice", "error",
         "{column} '{value}' is not one of: {choices}. Pick one from the list.",
         "{column}“{value}”不是可选值之一：{choices}。请从列表中选择。"),
    Rule("unreadable-value", "error",
         "{column} holds the error value {value}. Fix the formula or type the value.",
         "{column}的值为错误值 {value}。请修正公式或直接填写数值。"),
    Rule("target-equals-start", "error",
         "Target equals Start ({value}), so progress cannot be measured. Set a Target different from "
         "the Start.",
         "目标值与起始值相同（{value}），无法计算进度。请设置不同于起始值的目标值。"),
    Rule("percent-scale", "error",
         "{column} {value} — did you mean {value}%? Start and Target are percentages, so a plain number "
         "above 1.5 would be read as {percent}. Type {value}% (or {fraction}).",
         "{column} {value} —— 是否应为 {value}%？起始值和目标值是百分比，大于 1.5 的普通数字会被读作 {percent}。"
         "请填写 {value}%（或 {fraction}）。"),
    Rule("date-in-number", "error",
         "{column} holds the date {value}, not a number (a spreadsheet turns 1/2 into a date). Format the "
         "cell as a number and type the figure again.",
         "{column}是日期 {value}，不是数字（表格会把 1/2 变成日期）。请把单元格设为数字格式后重新填写。"),
    Rule("missing-input-column", "error",
         "The OKRs sheet has no {column} column, which the rows need{lookalike}. Add a column headed "
         "'{column}'.",
         "OKRs 工作表缺少“{column}”列，而各行需要它{lookalike}。请添加表头为“{column}”的列。"),
    Rule("align-unknown", "error",
         "Aligns to {target}: no such objective or key result. Use a global ID such as CO/O1 or "
         "CO/KR1.2 from a unit above.",
         "对齐的 {target} 不存在。请填写上级单元的全局编号，如 CO/O1 或 CO/KR1.2。"),
    Rule("align-not-above", "error",
         "Aligns to {target}, but unit {target_unit} ({level}) is not above this one. Align to an objective "
         "of a higher level.",
         "对齐到 {target}，但单元 {target_unit}（{level}）并不高于本单元。请对齐到更高层级的目标。"),
    Rule("align-cycle", "error",
         "Alignment goes round in a circle: {path}. Break the loop.",
         "对齐关系形成循环：{path}。请打破该循环。"),
    Rule("source-unreadable", "error",
         "Source {source} could not be read: {reason}. Fix the Source or clear it and type Current.",
         "无法读取数据来源 {source}：{reason}。请修正数据来源，或清空后直接填写当前值。"),
    # Warnings: they inform, the row is still scored.
    Rule("formula-no-value", "warning",
         "{column} holds a formula with no computed value (the file was saved by a tool that does not "
         "calculate). Open and save it in Excel or LibreOffice; until then it counts as blank.",
         "{column}包含公式但没有计算结果（文件由不计算公式的工具保存）。请用 Excel 或 LibreOffice 打开并保存；在此之前按空白处理。"),
    Rule("array-formula", "warning",
         "{column} lies inside the array formula at {anchor}, so the sync leaves it as it is. Move that "
         "formula out of the computed columns (or clear it) and {column} is filled in again.",
         "{column}位于 {anchor} 处数组公式的范围内，同步不会改动它。请把该公式移出计算列（或清除它），{column}才会重新填写。"),
    Rule("history-full", "warning",
         "The {sheet} sheet is full ({rows:,} rows, the most a sheet holds): new History rows go to the "
         "sheet '{next}'.",
         "“{sheet}”工作表已满（{rows:,} 行，工作表的上限）：新的历史记录写入工作表“{next}”。"),
    Rule("bad-weight", "warning",
         "Weight '{value}' is not a number above 0, so it counts as 1. Type a positive number such as 1, "
         "2 or 0.5, or leave it blank for 1.",
         "权重“{value}”不是大于 0 的数字，按 1 计。请填写正数，如 1、2 或 0.5，或留空表示 1。"),
    Rule("confidence-unreadable", "warning",
         "Confidence '{value}' is not a figure from 0 to 10, so it is left out (the score stands). Type 7, "
         "7/10 or 70%.",
         "信心指数“{value}”不是 0–10 的数字，暂不计入（不影响得分）。请填写 7、7/10 或 70%。"),
    Rule("progress-over-2", "warning",
         "Progress is {progress} (Start {start}, Target {target}, Current {current}). Above 200% usually "
         "means a misplaced decimal point (1.500 reads as 1.5, not 1500) or a missing % or 万: check the "
         "three figures.",
         "进度为 {progress}（起始值 {start}，目标值 {target}，当前值 {current}）。超过 200% 通常是小数点位置错了"
         "（1.500 会读作 1.5 而不是 1500）或漏了 % 或 万：请核对这三个数字。"),
    Rule("unit-scale", "warning",
         "{column} {value} — did you mean {value}{suffix}? {other} is typed in {suffix}, so {value} reads as "
         "only {value} and progress is {progress}. Type {value}{suffix}.",
         "{column} {value} —— 是否应为 {value}{suffix}？{other}以{suffix}为单位，{value} 只会读作 {value}，进度为 "
         "{progress}。请填写 {value}{suffix}。"),
    Rule("unknown-header", "warning",
         "'{value}' is not a column okr-sync knows — did you mean {column}? Rename the header to '{column}' "
         "so it is read.",
         "“{value}”不是 okr-sync 认识的列 —— 是否应为“{column}”？请把表头改为“{column}”，否则不会读取。"),
    Rule("missing-column", "warning",
         "The OKRs sheet has no '{column}' column, so it cannot be filled. Add the column to the header.",
         "OKRs 工作表没有“{column}”列，无法写入。请在表头中添加该列。"),
    Rule("no-objectives", "warning",
         "The OKRs sheet has no objectives yet. Write 3–5 objectives, each with 2–5 measurable key results.",
         "OKRs 工作表还没有目标。请写下 3–5 个目标，每个目标配 2–5 个可衡量的关键结果。"),
    Rule("too-many-objectives", "warning",
         "{count} objectives: keep 3–5 so the unit stays focused.",
         "共有 {count} 个目标：建议保持 3–5 个，以保持聚焦。"),
    Rule("too-many-krs", "warning",
         "Objective {id} has {count} key results: keep at most 5.",
         "目标 {id} 有 {count} 个关键结果：建议不超过 5 个。"),
    Rule("objective-without-krs", "warning",
         "Objective {id} has no key results. Add 2–5 measurable key results.",
         "目标 {id} 没有关键结果。请添加 2–5 个可衡量的关键结果。"),
    Rule("kr-not-measurable", "warning",
         "Key result {id} has no Target, so it is not measurable and stays unscored. Add a Target, or "
         "make it yes-no or milestone.",
         "关键结果 {id} 没有目标值，无法衡量，不计分。请填写目标值，或将度量改为是否或里程碑。"),
    Rule("milestone-over-1", "warning",
         "Milestone Current {value} is above 1 and counts as 1. Type a fraction (0.75) or a "
         "percentage (75%).",
         "里程碑当前值 {value} 大于 1，按 1 计。请填写小数（0.75）或百分比（75%）。"),
    Rule("align-on-kr", "warning",
         "Only objectives align upwards; Aligns to on key result {id} is ignored. Put it on the "
         "objective's row.",
         "只有目标可以向上对齐；关键结果 {id} 的对齐被忽略。请填写在目标所在行。"),
    Rule("parent-unknown", "warning",
         "Parent unit {parent} is not a known unit. Check the code, or add that unit's workbook.",
         "上级单元 {parent} 不是已知单元。请检查代码，或添加该单元的工作簿。"),
    Rule("objective-unaligned", "warning",
         "Objective {id} aligns to nothing. Fill Aligns to with the objective or key result above it "
         "supports.",
         "目标 {id} 没有对齐。请在“对齐”中填写它所支持的上级目标或关键结果。"),
    Rule("copies-parent-kr", "warning",
         "Objective {id} repeats {target} word for word. Break the parent key result down into what "
         "this unit will do.",
         "目标 {id} 与 {target} 完全相同。请把上级关键结果分解为本单元要做的事。"),
    Rule("confidence-range", "warning",
         "Confidence {value} is outside 0–10. Use 0 (no chance) to 10 (certain).",
         "信心指数 {value} 不在 0–10 之间。请用 0（不可能）到 10（确定）。"),
    Rule("due-outside-cycle", "warning",
         "Due {due} is outside the cycle ({start} – {end}). Move it inside the cycle.",
         "截止日期 {due} 不在周期内（{start} – {end}）。请调整到周期之内。"),
    Rule("dependency-unknown", "warning",
         "Depends on {target}: no such objective or key result in another unit. Check the global ID.",
         "依赖的 {target} 在其他单元中不存在。请检查全局编号。"),
    Rule("dependency-off-track", "warning",
         "Depends on {target}, which is off track (score {score}). Talk to {target_unit} about it.",
         "所依赖的 {target} 已落后（得分 {score}）。请与 {target_unit} 沟通。"),
    Rule("committed-below-1", "warning",
         "Committed objective {id} ended at {score}; committed goals are expected at 1.0. Worth a "
         "retrospective.",
         "承诺型目标 {id} 最终得分 {score}；承诺型目标应达到 1.0。值得复盘。"),
    Rule("aspirational-at-1", "warning",
         "Aspirational objective {id} scored 1.0: the target may have been set too low.",
         "挑战型目标 {id} 得分 1.0：目标可能定得太低。"),
    Rule("objective-below-0.4", "warning",
         "Objective {id} ended at {score}, below {floor}: worth a retrospective, for learning.",
         "目标 {id} 最终得分 {score}，低于 {floor}：值得复盘，用于学习。"),
    Rule("owner-unknown", "warning",
         "Owner '{owner}' is not on the people list ({where}). Write a name or email from it, or add the "
         "person there, so reminders reach them.",
         "负责人“{owner}”不在人员名单（{where}）中。请填写名单中的姓名或邮箱，或把此人加入名单，以便收到提醒。"),
    Rule("unscored-krs", "warning",
         "{coverage}; not measured: {ids} (each counts as 0 in this score).",
         "{coverage}；未衡量：{ids}（在本得分中按 0 计）。"),
    # Cycles (docs/cycles.md): references resolve within the unit's own cycle.
    Rule("align-other-cycle", "error",
         "Aligns to {target}: that objective or key result belongs to cycle {other}, not {cycle}. Align to "
         "the {cycle} OKRs of the unit above.",
         "对齐的 {target} 属于周期 {other}，不属于 {cycle}。请对齐到上级单元 {cycle} 周期的 OKR。"),
    Rule("dependency-other-cycle", "error",
         "Depends on {target}: that objective or key result belongs to cycle {other}, not {cycle}. Name "
         "the {cycle} one.",
         "依赖的 {target} 属于周期 {other}，不属于 {cycle}。请填写 {cycle} 周期的编号。"),
    Rule("cycle-dates-differ", "warning",
         "Cycle {cycle} runs {start} – {end} here but {parent_start} – {parent_end} in parent unit {parent}. "
         "Use the same dates as the unit above.",
         "本单元周期 {cycle} 为 {start} – {end}，而上级单元 {parent} 为 {parent_start} – {parent_end}。"
         "请与上级单元使用相同的日期。"),
)
RULES: dict[str, Rule] = {r.code: r for r in _RULES}


def finding(
    code: str,
    place: Place,
    lang: Lang,
    /,
    *,
    unit: str | None = None,
    row_id: str | None = None,
    **values: object,
) -> Finding:
    """Build a finding for a rule in the workbook's language."""
    rule = RULES[code]
    template = rule.zh if lang == "zh" else rule.en
    return Finding(rule.severity, code, place, template.format(**values), unit, row_id)


def coverage_text(measured: int, total: int, lang: Lang) -> str:
    """ "7 of 8 key results measured" in a language."""
    if lang == "zh":
        return f"{total} 个关键结果中已衡量 {measured} 个"
    return f"{measured} of {total} key result{'s' if total != 1 else ''} measured"


def lookalike_text(cell: str, value: str, lang: Lang) -> str:
    """The look-alike clause of missing-input-column: " ('Target value' in J4 looks like it)"."""
    if lang == "zh":
        return f"（{cell} 的“{value}”看起来像它）"
    return f" ('{value}' in {cell} looks like it)"


def column_name(key: str, lang: Lang) -> str:
    """The header of a column (by key) in a language, for messages."""
    if key in COLUMNS_BY_KEY:
        return COLUMNS_BY_KEY[key].header(lang)
    for setting in SETTING_KEYS:
        if setting.key == key:
            return setting.zh if lang == "zh" else setting.en
    return key
