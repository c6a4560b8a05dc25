"""A demo company, Tidewater Software: five units with realistic, aligned OKRs and one mistake."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from .core import schema
from .core.cycles import cycle_dates
from .core.model import a1
from .core.schema import Lang
from .errors import ConfigError
from .templates import COLUMN_ORDER, HEADER_ROW, build_template, save_workbook

__all__ = ["DEMO_MISTAKE", "DEMO_MISTAKE_PLACE", "DEMO_MISTAKE_ZH", "PREVIOUS_CYCLE", "company_units",
           "write_demo_company", "write_previous_cycle"]

T = tuple[str, str]  # (English, Chinese)


@dataclass(frozen=True)
class Row:
    """One objective or key result of the demo, in both languages; dates are day offsets."""

    id: str
    text: T
    owner: T | None = None
    aligns_to: str | None = None
    depends_on: str | None = None
    commitment: str | None = None
    weight: float | None = None
    metric: str | None = None
    start: Any = None
    target: Any = None
    current: Any = None
    confidence: int | None = None
    due_day: int | None = None  # days after the cycle start
    notes: T | None = None
    fmt: str | None = None

    def cells(self, lang: Lang, cycle_start: dt.date) -> dict[str, Any]:
        """The row as column values in a language."""
        is_kr = self.id.startswith("KR")
        i = 1 if lang == "zh" else 0
        current = self.current
        if self.metric == "yes-no" and isinstance(current, bool):
            current = ("是" if current else "否") if lang == "zh" else ("yes" if current else "no")
        values: dict[str, Any] = {
            "type": schema.label(schema.TYPES, "KR" if is_kr else "O", lang),
            "id": self.id,
            "text": self.text[i],
            "owner": self.owner[i] if self.owner else None,
            "aligns_to": self.aligns_to,
            "depends_on": self.depends_on,
            "commitment": (schema.label(schema.COMMITMENTS, self.commitment, lang) if self.commitment else None),
            "weight": self.weight,
            "metric": schema.label(schema.METRICS, self.metric, lang) if self.metric else None,
            "start": self.start,
            "target": self.target,
            "current": current,
            "confidence": self.confidence,
            "due": (cycle_start + dt.timedelta(days=self.due_day) if self.due_day is not None else None),
            "notes": self.notes[i] if self.notes else None,
            "_format": self.fmt,
        }
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class Unit:
    """One unit of the demo company."""

    code: str
    level: str
    name: T
    owner: T
    file_name: str
    rows: tuple[Row, ...]
    parent: str | None = None
    native_lang: Lang = "en"
    lang: Lang = "en"
    overrides: dict[tuple[str, str], Any] = field(default_factory=dict)

    def okrs(self, cycle_start: dt.date) -> list[dict[str, Any]]:
        """Row dicts for build_template."""
        out = []
        for row in self.rows:
            cells = row.cells(self.lang, cycle_start)
            for (row_id, key), value in self.overrides.items():
                if row_id == row.id:
                    cells[key] = value
            out.append(cells)
        return out

    def build(self, cycle: str) -> Workbook:
        """The unit's workbook for a cycle."""
        start, _ = cycle_dates(cycle)
        i = 1 if self.lang == "zh" else 0
        return build_template(
            level=self.level,
            code=self.code,
            parent=self.parent,
            name=self.name[i],
            owner=self.owner[i],
            lang=self.lang,
            cycle=cycle,
            okrs=self.okrs(start),
        )


PCT = "0.0%"
PCT2 = "0.00%"

