"""Local .xlsx/.xlsm workbooks: read with calamine, write by patching cells in the sheet XML."""

from __future__ import annotations

import datetime as dt
import html
import io
import os
import re
import stat
import time
import zipfile
import zlib
from pathlib import Path
from typing import cast

import python_calamine

from .. import atomic
from ..core import schema
from ..core.model import CellValue, Grid, RawWorkbook, WorkbookChanges
from ..errors import ConfigError, NotAWorkbook, SourceError, WorkbookError, WorkbookLocked
from .xlsx_ooxml import CFB_MAGIC, WORKBOOK_PART, Package, scan_special_cells
from .xlsx_patch import PatchError, patch_package
from .xlsx_read import (
    MAX_PART_ENV,
    Bounded,
    Caps,
    NotRegular,
    SheetExtent,
    TooLarge,
    bounded_package,
    main_part,
    max_part_bytes,
    read_part,
    read_regular,
)

# Custom document property that marks a workbook the service owns (the rollup); never a unit.
OWNED_PROPERTY = "okr-sync"
EXTENSIONS = (".xlsx", ".xlsm", ".xls")
# Spreadsheet formats people keep beside their workbooks that the sync does not read: named, never skipped.
OTHER_FORMATS = (".ods", ".csv", ".xlsb", ".numbers")
_OWNED_RE = re.compile(rf"\sname\s*=\s*[\"']{re.escape(OWNED_PROPERTY)}[\"']")
_PLAIN = frozenset({str, float, int, bool, dt.date, dt.datetime})
_STANDARD_SHEETS = (schema.SHEET_SETTINGS, schema.SHEET_OKRS, schema.SHEET_HISTORY, schema.SHEET_PEOPLE)
# A file changed this recently may change again within the same timestamp tick (2 s on FAT and some network
# shares) without its times moving: it is never vouched for, so it is read on every run until it settles.
SETTLE_NS = 2_000_000_000


def _msg(en: str, zh: str) -> str:
    """One message in both languages: the workbook's language is unknown when it cannot be read."""
    return f"{en} / {zh}"


CORE_PART = "docProps/core.xml"
CORE_PART_LIMIT = 1024 * 1024  # document properties are a few hundred bytes; more is not read
_LAST_MODIFIED_BY = re.compile(r"<cp:lastModifiedBy>([^<]*)</cp:lastModifiedBy>")


def modified_by(z: zipfile.ZipFile) -> str | None:
    """Who saved the workbook last: docProps/core.xml's cp:lastModifiedBy (Excel and LibreOffice write it)."""
    try:
        text = read_part(z, CORE_PART, CORE_PART_LIMIT).decode("utf-8", "replace") if CORE_PART in z.NameToInfo \
            else ""
    except (TooLarge, zipfile.BadZipFile, zlib.error, OSError, KeyError, ValueError, EOFError):
        return None  # no name is better than a doubtful one
    found = _LAST_MODIFIED_BY.search(text)
    if found is None:
        return None
    return html.unescape(found.group(1)).strip() or None


def lock_file(path: Path) -> Path | None:
    """The Excel owner file or LibreOffice lock file beside a workbook, if one exists."""
    for name in (f"~${path.name}", f".~lock.{path.name}#"):
        candidate = path.with_name(name)
        if os.path.exists(candidate):  # False, not an exception, on any OSError
            return candidate
    return None


def is_owned(path: Path) -> bool:
    """True for a workbook the service owns whole (its custom properties name okr-sync)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with zipfile.ZipFile(path) as z:
            if "docProps/custom.xml" not in z.NameToInfo:
                return False
            return bool(_OWNED_RE.search(read_part(z, "docProps/custom.xml").decode("utf-8", "replace")))
    except (OSError, zipfile.BadZipFile, ValueError, RuntimeError, NotImplementedError, TooLarge):
        return False


def shown(text: str) -> str:
    """A path as people can see it: bytes that are not UTF-8 (a file name from another system) escaped."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _cell(value: object) -> CellValue:
    """A calamine value as a CellValue: blanks as None, times as text, durations as days."""
    if value == "" or value is None:
        return None
    if isinstance(value, str | bool | int | float | dt.date):
        return value
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds() / 86400
    return str(value)


