"""Ready-to-fill OKR workbooks for every level, in English and Chinese, following the standard."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Mapping, Sequence
from copy import copy
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.utils import quote_sheetname
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from . import template_style as look
from .atomic import atomic_write
from .core import bands, schema
from .core.cycles import current_cycle, cycle_dates, normalize_cycle
from .core.model import column_letter
from .core.schema import Lang
from .core.writeback import SUMMARY_AS_OF_LABEL, SUMMARY_SCORE_LABEL, row_height
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
    "save_workbook",
    "workbook_bytes",
    "write_template",
]

# Input columns first, then the computed ones, as the standard lists them.
COLUMN_ORDER: tuple[str, ...] = tuple(c.key for c in schema.ALL_COLUMNS)
HEADER_ROW = 3  # a title banner and a one-line hint sit above the header
DATA_ROWS = 200  # rows below the header that carry dropdowns, hints, unlocked cells and colours

_WIDTHS: dict[str, float] = {
    "type": 9, "id": 8, "text": 50, "owner": 14, "aligns_to": 13, "depends_on": 16,
    "commitment": 13, "weight": 8, "metric": 12, "start": 10, "target": 10, "current": 10,
    "source": 16, "confidence": 12, "due": 13, "notes": 30, "progress": 10, "score": 10,
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

_HEADER_FILL = PatternFill("solid", fgColor=look.NAVY)
_COMPUTED_HEADER_FILL = PatternFill("solid", fgColor=look.COMPUTED_HEADER)
_COMPUTED_FILL = PatternFill("solid", fgColor=look.COMPUTED_CELL)
_COMPUTED_FILL_DXF = PatternFill("solid", fgColor=look.COMPUTED_CELL, bgColor=look.COMPUTED_CELL)
_THIN = Side(style="thin", color=look.GRID)
_GRID = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_FONT = look.FONT
# The Settings' cycle end, by name, so the colour rules can tell a running cycle from an ended one.
CYCLE_END_NAME = "okr_cycle_end"


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
    cycle_end_row = next(i for i, s in enumerate(schema.SETTING_KEYS, start=1) if s.key == "cycle_end")
    settings_title = quote_sheetname(schema.sheet_label(schema.SHEET_SETTINGS, language))
    wb.defined_names[CYCLE_END_NAME] = DefinedName(
        CYCLE_END_NAME, attr_text=f"{settings_title}!$B${cycle_end_row}")
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
    ws.sheet_properties.tabColor = look.TAB_OKRS
    banner = ws.cell(1, 1, ui["banner"].format(
        name=name, code=code, cycle=cycle, start=start.isoformat(), end=end.isoformat()))  # fmt: skip
    banner.font = Font(name=_FONT, size=16, bold=True, color=look.NAVY)
    banner.alignment = Alignment(vertical="center")
    ws.row_dimensions[1].height = 28
    hint = ws.cell(2, 1, ui["subtitle"])
    hint.font = Font(name=_FONT, size=10, italic=True, color=look.HINT)
    ws.row_dimensions[2].height = 18

    for key, col in col_of.items():
        column = schema.COLUMNS_BY_KEY[key]
        cell = ws.cell(HEADER_ROW, col, column.header(lang))
        cell.font = Font(name=_FONT, bold=True, color=look.WHITE)
        cell.fill = _COMPUTED_HEADER_FILL if column.computed else _HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = _GRID
        letter = column_letter(col)
        ws.column_dimensions[letter].width = _WIDTHS[key] + (2 if lang == "zh" else 0)
        # Rows typed below the prepared ones stay editable (Excel applies column styles).
        ws.column_dimensions[letter].protection = Protection(locked=column.computed)
    ws.row_dimensions[HEADER_ROW].height = 32
    _add_summary(ws, lang, col_of)

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
    # Spare rows carry no border or fill of their own, so printing stops at the last row in use;
    # a conditional format draws both once a row is typed in (see _add_colours).
    spare: dict[str, Any] = {}
    for key, col in col_of.items():
        cell = ws.cell(first, col)
        cell._style = copy(protos[key])
        cell.border = Border()
        cell.fill = PatternFill()
        spare[key] = cell._style
    for r in range(first, last + 1):
        values = rows[r - first] if r - first < len(rows) else {}
        for key, col in col_of.items():
            cell = ws.cell(r, col)
            cell._style = copy(protos[key] if r - first < len(rows) else spare[key])
            value = values.get(key)
            if value is not None and value != "":
                cell.value = value
        # Wrapped rows need a height for viewers that do not autofit (LibreOffice print, calamine).
        height = max(row_height(values.get(k), _WIDTHS[k]) for k in ("text", "notes", "depends_on"))
        if height > row_height(None, 1):
            ws.row_dimensions[r].height = height
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
    # No fixed print area: Excel and LibreOffice print every row in use, however many there are,
    # one page wide, with the header row on every page.
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    ws.page_margins.left = ws.page_margins.right = look.MARGIN_SIDE
    ws.page_margins.top = ws.page_margins.bottom = look.MARGIN_TOP


def _add_summary(ws: Worksheet, lang: Lang, col_of: dict[str, int]) -> None:
    """The unit's own figures above the table: labels the sync looks for, cells it fills (core/writeback.py)."""
    i = 1 if lang == "zh" else 0
    labels = ((HEADER_ROW - 2, SUMMARY_SCORE_LABEL[i]), (HEADER_ROW - 1, SUMMARY_AS_OF_LABEL[i]))
    for row, text in labels:
        cell = ws.cell(row, col_of["progress"], text)
        cell.font = Font(name=_FONT, bold=True, color=look.NAVY)
        cell.alignment = Alignment(horizontal="right", vertical="top")
        for key in ("score", "check"):
            value = ws.cell(row, col_of[key])
            value.font = Font(name=_FONT, bold=key == "score" and row == HEADER_ROW - 2, color=look.NAVY)
            value.alignment = Alignment(horizontal="center" if key == "score" else "left", vertical="top",
                                        wrap_text=key == "check")
            value.fill = _COMPUTED_FILL
    ws.cell(HEADER_ROW - 2, col_of["score"]).number_format = _NUMBER_FORMATS["score"]
    ws.cell(HEADER_ROW - 1, col_of["score"]).number_format = _NUMBER_FORMATS["due"]


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


