"""Ready-to-fill OKR workbooks for every level, in English and Chinese, following the standard."""

from __future__ import annotations

import datetime as dt
import io
import re
import sys
import zipfile
from collections.abc import Mapping, Sequence
from copy import copy
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from .atomic import atomic_write
from .core import schema
from .core.model import column_letter
from .core.schema import Lang
from .errors import ConfigError
from .template_text import (
    DEFAULT_NAMES,
    HINTS,
    INSTRUCTIONS,
    SETTING_HELP,
    SHEET_INSTRUCTIONS,
    UI,
)

__all__ = [
    "COLUMN_ORDER",
    "HEADER_ROW",
    "build_template",
    "current_cycle",
    "cycle_dates",
    "write_template",
]

# Input columns first, then the computed ones, as the standard lists them.
COLUMN_ORDER: tuple[str, ...] = tuple(c.key for c in schema.ALL_COLUMNS)
HEADER_ROW = 3  # a title banner and a one-line hint sit above the header
DATA_ROWS = 200  # rows below the header that carry dropdowns, hints, unlocked cells and colours
FIXED_TIME = dt.datetime(2026, 1, 1, 0, 0, 0)  # document timestamps of shipped files

_WIDTHS: dict[str, float] = {
    "type": 9, "id": 8, "text": 50, "owner": 14, "aligns_to": 13, "depends_on": 16,
    "commitment": 13, "weight": 8, "metric": 12, "start": 10, "target": 10, "current": 10,
    "source": 16, "confidence": 12, "due": 13, "notes": 30, "progress": 10, "score": 8,
    "status": 11, "check": 40, "aligned_score": 10,
}  # fmt: skip
_WRAP = {"text", "notes", "check", "depends_on", "source"}
_RIGHT = {"start", "target", "current"}
_CENTER = {"type", "id", "commitment", "weight", "metric", "confidence", "status", "score",
           "progress", "aligned_score"}  # fmt: skip
_NUMBER_FORMATS = {
    "progress": "0%", "score": "0.00", "aligned_score": "0.00", "due": "yyyy-mm-dd",
    "start": "#,##0.##", "target": "#,##0.##", "current": "#,##0.##", "weight": "0.##",
}  # fmt: skip

NAVY = "1F3864"
_HEADER_FILL = PatternFill("solid", fgColor=NAVY)
_COMPUTED_HEADER_FILL = PatternFill("solid", fgColor="595959")
_COMPUTED_FILL = PatternFill("solid", fgColor="EDEDED")
_OBJECTIVE_FILL = PatternFill("solid", fgColor="DDEBF7")
_THIN = Side(style="thin", color="BFBFBF")
_GRID = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_FONT = "Calibri"
# Grading bands: (fill, font colour) for green, yellow, red.
_GREEN = ("C6EFCE", "006100")
_YELLOW = ("FFEB9C", "9C5700")
_RED = ("FFC7CE", "9C0006")
_BLUE = ("BDD7EE", "1F3864")
_GREY = ("E7E6E6", "595959")
_STATUS_COLOURS = {
    "on track": _GREEN,
    "at risk": _YELLOW,
    "off track": _RED,
    "done": _BLUE,
    "no data": _GREY,
}


# ---------------------------------------------------------------- cycles


_CYCLE_RE = re.compile(r"^\s*(\d{4})(?:\s*-\s*([QqHh])\s*([1-4]))?\s*$")


