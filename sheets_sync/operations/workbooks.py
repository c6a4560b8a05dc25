"""Finding the backend that holds a workbook the run log names (undo and the settling of interrupted runs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import OkrSyncError

if TYPE_CHECKING:
    from ..workspace import Workspace


def backend_for(workspace: Workspace, locator: str, cache: dict[int, list[str]]) -> Any:
    """The backend that holds a unit's workbook, or None."""
    backends = list(workspace.backends)
    if len(backends) == 1:
        return backends[0]
    for i, backend in enumerate(backends):
        if i not in cache:
            try:
                cache[i] = list(backend.list_units())
            except OkrSyncError:
                cache[i] = []
        if locator in cache[i]:
            return backend
    return None