def _rule(formula: str, colour: bands.Colour, *, bold: bool = False) -> FormulaRule:
    return FormulaRule(formula=[formula], fill=PatternFill("solid", fgColor=colour.fill, bgColor=colour.fill),
                       font=Font(color=colour.font, bold=bold or None))  # fmt: skip


def _is_status(cell: str, status: str) -> str:
    en, zh = bands.STATUS_LABELS[status]
    return f'OR(TRIM({cell})="{en}",TRIM({cell})="{zh}")'


def _add_colours(ws: Worksheet, col_of: dict[str, int], first: int, last: int) -> None:
    """One colour language (bands.py): pace while the cycle runs, grade bands once it has ended.

    LibreOffice applies only the first rule that holds for a cell (Excel merges them), so the colours
    come first and the grid of typed spare rows last.
    """
    status_cell = f"${column_letter(col_of['status'])}{first}"
    ended = f"AND(ISNUMBER({CYCLE_END_NAME}),TODAY()>{CYCLE_END_NAME})"
    green, yellow = f"{bands.GRADE_GREEN:g}", f"{bands.GRADE_YELLOW:g}"
    for key in ("progress", "score", "aligned_score"):
        letter = column_letter(col_of[key])
        ref, cell = f"{letter}{first}:{letter}{last}", f"{letter}{first}"
        number = f"ISNUMBER({cell})"
        band_rules = [
            (f"AND({number},{ended},{cell}>={green})", "green"),
            (f"AND({number},{ended},{cell}>={yellow},{cell}<{green})", "yellow"),
            (f"AND({number},{ended},{cell}<{yellow})", "red"),
        ]
        for formula, band in band_rules:
            ws.conditional_formatting.add(ref, _rule(formula, bands.PALETTE[bands.BAND_COLOUR_NAMES[band]]))
        # While the cycle runs a figure wears its row's status colour.
        for status in bands.STATUS_ORDER:
            ws.conditional_formatting.add(ref, _rule(
                f"AND({number},{_is_status(status_cell, status)})", bands.status_colour(status)))  # fmt: skip
    letter = column_letter(col_of["status"])
    ref = f"{letter}{first}:{letter}{last}"
    for status in bands.STATUS_ORDER:
        ws.conditional_formatting.add(ref, _rule(_is_status(f"{letter}{first}", status),
                                                 bands.status_colour(status), bold=True))  # fmt: skip
    # Objective rows stand out over the input columns, whichever spelling of O is typed.
    type_cell = f"${column_letter(col_of['type'])}{first}"
    last_input = column_letter(len(schema.INPUT_COLUMNS))
    ws.conditional_formatting.add(f"A{first}:{last_input}{last}", FormulaRule(
        formula=[f'OR(TRIM({type_cell})="O",TRIM({type_cell})="目标")'],
        fill=PatternFill("solid", fgColor=look.OBJECTIVE_ROW, bgColor=look.OBJECTIVE_ROW),
        font=Font(bold=True, color=look.NAVY)))  # fmt: skip
    # Spare rows have no border or fill of their own (so printing ends at the last row in use): once typed
    # in, they get the grid, and their computed cells the grey of the cells the sync fills.
    typed = f"COUNTA($A{first}:${last_input}{first})>0"
    first_computed = column_letter(len(schema.INPUT_COLUMNS) + 1)
    last_col = column_letter(len(COLUMN_ORDER))
    ws.conditional_formatting.add(f"{first_computed}{first}:{last_col}{last}", FormulaRule(
        formula=[typed], fill=_COMPUTED_FILL_DXF, border=_GRID))  # fmt: skip
    ws.conditional_formatting.add(f"A{first}:{last_col}{last}", FormulaRule(formula=[typed], border=_GRID))