_CO = Unit(
    code="CO",
    level="company",
    name=("Tidewater Software", "潮汐软件"),
    owner=("Lin Mei", "林梅"),
    file_name="co.xlsx",
    rows=(
        Row("O1", ("Become the help desk small teams recommend to each other",
                   "成为小团队互相推荐的客服系统")),
        Row("KR1.1", ("Net Promoter Score from 32 to 45", "净推荐值（NPS）从 32 提升到 45"),
            ("Lin Mei", "林梅"), metric="number", start=32, target=45, current=38, confidence=6),
        Row("KR1.2", ("Monthly active teams from 4,200 to 6,000", "月活跃团队从 4,200 增加到 6,000"),
            ("Priya Shah", "普丽雅"), metric="number", start=4200, target=6000, current=4900,
            confidence=6),
        Row("KR1.3", ("Monthly customer churn stays below 2%", "月客户流失率保持低于 2%"),
            ("Wang Qiang", "王强"), metric="stay below", target=0.02, current=0.018,
            confidence=7, fmt=PCT),
        Row("O2", ("Grow revenue without burning cash", "在不烧钱的前提下增长收入"), weight=2),
        Row("KR2.1", ("New annual recurring revenue from 0 to 1,200,000",
                      "新增年度经常性收入从 0 到 1,200,000"),
            ("Wang Qiang", "王强"), metric="currency", start=0, target=1_200_000, current=520_000,
            confidence=5),
        Row("KR2.2", ("Gross margin stays above 75%", "毛利率保持高于 75%"), ("Lin Mei", "林梅"),
            metric="stay above", target=0.75, current=0.77, confidence=8, fmt=PCT),
        Row("KR2.3", ("Self-serve annual plans with official invoices launched",
                      "上线自助年付方案并支持开具发票"),
            ("Jonas Berg", "乔纳斯"), metric="milestone", current=0.4, confidence=6),
        Row("O3", ("Ship a faster, more reliable product", "交付更快、更可靠的产品")),
        Row("KR3.1", ("p95 page load time from 2.4 s to 1.2 s", "p95 页面加载时间从 2.4 秒降到 1.2 秒"),
            ("Jonas Berg", "乔纳斯"), metric="number", start=2.4, target=1.2, current=1.9,
            confidence=7),
        Row("KR3.2", ("Uptime stays above 99.9%", "服务可用性保持高于 99.9%"), ("Jonas Berg", "乔纳斯"),
            metric="stay above", target=0.999, current=0.9995, confidence=9, fmt=PCT2),
        Row("KR3.3", ("Mobile app live on iOS and Android", "移动应用在 iOS 和安卓上线"),
            ("Jonas Berg", "乔纳斯"), metric="yes-no", current=False, confidence=4, due_day=75),
    ),
)  # fmt: skip

_MKT = Unit(
    code="MKT",
    level="department",
    parent="CO",
    name=("Marketing", "市场部"),
    owner=("Priya Shah", "普丽雅"),
    file_name="mkt.xlsx",
    rows=(
        Row("O1", ("Fill the pipeline with demand sales can close", "让销售管道充满能成交的需求"),
            aligns_to="CO/KR2.1"),
        Row("KR1.1", ("Marketing-qualified leads per month from 900 to 1,600",
                      "每月市场合格线索从 900 增加到 1,600"),
            ("Priya Shah", "普丽雅"), metric="number", start=900, target=1600, current=1250,
            confidence=7),
        Row("KR1.2", ("Lead-to-trial conversion from 8% to 12%", "线索到试用的转化率从 8% 提高到 12%"),
            ("Ana Costa", "安娜"), metric="percent", start=0.08, target=0.12, current=0.095,
            confidence=5),
        Row("KR1.3", ("Cost per lead from 42 to 30", "单条线索成本从 42 降到 30"),
            ("Ana Costa", "安娜"), metric="currency", start=42, target=30, current=36,
            confidence=6),
        Row("O2", ("Make Tidewater the name small teams know", "让小团队都知道潮汐软件"),
            aligns_to="CO/O1"),
        Row("KR2.1", ("Organic website sessions per month from 60,000 to 90,000",
                      "官网每月自然访问量从 60,000 增加到 90,000"),
            ("Tom Becker", "汤姆"), metric="number", start=60000, target=90000, current=66000,
            confidence=5),
        Row("KR2.2", ("Customer stories published from 0 to 6", "发布客户案例从 0 篇到 6 篇"),
            ("Ana Costa", "安娜"), metric="number", start=0, target=6, current=1, confidence=4,
            notes=("Two interviews postponed to December.", "两场访谈推迟到 12 月。")),
        Row("KR2.3", ("New website and brand launched", "新官网和品牌形象上线"),
            ("Priya Shah", "普丽雅"), metric="milestone", current=0.3, confidence=6, due_day=70,
            depends_on="ENG/KR1.3"),
    ),
)  # fmt: skip

