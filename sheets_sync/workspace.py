"""A workspace: where the units are (folders, workbooks, Google spreadsheets) and where the rollup goes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .backends.base import Backend, RollupTarget


@dataclass
class Workspace:
    """The sources a sync reads and the rollup it writes."""

    backends: list[Backend]
    rollup: RollupTarget | None = None
    # Folder that holds .okr-sync/state.db: beside the config file, or the synced folder.
    home: Path = field(default_factory=Path.cwd)
    config_path: Path | None = None

    @classmethod
    def from_path(cls, path: str | Path, rollup: str | Path | None = None) -> Workspace:
        """A folder of workbooks, one workbook, or an okr-sync.toml config."""
        raise NotImplementedError
