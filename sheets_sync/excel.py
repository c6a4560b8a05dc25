"""Desktop Excel through xlwings (its BSD-licensed part): Validate, Score cycle and Roll up buttons.

The buttons call these functions with xlwings' RunPython, e.g.
`RunPython "import sheets_sync.excel as okr; okr.score_cycle()"`. Each sheet is read in one call
and each computed column written as one array: through xlwings a cell-by-cell write costs a
round trip to Excel per cell. Only the cells the workbook standard gives the service are written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from .core import schema
from .core.model import CellError, Finding, RawWorkbook
from .errors import OkrSyncError, WorkbookError
from .excel_layout import (
    NOTE_MARK,
    CellPlan,
    anchor_grid,
    cell_notes,
    plan_cells,
    protect_text,
    rollup_sheets,
    unit_phase,
)

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

TITLE = "okr-sync"
_TEXT: dict[str, tuple[str, str]] = {
    "no_okrs": (
        "This workbook has no OKRs sheet. Add one (see the OKR workbook standard) and try again.",
        "此工作簿没有 OKRs 工作表。请按 OKR 工作簿标准添加后重试。",
    ),
    "scored": (
        "okr-sync: {unit} scored {score}; {errors} errors, {warnings} warnings.",
        "okr-sync：{unit} 得分 {score}；{errors} 个错误，{warnings} 个警告。",
    ),
    "validated": (
        "okr-sync: {unit} checked; {errors} errors, {warnings} warnings (see the Check column).",
        "okr-sync：{unit} 已校验；{errors} 个错误，{warnings} 个警告（见“校验”列）。",
    ),
    "rolled": (
        "okr-sync: company rollup of {units} units written to the OKR Rollup sheets.",
        "okr-sync：{units} 个单元的公司汇总已写入 OKR 汇总工作表。",
    ),
    "no_workspace": (
        "No OKR workspace found for Roll up. Put okr-sync.toml beside this workbook or set "
        "OKR_SYNC_CONFIG to the OKR folder, then try again.",
        "找不到用于汇总的 OKR 工作区。请把 okr-sync.toml 放在本工作簿旁，或将 OKR_SYNC_CONFIG 设为 OKR 文件夹后重试。",
    ),
    "failed": ("okr-sync could not finish: {detail}", "okr-sync 未能完成：{detail}"),
    "write_failed": (
        "Excel refused to write ({detail}). If the OKRs or Settings sheet is protected, unprotect it "
        "(Review › Unprotect Sheet) and try again.",
        "Excel 拒绝写入（{detail}）。如果 OKRs 或“设置”工作表受保护，请撤销保护（审阅 › 撤销工作表保护）后重试。",
    ),
    "protected": (
        "sheet {sheet} is protected with a password, so nothing was written. Unprotect it "
        "(Review › Unprotect Sheet), run again, then protect it again.",
        "工作表 {sheet} 设有密码保护，未写入任何内容。请先撤销保护（审阅 › 撤销工作表保护），再运行，然后重新保护。",
    ),
    "unexpected": (
        "okr-sync hit an unexpected problem ({detail}). Nothing more was written. Please report it.",
        "okr-sync 遇到意外问题（{detail}），未再写入任何内容。请报告此问题。",
    ),
}


def _say(key: str, lang: str, **values: Any) -> str:
    en, zh = _TEXT[key]
    return (zh if lang == "zh" else en).format(**values)


def _hex_rgb(color: str | None) -> tuple[int, int, int] | None:
    if color is None:
        return None
    color = color.lstrip("#")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


def target_book(book: Any = None) -> Any:
    """The workbook to work on: the caller, or the active workbook when the caller is an add-in."""
    if book is not None:
        return book
    import xlwings as xw

    caller = xw.Book.caller()
    if str(caller.name).lower().endswith((".xlam", ".xla")):
        return caller.app.books.active
    return caller


def _book_lang(book: Any) -> str:
    """The workbook's language from its sheet names, for messages before anything is read."""
    names = [s.name for s in book.sheets]
    return "zh" if any(schema.normalize(n) == schema.normalize("设置") for n in names) else "en"


