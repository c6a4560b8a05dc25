"""Turn a raw workbook into a unit: settings, header, typed rows, and the findings of reading them."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from . import schema
from .messages import column_name, finding
from .model import CellValue, Coverage, Finding, Grid, NoCachedValue, Place, RawWorkbook
from .schema import Lang
from .values import (
    Unreadable,
    as_text,
    is_blank,
    is_unreadable,
    parse_choice,
    parse_date,
    parse_number,
)

_TYPE_LOOKUP = schema.choice_lookup(schema.TYPES)
_LEVEL_LOOKUP = schema.choice_lookup(schema.LEVELS)
_METRIC_LOOKUP = {
    **schema.choice_lookup(schema.METRICS),
    "yesno": "yes-no",
    "boolean": "yes-no",
    "stayabove": "stay above",
    "staybelow": "stay below",
}
_COMMITMENT_LOOKUP = schema.choice_lookup(schema.COMMITMENTS)
_LANGUAGE_LOOKUP = {
    **schema.choice_lookup(schema.LANGUAGES),
    "english": "en",
    "chinese": "zh",
    "中文简体": "zh",
    "简体中文": "zh",
    "zhcn": "zh",
}
NUMERIC_METRICS = {"number", "percent", "currency"}
_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass
class Settings:
    """The Settings sheet, read."""

    unit_code: str | None = None
    unit_name: str | None = None
    level: str | None = None
    parent: str | None = None
    cycle: str | None = None
    cycle_start: dt.date | None = None
    cycle_end: dt.date | None = None
    owner: str | None = None
    language: Lang = "en"
    # Row (1-based) of each key in the Settings sheet, for messages.
    rows: dict[str, int] = field(default_factory=dict)


@dataclass
class Row:
    """One objective or key result, read and typed; computed figures are filled in later."""

    sheet_row: int
    kind: str | None
    local_id: str | None
    text: str | None
    owner: str | None = None
    aligns_to: str | None = None
    depends_on: list[str] = field(default_factory=list)
    commitment: str = "aspirational"
    weight: float = 1.0
    metric: str = "number"
    start: float = 0.0
    target: float | None = None
    current: CellValue = None
    source: str | None = None
    confidence: float | None = None
    due: dt.date | None = None
    has_error: bool = False
    findings: list[Finding] = field(default_factory=list)
    # Computed.
    progress: float | None = None
    score: float | None = None
    status: str | None = None
    aligned_score: float | None = None
    # Objectives: how many of their key results are measured (filled by scoring).
    coverage: Coverage | None = None
    source_value: CellValue = None
    objective: Row | None = None
    krs: list[Row] = field(default_factory=list)

    @property
    def is_objective(self) -> bool:
        return self.kind == "O"

    @property
    def is_kr(self) -> bool:
        return self.kind == "KR"


@dataclass
class Unit:
    """One unit's workbook, read."""

    raw: RawWorkbook
    settings: Settings
    okrs_sheet: str | None = None
    settings_sheet: str | None = None
    header_row: int | None = None
    columns: dict[str, int] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    score: float | None = None
    coverage: Coverage | None = None
    unusable: bool = False

    @property
    def source(self) -> str:
        return self.raw.source

    @property
    def code(self) -> str | None:
        return self.settings.unit_code

    @property
    def lang(self) -> Lang:
        return self.settings.language

    @property
    def objectives(self) -> list[Row]:
        return [r for r in self.rows if r.is_objective]

    @property
    def krs(self) -> list[Row]:
        return [r for r in self.rows if r.is_kr]

    def place(self, row: int | None = None, col_key: str | None = None) -> Place:
        """Where a cell of the OKRs sheet is."""
        col = self.columns.get(col_key) if col_key else None
        return Place(self.source, self.okrs_sheet, row, col)

    def global_id(self, row: Row) -> str:
        """Unit code + / + local ID."""
        return f"{self.code}/{row.local_id}"

    def report(self, code: str, row: Row | None, col_key: str | None = None, **values: object) -> None:
        """Record a finding on a row (or on the unit); errors make the row unscored."""
        place = self.place(row.sheet_row if row else None, col_key)
        item = finding(code, place, self.lang, unit=self.code,
                       row_id=row.local_id if row else None, **values)
        self.findings.append(item)
        if row is not None:
            row.findings.append(item)
            if item.severity == "error":
                row.has_error = True


def _detect_language(raw: RawWorkbook) -> Lang:
    """Chinese when the sheet names or headers are mostly Chinese."""
    sample = " ".join(raw.sheet_names)
    for grid in raw.sheets.values():
        for line in grid[:8]:
            sample += " ".join(str(v) for v in line if isinstance(v, str))
    return "zh" if len(_CJK.findall(sample)) > 6 else "en"