def _id_text(value: CellValue) -> str:
    """An ID as the parser sees it (no whitespace at all), case-folded for comparison."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else re.sub(r"\s+", "", str(value)).casefold()


class XlsxBackend:
    """A folder of unit workbooks (searched recursively) or a single workbook."""

    # Plain data (a path): a process pool can read its workbooks in parallel.
    parallel_reads = True

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.root = self.path if self.path.is_dir() else self.path.parent
        self._root_abs = os.path.abspath(self.root)
        # Folders the walk could not open: listed as units so each is named, never silently skipped.
        self._unlisted: dict[str, OSError] = {}

    # --- listing -------------------------------------------------------------------------

    def list_units(self) -> list[str]:
        """Every unit workbook, sorted; broken files, other formats, FIFOs and unreadable folders too."""
        if self.path.is_file():
            return [str(self.path)]
        if not self.path.is_dir():
            if os.path.lexists(self.path) and not os.path.islink(self.path):
                return [str(self.path)]  # a FIFO or device given by name: read() names it
            raise ConfigError(
                _msg(
                    f"{shown(str(self.path))}: no such folder or workbook. Check the path.",
                    f"{shown(str(self.path))}：找不到该文件夹或工作簿。请检查路径。",
                )
            )
        found: list[Path] = []

        def unlisted(err: OSError) -> None:
            if err.filename is not None:
                self._unlisted[str(err.filename)] = err
                found.append(Path(err.filename))

        for folder, dirs, files in os.walk(self.path, onerror=unlisted):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for d in list(dirs):
                if d.lower().endswith(OTHER_FORMATS):  # a .numbers bundle is a folder
                    dirs.remove(d)
                    found.append(Path(folder) / d)
            for name in files:
                low = name.lower()
                if name.startswith(("~$", ".")) or not low.endswith(EXTENSIONS + OTHER_FORMATS):
                    continue
                candidate = Path(folder) / name
                if low.endswith(OTHER_FORMATS):
                    found.append(candidate)
                    continue
                try:
                    regular = stat.S_ISREG(os.stat(candidate).st_mode)
                except OSError:
                    regular = False  # a dangling link or no permission: read() says which
                if not regular or not is_owned(candidate):
                    found.append(candidate)
        found.sort(key=lambda p: os.path.relpath(p, self.path).casefold())
        return [str(p) for p in found]

    def source(self, path: Path) -> str:
        """The name people see in messages: the path relative to the backend's folder, printable."""
        rel = os.path.relpath(os.path.abspath(path), self._root_abs)
        return shown(path.name if rel.startswith("..") else Path(rel).as_posix())

    # --- reading -------------------------------------------------------------------------

    def identity(self, locator: str) -> str | None:
        """What must be unchanged for an earlier read of the file to stand; None when it cannot be vouched for.

        Size, modification and change times, inode and device: a save, a copy over it, a file renamed into its
        place all move one of them (the change time cannot be set back). The source name is part of it, as
        messages carry it. A workbook open in Excel (a lock file) is never vouched for: read() says so.
        """
        path = Path(locator)
        try:
            st = os.stat(path)
        except OSError:
            return None
        now = time.time_ns()
        if not stat.S_ISREG(st.st_mode) or now - max(st.st_mtime_ns, st.st_ctime_ns) < SETTLE_NS:
            return None
        if lock_file(path) is not None:
            return None
        return f"{self.source(path)}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}|{st.st_dev}"

    def read(self, locator: str) -> RawWorkbook:
        """The Settings, OKRs and History grids of one workbook, anchored at A1."""
        path = Path(locator)
        source = self.source(path)
        self._check_listed(path, source)
        self._check_lock(path, source)
        blob, z, _ = self._load(path, source)
        return self.parse(blob, z, source, str(path))

    @classmethod
    def read_bytes(cls, blob: bytes, source: str, locator: str) -> RawWorkbook:
        """Read a workbook held in memory (downloaded from a remote store): the same bounds and messages."""
        limit = max_part_bytes()
        if len(blob) > limit:
            raise _too_large(source, TooLarge("the file", limit))
        return cls.parse(blob, cls.open_package(blob, source), source, locator)

    @classmethod
    def parse(cls, blob: bytes, z: zipfile.ZipFile, source: str, locator: str) -> RawWorkbook:
        """The standard sheets of an opened package, read only as far as their tables reach."""
        try:
            with z:
                bounded = cls._bounded(z, source, None, blob)
                book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(bounded.blob))
                names = list(book.sheet_names)
                who = modified_by(z)
                sheets: dict[str, Grid] = {}
                protected: dict[str, dict[tuple[int, int], str]] = {}
                for std in _STANDARD_SHEETS:
                    name = schema.match_sheet(names, std)
                    if name is None or name in sheets:
                        continue
                    extent = bounded.extents.get(name)
                    sheets[name] = cls._grid(book, name, extent)
                    if extent is not None and extent.array_cells:
                        protected[name] = extent.array_cells
                    if std == schema.SHEET_HISTORY:
                        cls._continue_history(book, bounded, names, name, sheets[name])
        except WorkbookError:
            raise
        except Exception as exc:  # calamine and zipfile raise many kinds; none may reach a person raw
            raise WorkbookError(
                source,
                _msg(
                    f"cannot be read ({type(exc).__name__}: {exc}). Open it in Excel, save it, and run again",
                    f"无法读取（{type(exc).__name__}：{exc}）。请在 Excel 中打开并保存后重新运行",
                ),
            ) from exc
        return RawWorkbook(source=source, sheets=sheets, sheet_names=names, locator=locator, protected=protected,
                           modified_by=who)

    @staticmethod
    def _continue_history(
        book: python_calamine.CalamineWorkbook, bounded: Bounded, names: list[str], name: str, grid: Grid
    ) -> None:
        """Rows of a full History's continuation sheets (History 2, 3, …) read as more rows of History."""
        n = 2
        while f"{name} {n}" in names:
            grid.extend(XlsxBackend._grid(book, f"{name} {n}", bounded.extents.get(f"{name} {n}"))[1:])
            n += 1

    @staticmethod
    def _bounded(z: zipfile.ZipFile, source: str, caps: Caps | None, blob: bytes | None = None) -> Bounded:
        """The package cut down to the standard sheets' tables; a part past the size limit is refused."""

        def wanted(names: list[str]) -> Caps:
            if caps is not None:
                return caps
            out: Caps = {}
            for std in _STANDARD_SHEETS:
                name = schema.match_sheet(names, std)
                if name is not None:
                    out[name] = (None, None)
                    if std == schema.SHEET_HISTORY:
                        n = 2
                        while f"{name} {n}" in names:
                            out[f"{name} {n}"] = (None, None)
                            n += 1
            return out

        try:
            return bounded_package(z, wanted, blob)
        except TooLarge as exc:
            raise _too_large(source, exc) from exc

    @staticmethod
    def _grid(book: python_calamine.CalamineWorkbook, name: str, extent: SheetExtent | None) -> Grid:
        rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        plain = _PLAIN
        compact = cast(Grid, [[v if type(v) in plain and v != "" else _cell(v) for v in row] for row in rows])
        if extent is None:
            return compact
        # Kept rows come back numbered 1..n; put each at its own row again (empty rows between stay empty).
        grid: Grid = []
        for k, target in enumerate(extent.rows):
            while len(grid) < target - 1:
                grid.append([])
            # calamine leaves out trailing rows that hold only blanks (a formula without a cached value)
            grid.append(compact[k] if k < len(compact) else [])
        for (r, c), value in scan_special_cells(extent.xml).items():
            if r > len(extent.rows):
                continue
            row = grid[extent.rows[r - 1] - 1]
            if len(row) < c:
                row.extend([None] * (c - len(row)))
            if row[c - 1] is None:
                row[c - 1] = value
        return grid

    def _check_listed(self, path: Path, source: str) -> None:
        """Name what the folder holds that is not a workbook the sync reads."""
        err = self._unlisted.get(str(path))
        if err is not None:
            reason = err.strerror or type(err).__name__
            raise WorkbookError(
                source,
                _msg(
                    f"this folder cannot be opened ({reason}): give the sync service access to it, or move "
                    "it out of the units folder",
                    f"无法打开此文件夹（{reason}）：请授予同步服务访问权限，或将其移出单元文件夹",
                ),
            )
        low = path.name.lower()
        if low.endswith(OTHER_FORMATS):
            ext = low[low.rindex(".") :]
            raise NotAWorkbook(
                source,
                _msg(
                    f"a {ext} file, which the sync does not read: save it as .xlsx (or move it out of the "
                    "units folder)",
                    f"{ext} 文件，同步不读取此格式：请另存为 .xlsx（或将其移出单元文件夹）",
                ),
            )

    def _load(self, path: Path, source: str) -> tuple[bytes, zipfile.ZipFile, os.stat_result]:
        """The file's bytes, zip and identity, once they are known to be an .xlsx/.xlsm package."""
        try:
            blob, st = read_regular(path)
        except NotRegular as exc:
            raise NotAWorkbook(
                source,
                _msg(
                    f"{exc.en}, not a workbook file: skipped. Remove it or put the .xlsx file there",
                    f"是{exc.zh}，不是工作簿文件：已跳过。请删除它或换成 .xlsx 文件",
                ),
            ) from exc
        except TooLarge as exc:
            raise _too_large(source, exc) from exc
        except FileNotFoundError as exc:
            raise WorkbookError(
                source,
                _msg(
                    "file not found: it was moved or deleted; run again",
                    "找不到文件：它已被移动或删除，请重新运行",
                ),
            ) from exc
        except PermissionError as exc:
            raise WorkbookError(
                source,
                _msg(
                    "no permission to read the file: give the sync service access to it",
                    "没有读取该文件的权限：请授予同步服务访问权限",
                ),
            ) from exc
        except OSError as exc:
            raise WorkbookError(
                source,
                _msg(f"cannot be opened ({exc.strerror}); run again", f"无法打开（{exc.strerror}），请重新运行"),
            ) from exc
        return blob, self.open_package(blob, source), st

    @staticmethod
    def open_package(blob: bytes, source: str) -> zipfile.ZipFile:
        """The zip of a workbook's bytes, once they are known to be an .xlsx/.xlsm package."""
        if not blob:
            raise NotAWorkbook(
                source,
                _msg(
                    "the file is empty (0 bytes): restore it from a backup or delete it",
                    "文件为空（0 字节）：请从备份恢复或删除它",
                ),
            )
        if blob.startswith(CFB_MAGIC):
            raise NotAWorkbook(
                source,
                _msg(
                    "password-protected or old .xls: save it as .xlsx without a password",
                    "文件有密码保护或是旧版 .xls 格式：请另存为不带密码的 .xlsx",
                ),
            )
        if not blob.startswith(b"PK"):
            raise NotAWorkbook(
                source,
                _msg(
                    "not an Excel workbook: open it in Excel and save it as .xlsx",
                    "不是 Excel 工作簿：请在 Excel 中打开并另存为 .xlsx",
                ),
            )
        try:
            z = zipfile.ZipFile(io.BytesIO(blob))
            main = WORKBOOK_PART if WORKBOOK_PART in z.NameToInfo else main_part(z)
        except TooLarge as exc:
            raise _too_large(source, exc) from exc
        except (zipfile.BadZipFile, ValueError, OSError, KeyError, UnicodeDecodeError, LookupError) as exc:
            raise WorkbookError(
                source,
                _msg(
                    f"the file is damaged ({exc}): open it in Excel, let it repair the file, save, and run again",
                    f"文件已损坏（{exc}）：请在 Excel 中打开并修复、保存后重新运行",
                ),
            ) from exc
        if main is None:
            names = set(z.NameToInfo)
            z.close()
            if "content.xml" in names:
                en, zh = "an OpenDocument spreadsheet", "OpenDocument 电子表格"
            elif "xl/workbook.bin" in names:
                en, zh = "a binary workbook (.xlsb)", "二进制工作簿（.xlsb）"
            else:
                en, zh = "a zip file but not an Excel workbook", "是 zip 文件而不是 Excel 工作簿"
            raise NotAWorkbook(
                source,
                _msg(f"{en}: save it as .xlsx", f"{zh}：请另存为 .xlsx"),
            )
        return z

    @staticmethod
    def _check_lock(path: Path, source: str) -> None:
        lock = lock_file(path)
        if lock is not None:
            raise WorkbookLocked(
                source,
                _msg(
                    f"open in Excel or LibreOffice — close it there and run again (if it is not "
                    f"open anywhere, delete the leftover {shown(lock.name)})",
                    "文件正在 Excel 或 LibreOffice 中打开——请先关闭再运行（如果并未打开，请删除残留的 "
                    f"{shown(lock.name)}）",
                ),
            )

    # --- writing -------------------------------------------------------------------------

    def apply(self, locator: str, changes: WorkbookChanges) -> None:
        """Patch the computed cells and owned sheets into the file, atomically; nothing else changes."""
        if changes.empty:
            return
        path = Path(locator)
        source = self.source(path)
        if shown(locator) != locator:
            # The run log records every cell written by file name, as text; undo must find the file again.
            raise WorkbookError(
                source,
                _msg(
                    "the file name is not valid UTF-8 (written by another system), so the sync read it but "
                    "wrote nothing: rename the file and run again",
                    "文件名不是有效的 UTF-8（来自其他系统），同步只读取未写入：请重命名该文件后重新运行",
                ),
            )
        self._check_lock(path, source)
        blob, z, before = self._load(path, source)
        z.close()
        pkg = self.patch(blob, changes, source)
        if pkg is not None:
            self._save(path, source, pkg, before)

    @classmethod
    def patch(cls, blob: bytes, changes: WorkbookChanges, source: str) -> Package | None:
        """The package with the computed cells (rows bound by ID) and owned sheets patched in; None if
        nothing changed. Shared by every backend that writes whole files (local, Microsoft app-only)."""
        z = cls.open_package(blob, source)
        try:
            with z:
                updates = cls._bind_rows(z, source, changes)
            pkg = Package.from_bytes(blob)
            wrap = {changes.okrs_sheet: changes.wrap_col} if changes.okrs_sheet and changes.wrap_col else None
            if not patch_package(pkg, updates, changes.appends, wrap):
                return None
        except WorkbookError:
            raise
        except TooLarge as exc:
            raise _too_large(source, exc) from exc
        except PatchError as exc:
            raise WorkbookError(
                source,
                _msg(
                    f"cannot be written: {exc}. Open it in Excel, save it, and run again",
                    f"无法写入：{exc}。请在 Excel 中打开并保存后重新运行",
                ),
            ) from exc
        except Exception as exc:
            raise WorkbookError(
                source,
                _msg(
                    f"cannot be written ({type(exc).__name__}: {exc}). Open it in Excel, save it, and run again",
                    f"无法写入（{type(exc).__name__}：{exc}）。请在 Excel 中打开并保存后重新运行",
                ),
            ) from exc
        return pkg

    @classmethod
    def _bind_rows(
        cls, z: zipfile.ZipFile, source: str, changes: WorkbookChanges
    ) -> dict[str, dict[tuple[int, int], CellValue]]:
        """Cell writes by sheet; OKRs rows move with their ID if rows were inserted since the read.

        A cell inside another cell's array formula or spill range is never written (the core says so in
        the row's Check).
        """
        ids: dict[int, str] | None = None
        guarded: dict[tuple[int, int], str] = {}
        if changes.okrs_sheet and any(u.sheet == changes.okrs_sheet for u in changes.updates):
            bounded = cls._bounded(z, source, {changes.okrs_sheet: (None, None)})
            extent = bounded.extents.get(changes.okrs_sheet)
            if extent is not None:
                guarded = extent.array_cells
                if changes.id_col and any(u.row_id for u in changes.updates):
                    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(bounded.blob))
                    grid = cls._grid(book, changes.okrs_sheet, extent)
                    col = changes.id_col - 1
                    ids = {r: _id_text(row[col]) for r, row in enumerate(grid, start=1) if len(row) > col}
        out: dict[str, dict[tuple[int, int], CellValue]] = {}
        for u in changes.updates:
            row = u.row
            if ids is not None and u.sheet == changes.okrs_sheet and u.row_id:
                wanted = _id_text(u.row_id)
                if ids.get(row) != wanted:
                    matches = [r for r, v in ids.items() if v == wanted]
                    if len(matches) != 1:
                        continue  # the row is gone or ambiguous: never write a cell not ours
                    row = matches[0]
            if u.sheet == changes.okrs_sheet and (row, u.col) in guarded:
                continue
            out.setdefault(u.sheet, {})[(row, u.col)] = u.new
        return out

    def _save(self, path: Path, source: str, pkg: Package, before: os.stat_result) -> None:
        """Write a temp file beside the workbook (its target, if a link) and swap it in; keep any save of theirs."""

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                pkg.write(f)

        try:
            atomic.atomic_write(
                path, write, expect=atomic.identity(before), check=lambda: self._check_lock(path, source)
            )
        except atomic.ChangedDuringSave as exc:
            raise WorkbookError(
                source,
                _msg(
                    "the file changed while it was being synced (someone saved it): their version was kept "
                    "and nothing was written; run the sync again",
                    "同步写入期间有人保存了该文件：已保留对方的版本，未写入任何内容；请重新运行同步",
                ),
            ) from exc
        except WorkbookError:
            raise
        except Exception as exc:  # disk full, permissions, zip limits: all reach people as a message
            reason = getattr(exc, "strerror", None) or exc
            raise WorkbookError(
                source,
                _msg(
                    f"cannot be saved ({reason}): check the folder is writable and has free space, then run again",
                    f"无法保存（{reason}）：请检查文件夹可写且有剩余空间，然后重新运行",
                ),
            ) from exc