_SEO = Unit(
    code="MKT-SEO",
    level="team",
    parent="MKT",
    name=("SEO team", "SEO 团队"),
    owner=("Tom Becker", "汤姆"),
    file_name="mkt-seo.xlsx",
    rows=(
        Row("O1", ("Own search for “help desk for small teams”",
                   "在“小团队客服系统”相关搜索中占据首位"), aligns_to="MKT/KR2.1"),
        Row("KR1.1", ("Keywords ranking in the top 3 from 12 to 40", "排名前三的关键词从 12 个增加到 40 个"),
            ("Tom Becker", "汤姆"), metric="number", start=12, target=40, current=21, confidence=5),
        Row("KR1.2", ("Sign-ups from organic search per month from 300 to 550",
                      "每月来自自然搜索的注册从 300 增加到 550"),
            ("Sara Lind", "莎拉"), metric="number", start=300, target=550, current=380,
            confidence=5),
        Row("KR1.3", ("Pages passing Core Web Vitals from 70% to 95%",
                      "通过 Core Web Vitals 的页面比例从 70% 提高到 95%"),
            ("Sara Lind", "莎拉"), metric="percent", start=0.70, target=0.95, current=0.88,
            confidence=8, depends_on="ENG/KR1.3"),
        Row("O2", ("Turn the help centre into a way in for new customers",
                   "让帮助中心成为新客户的入口"), aligns_to="MKT/O2"),
        Row("KR2.1", ("Help-centre articles rewritten for search from 0 to 80",
                      "为搜索重写的帮助文章从 0 篇到 80 篇"),
            ("Tom Becker", "汤姆"), metric="number", start=0, target=80, current=46, confidence=7),
        Row("KR2.2", ("Referring domains from 150 to 300", "外链来源域名从 150 个增加到 300 个"),
            ("Sara Lind", "莎拉"), metric="number", start=150, target=300, current=190,
            confidence=4),
        Row("KR2.3", ("Help-centre bounce rate stays below 55%", "帮助中心跳出率保持低于 55%"),
            ("Tom Becker", "汤姆"), metric="stay below", target=0.55, current=0.58, confidence=3,
            fmt=PCT,
            notes=("New search page should bring it down.", "新的搜索页上线后应会下降。")),
    ),
)  # fmt: skip

_ENG = Unit(
    code="ENG",
    level="department",
    parent="CO",
    name=("Engineering", "研发部"),
    owner=("Jonas Berg", "乔纳斯"),
    file_name="eng.xlsx",
    rows=(
        Row("O1", ("Make every page feel instant", "让每个页面都秒开"), aligns_to="CO/KR3.1"),
        Row("KR1.1", ("p95 server response time from 800 ms to 300 ms",
                      "p95 服务端响应时间从 800 毫秒降到 300 毫秒"),
            ("Jonas Berg", "乔纳斯"), metric="number", start=800, target=300, current=520,
            confidence=7),
        Row("KR1.2", ("Traffic served from the CDN from 40% to 95%", "CDN 承载的流量从 40% 提高到 95%"),
            ("Li Na", "李娜"), metric="percent", start=0.40, target=0.95, current=0.85,
            confidence=8),
        Row("KR1.3", ("All marketing pages pass Core Web Vitals", "所有市场页面通过 Core Web Vitals"),
            ("Li Na", "李娜"), metric="yes-no", current=True, confidence=9),
        Row("O2", ("Put Tidewater in every support agent's pocket", "让每位客服人员随时随地用上潮汐"),
            aligns_to="CO/KR3.3", commitment="committed"),
        Row("KR2.1", ("iOS app released in the App Store", "iOS 应用在 App Store 发布"),
            ("Chen Hao", "陈浩"), metric="milestone", current=0.6, confidence=7, due_day=60),
        Row("KR2.2", ("Android app released in the major app stores", "安卓应用在主流应用商店发布"),
            ("Chen Hao", "陈浩"), metric="milestone", current=0.3, confidence=4, due_day=75,
            notes=("Push notification vendor still under review.", "推送服务商仍在评估中。")),
        Row("KR2.3", ("Crash-free sessions in the beta stay above 99.5%",
                      "测试版无崩溃会话比例保持高于 99.5%"),
            ("Chen Hao", "陈浩"), metric="stay above", target=0.995, current=0.997, confidence=8,
            fmt=PCT),
        Row("O3", ("Let customers pay the way Chinese companies buy", "让客户按中国企业习惯的方式付款"),
            aligns_to="CO/KR2.3", depends_on="SALES/KR2.3"),
        Row("KR3.1", ("Official invoices (fapiao) issued from the billing page",
                      "可在账单页面直接开具发票"),
            ("Li Na", "李娜"), metric="yes-no", current=False, confidence=6, due_day=61),
        Row("KR3.2", ("Annual plan checkout in CNY", "支持人民币年付结账"), ("Li Na", "李娜"),
            metric="milestone", current=0.5, confidence=7),
    ),
)  # fmt: skip

