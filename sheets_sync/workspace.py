"""A workspace: where the units are (folders, workbooks, Google spreadsheets, SharePoint/OneDrive) and where the
rollup goes."""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .backends.base import Backend, RollupTarget
from .errors import ConfigError
from .sources import SourceReader, google_key

if TYPE_CHECKING:
    from .core.model import Grid
    from .core.parse import Unit
    from .core.people import People

DEFAULT_ROLLUP_NAME = "okr-rollup.xlsx"
# A workspace that holds several cycles keeps one rollup per cycle (docs/cycles.md).
CYCLE_ROLLUP_NAME = "okr-rollup-{cycle}.xlsx"
CONFIG_NAME = "okr-sync.toml"
WORKBOOK_SUFFIXES = {".xlsx", ".xlsm"}


@dataclass
class Workspace:
    """The sources a sync reads and the rollup it writes."""

    backends: list[Backend]
    rollup: RollupTarget | None = None
    # Folder that holds .okr-sync/state.db: beside the config file, or the synced folder.
    home: Path = field(default_factory=Path.cwd)
    config_path: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)
    rollup_location: str | None = None
    credentials: str | None = None
    # Workbooks given on their own: the only units reported and written back; the rest of their folder
    # is context for alignment.
    focus: frozenset[str] | None = None
    # The cycle every operation works on (`--cycle`); None: the cycle whose dates hold the as-of day.
    cycle: str | None = None
    # True when no rollup was named: the name then carries the cycle once the workspace holds several.
    rollup_default: bool = False
    # A Google rollup spreadsheet per cycle ([rollup.google] as a table), by canonical cycle name.
    cycle_rollups: dict[str, RollupTarget] = field(default_factory=dict)
    # The [microsoft] table, when a source or the rollup is in SharePoint/OneDrive (MicrosoftSettings).
    microsoft: Any = None

    @classmethod
    def from_path(cls, path: str | Path, rollup: str | Path | None = None, *, cycle: str | None = None) -> Workspace:
        """A folder of workbooks, one workbook, or an okr-sync.toml config."""
        path = Path(path).expanduser()
        if path.suffix.lower() == ".toml":
            workspace = cls.from_config(path, rollup)
            workspace.cycle = cycle
            return workspace
        if path.is_dir() and (path / CONFIG_NAME).is_file():
            # A folder with its own okr-sync.toml means that config (its sources, rollup, server settings).
            workspace = cls.from_config(path / CONFIG_NAME, rollup)
            workspace.cycle = cycle
            return workspace
        if not path.exists():
            raise ConfigError(f"{path}: no such folder or workbook. Give a folder of unit workbooks, "
                              "a .xlsx file or an okr-sync.toml.")
        if path.is_file() and path.suffix.lower() not in WORKBOOK_SUFFIXES:
            raise ConfigError(f"{path}: not an .xlsx/.xlsm workbook or an okr-sync.toml config.")
        home = path if path.is_dir() else path.parent
        target = Path(rollup) if rollup else home / DEFAULT_ROLLUP_NAME
        focus = None if path.is_dir() else frozenset({str(path.resolve())})
        return cls([_xlsx_backend(home)], _xlsx_rollup(target), home=home,
                   rollup_location=str(target), focus=focus, cycle=cycle, rollup_default=rollup is None)

    def in_focus(self, locator: str) -> bool:
        """Whether a unit is one this workspace writes back (all of them, unless workbooks were named)."""
        return self.focus is None or str(Path(locator).resolve()) in self.focus

    @classmethod
    def from_config(cls, path: Path, rollup: str | Path | None = None) -> Workspace:
        """Read okr-sync.toml: [[sources]] path/google/google_folder/sharepoint/onedrive, [rollup]
        path/google/sharepoint/onedrive, credentials, [microsoft]."""
        try:
            config = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file.") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}). Fix the file and run again.") from None
        home = path.parent.resolve()
        _apply_limits(path, config)
        credentials = config.get("credentials")
        if credentials:
            credentials = str((home / Path(credentials).expanduser()).resolve())
        sources = config.get("sources")
        if not isinstance(sources, list) or not sources:
            raise ConfigError(f"{path}: add at least one [[sources]] table with path = \"folder/\" "
                              "or google = \"<link or key>\".")
        backends: list[Backend] = []
        sheets: list[str] = []
        folders: list[str] = []
        microsoft: list[str] = []
        for index, source in enumerate(sources, start=1):
            if not isinstance(source, dict):
                raise ConfigError(f"{path}: sources entry {index} must be a table.")
            if "path" in source:
                local = (home / Path(str(source["path"])).expanduser()).resolve()
                if not local.exists():
                    raise ConfigError(f"{path}: [[sources]] {index}: {local} does not exist.")
                backends.append(_xlsx_backend(local))
            elif "google" in source:
                sheets.append(str(source["google"]))
            elif "google_folder" in source:
                folders.append(str(source["google_folder"]))
            elif "sharepoint" in source or "onedrive" in source:
                microsoft.append(str(source.get("sharepoint") or source.get("onedrive")))
            else:
                raise ConfigError(f"{path}: [[sources]] {index} needs path, google, google_folder, sharepoint "
                                  "or onedrive.")
        if sheets or folders:
            from .backends.google import GoogleBackend

            backends.append(GoogleBackend(spreadsheets=sheets, folders=folders,
                                          credentials=credentials))
        spec = config.get("rollup", {})
        if rollup is not None:
            spec = {"path": str(rollup)}
        ms_rollup = spec.get("sharepoint") or spec.get("onedrive")
        settings = None
        if microsoft or ms_rollup:
            from .backends.microsoft_client import MicrosoftSettings

            settings = MicrosoftSettings.from_config(config.get("microsoft"), home, str(path))
        if microsoft:
            from .backends.microsoft import MicrosoftBackend

            assert settings is not None
            backends.append(MicrosoftBackend(microsoft, settings, home))
        target: RollupTarget | None = None
        location: str | None = None
        cycle_rollups: dict[str, RollupTarget] = {}
        if ms_rollup:
            from .backends.microsoft import MicrosoftRollupTarget

            assert settings is not None
            location = str(ms_rollup)
            target = MicrosoftRollupTarget(location, settings, home)
        elif "google" in spec and isinstance(spec["google"], dict):
            from .backends.google import GoogleRollupTarget
            from .core.cycle_model import cycle_name

            # One Google rollup spreadsheet per cycle: [rollup.google] "2026-Q4" = "<link or key>".
            for name, key in spec["google"].items():
                cycle_rollups[cycle_name(name) or str(name)] = GoogleRollupTarget(str(key), credentials=credentials)
        elif "google" in spec:
            from .backends.google import GoogleRollupTarget

            location = str(spec["google"])
            target = GoogleRollupTarget(location, credentials=credentials)
        else:
            rollup_path = Path(str(spec.get("path", DEFAULT_ROLLUP_NAME))).expanduser()
            rollup_path = rollup_path if rollup_path.is_absolute() else home / rollup_path
            target, location = _xlsx_rollup(rollup_path), str(rollup_path)
        return cls(backends, target, home=home, config_path=path, config=config,
                   rollup_location=location, credentials=credentials, microsoft=settings,
                   rollup_default="path" not in spec and "google" not in spec and not ms_rollup,
                   cycle_rollups=cycle_rollups)

    def rollup_for(self, cycle: str | None, several: bool) -> tuple[RollupTarget | None, str | None]:
        """The rollup of one cycle and where it is: `okr-rollup.xlsx` while the workspace holds one cycle,
        `okr-rollup-<cycle>.xlsx` once it holds several; a named path wins (`{cycle}` in it is filled in);
        a per-cycle Google table gives each cycle its own spreadsheet (None for a cycle it does not list)."""
        if self.cycle_rollups:
            found = self.cycle_rollups.get(cycle or "")
            return found, (getattr(found, "spreadsheet", None) if found is not None else None)
        location = self.rollup_location
        if location is None or getattr(self.rollup, "path", None) is None:
            return self.rollup, location  # a Google or Microsoft 365 rollup, or none
        path = Path(location)
        if "{cycle}" in path.name:
            path = path.with_name(path.name.replace("{cycle}", cycle or "all"))
        elif self.rollup_default and several and cycle:
            path = path.with_name(CYCLE_ROLLUP_NAME.format(cycle=cycle))
        else:
            return self.rollup, location
        return _xlsx_rollup(path), str(path)

    def local_folders(self) -> list[Path]:
        """The real paths of the local unit folders (a lone workbook's folder), in source order."""
        folders: list[Path] = []
        for backend in self.backends:
            root = getattr(backend, "root", None)
            if root is not None:
                real = Path(os.path.realpath(root))
                if real not in folders:
                    folders.append(real)
        return folders

    @property
    def state_home(self) -> Path:
        """Where the run log and the lock live: the real path of the first local unit folder, so one folder
        synced through a config or directly keeps one log; a workspace of only remote sources uses its home."""
        folders = self.local_folders()
        return folders[0] if folders else Path(os.path.realpath(self.home))

    @property
    def lock_homes(self) -> list[Path]:
        """Every folder whose lock a writing operation takes: each local unit folder, else the home."""
        return self.local_folders() or [self.state_home]

    def people(self, units: list[Unit] | None = None) -> People | None:
        """The people list: `people = "people.xlsx"` in okr-sync.toml, else the company workbook's People sheet."""
        from .core.people import people_sheet, read_people

        name = self.config.get("people")
        if not name:
            return people_sheet(units or [])
        path = Path(str(name)).expanduser()
        path = path if path.is_absolute() else self.home / path
        try:
            import python_calamine

            book = python_calamine.CalamineWorkbook.from_path(str(path))
            names = list(book.sheet_names)
            from .core import schema

            sheet = schema.match_sheet(names, schema.SHEET_PEOPLE) or names[0]
            grid = book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        except Exception as exc:  # noqa: BLE001 - calamine raises many kinds; one clear line
            raise ConfigError(f"{self.config_path}: people = {name!r}: {path} cannot be read "
                              f"({type(exc).__name__}: {exc}). Fix the path or the workbook.") from None
        cells: Grid = [[None if v == "" else v if isinstance(v, str | int | float | dt.date) else str(v) for v in row]
                       for row in grid]
        return read_people(cells, f"{path.name} › {sheet}")

    def source_reader(self) -> SourceReader:
        """The reader for KR Source cells: unit folders, the workspace's spreadsheets and SharePoint/OneDrive
        folders, and allow_sources only (one rule, sources.OUTSIDE_RULE)."""
        roots = self.local_folders()
        google: list[str] = []
        for b in self.backends:
            google += list(getattr(b, "listed", None) or [])
            google += [k for s in getattr(b, "spreadsheets", []) if (k := google_key(str(s)))]
        allow = self.config.get("allow_sources", [])
        if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
            where = self.config_path or "okr-sync.toml"
            raise ConfigError(f'{where}: allow_sources must be a list of paths or links, e.g. ["data/sales.xlsx"].')
        sharepoint = [str(s.get("sharepoint") or s.get("onedrive")) for s in self.config.get("sources", [])
                      if isinstance(s, dict) and (s.get("sharepoint") or s.get("onedrive"))]
        return SourceReader(self.home, self.credentials, self.microsoft, sharepoint, roots=roots, allow=allow,
                            google_units=google, allow_base=self.home)


def _apply_limits(path: Path, config: dict[str, Any]) -> None:
    """[limits] max_part_mb: the largest workbook part (unpacked) or file the service reads."""
    limits = config.get("limits", {})
    mb = limits.get("max_part_mb") if isinstance(limits, dict) else None
    if mb is None:
        return
    if isinstance(mb, bool) or not isinstance(mb, int | float) or mb < 1:
        raise ConfigError(f"{path}: [limits] max_part_mb must be a number of megabytes (1 or more), e.g. 200.")
    from .backends import xlsx_parts

    xlsx_parts.configured_mb = float(mb)


def _xlsx_backend(path: Path) -> Backend:
    from .backends.xlsx import XlsxBackend

    return XlsxBackend(path)


def _xlsx_rollup(path: Path) -> RollupTarget:
    from .backends.xlsx_rollup import XlsxRollupTarget

    return XlsxRollupTarget(path)
