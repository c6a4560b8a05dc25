"""The words of the templates: Instructions sheets, input hints and banners, in English and Chinese."""

from __future__ import annotations

from typing import Literal

from .core.bands import GRADE_GREEN, GRADE_YELLOW, SWEET_SPOT_LOW
from .core.schema import Lang

# The grade bands as the Instructions print them, from their one definition.
_G, _Y = f"{GRADE_GREEN:.1f}", f"{GRADE_YELLOW:.1f}"
_Y_TOP = f"{GRADE_GREEN - 0.01:.2f}"
_SWEET = f"{SWEET_SPOT_LOW:.1f}–{_G}"
_PACE_HALF = f"{GRADE_GREEN * 0.5:.2f}"

# One Instructions line: ("h1" | "h2" | "p" | "ex" | "tip", text). "ex" lines are the worked example.
Style = Literal["h1", "h2", "p", "ex", "tip"]
Line = tuple[Style, str]

INSTRUCTIONS: dict[Lang, tuple[Line, ...]] = {
    "en": (
        ("h1", "How to use this OKR workbook"),
        (
            "p",
            "This workbook holds the OKRs of one unit: the company, a department, a team or a "
            "person. Write your objectives and key results on the OKRs sheet, keep Current up to "
            "date every week, and okr-sync does the rest: it checks every row, scores it, links it "
            "to the company's objectives and puts everything together in the company rollup.",
        ),
        ("h2", "1. Start the cycle"),
        (
            "p",
            "Check the Settings sheet: Unit code (short and unique, e.g. MKT-SEO), Level, Parent "
            "unit (the code of the unit above you), Cycle with its start and end dates, and Owner. "
            "Language decides the language of the messages written back.",
        ),
        ("h2", "2. Write 3–5 objectives"),
        (
            "p",
            "An objective says where you want to be at the end of the cycle: qualitative, "
            "inspiring, and short enough to remember. It names an outcome, not a list of tasks. "
            "Good: “Make our help centre the place customers go first”. Weak: “Write help "
            "articles”. Fewer is better: three objectives done well beat six half done.",
        ),
        (
            "tip",
            "Type O, give it an ID (O1, O2 …) and write the objective in the Objective / Key "
            "result column. Commitment: committed (we will get there, whatever it takes) or "
            "aspirational (a stretch; blank means aspirational).",
        ),
        ("h2", "3. Give each objective 2–5 measurable key results"),
        (
            "p",
            "A key result says how you will know the objective was reached. It is a number that "
            "moves, from a Start to a Target, by a date. If you can't tell at the end of the "
            "cycle whether it was reached, it is not a key result yet. Measure outcomes "
            "(sign-ups, revenue, load time), not activity (meetings held, emails sent).",
        ),
        (
            "tip",
            "Type KR and number it after its objective: KR1.1, KR1.2 belong to O1; KR2.1 to O2. "
            "Fill Metric, Start, Target and, every week, Current.",
        ),
        (
            "p",
            "Metric tells okr-sync how to score: number, percent and currency go from Start to "
            "Target (a target below the start means “bring it down”, such as cost or load time); "
            "yes-no is done or not; milestone is your own estimate from 0% to 100%; stay above "
            "and stay below hold a level (uptime stays above 99.9%) and score 1 while they do.",
        ),
        (
            "p",
            "Confidence (0–10) is how sure you are today that the key result will be reached. "
            "Due is optional; Source can point at a cell of another workbook so Current updates "
            "itself.",
        ),
        ("h2", "4. How scoring works"),
        (
            "p",
            "Every key result scores from 0.0 to 1.0: the share of the way from Start to Target, "
            "capped at 1. An objective's score is the weighted mean of its key results' scores "
            "(Weight, blank = 1). The unit's score is the weighted mean of its objectives.",
        ),
        (
            "p",
            f"Aspirational OKRs are set so that you will not quite reach them: {_SWEET} at the "
            "end of the cycle is the sweet spot and counts as success. A 1.0 on an aspirational "
            f"objective means the target was probably too low; aim higher next cycle. Below {_Y} "
            "is worth a short retrospective: was it the wrong goal, too few people, or something "
            "that got in the way? That is learning, not failure.",
        ),
        (
            "p",
            "Committed OKRs are promises: the business plans on them, so anything below 1.0 at "
            "the end of the cycle needs an explanation and a plan.",
        ),
        (
            "p",
            "Status compares your score with the score expected by now: the share of the cycle "
            "that has passed (halfway through, 0.5). Aspirational: on track from 70% of the "
            "expected score, at risk from 40%, off track below. Committed: on track from 100%, "
            "at risk from 70%. Score and Progress are coloured by the grading bands that apply "
            f"at the end of the cycle: {_G}–1.0 green, {_Y}–{_Y_TOP} yellow, below {_Y} red. Early in "
            "the cycle a red score can still be on track.",
        ),
        ("h2", "5. Alignment and dependencies"),
        (
            "p",
            "Aligns to (objectives only) links your objective to the objective or key result "
            "above it that it helps reach, by its global ID: the unit code, a slash and the ID, "
            "such as CO/KR2.1 or MKT/O1. Every objective below the company should align to "
            "something; the rollup then shows, on the company's objective, how the units aligned "
            "to it are doing (Aligned score). Break the parent's key result down into your own "
            "outcome; do not copy its words.",
        ),
        (
            "p",
            "Depends on names work you need from other units, again by global ID, separated by "
            "commas (ENG/KR1.3, SALES/O2). Agree on it with the other unit so they put it in "
            "their OKRs too; the rollup's Dependencies sheet shows how each one is doing.",
        ),
        ("h2", "6. What the sync fills in"),
        (
            "p",
            "The grey columns (Progress, Score, Status, Check and Aligned score) belong to "
            "okr-sync. They are locked so nobody overwrites them by accident; the sheet has no "
            "password, so you can still insert and delete rows, sort, filter and format. "
            "Check lists what is wrong with a row and what to do; an empty Check means the row "
            "is fine. A History sheet keeps every change of a key result, so trends need no "
            "extra work. Columns you add yourself are never read or written.",
        ),
        ("h2", "7. Worked example: a marketing team"),
        (
            "ex",
            "O1  Fill the pipeline with demand we can close  ·  Aligns to CO/KR2.1  ·  aspirational",
        ),
        ("ex", "KR1.1  Qualified leads per month from 900 to 1,600  ·  number  ·  Current 1,250"),
        ("ex", "KR1.2  Lead-to-trial conversion from 8% to 12%  ·  percent  ·  Current 9.5%"),
        ("ex", "KR1.3  Cost per lead from 42 to 30  ·  currency  ·  Current 36"),
        (
            "p",
            "Scores: KR1.1 = (1250 − 900) / (1600 − 900) = 0.50; KR1.2 = (9.5 − 8) / (12 − 8) "
            "= 0.38 (0.375 rounded half up); KR1.3 goes down: (36 − 42) / (30 − 42) = 0.50. "
            "O1 = (0.50 + 0.38 + 0.50) / 3 = 0.46. Halfway through the cycle (expected 0.5), "
            f"0.46 is above {_G} × 0.5 = {_PACE_HALF}: on track.",
        ),
        (
            "p",
            "Notice what makes these good key results: each is an outcome with a start, a "
            "target and one clear number; together they say what “a full pipeline” means; and "
            "none of them is a task like “run three campaigns”.",
        ),
    ),
    "zh": (
        ("h1", "如何使用本 OKR 工作簿"),
        (
            "p",
            "本工作簿记录一个单元（公司、部门、团队或个人）的 OKR。在 OKRs 表中填写目标和"
            "关键结果，每周更新“当前值”，其余交给 okr-sync：它逐行校验、计算得分、把目标与"
            "公司目标对齐，并汇总到公司的汇总工作簿。",
        ),
        ("h2", "一、开始一个周期"),
        (
            "p",
            "先检查“设置”表：单元代码（简短且全公司唯一，如 MKT-SEO）、层级、上级单元（上一级"
            "单元的代码）、周期及其开始和结束日期、负责人。“语言”决定回写的提示和状态使用的语言。",
        ),
        ("h2", "二、写 3–5 个目标"),
        (
            "p",
            "目标描述周期结束时希望达到的状态：定性、鼓舞人心、简短好记。它说的是结果，而不是"
            "任务清单。好的写法：“让帮助中心成为客户遇到问题的第一站”；较弱的写法：“写帮助"
            "文档”。少即是多：做好三个目标，胜过做一半的六个目标。",
        ),
        (
            "tip",
            "类型填“目标”，编号填 O1、O2……，在“目标/关键结果”列写下目标。承诺类型：承诺型"
            "（无论如何都要达成）或挑战型（有意拔高；留空即挑战型）。",
        ),
        ("h2", "三、每个目标配 2–5 个可衡量的关键结果"),
        (
            "p",
            "关键结果回答“怎么知道目标达成了”：一个会变化的数字，在截止前从起始值走到目标值。"
            "如果周期结束时无法判断是否达成，它就还不是关键结果。衡量结果（注册数、收入、加载"
            "时间），而不是动作（开了几次会、发了多少邮件）。",
        ),
        (
            "tip",
            "类型填“关键结果”，编号跟随所属目标：KR1.1、KR1.2 属于 O1，KR2.1 属于 O2。填写"
            "度量、起始值、目标值，并每周更新当前值。",
        ),
        (
            "p",
            "“度量”决定计分方式：数值、百分比、金额按从起始值到目标值的比例计分（目标值低于"
            "起始值表示“要降下来”，如成本或加载时间）；是否：完成或未完成；里程碑：自己估计的"
            "完成度 0%–100%；保持高于、保持低于：守住一条线（如可用性保持高于 99.9%），守住"
            "即得 1 分。",
        ),
        (
            "p",
            "信心指数（0–10）表示你今天有多大把握达成该关键结果。截止日期可选；“数据来源”可以"
            "指向另一个工作簿的单元格，让当前值自动更新。",
        ),
        ("h2", "四、如何计分"),
        (
            "p",
            "每个关键结果得分 0.0–1.0：从起始值到目标值完成的比例，最高为 1。目标得分是其关键"
            "结果得分的加权平均（权重留空即 1）；单元得分是各目标得分的加权平均。",
        ),
        (
            "p",
            f"挑战型 OKR 本来就定得不容易完全达成：周期结束时 {_SWEET} 是理想区间，算作成功。"
            f"挑战型目标拿到 1.0，说明目标可能定低了，下个周期可以更大胆。低于 {_Y} 值得做一次"
            "简短复盘：是方向错了、人手不够，还是遇到了阻碍？这是学习，不是失败。",
        ),
        (
            "p",
            "承诺型 OKR 是承诺：业务计划依赖它们，周期结束时低于 1.0 需要说明原因并给出补救计划。",
        ),
        (
            "p",
            "状态把得分与此刻的预期得分相比较，预期得分即周期已过去的比例（过半时为 0.5）。"
            "挑战型：达到预期得分的 70% 为正常，40% 以上为有风险，否则为落后；承诺型：100% 为"
            f"正常，70% 以上为有风险。得分和进度的颜色按周期结束时的评分区间显示：{_G}–1.0 绿色，"
            f"{_Y}–{_Y_TOP} 黄色，低于 {_Y} 红色。所以周期初期，红色的得分也可能是“正常”。",
        ),
        ("h2", "五、对齐与依赖"),
        (
            "p",
            "“对齐”（仅目标填写）用全局编号把你的目标连到它所支撑的上级目标或关键结果：单元"
            "代码、斜杠、编号，如 CO/KR2.1 或 MKT/O1。公司以下的每个目标都应当有对齐；汇总时，"
            "公司目标旁会显示对齐到它的各单元目标的平均得分（对齐得分）。要把上级的关键结果"
            "分解成自己的成果，不要照抄原文。",
        ),
        (
            "p",
            "“依赖”填写你需要其他单元完成的工作，同样使用全局编号，多个用逗号分隔（ENG/KR1.3, "
            "SALES/O2）。请先与对方单元达成一致，让他们也写进自己的 OKR；汇总工作簿的"
            "“依赖”表会显示每一项的进展。",
        ),
        ("h2", "六、同步会填写什么"),
        (
            "p",
            "灰色的列（进度、得分、状态、校验、对齐得分）由 okr-sync 填写。它们被锁定，防止误改；"
            "工作表保护没有密码，你仍然可以插入和删除行、排序、筛选和设置格式。“校验”列写明"
            "这一行的问题以及怎么改，为空表示没有问题。“历史”表记录关键结果的每次变化，趋势"
            "无需额外工作。你自己添加的列，服务永远不会读取或改写。",
        ),
        ("h2", "七、示例：市场团队"),
        ("ex", "O1  让销售管道充满能成交的需求  ·  对齐 CO/KR2.1  ·  挑战型"),
        ("ex", "KR1.1  每月合格线索从 900 增加到 1,600  ·  数值  ·  当前值 1,250"),
        ("ex", "KR1.2  线索到试用的转化率从 8% 提高到 12%  ·  百分比  ·  当前值 9.5%"),
        ("ex", "KR1.3  单条线索成本从 42 降到 30  ·  金额  ·  当前值 36"),
        (
            "p",
            "得分：KR1.1 =（1250 − 900）/（1600 − 900）= 0.50；KR1.2 =（9.5 − 8）/（12 − 8）"
            "= 0.38（0.375 四舍五入）；KR1.3 是下降型：（36 − 42）/（30 − 42）= 0.50。O1 ="
            f"（0.50 + 0.38 + 0.50）/ 3 = 0.46。周期过半时（预期 0.5），0.46 高于 {_G} × 0.5 = "
            f"{_PACE_HALF}：正常。",
        ),
        (
            "p",
            "这些关键结果好在哪里：每一个都是有起点、有目标、只有一个清晰数字的结果；合在一起"
            "说明了“管道充满”是什么意思；没有一个是“做三场活动”这样的任务。",
        ),
    ),
}

