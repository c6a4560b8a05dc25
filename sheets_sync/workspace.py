"""A workspace: where the units are (folders, workbooks, Google spreadsheets) and where the rollup goes."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .backends.base import Backend, RollupTarget
from .errors import ConfigError
from .sources import SourceReader, google_key

DEFAULT_ROLLUP_NAME = "okr-rollup.xlsx"
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

    @classmethod
    def from_path(cls, path: str | Path, rollup: str | Path | None = None) -> Workspace:
        """A folder of workbooks, one workbook, or an okr-sync.toml config."""
        path = Path(path).expanduser()
        if path.suffix.lower() == ".toml":
            return cls.from_config(path, rollup)
        if not path.exists():
            raise ConfigError(f"{path}: no such folder or workbook. Give a folder of unit workbooks, "
                              "a .xlsx file or an okr-sync.toml.")
        if path.is_file() and path.suffix.lower() not in WORKBOOK_SUFFIXES:
            raise ConfigError(f"{path}: not an .xlsx/.xlsm workbook or an okr-sync.toml config.")
        home = path if path.is_dir() else path.parent
        target = Path(rollup) if rollup else home / DEFAULT_ROLLUP_NAME
        focus = None if path.is_dir() else frozenset({str(path.resolve())})
        return cls([_xlsx_backend(home)], _xlsx_rollup(target), home=home,
                   rollup_location=str(target), focus=focus)

    def in_focus(self, locator: str) -> bool:
        """Whether a unit is one this workspace writes back (all of them, unless workbooks were named)."""
        return self.focus is None or str(Path(locator).resolve()) in self.focus

    @classmethod
    def from_config(cls, path: Path, rollup: str | Path | None = None) -> Workspace:
        """Read okr-sync.toml: [[sources]] path/google/google_folder, [rollup] path/google, credentials."""
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
            else:
                raise ConfigError(f"{path}: [[sources]] {index} needs path, google or google_folder.")
        if sheets or folders:
            from .backends.google import GoogleBackend

            backends.append(GoogleBackend(spreadsheets=sheets, folders=folders,
                                          credentials=credentials))
        target: RollupTarget | None = None
        location: str | None = None
        spec = config.get("rollup", {})
        if rollup is not None:
            spec = {"path": str(rollup)}
        if "google" in spec:
            from .backends.google import GoogleRollupTarget

            location = str(spec["google"])
            target = GoogleRollupTarget(location, credentials=credentials)
        else:
            rollup_path = Path(str(spec.get("path", DEFAULT_ROLLUP_NAME))).expanduser()
            rollup_path = rollup_path if rollup_path.is_absolute() else home / rollup_path
            target, location = _xlsx_rollup(rollup_path), str(rollup_path)
        return cls(backends, target, home=home, config_path=path, config=config,
                   rollup_location=location, credentials=credentials)

    def source_reader(self) -> SourceReader:
        """The reader for KR Source cells: unit folders, the workspace's spreadsheets and allow_sources only."""
        roots = [Path(r) for b in self.backends if (r := getattr(b, "root", None)) is not None]
        google: list[str] = []
        for b in self.backends:
            google += list(getattr(b, "listed", None) or [])
            google += [k for s in getattr(b, "spreadsheets", []) if (k := google_key(str(s)))]
        allow = self.config.get("allow_sources", [])
        if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
            where = self.config_path or "okr-sync.toml"
            raise ConfigError(f'{where}: allow_sources must be a list of paths or links, e.g. ["data/sales.xlsx"].')
        return SourceReader(self.home, self.credentials, roots=roots, allow=allow, google_units=google,
                            allow_base=self.home)


def _apply_limits(path: Path, config: dict[str, Any]) -> None:
    """[limits] max_part_mb: the largest workbook part (unpacked) or file the service reads."""
    limits = config.get("limits", {})
    mb = limits.get("max_part_mb") if isinstance(limits, dict) else None
    if mb is None:
        return
    if isinstance(mb, bool) or not isinstance(mb, int | float) or mb < 1:
        raise ConfigError(f"{path}: [limits] max_part_mb must be a number of megabytes (1 or more), e.g. 200.")
    from .backends import xlsx_read

    xlsx_read.configured_mb = float(mb)


def _xlsx_backend(path: Path) -> Backend:
    from .backends.xlsx import XlsxBackend

    return XlsxBackend(path)


def _xlsx_rollup(path: Path) -> RollupTarget:
    from .backends.xlsx_rollup import XlsxRollupTarget

    return XlsxRollupTarget(path)
