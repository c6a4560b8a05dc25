"""Reading KR Source cells: other local workbooks (python-calamine), Google Sheets links and SharePoint/OneDrive
workbooks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .core.model import CellValue
from .core.sources import is_google_source, parse_local_source
from .errors import OkrSyncError


class SourceError(OkrSyncError):
    """A KR Source that cannot be read."""


class SourceReader:
    """Reads Source cells in batches: each local workbook opened once, Google links in one call each."""

    def __init__(self, base_dir: Path | None = None, credentials: str | None = None, microsoft: Any = None,
                 microsoft_sources: Sequence[str] = ()) -> None:
        self.base_dir = base_dir
        self.credentials = credentials
        # MicrosoftSettings and the SharePoint/OneDrive [[sources]] a Source may name a workbook inside.
        self.microsoft = microsoft
        self.microsoft_sources = list(microsoft_sources)

    def read_many(self, wanted: Sequence[tuple[str, str]]) -> list[CellValue | Exception]:
        """Values for (unit locator, Source text) pairs, an exception in place of each failure."""
        out: list[CellValue | Exception] = [None] * len(wanted)
        google = [(i, spec) for i, (_, spec) in enumerate(wanted) if is_google_source(spec)]
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
        if remote:
            self._read_microsoft(remote, out)
        done = {i for i, _ in remote}
        books: dict[Path, object] = {}
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
                                 self.microsoft_sources)
            for i, spec in remote:
                out[i] = found.get(spec, SourceError("not found"))
        except OkrSyncError as exc:
            for i, _ in remote:
                out[i] = exc

    def _read_local(self, locator: str, spec: str, books: dict[Path, object]) -> CellValue:
        from python_calamine import CalamineWorkbook

        source = parse_local_source(spec)
        if source is None:
            raise SourceError("write it as file.xlsx › Sheet › B2")
        base = Path(locator).parent if Path(locator).exists() else (self.base_dir or Path.cwd())
        path = (base / source.workbook).resolve()
        if not path.is_file():
            raise SourceError(f"no file {source.workbook} beside the workbook")
        if path not in books:
            books[path] = CalamineWorkbook.from_path(str(path))
        book = books[path]
        names: list[str] = book.sheet_names  # type: ignore[attr-defined]
        sheet = source.sheet or names[0]
        if sheet not in names:
            raise SourceError(f"{source.workbook} has no sheet {sheet}")
        grid = book.get_sheet_by_name(sheet)  # type: ignore[attr-defined]
        row, col = source.row_col
        # calamine's grid starts at the sheet's first used cell, not A1.
        start_row, start_col = grid.start or (0, 0)
        values = grid.to_python()
        r, c = row - 1 - start_row, col - 1 - start_col
        if r < 0 or c < 0 or r >= len(values) or c >= len(values[r]):
            return None
        value = values[r][c]
        return None if value == "" else value


def _is_microsoft(spec: str) -> bool:
    """A Source naming an https:// workbook that is not a Google spreadsheet (SharePoint or OneDrive)."""
    return spec.strip().lower().startswith("https://") and not is_google_source(spec)