def _read_settings(unit: Unit, grid: Grid) -> None:
    settings = unit.settings
    found: dict[str, tuple[int, CellValue]] = {}
    for index, line in enumerate(grid, start=1):
        if not line or is_blank(line[0]):
            continue
        key = schema.SETTING_LOOKUP.get(schema.normalize(line[0]))
        if key and key not in found:
            found[key] = (index, line[1] if len(line) > 1 else None)
    settings.rows = {k: r for k, (r, _) in found.items()}
    if "language" in found and not is_blank(found["language"][1]):
        try:
            settings.language = parse_choice(found["language"][1], _LANGUAGE_LOOKUP, "language")  # type: ignore[assignment]
        except Unreadable:
            pass
    lang = settings.language
    sheet = unit.settings_sheet

    def problem(key: str, value: CellValue, hint_en: str, hint_zh: str) -> None:
        row = found[key][0] if key in found else None
        unit.findings.append(finding(
            "setting-unreadable", Place(unit.source, sheet, row, 2), lang, unit=settings.unit_code,
            key=column_name(key, lang), value=as_text(value) or "", hint=hint_zh if lang == "zh" else hint_en))

    for spec in schema.SETTING_KEYS:
        value = found.get(spec.key, (None, None))[1]
        if is_blank(value) or is_unreadable(value):
            if spec.required:
                row = found[spec.key][0] if spec.key in found else None
                unit.findings.append(finding(
                    "setting-missing", Place(unit.source, sheet, row, 2 if row else None), lang,
                    key=spec.zh if lang == "zh" else spec.en))
            continue
        try:
            if spec.key == "level":
                settings.level = parse_choice(value, _LEVEL_LOOKUP, "level")
            elif spec.key in ("cycle_start", "cycle_end"):
                setattr(settings, spec.key, parse_date(value))
            elif spec.key != "language":
                setattr(settings, spec.key, as_text(value))
        except Unreadable:
            if spec.key == "level":
                problem(spec.key, value, "Use company, department, team or individual.",
                        "请填写 公司、部门、团队 或 个人。")
            else:
                problem(spec.key, value, "Type a date such as 2026-10-01.", "请填写日期，如 2026-10-01。")
    if settings.unit_code:
        settings.unit_code = settings.unit_code.strip()
    start, end = settings.cycle_start, settings.cycle_end
    if start and end and end <= start:
        row = found.get("cycle_end", (None, None))[0]
        unit.findings.append(finding("cycle-dates", Place(unit.source, sheet, row, 2), lang,
                                     start=start.isoformat(), end=end.isoformat()))
        settings.cycle_end = None


def _find_header(grid: Grid) -> tuple[int, dict[str, int]] | None:
    """The first row holding at least three known headers, with each column's 1-based index."""
    for index, line in enumerate(grid[:50], start=1):
        columns: dict[str, int] = {}
        for col, value in enumerate(line, start=1):
            if isinstance(value, str):
                key = schema.HEADER_LOOKUP.get(schema.normalize(value))
                if key and key not in columns:
                    columns[key] = col
        if len(columns) >= 3:
            return index, columns
    return None


def _cell(line: list[CellValue], col: int | None) -> CellValue:
    if col is None or col > len(line):
        return None
    return line[col - 1]


def _read_rows(unit: Unit, grid: Grid) -> None:
    assert unit.header_row is not None
    # Type and ID alone are what a template pre-fills: such a row is a placeholder, skipped like a blank one.
    content_cols = [c for k, c in unit.columns.items()
                    if not schema.COLUMNS_BY_KEY[k].computed and k not in ("type", "id")]
    lang = unit.lang
    guarded = unit.raw.protected.get(unit.okrs_sheet or "", {})
    for index in range(unit.header_row, len(grid)):
        line = grid[index]
        if all(is_blank(_cell(line, c)) for c in content_cols):
            continue
        sheet_row = index + 1

        def get(key: str, line: list[CellValue] = line) -> CellValue:
            return _cell(line, unit.columns.get(key))

        row = Row(sheet_row, None, as_text(get("id")), as_text(get("text")))
        if row.local_id:
            row.local_id = re.sub(r"\s+", "", row.local_id)
        unit.rows.append(row)
        for key in ("type", "id", "text", "owner", "aligns_to", "depends_on", "commitment",
                    "weight", "metric", "start", "target", "current", "source", "confidence", "due"):
            value = get(key)
            if isinstance(value, NoCachedValue):
                unit.report("formula-no-value", row, key, column=column_name(key, lang))
            elif is_unreadable(value):
                unit.report("unreadable-value", row, key, column=column_name(key, lang),
                            value=str(value))
        _type_row(unit, row, get)
        if guarded:
            _check_arrays(unit, row, guarded)


# Columns the sync writes: a cell of one inside someone's array formula or spill range is left alone.
_WRITTEN = ("progress", "score", "status", "check", "aligned_score")


def _check_arrays(unit: Unit, row: Row, guarded: dict[tuple[int, int], str]) -> None:
    for key in (*_WRITTEN, "current") if row.source else _WRITTEN:
        col = unit.columns.get(key)
        anchor = guarded.get((row.sheet_row, col)) if col else None
        if anchor:
            unit.report("array-formula", row, key, column=column_name(key, unit.lang), anchor=anchor)