def cell_in_workbook(blob: bytes, workbook: str, sheet: str | None, row: int, col: int) -> CellValue:
    """One cell of a workbook's bytes (the first sheet when `sheet` is None), read the bounded way: only that
    sheet, only as far as the cell, every part under the size limit."""
    limit = max_part_bytes()
    if len(blob) > limit:
        raise SourceError(f"{workbook} is larger than {limit // 2**20} MB")
    chosen: list[str] = []

    def choose(names: list[str]) -> dict[str, tuple[int | None, int | None]]:
        name = sheet or (names[0] if names else "")
        chosen.append(name)
        return {name: (row, col)} if name in names else {}

    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            bounded = bounded_package(z, choose)
    except TooLarge as exc:
        raise SourceError(f"{workbook}: {exc.what} is larger than {exc.limit // 2**20} MB") from None
    except (zipfile.BadZipFile, KeyError):
        raise SourceError(f"{workbook} is not an .xlsx workbook") from None
    name = chosen[0] if chosen else ""
    if name not in bounded.extents:
        raise SourceError(f"{workbook} has no sheet {name}")
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(bounded.blob))
    grid = XlsxBackend._grid(book, name, bounded.extents[name])
    if row > len(grid) or col > len(grid[row - 1]):
        return None
    value = grid[row - 1][col - 1]
    return None if value == "" else value


def _too_large(source: str, exc: TooLarge) -> WorkbookError:
    mb = exc.limit // (1024 * 1024)
    return NotAWorkbook(
        source,
        _msg(
            f"{exc.what} would take more than {mb} MB when unpacked, so it was not read and the file was not "
            f"changed. If the workbook is genuine, raise the limit ({MAX_PART_ENV} or [limits] max_part_mb in "
            "okr-sync.toml)",
            f"{exc.what} 解压后超过 {mb} MB，因此未读取，文件也未改动。如果工作簿确实如此之大，请提高限制"
            f"（{MAX_PART_ENV} 或 okr-sync.toml 中的 [limits] max_part_mb）",
        ),
    )