# Data-validation prompts: (title ≤ 32 chars, message ≤ 255 chars), by column key.
HINTS: dict[Lang, dict[str, tuple[str, str]]] = {
    "en": {
        "type": ("Type", "O for an objective, KR for a key result."),
        "id": ("ID", "O1, O2 … for objectives; KR1.1, KR1.2 … for the key results of O1."),
        "text": (
            "Objective / Key result",
            "Objective: an outcome, short and inspiring. Key result: one measurable result with a start and a target.",
        ),
        "aligns_to": (
            "Aligns to (objectives)",
            "Global ID of the objective or key result above "
            "this one helps reach: unit code / ID, e.g. CO/KR2.1 or MKT/O1.",
        ),
        "depends_on": (
            "Depends on",
            "Global IDs in other units this row needs, separated by commas: ENG/KR1.3, SALES/O2.",
        ),
        "commitment": (
            "Commitment (objectives)",
            f"committed: we will get there. aspirational: a stretch, {_SWEET} is success. Blank = aspirational.",
        ),
        "weight": ("Weight", "A positive number; blank = 1."),
        "metric": (
            "Metric (key results)",
            "number, percent, currency: Start → Target. yes-no: "
            "done or not. milestone: 0–100%. stay above / stay below: hold a level. "
            "Blank = number.",
        ),
        "start": ("Start", "The baseline at the start of the cycle. Blank = 0."),
        "target": (
            "Target",
            "Where the number should be by the end of the cycle. Lower than "
            "Start when it must go down. For stay above/below: the level to hold.",
        ),
        "current": ("Current", "The latest value; update it every week. yes-no: yes/no. milestone: 0–100%."),
        "source": (
            "Source (optional)",
            "Where Current comes from: file › sheet › cell, e.g. "
            "sales.xlsx › Data › B2, or a Google Sheets link with a range.",
        ),
        "confidence": ("Confidence", "0–10: how sure are you today that this will be reached?"),
        "due": ("Due", "Optional date inside the cycle, e.g. 2026-11-30."),
    },
    "zh": {
        "type": ("类型", "目标 或 关键结果（也可填 O / KR）。"),
        "id": ("编号", "目标用 O1、O2……；O1 的关键结果用 KR1.1、KR1.2……"),
        "text": ("目标/关键结果", "目标：一个结果，简短而鼓舞人心。关键结果：一个可衡量的结果，有起始值和目标值。"),
        "aligns_to": (
            "对齐（仅目标）",
            "本目标所支撑的上级目标或关键结果的全局编号：单元代码/编号，如 CO/KR2.1 或 MKT/O1。",
        ),
        "depends_on": ("依赖", "本行需要的其他单元的全局编号，用逗号分隔：ENG/KR1.3, SALES/O2。"),
        "commitment": ("承诺类型（仅目标）", f"承诺型：必须达成。挑战型：有意拔高，{_SWEET} 即成功。留空即挑战型。"),
        "weight": ("权重", "正数；留空即 1。"),
        "metric": (
            "度量（仅关键结果）",
            "数值、百分比、金额：起始值 → 目标值。是否：完成与否。"
            "里程碑：0–100%。保持高于/保持低于：守住一条线。留空即数值。",
        ),
        "start": ("起始值", "周期开始时的基线。留空即 0。"),
        "target": ("目标值", "周期结束时要达到的值。要降低的指标，目标值低于起始值。保持高于/低于：要守住的那条线。"),
        "current": ("当前值", "最新的值，请每周更新。是否：是/否。里程碑：0–100%。"),
        "source": (
            "数据来源（可选）",
            "当前值的来源：文件 › 工作表 › 单元格，如 sales.xlsx › Data › B2，或带范围的 Google 表格链接。",
        ),
        "confidence": ("信心指数", "0–10：今天你有多大把握达成？"),
        "due": ("截止日期", "可选，周期内的日期，如 2026-11-30。"),
    },
}

