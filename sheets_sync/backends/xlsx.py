"""Local .xlsx/.xlsm workbooks: read with calamine, write by patching cells in the sheet XML."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import re
import stat
import tempfile
import time
import zipfile
from pathlib import Path
from typing import cast

import python_calamine

from ..core import schema
from ..core.model import CellValue, Grid, RawWorkbook, WorkbookChanges
from ..errors import ConfigError, NotAWorkbook, WorkbookError, WorkbookLocked
from .xlsx_ooxml import (
    CFB_MAGIC,
    WORKBOOK_PART,
    WORKBOOK_RELS,
    Package,
    SheetRef,
    scan_special_cells,
    workbook_sheets,
)
from .xlsx_patch import PatchError, patch_package

# Custom document property that marks a workbook the service owns (the rollup); never a unit.
OWNED_PROPERTY = "okr-sync"
EXTENSIONS = (".xlsx", ".xlsm", ".xls")
_OWNED_RE = re.compile(rf"\sname\s*=\s*[\"']{re.escape(OWNED_PROPERTY)}[\"']")
_PLAIN = frozenset({str, float, int, bool, dt.date, dt.datetime})
_STANDARD_SHEETS = (schema.SHEET_SETTINGS, schema.SHEET_OKRS, schema.SHEET_HISTORY)
# A file changed this recently may change again within the same timestamp tick (2 s on FAT and some network
# shares) without its times moving: it is never vouched for, so it is read on every run until it settles.
SETTLE_NS = 2_000_000_000


def _msg(en: str, zh: str) -> str:
    """One message in both languages: the workbook's language is unknown when it cannot be read."""
    return f"{en} / {zh}"


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
        with zipfile.ZipFile(path) as z:
            if "docProps/custom.xml" not in z.NameToInfo:
                return False
            return bool(_OWNED_RE.search(z.read("docProps/custom.xml").decode("utf-8", "replace")))
    except (OSError, zipfile.BadZipFile, ValueError, RuntimeError, NotImplementedError):
        return False


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

    # --- listing -------------------------------------------------------------------------

    def list_units(self) -> list[str]:
        """Every unit workbook, sorted; broken files with a workbook's name too, so read() names them."""
        if self.path.is_file():
            return [str(self.path)]
        if not self.path.is_dir():
            raise ConfigError(
                _msg(
                    f"{self.path}: no such folder or workbook. Check the path.",
                    f"{self.path}：找不到该文件夹或工作簿。请检查路径。",
                )
            )
        found: list[Path] = []
        for folder, dirs, files in os.walk(self.path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in files:
                if name.startswith(("~$", ".")) or not name.lower().endswith(EXTENSIONS):
                    continue
                candidate = Path(folder) / name
                if not is_owned(candidate):
                    found.append(candidate)
        found.sort(key=lambda p: p.relative_to(self.path).as_posix().casefold())
        return [str(p) for p in found]

    def source(self, path: Path) -> str:
        """The name people see in messages: the path relative to the backend's folder."""
        rel = os.path.relpath(os.path.abspath(path), self._root_abs)
        return path.name if rel.startswith("..") else Path(rel).as_posix()

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
        self._check_lock(path, source)
        blob, z = self._load(path, source)
        try:
            with z:
                refs = workbook_sheets(
                    z.read(WORKBOOK_PART).decode("utf-8"),
                    z.read(WORKBOOK_RELS).decode("utf-8") if WORKBOOK_RELS in z.NameToInfo else "",
                )
                book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(blob))
                names = list(book.sheet_names)
                sheets: dict[str, Grid] = {}
                for std in _STANDARD_SHEETS:
                    name = schema.match_sheet(names, std)
                    if name is None or name in sheets:
                        continue
                    ref = next((r for r in refs if r.name == name), None)
                    sheets[name] = self._grid(book, z, name, ref)
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
        return RawWorkbook(source=source, sheets=sheets, sheet_names=names, locator=str(path))

    @staticmethod
    def _grid(book: python_calamine.CalamineWorkbook, z: zipfile.ZipFile, name: str, ref: SheetRef | None) -> Grid:
        rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        plain = _PLAIN
        grid = cast(Grid, [[v if type(v) in plain and v != "" else _cell(v) for v in row] for row in rows])
        if ref is None or not ref.part or ref.part not in z.NameToInfo:
            return grid
        special = scan_special_cells(z.read(ref.part).decode("utf-8"))
        for (r, c), value in special.items():
            while len(grid) < r:
                grid.append([])
            row = grid[r - 1]
            if len(row) < c:
                row.extend([None] * (c - len(row)))
            if row[c - 1] is None:
                row[c - 1] = value
        return grid

    def _load(self, path: Path, source: str) -> tuple[bytes, zipfile.ZipFile]:
        """The file's bytes and zip, once they are known to be an .xlsx/.xlsm package."""
        try:
            blob = path.read_bytes()
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
                source, _msg(f"cannot be opened ({exc}); run again", f"无法打开（{exc}），请重新运行")
            ) from exc
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
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            raise WorkbookError(
                source,
                _msg(
                    f"the file is damaged ({exc}): open it in Excel, let it repair the file, save, and run again",
                    f"文件已损坏（{exc}）：请在 Excel 中打开并修复、保存后重新运行",
                ),
            ) from exc
        if WORKBOOK_PART not in z.NameToInfo:
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
        return blob, z

    @staticmethod
    def _check_lock(path: Path, source: str) -> None:
        lock = lock_file(path)
        if lock is not None:
            raise WorkbookLocked(
                source,
                _msg(
                    f"open in Excel or LibreOffice — close it there and run again (if it is not "
                    f"open anywhere, delete the leftover {lock.name})",
                    f"文件正在 Excel 或 LibreOffice 中打开——请先关闭再运行（如果并未打开，请删除残留的 {lock.name}）",
                ),
            )

    # --- writing -------------------------------------------------------------------------

    def apply(self, locator: str, changes: WorkbookChanges) -> None:
        """Patch the computed cells and owned sheets into the file, atomically; nothing else changes."""
        if changes.empty:
            return
        path = Path(locator)
        source = self.source(path)
        self._check_lock(path, source)
        try:
            before = path.stat()
        except OSError:
            before = None
        blob, z = self._load(path, source)
        z.close()
        try:
            pkg = Package.from_bytes(blob)
            updates = self._bind_rows(blob, changes)
            wrap = {changes.okrs_sheet: changes.wrap_col} if changes.okrs_sheet and changes.wrap_col else None
            if not patch_package(pkg, updates, changes.appends, wrap):
                return
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
        self._save(path, source, pkg, before)

    def _bind_rows(self, blob: bytes, changes: WorkbookChanges) -> dict[str, dict[tuple[int, int], CellValue]]:
        """Cell writes by sheet; OKRs rows move with their ID if rows were inserted since the read."""
        ids: dict[int, str] | None = None
        if changes.okrs_sheet and changes.id_col and any(u.row_id for u in changes.updates):
            book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(blob))
            if changes.okrs_sheet in book.sheet_names:
                rows = book.get_sheet_by_name(changes.okrs_sheet).to_python(skip_empty_area=False)
                col = changes.id_col - 1
                ids = {r: _id_text(_cell(row[col])) for r, row in enumerate(rows, start=1) if len(row) > col}
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
            out.setdefault(u.sheet, {})[(row, u.col)] = u.new
        return out

    def _save(self, path: Path, source: str, pkg: Package, before: os.stat_result | None) -> None:
        """Write a temp file beside the workbook, fsync, and replace the workbook with it."""
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".~okr-sync-", suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                pkg.write(f)
                f.flush()
                os.fsync(f.fileno())
            if before is not None:
                os.chmod(tmp, stat.S_IMODE(before.st_mode))
            self._check_lock(path, source)
            now = path.stat()
            if before is not None and (now.st_mtime_ns, now.st_size) != (
                before.st_mtime_ns,
                before.st_size,
            ):
                raise WorkbookError(
                    source,
                    _msg(
                        "the file changed while it was being synced; run again",
                        "同步期间文件被修改；请重新运行",
                    ),
                )
            os.replace(tmp, path)
            tmp = None
            with contextlib.suppress(OSError):
                dir_fd = os.open(path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
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
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