def _friendly(func: F) -> F:
    """Show problems in an Excel message box, never a Python traceback."""

    @functools.wraps(func)
    def wrapped(book: Any = None, *args: Any, **kwargs: Any) -> Any:
        book = target_book(book)
        try:
            return func(book, *args, **kwargs)
        except OkrSyncError as exc:
            book.app.alert(_say("failed", _book_lang(book), detail=exc), title=TITLE)
        except Exception as exc:  # a traceback in front of a user is a bug: say it plainly
            log.exception("okr-sync %s failed", func.__name__)
            detail = f"{type(exc).__name__}: {exc}"
            book.app.alert(_say("unexpected", _book_lang(book), detail=detail), title=TITLE)
        return None

    return wrapped  # type: ignore[return-value]


# --- reading ------------------------------------------------------------------------------------


def read_book(book: Any) -> RawWorkbook:
    """The Settings and OKRs sheets, each read in one call, anchored at A1."""
    names = [s.name for s in book.sheets]
    okrs = schema.match_sheet(names, schema.SHEET_OKRS)
    if okrs is None:
        raise WorkbookError(book.name, _say("no_okrs", _book_lang(book)))
    settings = schema.match_sheet(names, schema.SHEET_SETTINGS)
    grids = {}
    for name in [n for n in (settings, okrs) if n is not None]:
        used = book.sheets[name].used_range
        values = used.options(ndim=2, err_to_str=True).value
        grids[name] = anchor_grid(values or [], used.row, used.column)
    return RawWorkbook(source=book.name, sheets=grids, sheet_names=names, locator=book.fullname)


# --- writing ------------------------------------------------------------------------------------

# Excel's Worksheet.Protect arguments after Password, in order (Windows COM).
_PROTECT_FLAGS = (
    "ProtectDrawingObjects", "ProtectContents", "ProtectScenarios", None,
    "AllowFormattingCells", "AllowFormattingColumns", "AllowFormattingRows",
    "AllowInsertingColumns", "AllowInsertingRows", "AllowInsertingHyperlinks",
    "AllowDeletingColumns", "AllowDeletingRows", "AllowSorting", "AllowFiltering",
    "AllowUsingPivotTables",
)  # fmt: skip


class Unlocked:
    """Lift a sheet's password-less protection for okr-sync's writes, then restore it as it was.

    The templates protect the OKRs and Settings sheets so people cannot type over computed cells.
    """

    def __init__(self, book: Any, sheet: Any) -> None:
        self.book, self.sheet = book, sheet
        self.flags: list[Any] | None = None

    def __enter__(self) -> Unlocked:
        api = getattr(self.sheet, "api", None)
        if api is None or not getattr(api, "ProtectContents", False):
            return self  # not protected, or a platform without this COM API
        protection = api.Protection
        flags: list[Any] = []
        for name in _PROTECT_FLAGS:
            if name is None:
                flags.append(False)  # UserInterfaceOnly
            elif name.startswith("Protect"):
                flags.append(bool(getattr(api, name)))
            else:
                flags.append(bool(getattr(protection, name)))
        try:
            api.Unprotect()
        except Exception as exc:
            lang = _book_lang(self.book)
            raise WorkbookError(self.book.name, _say("protected", lang, sheet=self.sheet.name)) from exc
        self.flags = flags
        return self

    def __exit__(self, *exc: object) -> None:
        if self.flags is not None:
            self.sheet.api.Protect("", *self.flags)


def _excel(value: Any) -> Any:
    """A value as xlwings should write it: text kept as text, an error value as its code."""
    if isinstance(value, CellError):
        return value.code  # Excel reads "#N/A" typed in as the error value it was
    return protect_text(value) if isinstance(value, str) else value