_SALES = Unit(
    code="SALES",
    level="department",
    parent="CO",
    name=("Sales", "销售部"),
    owner=("Wang Qiang", "王强"),
    file_name="sales.xlsx",
    native_lang="zh",
    rows=(
        Row("O1", ("Win the mid-sized customer market", "拿下中型客户市场"), aligns_to="CO/KR2.1",
            depends_on="MKT/KR1.1"),
        Row("KR1.1", ("New annual contract value from 0 to 600,000", "新签年度合同额从 0 到 600,000"),
            ("Wang Qiang", "王强"), metric="currency", start=0, target=600_000, current=210_000,
            confidence=6),
        Row("KR1.2", ("New customers with 50+ seats from 0 to 25", "新签 50 席以上客户从 0 家到 25 家"),
            ("Zhao Min", "赵敏"), metric="number", start=0, target=25, current=7, confidence=5),
        Row("KR1.3", ("Average sales cycle from 45 days to 30", "平均成交周期从 45 天缩短到 30 天"),
            ("Zhao Min", "赵敏"), metric="number", start=45, target=30, current=41, confidence=4),
        Row("O2", ("Make renewing the easy choice", "让续约成为客户的自然选择"), aligns_to="CO/KR1.3"),
        Row("KR2.1", ("Renewal rate stays above 90%", "续约率保持高于 90%"), ("Wang Qiang", "王强"),
            metric="stay above", target=0.90, current=0.92, confidence=8, fmt=PCT),
        Row("KR2.2", ("Quarterly business reviews with the top 50 customers from 0 to 50",
                      "与前 50 大客户完成季度业务回顾从 0 家到 50 家"),
            ("Liu Yang", "刘洋"), metric="number", start=0, target=50, current=18, confidence=6),
        Row("KR2.3", ("Annual customers can request invoices online", "年付客户可在线申请发票"),
            ("Liu Yang", "刘洋"), metric="yes-no", current=False, confidence=5, due_day=61,
            depends_on="ENG/KR3.1",
            notes=("Waiting for the billing page (ENG/KR3.1).", "等待研发部的账单页面（ENG/KR3.1）。")),
    ),
)  # fmt: skip

UNITS: tuple[Unit, ...] = (_CO, _MKT, _SEO, _ENG, _SALES)

# The one deliberate mistake of the demo: a target nobody has decided yet.
_MISTAKE_UNIT, _MISTAKE_ROW, _MISTAKE_KEY, _MISTAKE_VALUE = "MKT-SEO", "KR2.2", "target", "TBD"


def _mistake_cell() -> str:
    unit = next(u for u in UNITS if u.code == _MISTAKE_UNIT)
    row = HEADER_ROW + 1 + [r.id for r in unit.rows].index(_MISTAKE_ROW)
    return a1(row, COLUMN_ORDER.index(_MISTAKE_KEY) + 1)


DEMO_MISTAKE_PLACE: tuple[str, str, str] = ("mkt-seo.xlsx", "OKRs", _mistake_cell())
DEMO_MISTAKE = (
    f"{' › '.join(DEMO_MISTAKE_PLACE)}: the Target of {_MISTAKE_UNIT}/{_MISTAKE_ROW} "
    f"(referring domains) is typed as “{_MISTAKE_VALUE}”. Type the number 300 there and sync "
    "again: the error goes away and the key result gets a score."
)
DEMO_MISTAKE_ZH = (
    f"{' › '.join(DEMO_MISTAKE_PLACE)}：{_MISTAKE_UNIT}/{_MISTAKE_ROW}（外链来源域名）的目标值"
    f"填成了“{_MISTAKE_VALUE}”。在那里填入数字 300 后再同步一次：错误消失，该关键结果得到得分。"
)


def company_units(*, lang: Lang | None = None, with_mistake: bool = False) -> list[Unit]:
    """The demo company's units: each in its own language, or all in one language."""
    out = []
    for unit in UNITS:
        overrides: dict[tuple[str, str], Any] = {}
        if with_mistake and unit.code == _MISTAKE_UNIT:
            overrides[(_MISTAKE_ROW, _MISTAKE_KEY)] = _MISTAKE_VALUE
        out.append(replace(unit, lang=lang or unit.native_lang, overrides=overrides))
    return out