def _type_row(unit: Unit, row: Row, get: object) -> None:
    """Read each input cell of a row into its typed field, reporting what cannot be read."""
    assert callable(get)
    lang = unit.lang

    def choice(key: str, lookup: dict[str, str], choices: dict[str, tuple[str, str]]) -> str | None:
        value = get(key)
        if is_blank(value) or is_unreadable(value):
            return None
        try:
            return parse_choice(value, lookup, key)
        except Unreadable:
            options = " / ".join(schema.label(choices, c, lang) for c in choices)
            unit.report("bad-choice", row, key, column=column_name(key, lang),
                        value=as_text(value), choices=options)
            return None

    def number(key: str) -> float | None:
        value = get(key)
        if is_blank(value) or is_unreadable(value):
            return None
        try:
            return parse_number(value)
        except Unreadable:
            unit.report("bad-number", row, key, column=column_name(key, lang), value=as_text(value))
            return None

    raw_type = get("type")
    if is_blank(raw_type):
        unit.report("missing-type", row, "type")
    else:
        row.kind = choice("type", _TYPE_LOOKUP, schema.TYPES)
    if not row.local_id:
        unit.report("missing-id", row, "id")
    if not row.text:
        kind = schema.label(schema.TYPES, row.kind or "O", lang) if lang == "zh" else (
            "key result" if row.kind == "KR" else "objective")
        unit.report("missing-text", row, "text", kind=kind)
    row.owner = as_text(get("owner"))
    aligns = as_text(get("aligns_to"))
    row.aligns_to = re.sub(r"\s+", "", aligns) if aligns else None
    depends = as_text(get("depends_on")) or ""
    row.depends_on = [re.sub(r"\s+", "", d) for d in re.split(r"[,，;；\n]", depends) if d.strip()]
    row.commitment = choice("commitment", _COMMITMENT_LOOKUP, schema.COMMITMENTS) or "aspirational"
    row.metric = choice("metric", _METRIC_LOOKUP, schema.METRICS) or "number"
    weight = number("weight")
    if weight is not None:
        if weight <= 0:
            unit.report("bad-weight", row, "weight", value=as_text(get("weight")))
        else:
            row.weight = weight
    row.start = number("start") or 0.0
    row.target = number("target")
    row.confidence = number("confidence")
    if row.confidence is not None and not 0 <= row.confidence <= 10:
        unit.report("confidence-range", row, "confidence", value=as_text(get("confidence")))
    row.source = as_text(get("source"))
    current = get("current")
    row.current = None if is_unreadable(current) else current
    due = get("due")
    if not is_blank(due) and not is_unreadable(due):
        try:
            row.due = parse_date(due)
        except Unreadable:
            unit.report("bad-date", row, "due", column=column_name("due", lang), value=as_text(due))


def read_unit(raw: RawWorkbook) -> Unit:
    """Read a raw workbook's Settings and OKRs sheets into a unit with its reading findings."""
    unit = Unit(raw, Settings(language=_detect_language(raw)))
    unit.settings_sheet = schema.match_sheet(list(raw.sheets), schema.SHEET_SETTINGS)
    unit.okrs_sheet = schema.match_sheet(list(raw.sheets), schema.SHEET_OKRS)
    if unit.settings_sheet is None:
        unit.findings.append(finding("settings-missing", Place(raw.source, "Settings"), unit.lang))
        unit.unusable = True
    else:
        _read_settings(unit, raw.sheets[unit.settings_sheet])
        if any(f.severity == "error" for f in unit.findings):
            unit.unusable = True
    if unit.okrs_sheet is None:
        unit.findings.append(finding("okrs-missing", Place(raw.source, "OKRs"), unit.lang,
                                     unit=unit.code))
        unit.unusable = True
        return unit
    grid = raw.sheets[unit.okrs_sheet]
    header = _find_header(grid)
    if header is None:
        unit.findings.append(finding("header-missing", Place(raw.source, unit.okrs_sheet), unit.lang,
                                     unit=unit.code))
        unit.unusable = True
        return unit
    unit.header_row, unit.columns = header
    for key in ("progress", "score", "status", "check"):
        if key not in unit.columns:
            unit.findings.append(finding(
                "missing-column", Place(raw.source, unit.okrs_sheet, unit.header_row), unit.lang,
                unit=unit.code, column=column_name(key, unit.lang)))
    _read_rows(unit, grid)
    _check_history(unit)
    return unit


def _check_history(unit: Unit) -> None:
    """Warn when History has reached a sheet's last row (its rows continue on 'History 2', …)."""
    name = schema.match_sheet(list(unit.raw.sheets), schema.SHEET_HISTORY)
    if name is None or len(unit.raw.sheets[name]) < schema.MAX_SHEET_ROWS:
        return
    n = 2
    while f"{name} {n}" in unit.raw.sheet_names:
        n += 1
    following = f"{name} {max(n - 1, 2)}"
    unit.findings.append(finding("history-full", Place(unit.source, name), unit.lang, unit=unit.code,
                                 sheet=name, rows=schema.MAX_SHEET_ROWS, next=following))