def _fill_instructions(ws: Worksheet, lang: Lang) -> None:
    """The Instructions sheet: one paragraph per row in a wide wrapped column."""
    ws.sheet_properties.tabColor = look.TAB_INSTRUCTIONS
    ws.sheet_view.showGridLines = False
    ws.column_dimensions["A"].width = 3
    ws.column_dimensions["B"].width = 110
    fonts = {
        "h1": Font(name=_FONT, size=16, bold=True, color=look.NAVY),
        "h2": Font(name=_FONT, size=12, bold=True, color=look.NAVY),
        "p": Font(name=_FONT, size=11),
        "tip": Font(name=_FONT, size=11, italic=True, color=look.TIP),
        "ex": Font(name="Consolas" if lang == "en" else _FONT, size=10, color=look.NAVY),
    }
    row = 2
    for style, text in INSTRUCTIONS[lang]:
        if style == "h2":
            row += 1
        cell = ws.cell(row, 2, text)
        cell.font = fonts[style]
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if style == "ex":
            cell.fill = PatternFill("solid", fgColor=look.EXAMPLE_FILL)
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
    ws.sheet_properties.tabColor = look.TAB_SETTINGS
    ws.column_dimensions["A"].width = 16
    ws.column_dimensions["B"].width = 24
    ws.column_dimensions["C"].width = 60
    help_texts = SETTING_HELP[lang]
    for r, setting in enumerate(schema.SETTING_KEYS, start=1):
        key_cell = ws.cell(r, 1, setting.zh if lang == "zh" else setting.en)
        key_cell.font = Font(name=_FONT, bold=True, color=look.NAVY)
        key_cell.fill = PatternFill("solid", fgColor=look.OBJECTIVE_ROW)
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
        help_cell.font = Font(name=_FONT, italic=True, color=look.HELP)
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
