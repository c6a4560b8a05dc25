"""Turn a raw workbook into a unit: settings, header, typed rows, and the findings of reading them."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from . import schema
from .messages import column_name, finding, lookalike_text
from .model import CellValue, Coverage, Finding, Grid, NoCachedValue, Place, RawWorkbook
from .schema import Lang
from .values import (
    UNREADABLE_TYPES,
    Unreadable,
    as_text,
    is_blank,
    is_unreadable,
    parse_choice,
    parse_confidence,
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
    notes: str | None = None
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
    # Columns (keys) carrying an error on this row: an objective is scored unless one concerns measurement.
    error_keys: set[str] = field(default_factory=set)
    # Start, Target and Current as typed, for the scale checks (`93` vs `93%`, `20` vs `20万`).
    typed: dict[str, CellValue] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    # Computed.
    progress: float | None = None
    score: float | None = None
    status: str | None = None
    aligned_score: float | None = None
    # Objectives: how many of their key results are measured (filled by scoring).
    coverage: Coverage | None = None
    # Key results: whether the score was computed from a Current (filled by scoring).
    measured: bool = False
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
    # The day the figures are computed for (set by scoring; History records it).
    as_of: dt.date | None = None

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
                row.error_keys.add(col_key or "")


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


# Input columns every row needs, and those key results need (Start, Weight... have defaults).
_NEEDED_ALWAYS = ("type", "id", "text")
_NEEDED_BY_KRS = ("target", "current")
_WORDS_ADDED = 8  # how many characters may be added to a known header (`Target value`, `目标值（万元）`)


def _edit_distance(a: str, b: str) -> int:
    """Letters typed wrong, missing, extra or swapped (optimal string alignment distance)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        line = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            line[j] = min(rows[i - 1][j] + 1, line[j - 1] + 1, rows[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                line[j] = min(line[j], rows[i - 2][j - 2] + 1)
        rows.append(line)
    return rows[-1][-1]


def lookalike_key(text: str) -> str | None:
    """The known column a header cell resembles (a letter or two off, or words added), else None."""
    folded = schema.normalize(text)
    if not folded or folded in schema.HEADER_LOOKUP:
        return None
    best: tuple[int, str] | None = None
    for spelling, key in schema.HEADER_LOOKUP.items():
        cjk = bool(_CJK.search(spelling))
        # Short names allow no typo: "id" is not like "ip", nor 类别 like 类型; longer ones one or two letters.
        if len(spelling) <= (2 if cjk else 3):
            limit = 0
        else:
            limit = 1 if cjk or len(spelling) <= 5 else 2
        distance = _edit_distance(folded, spelling) if limit and abs(len(folded) - len(spelling)) <= limit else 99
        if distance > limit:
            added = len(folded) - len(spelling)
            long_enough = len(spelling) >= (3 if cjk else 5)
            if not (long_enough and 0 < added <= _WORDS_ADDED
                    and (folded.startswith(spelling) or folded.endswith(spelling))):
                continue
            distance = limit + 1  # words added: weaker than a typo
        if best is None or distance < best[0]:
            best = (distance, key)
    return best[1] if best else None


def _check_header(unit: Unit, grid: Grid) -> None:
    """Warn on header cells that look like a known column; an error for a needed column that is missing."""
    assert unit.header_row is not None and unit.okrs_sheet is not None
    lang = unit.lang
    looks: dict[str, tuple[int, str]] = {}
    for col, value in enumerate(grid[unit.header_row - 1], start=1):
        if not isinstance(value, str):
            continue
        key = lookalike_key(value)
        if key is None or key in unit.columns or key in looks:
            continue
        looks[key] = (col, value.strip())
    needed = list(_NEEDED_ALWAYS)
    if _has_kr_rows(unit, grid):
        needed += _NEEDED_BY_KRS
    for key, (col, value) in looks.items():
        unit.findings.append(finding(
            "unknown-header", Place(unit.source, unit.okrs_sheet, unit.header_row, col), lang,
            unit=unit.code, value=value, column=column_name(key, lang)))
    for key in needed:
        if key in unit.columns:
            continue
        look = looks.get(key)
        where = look[0] if look else None
        clause = lookalike_text(Place(unit.source, None, unit.header_row, look[0]).cell or "", look[1], lang) \
            if look else ""
        unit.findings.append(finding(
            "missing-input-column", Place(unit.source, unit.okrs_sheet, unit.header_row, where), lang,
            unit=unit.code, column=column_name(key, lang), lookalike=clause))


def _has_kr_rows(unit: Unit, grid: Grid) -> bool:
    """Whether any row below the header is typed KR (so Target and Current are needed)."""
    col = unit.columns.get("type")
    if col is None:
        return True  # cannot tell: Type is missing, and that alone is reported
    for line in grid[unit.header_row or 0:]:
        value = _cell(line, col)
        if isinstance(value, str) and _TYPE_LOOKUP.get(schema.normalize(value)) == "KR":
            return True
    return False


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


# Every input column a row is read from, in the order its unreadable cells are reported.
_CHECKED_KEYS = ("type", "id", "text", "owner", "aligns_to", "depends_on", "commitment",
                 "weight", "metric", "start", "target", "current", "source", "confidence", "due")
_ROW_KEYS = (*_CHECKED_KEYS, "notes")
_SPACES = re.compile(r"\s+")


def _read_rows(unit: Unit, grid: Grid) -> None:
    assert unit.header_row is not None
    # Columns are classified once per sheet: each key's 0-based index (or None), then rows are read by index.
    # Type and ID alone are what a template pre-fills: such a row is a placeholder, skipped like a blank one.
    content_cols = [c - 1 for k, c in unit.columns.items()
                    if not schema.COLUMNS_BY_KEY[k].computed and k not in ("type", "id")]
    where = [(key, unit.columns[key] - 1 if key in unit.columns else None) for key in _ROW_KEYS]
    lang = unit.lang
    unreadable = UNREADABLE_TYPES
    guarded = unit.raw.protected.get(unit.okrs_sheet or "", {})
    for index in range(unit.header_row, len(grid)):
        line = grid[index]
        width = len(line)
        for c in content_cols:
            if c < width:
                value = line[c]
                if value is not None and not (isinstance(value, str) and not value.strip()):
                    break
        else:
            continue  # every content cell blank
        values: dict[str, CellValue] = {key: line[c] if c is not None and c < width else None for key, c in where}
        row = Row(index + 1, None, as_text(values["id"]), as_text(values["text"]))
        if row.local_id:
            row.local_id = _SPACES.sub("", row.local_id)
        unit.rows.append(row)
        if any(type(line[c]) in unreadable for c in range(width)):
            for key in _CHECKED_KEYS:
                value = values[key]
                if isinstance(value, NoCachedValue):
                    unit.report("formula-no-value", row, key, column=column_name(key, lang))
                elif is_unreadable(value) and key == "confidence":
                    unit.report("confidence-unreadable", row, key, value=str(value))
                elif is_unreadable(value) and key == "weight":
                    unit.report("bad-weight", row, key, value=str(value))
                elif is_unreadable(value):
                    unit.report("unreadable-value", row, key, column=column_name(key, lang),
                                value=str(value))
        _type_row(unit, row, values.__getitem__)
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
        if isinstance(value, dt.date):
            unit.report("date-in-number", row, key, column=column_name(key, lang), value=as_text(value))
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
    row.notes = as_text(get("notes"))
    aligns = as_text(get("aligns_to"))
    row.aligns_to = re.sub(r"\s+", "", aligns) if aligns else None
    depends = as_text(get("depends_on")) or ""
    row.depends_on = [re.sub(r"\s+", "", d) for d in re.split(r"[,，;；\n]", depends) if d.strip()]
    row.commitment = choice("commitment", _COMMITMENT_LOOKUP, schema.COMMITMENTS) or "aspirational"
    row.metric = choice("metric", _METRIC_LOOKUP, schema.METRICS) or "number"
    row.weight = _weight(unit, row, get("weight"))
    row.start = number("start") or 0.0
    row.target = number("target")
    row.typed = {"start": get("start"), "target": get("target"), "current": get("current")}
    row.confidence = _confidence(unit, row, get("confidence"))
    row.source = as_text(get("source"))
    current = get("current")
    row.current = None if is_unreadable(current) else current
    due = get("due")
    if not is_blank(due) and not is_unreadable(due):
        try:
            row.due = parse_date(due)
        except Unreadable:
            unit.report("bad-date", row, "due", column=column_name("due", lang), value=as_text(due))


def _weight(unit: Unit, row: Row, value: CellValue) -> float:
    """Weight never blocks a score: unreadable or not above 0 is a warning and counts as 1."""
    if is_blank(value) or is_unreadable(value):
        return 1.0
    try:
        weight = parse_number(value) if not isinstance(value, dt.date) else 0.0
    except Unreadable:
        weight = 0.0
    if weight <= 0:
        unit.report("bad-weight", row, "weight", value=as_text(value))
        return 1.0
    return weight


def _confidence(unit: Unit, row: Row, value: CellValue) -> float | None:
    """Confidence never blocks a score: an unreadable one is a warning and left out."""
    if is_blank(value) or is_unreadable(value):
        return None
    try:
        confidence = parse_confidence(value) if not isinstance(value, dt.date) else None
    except Unreadable:
        confidence = None
    if confidence is None:
        unit.report("confidence-unreadable", row, "confidence", value=as_text(value))
        return None
    if not 0 <= confidence <= 10:
        unit.report("confidence-range", row, "confidence", value=as_text(value))
    return confidence


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
    _check_header(unit, grid)
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
