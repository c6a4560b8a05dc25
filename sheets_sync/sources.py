"""Reading KR Source cells: other local workbooks and Google Sheets links, inside the workspace only."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from .core.model import CellValue
from .core.sources import is_google_source, parse_local_source
from .errors import OkrSyncError

# The one rule for KR Sources, named in every refusal (docs/security.md, "Files and sources").
OUTSIDE_RULE = (
    "outside the workspace: a Source may name only workbooks in the unit folders, or files and "
    "spreadsheets the operator lists in allow_sources in okr-sync.toml"
)


class SourceError(OkrSyncError):
    """A KR Source that cannot be read."""


def google_key(spec: str) -> str | None:
    """The spreadsheet key of a Google link or a bare key."""
    from .core.sources import _GOOGLE

    m = _GOOGLE.search(spec)
    if m:
        return m.group(1)
    text = spec.strip()
    return text if text and "/" not in text and "." not in text and " " not in text else None


class SourceReader:
    """Reads Source cells in batches: each local workbook opened once, Google links in one call each.

    `roots` are the unit folders a Source may point into; `allow` lists the files, folders and Google
    spreadsheets (links or keys) the operator allows besides; `google_units` are the workspace's own
    spreadsheets. Anything else is refused before it is opened.
    """

    def __init__(
        self,
        base_dir: Path | None = None,
        credentials: str | None = None,
        *,
        roots: Iterable[Path] | None = None,
        allow: Iterable[str] = (),
        google_units: Iterable[str] = (),
        allow_base: Path | None = None,
    ) -> None:
        self.base_dir = base_dir
        self.credentials = credentials
        folders = list(roots) if roots is not None else ([base_dir] if base_dir else [])
        self.roots = [os.path.realpath(p) for p in folders]
        self.allowed_paths: list[str] = []
        self.allowed_keys: set[str] = {k for k in google_units if k}
        for entry in allow:
            key = google_key(entry) if is_google_source(entry) or "/" not in entry and "." not in entry else None
            if key:
                self.allowed_keys.add(key)
            else:
                where = Path(entry).expanduser()
                base = allow_base or base_dir or Path.cwd()
                self.allowed_paths.append(os.path.realpath(where if where.is_absolute() else base / where))

    def permits_path(self, path: Path) -> bool:
        """Whether a local Source file lies inside a unit folder or an allowed path."""
        real = os.path.realpath(path)
        return any(real == p or real.startswith(p.rstrip(os.sep) + os.sep) for p in self.roots + self.allowed_paths)

    def read_many(self, wanted: Sequence[tuple[str, str]]) -> list[CellValue | Exception]:
        """Values for (unit locator, Source text) pairs, an exception in place of each failure."""
        out: list[CellValue | Exception] = [None] * len(wanted)
        google: list[tuple[int, str]] = []
        for i, (_, spec) in enumerate(wanted):
            if not is_google_source(spec):
                continue
            if google_key(spec) not in self.allowed_keys:
                out[i] = SourceError(OUTSIDE_RULE)
            else:
                google.append((i, spec))
        if google:
            try:
                from .backends.google import read_sources

                found = read_sources([spec for _, spec in google], credentials=self.credentials)
                for i, spec in google:
                    out[i] = found.get(spec, SourceError("not found"))
            except OkrSyncError as exc:
                for i, _ in google:
                    out[i] = exc
        books: dict[Path, bytes] = {}
        for i, (locator, spec) in enumerate(wanted):
            if is_google_source(spec):
                continue
            try:
                out[i] = self._read_local(locator, spec, books)
            except Exception as exc:  # noqa: BLE001 - reported on the KR's Source cell
                out[i] = exc if isinstance(exc, OkrSyncError) else SourceError(str(exc))
        return out

    def _read_local(self, locator: str, spec: str, books: dict[Path, bytes]) -> CellValue:
        from python_calamine import CalamineWorkbook

        from .backends.xlsx import XlsxBackend
        from .backends.xlsx_read import NotRegular, TooLarge, bounded_package, read_regular

        source = parse_local_source(spec)
        if source is None:
            raise SourceError("write it as file.xlsx › Sheet › B2")
        base = Path(locator).parent if Path(locator).exists() else (self.base_dir or Path.cwd())
        path = Path(os.path.abspath(base / Path(source.workbook).expanduser()))
        if not self.permits_path(path):
            raise SourceError(OUTSIDE_RULE)  # refused before the file is even looked at
        if path not in books:
            try:
                books[path] = read_regular(path)[0]
            except (FileNotFoundError, NotADirectoryError):
                raise SourceError(f"no file {source.workbook} beside the workbook") from None
            except NotRegular as exc:
                raise SourceError(f"{source.workbook} is {exc.en}, not a workbook") from None
            except TooLarge as exc:
                raise SourceError(f"{source.workbook} is larger than {exc.limit // 2**20} MB") from None
        row, col = source.row_col
        chosen: list[str] = []

        def choose(names: list[str]) -> dict[str, tuple[int | None, int | None]]:
            sheet = source.sheet or (names[0] if names else "")
            chosen.append(sheet)
            return {sheet: (row, col)} if sheet in names else {}

        try:
            with zipfile.ZipFile(io.BytesIO(books[path])) as z:
                bounded = bounded_package(z, choose)
        except TooLarge as exc:
            raise SourceError(f"{source.workbook}: {exc.what} is larger than {exc.limit // 2**20} MB") from None
        except (zipfile.BadZipFile, KeyError):
            raise SourceError(f"{source.workbook} is not an .xlsx workbook") from None
        sheet = chosen[0] if chosen else ""
        if sheet not in bounded.extents:
            raise SourceError(f"{source.workbook} has no sheet {sheet}")
        book = CalamineWorkbook.from_filelike(io.BytesIO(bounded.blob))
        grid = XlsxBackend._grid(book, sheet, bounded.extents[sheet])
        if row > len(grid) or col > len(grid[row - 1]):
            return None
        value = grid[row - 1][col - 1]
        return None if value == "" else value
