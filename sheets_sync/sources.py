"""Reading KR Source cells: other local workbooks, Google Sheets links and SharePoint/OneDrive workbooks, inside
the workspace only."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from .core.model import CellValue
from .core.sources import is_google_source, parse_local_source
from .errors import OkrSyncError, SourceError

# The one rule for KR Sources, named in every refusal (docs/security.md, "Files and sources").
OUTSIDE_RULE = (
    "outside the workspace: a Source may name only workbooks in the unit folders, or files and "
    "spreadsheets the operator lists in allow_sources in okr-sync.toml"
)
# The workbook a SharePoint/OneDrive Source names: everything up to its .xlsx/.xlsm.
_REMOTE_BOOK_RE = re.compile(r"^\s*(https://.+?\.xls[xm])(?=\s*[›>!])", re.I)


def google_key(spec: str) -> str | None:
    """The spreadsheet key of a Google link or a bare key."""
    from .core.sources import _GOOGLE

    m = _GOOGLE.search(spec)
    if m:
        return m.group(1)
    text = spec.strip()
    return text if text and "/" not in text and "." not in text and " " not in text else None


def _url_prefix(url: str) -> str:
    """A SharePoint/OneDrive address as compared by the Source rule: unescaped, no trailing slash."""
    return unquote(url.strip()).rstrip("/")


class SourceReader:
    """Reads Source cells in batches: each local workbook opened once, Google links in one call each.

    One rule decides what a Source may name (OUTSIDE_RULE): `roots` are the unit folders, `google_units` the
    workspace's own spreadsheets, `microsoft_sources` its SharePoint/OneDrive [[sources]] folders; `allow`
    lists the files, folders, Google spreadsheets (links or keys) and SharePoint/OneDrive addresses the
    operator allows besides. Anything else is refused before it is opened or fetched.
    """

    def __init__(
        self,
        base_dir: Path | None = None,
        credentials: str | None = None,
        microsoft: Any = None,
        microsoft_sources: Sequence[str] = (),
        *,
        roots: Iterable[Path] | None = None,
        allow: Iterable[str] = (),
        google_units: Iterable[str] = (),
        allow_base: Path | None = None,
    ) -> None:
        self.base_dir = base_dir
        self.credentials = credentials
        # MicrosoftSettings, used to fetch SharePoint/OneDrive Sources.
        self.microsoft = microsoft
        folders = list(roots) if roots is not None else ([base_dir] if base_dir else [])
        self.roots = [os.path.realpath(p) for p in folders]
        self.allowed_paths: list[str] = []
        self.allowed_keys: set[str] = {k for k in google_units if k}
        self.allowed_urls: list[str] = [_url_prefix(s) for s in microsoft_sources if s]
        for entry in allow:
            if entry.strip().lower().startswith("https://") and not is_google_source(entry):
                self.allowed_urls.append(_url_prefix(entry))
                continue
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

    def permits_url(self, spec: str) -> bool:
        """Whether a SharePoint/OneDrive Source names a workbook inside a [[sources]] folder or allow_sources.

        A Source not written as a workbook address is let through: the reader names its form without fetching.
        """
        m = _REMOTE_BOOK_RE.match(spec)
        if m is None:
            return True
        book = _url_prefix(m.group(1))
        return ".." not in book.split("/") and any(book == p or book.startswith(p + "/") for p in self.allowed_urls)

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
        remote = [(i, spec) for i, (_, spec) in enumerate(wanted) if _is_microsoft(spec)]
        done = {i for i, _ in remote}
        for i, spec in remote:
            if not self.permits_url(spec):
                out[i] = SourceError(OUTSIDE_RULE)  # never fetched
        remote = [(i, spec) for i, spec in remote if out[i] is None]
        if remote:
            self._read_microsoft(remote, out)
        books: dict[Path, bytes] = {}
        for i, (locator, spec) in enumerate(wanted):
            if is_google_source(spec) or i in done:
                continue
            try:
                out[i] = self._read_local(locator, spec, books)
            except Exception as exc:  # noqa: BLE001 - reported on the KR's Source cell
                out[i] = exc if isinstance(exc, OkrSyncError) else SourceError(str(exc))
        return out

    def _read_microsoft(self, remote: list[tuple[int, str]], out: list[CellValue | Exception]) -> None:
        if self.microsoft is None:
            for i, _ in remote:
                out[i] = SourceError("a SharePoint/OneDrive Source needs a [microsoft] table in okr-sync.toml")
            return
        try:
            from .backends.microsoft import read_sources

            found = read_sources([s for _, s in remote], self.microsoft, self.base_dir or Path.cwd(),
                                 self.allowed_urls)
            for i, spec in remote:
                out[i] = found.get(spec, SourceError("not found"))
        except OkrSyncError as exc:
            for i, _ in remote:
                out[i] = exc

    def _read_local(self, locator: str, spec: str, books: dict[Path, bytes]) -> CellValue:
        from .backends.xlsx_read import NotRegular, TooLarge, read_regular

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
        from .backends.xlsx import cell_in_workbook

        return cell_in_workbook(books[path], source.workbook, source.sheet, row, col)


def _is_microsoft(spec: str) -> bool:
    """A Source naming an https:// workbook that is not a Google spreadsheet (SharePoint or OneDrive)."""
    return spec.strip().lower().startswith("https://") and not is_google_source(spec)
