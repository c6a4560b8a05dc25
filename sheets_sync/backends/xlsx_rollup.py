"""The company rollup as one .xlsx workbook the service owns whole; rewritten only when its content changed.

Deciding that costs one small zip read (the fingerprint in the custom properties): a sync whose rollup is
unchanged never imports openpyxl, which the writer (xlsx_rollup_book.py) needs.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path
from typing import IO, TYPE_CHECKING
from xml.etree import ElementTree

from ..atomic import atomic_write
from ..core.rollup import RollupBook
from ..errors import ConfigError, WorkbookLocked

# The one marker of every workbook the service owns; the xlsx backend skips such files as units.
from .xlsx import OWNED_PROPERTY, lock_file
from .xlsx_read import TooLarge, read_part
from .xlsx_rollup_layout import (  # noqa: F401 - MAX_WIDTH and the others are part of this module's face
    FINGERPRINT_PROPERTY,
    FONT,
    LAYOUT_VERSION,
    LINE_HEIGHT,
    MAX_INDENT,
    MAX_TEXT,
    MAX_WIDTH,
    MIN_WIDTH,
    OWNED_VALUE,
    PICK_EN,
    PICK_ZH,
    STAMP_PROPERTY,
    SUMMARY_SHEET,
)

if TYPE_CHECKING:
    from openpyxl import Workbook
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet


class XlsxRollupTarget:
    """Writes the rollup to one .xlsx file, only if the file is the service's own or new."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.path)

    def write_rollup(self, book: RollupBook) -> bool:
        """Write the rollup; return False when the file already holds exactly this content."""
        self._check_target()
        if lock_file(self.path) is not None:
            # Someone has it open (possibly on another machine through a shared folder): never write under them.
            raise WorkbookLocked(
                str(self.path),
                "the rollup is open in Excel or LibreOffice; close it and sync again (the units were synced). / "
                "汇总工作簿正被 Excel 或 LibreOffice 打开，请关闭后重新同步（各单元已同步）。",
            )
        fingerprint = book.fingerprint()
        stamp = _stamp(book)
        if self.path.exists() and self.path.stat().st_size > 0:
            marks = read_marks(self.path)
            if marks.get(OWNED_PROPERTY) != OWNED_VALUE:
                raise ConfigError(
                    f"{self.path} is not a rollup workbook written by okr-sync, so it was left "
                    f"untouched. {PICK_EN} (a new file name). / "
                    f"{self.path} 不是 okr-sync 生成的汇总工作簿,未作任何改动。{PICK_ZH}（新的文件名）。"
                )
            if marks.get(FINGERPRINT_PROPERTY) == fingerprint and marks.get(STAMP_PROPERTY) == stamp:
                return False
        from .xlsx_rollup_book import build_workbook  # openpyxl: only when the rollup changed

        self._save(*build_workbook(book, fingerprint, stamp))
        return True

    def _check_target(self) -> None:
        if self.path.suffix.lower() != ".xlsx":
            raise ConfigError(
                f"The rollup path {self.path} must end in .xlsx; {PICK_EN.lower()}. / "
                f"汇总文件 {self.path} 必须以 .xlsx 结尾，{PICK_ZH}。"
            )
        if self.path.is_dir():
            raise ConfigError(
                f"The rollup path {self.path} is a folder; give a file name such as "
                f"{self.path / 'rollup.xlsx'} to -o (rollup) or --rollup (sync). / "
                f"汇总路径 {self.path} 是文件夹，请给 -o 或 --rollup 一个文件名。"
            )

    def _save(self, workbook: Workbook, rows: dict[WriteOnlyWorksheet, IO[bytes]]) -> None:
        """Save beside the target and rename over it, so readers never see half a file."""
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"Cannot create the folder {folder} for the rollup ({exc.strerror}); "
                f"{PICK_EN.lower()}. / 无法创建汇总文件夹 {folder}，{PICK_ZH}。"
            ) from exc
        # The one atomic save (sheets_sync/atomic.py): a .tmp name a folder scan for units never picks up.
        from .xlsx_rollup_book import package

        try:
            atomic_write(self.path, lambda temp: package(workbook, rows, Path(temp)))
        except PermissionError as exc:
            if not os.access(folder, os.W_OK):
                raise ConfigError(
                    f"Cannot write the rollup in {folder}: the folder is read-only for this user; give the "
                    f"service write access, or {PICK_EN.lower()}. / 汇总文件夹 {folder} 只读，请授予写入权限，"
                    f"或{PICK_ZH}。"
                ) from exc
            raise WorkbookLocked(
                str(self.path),
                "the rollup is open in Excel or another program; close it and sync again. / "
                "汇总工作簿正被 Excel 或其他程序打开，请关闭后重新同步。",
            ) from exc
        except OSError as exc:
            raise ConfigError(
                f"Cannot write the rollup in {folder} ({exc.strerror}); {PICK_EN.lower()}. / "
                f"无法在 {folder} 写入汇总文件，{PICK_ZH}。"
            ) from exc


def read_marks(path: Path | IO[bytes]) -> dict[str, str]:
    """The custom document properties of an .xlsx file (or its bytes, downloaded); empty when it is not a
    readable workbook."""
    try:
        if isinstance(path, str | os.PathLike) and not stat.S_ISREG(os.stat(path).st_mode):
            return {}  # a FIFO or a device at the rollup's path: never opened (it is named by the caller)
        with zipfile.ZipFile(path) as archive:
            xml = read_part(archive, "docProps/custom.xml")
    except (OSError, KeyError, zipfile.BadZipFile, TooLarge):
        return {}
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return {}
    marks: dict[str, str] = {}
    for prop in root:
        name = prop.get("name")
        if name is not None and len(prop):
            marks[name] = prop[0].text or ""
    return marks


def _stamp(book: RollupBook) -> str:
    score = "" if book.company_score is None else repr(book.company_score)
    return f"{LAYOUT_VERSION}|{book.as_of}|{score}"



def build_workbook(
    book: RollupBook, fingerprint: str, stamp: str
) -> tuple[Workbook, dict[WriteOnlyWorksheet, IO[bytes]]]:
    """The rollup workbook laid out by openpyxl, and each table sheet's data rows as XML (see xlsx_rollup_book)."""
    from . import xlsx_rollup_book

    return xlsx_rollup_book.build_workbook(book, fingerprint, stamp)


__all__ = [
    "FINGERPRINT_PROPERTY",
    "OWNED_PROPERTY",
    "OWNED_VALUE",
    "XlsxRollupTarget",
    "build_workbook",
    "read_marks",
]