def _runs(rows: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive row numbers as (first, last) runs."""
    runs: list[tuple[int, int]] = []
    for r in sorted(rows):
        if runs and r == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], r)
        else:
            runs.append((r, r))
    return runs


def write_plans(book: Any, raw: RawWorkbook, plans: list[CellPlan]) -> int:
    """Write each computed column as one array, then number formats and colours by runs."""
    columns: dict[tuple[str, int], dict[int, CellPlan]] = {}
    for p in plans:
        columns.setdefault((p.sheet, p.col), {})[p.row] = p
    written = 0
    for (sheet_name, col), by_row in columns.items():
        sheet = book.sheets[sheet_name]
        grid = raw.sheets[sheet_name]
        valued = {r: p for r, p in by_row.items() if p.has_value}
        if valued:
            first, last = min(valued), max(valued)
            # Rows between computed rows keep what they hold: the column below the header is ours.
            column = []
            for r in range(first, last + 1):
                if r in valued:
                    column.append([_excel(valued[r].value)])
                else:
                    old = grid[r - 1][col - 1] if r - 1 < len(grid) and col - 1 < len(grid[r - 1]) else None
                    column.append([_excel(old)])
            block = sheet.range((first, col), (last, col))
            fmt = next((p.number_format for p in valued.values() if p.number_format), None)
            if fmt:
                block.number_format = fmt
            block.value = column
            written += len(valued)
        fills: dict[str | None, list[int]] = {}
        for r, p in by_row.items():
            if p.has_fill:
                fills.setdefault(p.fill, []).append(r)
        for color, rows in fills.items():
            for first, last in _runs(rows):
                sheet.range((first, col), (last, col)).color = _hex_rgb(color)
    return written


def write_notes(book: Any, raw: RawWorkbook, findings: list[Finding], lang: str) -> int:
    """Replace the notes okr-sync left last time with one note per cell that has findings."""
    wanted = {(n["sheet"], n["a1"]): n["text"] for n in cell_notes(raw, findings, lang)}
    added = 0
    for name in raw.sheets:
        sheet = book.sheets[name]
        if not hasattr(sheet, "notes"):  # xlwings before notes support: the Check column says it
            return 0
        theirs = set()
        for note in list(sheet.notes):
            address = note.location.address.replace("$", "")
            if note.text.startswith(NOTE_MARK):
                note.delete()
            else:
                theirs.add(address)
        for (sheet_name, a1), text in wanted.items():
            if sheet_name == name and a1 not in theirs:
                sheet[a1].add_note(text)
                added += 1
    return added


# --- the entry points ---------------------------------------------------------------------------


def _as_of() -> dt.date | None:
    value = os.environ.get("OKR_SYNC_AS_OF")
    return dt.date.fromisoformat(value) if value else None


def _run(book: Any, mode: str) -> Any:
    from . import operations

    raw = read_book(book)
    report = operations.score_workbook(raw, _as_of())
    ended, _ = unit_phase(raw, _as_of(), report.score)
    plans = plan_cells(raw, report.changes.updates, "score" if mode == "score" else "validate", ended)
    sheets = [book.sheets[name] for name in raw.sheets]
    with contextlib.ExitStack() as stack:
        for sheet in sheets:
            stack.enter_context(Unlocked(book, sheet))
        try:
            write_plans(book, raw, plans)
            write_notes(book, raw, report.findings, report.language)
        except OkrSyncError:
            raise
        except Exception as exc:  # COM or AppleScript refused: most often a protected sheet
            detail = str(exc) or type(exc).__name__
            raise WorkbookError(book.name, _say("write_failed", report.language, detail=detail)) from exc
    score = "–" if report.score is None else f"{report.score:.2f}"
    key = "scored" if mode == "score" else "validated"
    book.app.status_bar = _say(
        key,
        report.language,
        unit=report.unit_code or book.name,
        score=score,
        errors=report.errors,
        warnings=report.warnings,
    )
    return report


@_friendly
def validate(book: Any = None) -> Any:
    """Ribbon Validate: write the Check column and a note on each cell with a finding."""
    return _run(book, "validate")


@_friendly
def score_cycle(book: Any = None) -> Any:
    """Ribbon Score cycle: write Progress, Score, Status, Check, Aligned score, with colour bands."""
    return _run(book, "score")


def find_workspace(book: Any) -> Path | None:
    """OKR_SYNC_CONFIG, else okr-sync.toml beside the workbook."""
    configured = os.environ.get("OKR_SYNC_CONFIG")
    if configured:
        return Path(configured)
    fullname = getattr(book, "fullname", "") or ""
    if fullname and Path(fullname).parent.joinpath("okr-sync.toml").is_file():
        return Path(fullname).parent / "okr-sync.toml"
    return None


def write_rollup_sheets(book: Any, sheets: list[dict[str, Any]]) -> None:
    """Write the rollup into the sheets okr-sync owns in this workbook, one block per sheet."""
    existing = {s.name for s in book.sheets}
    for spec in sheets:
        if spec["name"] in existing:
            sheet = book.sheets[spec["name"]]
            sheet.clear()
        else:
            sheet = book.sheets.add(spec["name"], after=book.sheets[len(book.sheets) - 1])
        ncols = len(spec["headers"])
        block = [list(spec["headers"])] + [[_excel(v) for v in (row + [None] * ncols)[:ncols]] for row in spec["rows"]]
        nrows = len(block)
        for c, fmt in enumerate(spec["formats"], start=1):
            if fmt != "General" and nrows > 1:
                sheet.range((2, c), (nrows, c)).number_format = fmt
        sheet.range((1, 1), (nrows, ncols)).value = block
        sheet.range((1, 1), (1, ncols)).font.bold = True
        for r in spec.get("strong", []):  # objective rows, set apart from key results
            sheet.range((r + 1, 1), (r + 1, ncols)).font.bold = True
        by_color: dict[tuple[int, str], list[int]] = {}
        for r, c, color in spec["fills"]:
            by_color.setdefault((c, color), []).append(r + 1)
        for (c, color), rows in by_color.items():
            for first, last in _runs(rows):
                sheet.range((first, c + 1), (last, c + 1)).color = _hex_rgb(color)


@_friendly
def rollup(book: Any = None) -> Any:
    """Ribbon Roll up: the company rollup of the workspace, into this workbook's OKR sheets."""
    from . import operations
    from .workspace import Workspace

    lang = _book_lang(book)
    workspace = find_workspace(book)
    if workspace is None:
        book.app.alert(_say("no_workspace", lang), title=TITLE)
        return None
    report = operations.preview(Workspace.from_path(workspace), _as_of())
    if report.rollup is None:
        book.app.alert(_say("no_workspace", lang), title=TITLE)
        return None
    write_rollup_sheets(book, rollup_sheets(report.rollup, "zh" if lang == "zh" else "en"))
    book.app.status_bar = _say("rolled", lang, units=len(report.units))
    return report


# --- install ------------------------------------------------------------------------------------

_COMMANDS = {
    "OkrValidate": "validate",
    "OkrScoreCycle": "score_cycle",
    "OkrRollup": "rollup",
}


def vba_module() -> str:
    """The VBA module behind the buttons: each calls one entry point through xlwings' RunPython."""
    subs = []
    for sub, func in _COMMANDS.items():
        subs.append(
            f"Public Sub {sub}(Optional control As Variant)\n"
            f'    Application.Run "xlwings.xlam!RunPython", '
            f'"import sheets_sync.excel as okr; okr.{func}()"\n'
            "End Sub\n"
        )
    return (VBA_HEADER + "\n".join(subs) + VBA_MENU).replace("\n", "\r\n")


VBA_HEADER = """Attribute VB_Name = "OkrSync"
' okr-sync buttons for desktop Excel (Windows and Mac).
' Needs: the xlwings add-in (run: xlwings addin install) and okr-sync installed in the Python
' that xlwings uses (xlwings.conf INTERPRETER_WIN / INTERPRETER_MAC).
' The buttons work on the active workbook; only okr-sync's own cells are written.
Option Explicit

"""

VBA_MENU = """
' Without a custom ribbon: these add the buttons to the Add-ins tab when the add-in opens.
Public Sub Auto_Open()
    Dim bar As Object, item As Variant, btn As Object
    On Error Resume Next
    Application.CommandBars("Worksheet Menu Bar").Controls("OKR").Delete
    On Error GoTo 0
    Set bar = Application.CommandBars("Worksheet Menu Bar").Controls.Add(Type:=10, Temporary:=True)
    bar.Caption = "OKR"
    For Each item In Array(Array("Validate", "OkrValidate"), Array("Score cycle", "OkrScoreCycle"), _
                           Array("Refresh rollup", "OkrRollup"))
        Set btn = bar.Controls.Add(Type:=1, Temporary:=True)
        btn.Caption = item(0)
        btn.OnAction = item(1)
        btn.Style = 2
    Next item
End Sub

Public Sub Auto_Close()
    On Error Resume Next
    Application.CommandBars("Worksheet Menu Bar").Controls("OKR").Delete
End Sub
"""

CUSTOM_UI = """<?xml version="1.0" encoding="UTF-8"?>
<!-- The OKR ribbon tab for OkrSync.xlam; embed it with the Office RibbonX Editor
     (docs/excel-addin.md). Each button calls a macro of the OkrSync VBA module. -->
<customUI xmlns="http://schemas.microsoft.com/office/2009/07/customui">
  <ribbon>
    <tabs>
      <tab id="okrSyncTab" label="OKR">
        <group id="okrSyncGroup" label="OKR check-in">
          <button id="okrValidate" label="Validate" size="large" imageMso="ReviewAcceptChange"
                  screentip="Check every row; problems go into the Check column and cell notes."
                  onAction="OkrValidate"/>
          <button id="okrScore" label="Score cycle" size="large" imageMso="ChartTypeBarInsertGallery"
                  screentip="Progress, scores and status of every objective and key result."
                  onAction="OkrScoreCycle"/>
          <button id="okrRollup" label="Refresh rollup" size="large" imageMso="RefreshAll"
                  screentip="Bring the company rollup into this workbook's OKR sheets."
                  onAction="OkrRollup"/>
        </group>
      </tab>
    </tabs>
  </ribbon>
</customUI>
"""

README = """okr-sync buttons for desktop Excel / 桌面版 Excel 的 okr-sync 按钮
=====================================================================

1. pip install "okr-sync[excel]"          (already done if you can read this)
2. xlwings addin install                  (the BSD-licensed xlwings add-in)
3. In Excel: File > New > Blank workbook; Alt+F11 opens the VBA editor;
   File > Import File... > OkrSync.bas (this folder).
4. Save it as an Excel Add-in (*.xlam) named OkrSync.xlam, then
   File > Options > Add-ins > Manage: Excel Add-ins > Go... > Browse... > OkrSync.xlam.
   Excel shows an OKR menu (Add-ins tab) with Validate, Score cycle, Refresh rollup.
   For a ribbon tab of its own, add customUI14.xml to OkrSync.xlam with the Office RibbonX
   Editor (Insert > Office 2010+ Custom UI Part, paste, save).
5. Refresh rollup reads okr-sync.toml beside the workbook, or the folder in OKR_SYNC_CONFIG.

1. pip install "okr-sync[excel]"
2. 运行 xlwings addin install（安装 BSD 许可的 xlwings 加载项）
3. 在 Excel 中新建空白工作簿；Alt+F11 打开 VBA 编辑器；文件 > 导入文件… > OkrSync.bas。
4. 另存为 Excel 加载项（*.xlam），命名为 OkrSync.xlam；然后 文件 > 选项 > 加载项 >
   管理：Excel 加载项 > 转到… > 浏览… > OkrSync.xlam。“加载项”选项卡中会出现 OKR 菜单。
   如需独立的功能区选项卡，用 Office RibbonX Editor 把 customUI14.xml 加入 OkrSync.xlam。
5. “刷新汇总”读取工作簿旁的 okr-sync.toml，或 OKR_SYNC_CONFIG 指向的文件夹。
"""


def xlwings_user_conf() -> Path:
    """Where xlwings reads the user's settings (the same rule as xlwings.USER_CONFIG_FILE)."""
    if sys.platform == "darwin":  # Excel for Mac is sandboxed
        return Path.home() / "Library" / "Containers" / "com.microsoft.Excel" / "Data" / "xlwings.conf"
    return Path.home() / ".xlwings" / "xlwings.conf"


def _xlwings_conf_line(conf: Path) -> str | None:
    """Point xlwings at this Python unless the user's xlwings.conf already names an interpreter."""
    key = "INTERPRETER_MAC" if sys.platform == "darwin" else "INTERPRETER_WIN"
    text = conf.read_text(encoding="utf-8") if conf.is_file() else ""
    if "INTERPRETER" in text:
        return None
    return f'"{key}","{sys.executable}"\n'


def install(target_dir: Path | None = None, xlwings_conf: Path | None = None) -> list[Path]:
    """Write OkrSync.bas, customUI14.xml and a README into `target_dir`; point xlwings at Python."""
    target = Path(target_dir) if target_dir else Path.home() / "okr-sync-excel"
    target.mkdir(parents=True, exist_ok=True)
    files = {
        "OkrSync.bas": vba_module(),
        "customUI14.xml": CUSTOM_UI,
        "README.txt": README,
    }
    written = []
    for name, text in files.items():
        path = target / name
        newline = "" if name.endswith(".bas") else None
        with path.open("w", encoding="utf-8", newline=newline) as fh:
            fh.write(text)
        written.append(path)
    conf = xlwings_conf or xlwings_user_conf()
    line = _xlwings_conf_line(conf)
    if line:
        conf.parent.mkdir(parents=True, exist_ok=True)
        with conf.open("a", encoding="utf-8") as fh:
            fh.write(line)
        written.append(conf)
        print(f"xlwings will run okr-sync with {sys.executable} ({conf})")
    else:
        print(f"kept the interpreter already set in {conf}")
    print(f"Next: run 'xlwings addin install', then follow {target / 'README.txt'}")
    return written