def cycle_dates(cycle: str) -> tuple[dt.date, dt.date]:
    """First and last day of a cycle: `2026-Q4`, `2026-H1` or `2026`."""
    match = _CYCLE_RE.match(str(cycle))
    if not match:
        raise ConfigError(
            f"Cycle {cycle!r} is not understood: write a quarter (2026-Q4), a half (2026-H1) or a year (2026)."
        )
    year = int(match.group(1))
    if not 1900 <= year <= 9999:
        raise ConfigError(f"Cycle {cycle!r}: the year {year} is out of range.")
    kind, number = (match.group(2) or "").upper(), int(match.group(3) or 0)
    if not kind:
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    if kind == "H" and number > 2:
        raise ConfigError(f"Cycle {cycle!r}: a year has two halves, H1 and H2.")
    months = 3 if kind == "Q" else 6
    first_month = (number - 1) * months + 1
    last_month = first_month + months - 1
    end = dt.date(year + last_month // 12, last_month % 12 + 1, 1) - dt.timedelta(days=1)
    return dt.date(year, first_month, 1), end


def normalize_cycle(cycle: str) -> str:
    """The canonical spelling of a cycle: `2026-q4 ` -> `2026-Q4`."""
    cycle_dates(cycle)
    match = _CYCLE_RE.match(str(cycle))
    assert match is not None
    if not match.group(2):
        return match.group(1)
    return f"{match.group(1)}-{match.group(2).upper()}{match.group(3)}"


def current_cycle(today: dt.date | None = None) -> str:
    """The quarter that holds today, e.g. `2026-Q4`."""
    today = today or dt.date.today()
    return f"{today.year}-Q{(today.month - 1) // 3 + 1}"


# ---------------------------------------------------------------- building


def _check_options(level: str, code: str, lang: str) -> str:
    """Validate the options and return the canonical level."""
    if lang not in ("en", "zh"):
        raise ConfigError(f"Language {lang!r} is not supported: use en or zh.")
    canonical = schema.choice_lookup(schema.LEVELS).get(schema.normalize(level))
    if canonical is None:
        raise ConfigError(f"Level {level!r} is not understood: use company, department, team or individual.")
    if not str(code).strip() or "/" in str(code) or "," in str(code):
        raise ConfigError(f"Unit code {code!r} is not usable: give a short code without '/' or ',', e.g. MKT-SEO.")
    return canonical


def _skeleton(lang: Lang) -> list[dict[str, Any]]:
    """Three objectives with three key results each, IDs filled in."""
    o_label = schema.label(schema.TYPES, "O", lang)
    kr_label = schema.label(schema.TYPES, "KR", lang)
    rows: list[dict[str, Any]] = []
    for o in range(1, 4):
        rows.append({"type": o_label, "id": f"O{o}"})
        rows.extend({"type": kr_label, "id": f"KR{o}.{k}"} for k in range(1, 4))
    return rows


def build_template(
    *,
    level: str,
    code: str,
    parent: str | None = None,
    name: str | None = None,
    owner: str | None = None,
    lang: str = "en",
    cycle: str | None = None,
    okrs: Sequence[Mapping[str, Any]] | None = None,
) -> Workbook:
    """A ready-to-fill unit workbook: OKRs, Instructions and Settings sheets."""
    level = _check_options(level, code, lang)
    language: Lang = "zh" if lang == "zh" else "en"
    cycle = normalize_cycle(cycle) if cycle else current_cycle()
    start, end = cycle_dates(cycle)
    code = str(code).strip()
    name = name or DEFAULT_NAMES[language][level]
    rows = list(okrs) if okrs is not None else _skeleton(language)
    for row in rows:
        unknown = {k for k in row if not k.startswith("_")} - set(COLUMN_ORDER)
        if unknown:
            raise ConfigError(f"OKR row {row.get('id')!r} has unknown columns: {sorted(unknown)}")

    wb = Workbook()
    okr_ws = wb.active
    assert okr_ws is not None
    okr_ws.title = schema.sheet_label(schema.SHEET_OKRS, language)
    _fill_okrs(okr_ws, language, rows, code=code, name=name, cycle=cycle, start=start, end=end)
    _fill_instructions(wb.create_sheet(SHEET_INSTRUCTIONS[language]), language)
    settings = {
        "unit_code": code,
        "unit_name": name,
        "level": schema.label(schema.LEVELS, level, language),
        "parent": parent or None,
        "cycle": cycle,
        "cycle_start": start,
        "cycle_end": end,
        "owner": owner or None,
        "language": language,
    }
    _fill_settings(wb.create_sheet(schema.sheet_label(schema.SHEET_SETTINGS, language)),
                   language, settings)  # fmt: skip
    wb.active = 0
    props = wb.properties
    props.title = f"OKRs {code} {cycle}"
    props.creator = "okr-sync"
    props.language = "zh-CN" if language == "zh" else "en-US"
    return wb


def _fill_okrs(
    ws: Worksheet,
    lang: Lang,
    rows: Sequence[Mapping[str, Any]],
    *,
    code: str,
    name: str,
    cycle: str,
    start: dt.date,
    end: dt.date,
) -> None:
    """The OKRs sheet: banner, header, rows, styles, dropdowns, hints, colours, protection."""
    ncols = len(COLUMN_ORDER)
    last_col = column_letter(ncols)
    col_of = {key: i + 1 for i, key in enumerate(COLUMN_ORDER)}
    first, last = HEADER_ROW + 1, HEADER_ROW + max(DATA_ROWS, len(rows) + 20)

    ui = UI[lang]
    ws.sheet_properties.tabColor = NAVY
    banner = ws.cell(1, 1, ui["banner"].format(
        name=name, code=code, cycle=cycle, start=start.isoformat(), end=end.isoformat()))  # fmt: skip
    banner.font = Font(name=_FONT, size=16, bold=True, color=NAVY)
    banner.alignment = Alignment(vertical="center")
    ws.row_dimensions[1].height = 28
    hint = ws.cell(2, 1, ui["subtitle"])
    hint.font = Font(name=_FONT, size=10, italic=True, color="595959")
    ws.row_dimensions[2].height = 18

    for key, col in col_of.items():
        column = schema.COLUMNS_BY_KEY[key]
        cell = ws.cell(HEADER_ROW, col, column.header(lang))
        cell.font = Font(name=_FONT, bold=True, color="FFFFFF")
        cell.fill = _COMPUTED_HEADER_FILL if column.computed else _HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = _GRID
        letter = column_letter(col)
        ws.column_dimensions[letter].width = _WIDTHS[key] + (2 if lang == "zh" else 0)
        # Rows typed below the prepared ones stay editable (Excel applies column styles).
        ws.column_dimensions[letter].protection = Protection(locked=column.computed)
    ws.row_dimensions[HEADER_ROW].height = 32

    # Style one prototype cell per column, then share its style array (fast for 4,000 cells).
    protos: dict[str, Any] = {}
    for key, col in col_of.items():
        column = schema.COLUMNS_BY_KEY[key]
        cell = ws.cell(first, col)
        cell.font = Font(name=_FONT)
        cell.border = _GRID
        cell.alignment = Alignment(
            vertical="top",
            wrap_text=key in _WRAP,
            horizontal="center" if key in _CENTER else "right" if key in _RIGHT else None,
        )
        if key in _NUMBER_FORMATS:
            cell.number_format = _NUMBER_FORMATS[key]
        cell.fill = _COMPUTED_FILL if column.computed else PatternFill()
        cell.protection = Protection(locked=column.computed)
        protos[key] = cell._style
    for r in range(first, last + 1):
        values = rows[r - first] if r - first < len(rows) else {}
        for key, col in col_of.items():
            cell = ws.cell(r, col)
            cell._style = copy(protos[key])
            value = values.get(key)
            if value is not None and value != "":
                cell.value = value
        lines = max(text_lines(values.get(k), _WIDTHS[k]) for k in ("text", "notes", "depends_on"))
        if lines > 1:
            ws.row_dimensions[r].height = 15 * lines
        value_format = values.get("_format") or _value_format(values.get("metric"))
        if value_format:
            for key in ("start", "target", "current"):
                ws.cell(r, col_of[key]).number_format = value_format

    ws.freeze_panes = ws.cell(first, col_of["text"])
    ws.auto_filter.ref = f"A{HEADER_ROW}:{last_col}{last}"

    _add_validations(ws, lang, col_of, first, last)
    _add_colours(ws, col_of, first, last)

    # Locked computed cells; a password-less protection that still lets people work.
    prot = ws.protection
    prot.sheet = True
    for allowed in ("formatCells", "formatColumns", "formatRows", "insertRows", "deleteRows",
                    "insertHyperlinks", "sort", "autoFilter"):  # fmt: skip
        setattr(prot, allowed, False)

    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A3
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    # The rows in use and ten spare ones; rows inserted inside the range extend it.
    filled = HEADER_ROW + len(rows) + 10
    ws.print_area = f"A1:{last_col}{filled}"
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.5


def text_lines(value: object, width: float) -> int:
    """How many lines a wrapped cell needs in a column of a width (CJK counts double)."""
    if value is None or value == "":
        return 1
    units = sum(2 if ord(ch) >= 0x2E80 else 1 for ch in str(value))
    return max(1, -(-units // int(width * 1.15)))


def _value_format(metric: object) -> str | None:
    """Percent metrics show Start, Target and Current as percentages."""
    canonical = schema.choice_lookup(schema.METRICS).get(schema.normalize(metric or ""))
    return "0.0%" if canonical in ("percent", "milestone") else None


def _list_formula(labels: Sequence[str]) -> str:
    return '"' + ",".join(labels) + '"'


def _add_validations(ws: Worksheet, lang: Lang, col_of: dict[str, int], first: int, last: int) -> None:
    """Dropdowns on choices, number checks, and input hints, one validation per column."""
    ui, hints = UI[lang], HINTS[lang]

    def rng(key: str) -> str:
        letter = column_letter(col_of[key])
        return f"{letter}{first}:{letter}{last}"

    def add(key: str, dv: DataValidation) -> None:
        if key in hints:
            dv.promptTitle, dv.prompt = hints[key]
            dv.showInputMessage = True
        dv.add(rng(key))
        ws.add_data_validation(dv)

    choices = {
        "type": schema.TYPES,
        "commitment": schema.COMMITMENTS,
        "metric": schema.METRICS,
    }
    for key, table in choices.items():
        labels = [schema.label(table, c, lang) for c in table]
        # A warning, not a stop: the standard accepts other spellings (O/KR in a Chinese sheet).
        add(key, DataValidation(
            type="list", formula1=_list_formula(labels), allow_blank=True, showErrorMessage=True,
            errorStyle="warning", errorTitle=ui["choose"], error=ui["choose_msg"]))  # fmt: skip
    add("confidence", DataValidation(
        type="decimal", operator="between", formula1="0", formula2="10", allow_blank=True,
        showErrorMessage=True, errorStyle="warning", error=ui["confidence_err"]))  # fmt: skip
    add("weight", DataValidation(
        type="decimal", operator="greaterThan", formula1="0", allow_blank=True,
        showErrorMessage=True, errorStyle="warning", error=ui["weight_err"]))  # fmt: skip
    for key in ("id", "text", "aligns_to", "depends_on", "start", "target", "current",
                "source", "due"):  # fmt: skip
        add(key, DataValidation(allow_blank=True))


def _band_rules(ref: str, cell: str) -> list[tuple[str, tuple[str, str]]]:
    return [
        (f"AND(ISNUMBER({cell}),{cell}>=0.7)", _GREEN),
        (f"AND(ISNUMBER({cell}),{cell}>=0.4,{cell}<0.7)", _YELLOW),
        (f"AND(ISNUMBER({cell}),{cell}<0.4)", _RED),
    ]


def _add_colours(ws: Worksheet, col_of: dict[str, int], first: int, last: int) -> None:
    """Grading bands on Score and Progress, status colours, objective rows highlighted."""
    for key in ("progress", "score", "aligned_score"):
        letter = column_letter(col_of[key])
        ref = f"{letter}{first}:{letter}{last}"
        for formula, (fill, font) in _band_rules(ref, f"{letter}{first}"):
            ws.conditional_formatting.add(ref, FormulaRule(
                formula=[formula], fill=PatternFill("solid", fgColor=fill, bgColor=fill),
                font=Font(color=font), stopIfTrue=True))  # fmt: skip
    letter = column_letter(col_of["status"])
    ref = f"{letter}{first}:{letter}{last}"
    for status, (fill, font) in _STATUS_COLOURS.items():
        en, zh = schema.STATUSES[status]
        cell = f"{letter}{first}"
        ws.conditional_formatting.add(ref, FormulaRule(
            formula=[f'OR(TRIM({cell})="{en}",TRIM({cell})="{zh}")'],
            fill=PatternFill("solid", fgColor=fill, bgColor=fill),
            font=Font(color=font, bold=True), stopIfTrue=True))  # fmt: skip
    # Objective rows stand out over the input columns, whichever spelling of O is typed.
    type_cell = f"${column_letter(col_of['type'])}{first}"
    last_input = column_letter(len(schema.INPUT_COLUMNS))
    ws.conditional_formatting.add(f"A{first}:{last_input}{last}", FormulaRule(
        formula=[f'OR(TRIM({type_cell})="O",TRIM({type_cell})="目标")'],
        fill=PatternFill("solid", fgColor=_OBJECTIVE_FILL.fgColor.rgb,
                         bgColor=_OBJECTIVE_FILL.fgColor.rgb),
        font=Font(bold=True, color=NAVY)))  # fmt: skip


def _fill_instructions(ws: Worksheet, lang: Lang) -> None:
    """The Instructions sheet: one paragraph per row in a wide wrapped column."""
    ws.sheet_properties.tabColor = "70AD47"
    ws.sheet_view.showGridLines = False
    ws.column_dimensions["A"].width = 3
    ws.column_dimensions["B"].width = 110
    fonts = {
        "h1": Font(name=_FONT, size=16, bold=True, color=NAVY),
        "h2": Font(name=_FONT, size=12, bold=True, color=NAVY),
        "p": Font(name=_FONT, size=11),
        "tip": Font(name=_FONT, size=11, italic=True, color="375623"),
        "ex": Font(name="Consolas" if lang == "en" else _FONT, size=10, color="1F3864"),
    }
    row = 2
    for style, text in INSTRUCTIONS[lang]:
        if style == "h2":
            row += 1
        cell = ws.cell(row, 2, text)
        cell.font = fonts[style]
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if style == "ex":
            cell.fill = PatternFill("solid", fgColor="F2F2F2")
        # Wrapped rows need a height for viewers that do not autofit (LibreOffice print, calamine).
        chars_per_line = 95 if lang == "en" else 56
        lines = max(1, -(-len(text) // chars_per_line))
        size = {"h1": 24, "h2": 18}.get(style, 15)
        ws.row_dimensions[row].height = size * lines + (4 if style in ("p", "tip") else 2)
        row += 1
    ws.page_setup.orientation = "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)


def _fill_settings(ws: Worksheet, lang: Lang, values: dict[str, Any]) -> None:
    """The Settings sheet: key and value from the first row, a help column beside them."""
    ws.sheet_properties.tabColor = "A5A5A5"
    ws.column_dimensions["A"].width = 16
    ws.column_dimensions["B"].width = 24
    ws.column_dimensions["C"].width = 60
    help_texts = SETTING_HELP[lang]
    for r, setting in enumerate(schema.SETTING_KEYS, start=1):
        key_cell = ws.cell(r, 1, setting.zh if lang == "zh" else setting.en)
        key_cell.font = Font(name=_FONT, bold=True, color=NAVY)
        key_cell.fill = PatternFill("solid", fgColor="DDEBF7")
        key_cell.border = _GRID
        key_cell.protection = Protection(locked=True)
        value = values.get(setting.key)
        val_cell = ws.cell(r, 2, value)
        val_cell.font = Font(name=_FONT)
        val_cell.border = _GRID
        val_cell.protection = Protection(locked=False)
        val_cell.alignment = Alignment(horizontal="left")
        if isinstance(value, dt.date):
            val_cell.number_format = "yyyy-mm-dd"
        help_cell = ws.cell(r, 3, help_texts[setting.key])
        help_cell.font = Font(name=_FONT, italic=True, color="7F7F7F")
        help_cell.protection = Protection(locked=False)
    rows = {s.key: i for i, s in enumerate(schema.SETTING_KEYS, start=1)}
    level_labels = [schema.label(schema.LEVELS, lv, lang) for lv in schema.LEVELS]
    for key, labels in (("level", level_labels), ("language", list(schema.LANGUAGES))):
        dv = DataValidation(type="list", formula1=_list_formula(labels), allow_blank=True,
                            showErrorMessage=True, errorStyle="warning",
                            errorTitle=UI[lang]["choose"], error=UI[lang]["choose_msg"])  # fmt: skip
        dv.add(f"B{rows[key]}")
        ws.add_data_validation(dv)
    date_dv = DataValidation(type="date", operator="greaterThan", formula1="1",
                             allow_blank=False, showErrorMessage=True, errorStyle="warning")  # fmt: skip
    date_dv.add(f"B{rows['cycle_start']}:B{rows['cycle_end']}")
    ws.add_data_validation(date_dv)
    ws.protection.sheet = True
    for allowed in ("formatCells", "formatColumns", "formatRows"):
        setattr(ws.protection, allowed, False)


# ---------------------------------------------------------------- saving


def workbook_bytes(wb: Workbook, *, fixed_time: dt.datetime | None = None) -> bytes:
    """The .xlsx bytes; with fixed_time, identical bytes for identical content."""
    if fixed_time is not None:
        wb.properties.created = fixed_time
        wb.properties.modified = fixed_time
    else:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        wb.properties.created = wb.properties.created or now
        wb.properties.modified = now
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(wb, archive).save()
    if fixed_time is None:
        return raw.getvalue()
    # Zip entries carry their write time; pin it so regenerating changes no byte.
    out = io.BytesIO()
    stamp = fixed_time.timetuple()[:6]
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def save_workbook(
    wb: Workbook, path: str | Path, *, overwrite: bool = False, fixed_time: dt.datetime | None = None
) -> Path:
    """Save atomically (temporary file beside the target, then rename)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; give a file name such as {path / 'okrs.xlsx'}.")
    if path.suffix.lower() != ".xlsx":
        raise ConfigError(f"{path}: a template is an .xlsx file; give the file name an .xlsx ending.")
    if path.exists() and not overwrite:
        raise ConfigError(
            f"{path} already exists; okr-sync new never overwrites a workbook. "
            "Choose another file name or move the old file away."
        )
    if not path.parent.is_dir():
        raise ConfigError(f"{path.parent} is not a folder; create it first.")
    data = workbook_bytes(wb, fixed_time=fixed_time)

    def write(tmp: str) -> None:
        Path(tmp).write_bytes(data)

    def still_free() -> None:
        if not overwrite and path.exists():
            raise ConfigError(f"{path} appeared while writing; nothing was overwritten.")

    atomic_write(path, write, mode=0o644, check=still_free)
    return path


def write_template(
    path: str | Path,
    *,
    level: str,
    code: str,
    parent: str | None = None,
    name: str | None = None,
    owner: str | None = None,
    lang: str = "en",
    cycle: str | None = None,
    okrs: Sequence[Mapping[str, Any]] | None = None,
) -> Path:
    """Write a new unit workbook; never overwrites an existing file."""
    wb = build_template(level=level, code=code, parent=parent, name=name, owner=owner, lang=lang,
                        cycle=cycle, okrs=okrs)  # fmt: skip
    return save_workbook(wb, path)


# ---------------------------------------------------------------- shipped files

SHIPPED_CYCLE = "2026-Q4"
# level -> (code, parent code) of the blank shipped templates.
SHIPPED_UNITS: dict[str, tuple[str, str | None]] = {
    "company": ("CO", None),
    "department": ("DEPT", "CO"),
    "team": ("TEAM", "DEPT"),
    "individual": ("ME", "TEAM"),
}


def shipped_workbooks() -> dict[str, Workbook]:
    """Every file `templates/` ships, by relative path, built fresh."""
    from .demo import company_units

    books: dict[str, Workbook] = {}
    for lang in ("en", "zh"):
        for level, (code, parent) in SHIPPED_UNITS.items():
            books[f"{level}-{lang}.xlsx"] = build_template(
                level=level, code=code, parent=parent, lang=lang, cycle=SHIPPED_CYCLE
            )
        for unit in company_units(lang=lang):
            books[f"example-company-{lang}/{unit.file_name}"] = unit.build(SHIPPED_CYCLE)
    return books


def write_shipped(folder: str | Path) -> list[Path]:
    """Regenerate the shipped templates in a folder (overwriting them); deterministic bytes."""
    folder = Path(folder)
    written = []
    for rel, wb in shipped_workbooks().items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        written.append(save_workbook(wb, target, overwrite=True, fixed_time=FIXED_TIME))
    return written


def _colour(colour: Any) -> str | None:
    return None if colour is None else str(colour.rgb if colour.type == "rgb" else colour.value)


def _style(cell: Any) -> tuple[Any, ...]:
    f, fill, b, a = cell.font, cell.fill, cell.border, cell.alignment
    return (
        (f.name, f.sz, f.b, f.i, _colour(f.color)),
        (fill.fill_type, _colour(fill.fgColor) if fill.fill_type else None),
        tuple(getattr(b, side).style for side in ("left", "right", "top", "bottom")),
        (a.horizontal, a.vertical, a.wrap_text),
        cell.protection.locked,
        cell.number_format,
    )


def semantic_digest(source: str | Path | bytes) -> list[Any]:
    """What a person sees and gets in a workbook: cells, styles, validations, colours, protection."""
    from openpyxl import load_workbook

    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source
    wb = load_workbook(io.BytesIO(data))
    props = wb.properties
    # Timestamps are pinned for identical bytes only; a re-save changing them is no drift.
    out: list[Any] = [("props", props.title, props.creator, props.language, wb.sheetnames,
                       wb.active.title if wb.active else None)]  # fmt: skip
    for ws in wb.worksheets:
        prot = ws.protection
        out.append((
            "sheet", ws.title, ws.sheet_state, _colour(ws.sheet_properties.tabColor),
            ws.freeze_panes, ws.auto_filter.ref, str(ws.print_area), ws.print_title_rows,
            ws.page_setup.orientation, ws.page_setup.paperSize, ws.page_setup.fitToWidth,
            ws.page_setup.fitToHeight, ws.sheet_view.showGridLines,
            tuple(getattr(prot, a) for a in ("sheet", "formatCells", "formatColumns", "formatRows",
                  "insertRows", "deleteRows", "sort", "autoFilter", "password")),
            sorted((k, d.width) for k, d in ws.column_dimensions.items()),
            sorted((k, d.height) for k, d in ws.row_dimensions.items() if d.height),
            sorted(str(m) for m in ws.merged_cells.ranges),
        ))  # fmt: skip
        for dv in ws.data_validations.dataValidation:
            out.append(("dv", ws.title, str(dv.sqref), dv.type, dv.operator, dv.formula1,
                        dv.formula2, dv.errorStyle, dv.error, dv.errorTitle, dv.prompt,
                        dv.promptTitle, dv.showInputMessage, dv.showErrorMessage))  # fmt: skip
        for cf in ws.conditional_formatting:
            for rule in cf.rules:
                dxf = rule.dxf
                out.append(("cf", ws.title, str(cf.sqref), rule.type, rule.formula,
                            rule.stopIfTrue, _colour(dxf.fill.bgColor) if dxf and dxf.fill else None,
                            _colour(dxf.font.color) if dxf and dxf.font else None))  # fmt: skip
        for row in ws.iter_rows():
            for cell in row:
                out.append((ws.title, cell.coordinate, repr(cell.value), _style(cell)))
    return out


def shipped_bytes() -> dict[str, bytes]:
    """Every shipped file's bytes, by relative path, as the generator makes them."""
    return {rel: workbook_bytes(wb, fixed_time=FIXED_TIME) for rel, wb in shipped_workbooks().items()}


def check_shipped(folder: str | Path, expected: dict[str, bytes] | None = None) -> list[str]:
    """Differences between the shipped templates in a folder and what the generator makes."""
    folder = Path(folder)
    problems = []
    expected = expected if expected is not None else shipped_bytes()
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*.xlsx")}
    for rel in sorted(present - set(expected)):
        problems.append(f"{folder / rel}: not made by the generator; remove it")
    for rel, data in expected.items():
        path = folder / rel
        if not path.exists():
            problems.append(f"{path}: missing")
            continue
        if path.read_bytes() == data:
            continue
        # Bytes may differ across openpyxl versions; what people see must not.
        want, have = semantic_digest(data), semantic_digest(path)
        if want != have:
            diff = next((w, h) for w, h in zip(want + [None], have + [None], strict=False)
                        if w != h)  # fmt: skip
            problems.append(f"{path}: differs from the generator: expected {diff[0]!r}, "
                            f"found {diff[1]!r}")  # fmt: skip
    return problems


def main(argv: list[str] | None = None) -> int:
    """`python -m sheets_sync.templates [--check] DIR` regenerates (or checks) the shipped files."""
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    folder = Path(args[0] if args else "templates")
    if check:
        problems = check_shipped(folder)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print(f"Run: python -m sheets_sync.templates {folder}", file=sys.stderr)
        return 1 if problems else 0
    for path in write_shipped(folder):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