def write_demo_company(folder: Path, *, cycle: str = "2026-Q4") -> list[Path]:
    """Write the demo company's five unit workbooks into a folder; never overwrites a file."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file; give a folder for the demo company.")
    folder.mkdir(parents=True, exist_ok=True)
    units = company_units(with_mistake=True)
    taken = [folder / u.file_name for u in units if (folder / u.file_name).exists()]
    if taken:
        raise ConfigError(
            f"{taken[0]} already exists; the demo never overwrites a workbook. "
            "Use an empty folder, or move the old files away."
        )
    paths = []
    for u in units:
        book = u.build(cycle)
        if u.level == "company":
            _add_people_sheet(book, units)
        paths.append(save_workbook(book, folder / u.file_name))
    return paths


def demo_people(units: list[Unit] | None = None) -> list[tuple[str, str, str, str]]:
    """(name, email, manager, language) of everyone who owns something in the demo: each person once under the
    name the workbooks use; people in a Chinese-speaking unit get a row for their Chinese name too."""
    units = units or company_units()
    names: dict[str, tuple[str, str]] = {}
    chinese: set[str] = set()
    for unit in units:
        for pair in [unit.owner, *[r.owner for r in unit.rows if r.owner]]:
            names[pair[0]] = pair
            if unit.native_lang == "zh":
                chinese.add(pair[0])
    head = {u.code: u.owner[0] for u in units}
    managers = {u.owner[0]: head.get(u.parent or "", "") for u in units}
    rows = []
    for english, (_, zh) in sorted(names.items()):
        email = english.lower().replace(" ", ".") + "@tidewater.example"
        lang = "zh" if english in chinese else "en"
        rows.append((english, email, managers.get(english, head["CO"]) if english != head["CO"] else "", lang))
        if lang == "zh":
            rows.append((zh, email, managers.get(english, head["CO"]), lang))
    return rows


def _add_people_sheet(book: Workbook, units: list[Unit]) -> None:
    sheet = book.create_sheet(schema.sheet_label(schema.SHEET_PEOPLE, "en"))
    sheet.append(["Name", "Email", "Chat", "Manager", "Language"])
    for name, email, manager, lang in demo_people(units):
        sheet.append([name, email, None, manager or None, lang])
    for col, width in zip("ABCDE", (18, 32, 12, 18, 10), strict=True):
        sheet.column_dimensions[col].width = width


DEMO_CONFIG = """\
# okr-sync settings for the demo company (docs/notifications.md explains every line).
[[sources]]
path = "."

[notify]
# Who gets a reminder: owners whose key results have had no check-in for this many days.
stale_days = 7
# When `okr-sync serve` or `okr-sync schedule` sends them (local time).
remind = "monday 09:00"
digest = "friday 16:00"
digest_to = ["lin.mei@tidewater.example"]
# To really send mail, name your mail server (the password comes from OKR_SYNC_SMTP_PASSWORD):
# smtp = "smtp://mail.example.com:587"
# from = "okr-sync@example.com"
# user = "okr-sync@example.com"
# And a chat channel:
# [[notify.webhooks]]
# url = "https://hooks.slack.com/services/..."
# kind = "slack"
"""


def write_demo_config(folder: Path) -> Path:
    """The demo's okr-sync.toml: its folder, a [notify] section to try with --dry-run."""
    path = Path(folder) / "okr-sync.toml"
    if not path.exists():
        path.write_text(DEMO_CONFIG, encoding="utf-8")
    return path


# The quarter before the demo's: closed by `okr-sync demo`, so the dashboard shows a trend across cycles.
PREVIOUS_CYCLE = "2026-Q3"
# How far each unit had got by the end of the previous quarter, as a share of this quarter's progress.
_PREVIOUS_PACE = {"CO": 1.1, "MKT": 1.4, "MKT-SEO": 0.7, "ENG": 1.5, "SALES": 0.9}


def previous_units() -> list[Unit]:
    """The demo company as it ended the previous quarter: the same OKRs, each unit at its own final pace."""
    out = []
    for unit in company_units():
        pace = _PREVIOUS_PACE.get(unit.code, 1.0)
        overrides: dict[tuple[str, str], Any] = {}
        for row in unit.rows:
            numbers = (row.start, row.target, row.current)
            if row.metric in (None, "number", "percent", "currency") and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
                start, target, current = (float(v) for v in numbers)
                value = start + (current - start) * pace
                lo, hi = sorted((start, target))
                value = min(max(value, lo), hi)
                overrides[(row.id, "current")] = round(value, 4) if abs(value) < 10 else round(value)
        out.append(replace(unit, overrides=overrides))
    return out


def write_previous_cycle(folder: Path, *, cycle: str = PREVIOUS_CYCLE) -> list[Path]:
    """Write the previous quarter's five workbooks into FOLDER/<cycle>/ (co.xlsx ...); never overwrites."""
    target = Path(folder) / cycle
    target.mkdir(parents=True, exist_ok=True)
    units = previous_units()
    taken = [target / u.file_name for u in units if (target / u.file_name).exists()]
    if taken:
        raise ConfigError(f"{taken[0]} already exists; the demo never overwrites a workbook.")
    paths = []
    for u in units:
        book = u.build(cycle)
        if u.level == "company":
            _add_people_sheet(book, units)
        paths.append(save_workbook(book, target / u.file_name))
    return paths