# Short help beside each Settings key (column C).
SETTING_HELP: dict[Lang, dict[str, str]] = {
    "en": {
        "unit_code": "Short code, unique in the company: CO, MKT, MKT-SEO.",
        "unit_name": "Display name.",
        "level": "company, department, team or individual.",
        "parent": "Code of the unit above this one; blank for the company.",
        "cycle": "The OKR cycle, e.g. 2026-Q4, 2026-H1 or 2026.",
        "cycle_start": "First day of the cycle.",
        "cycle_end": "Last day of the cycle.",
        "owner": "Who answers for these OKRs.",
        "language": "en or zh: the language of messages and status written back.",
    },
    "zh": {
        "unit_code": "简短代码，全公司唯一：CO、MKT、MKT-SEO。",
        "unit_name": "显示名称。",
        "level": "公司、部门、团队或个人。",
        "parent": "上一级单元的代码；公司留空。",
        "cycle": "OKR 周期，如 2026-Q4、2026-H1 或 2026。",
        "cycle_start": "周期第一天。",
        "cycle_end": "周期最后一天。",
        "owner": "对这些 OKR 负责的人。",
        "language": "en 或 zh：回写的提示和状态使用的语言。",
    },
}

UI: dict[Lang, dict[str, str]] = {
    "en": {
        "banner": "OKRs · {name} ({code}) · {cycle}: {start} – {end}",
        "subtitle": (
            "Write objectives (O) and key results (KR); update Current weekly. Grey columns are "
            "filled by okr-sync. See the Instructions sheet."
        ),
        "choose": "Choose from the list",
        "choose_msg": "Pick a value from the dropdown. Other spellings may not be understood.",
        "confidence_err": "Confidence is a number from 0 to 10.",
        "weight_err": "Weight is a number above 0.",
        "help": "Help",
        "key": "Key",
    },
    "zh": {
        "banner": "OKRs · {name}（{code}）· {cycle}：{start} – {end}",
        "subtitle": "填写目标和关键结果，每周更新当前值。灰色列由 okr-sync 填写。详见“说明”表。",
        "choose": "请从列表中选择",
        "choose_msg": "请从下拉列表中选择，其他写法可能无法识别。",
        "confidence_err": "信心指数是 0 到 10 之间的数字。",
        "weight_err": "权重是大于 0 的数字。",
        "help": "说明",
        "key": "项目",
    },
}

SHEET_INSTRUCTIONS: dict[Lang, str] = {"en": "Instructions", "zh": "说明"}

DEFAULT_NAMES: dict[Lang, dict[str, str]] = {
    "en": {
        "company": "Company",
        "department": "Department",
        "team": "Team",
        "individual": "Individual",
    },
    "zh": {"company": "公司", "department": "部门", "team": "团队", "individual": "个人"},
}
