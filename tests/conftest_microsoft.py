"""Fixtures for the Microsoft 365 tests: the Graph and identity stand-in on 127.0.0.1 over HTTPS."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from graph_standin import GraphStandIn, StandInServer, make_certificates

__all__ = ["MicrosoftApi", "ms_api", "ms_certificates"]


@dataclass
class MicrosoftApi:
    """What a test gets: the stand-in, its URL, and helpers to write a config and sign in."""

    standin: GraphStandIn
    url: str

    def config(self, folder: Path, sources: list[str], rollup: str | None = None, *, mode: str = "delegated",
               extra: str = "") -> Path:
        lines = [f'[microsoft]\ntenant = "{self.standin.tenant}"\nclient_id = "{self.standin.client_id}"\n'
                 f'mode = "{mode}"\n{extra}']
        lines += [f'[[sources]]\nsharepoint = "{s}"\n' for s in sources]
        lines.append(f'[rollup]\nsharepoint = "{rollup}"\n' if rollup else '[rollup]\npath = "rollup.xlsx"\n')
        path = folder / "okr-sync.toml"
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines), encoding="utf-8")
        return path

    def login(self, config: Path) -> str:
        """Sign the service account in through the real device-code flow (the stand-in approves at once)."""
        from sheets_sync.backends.microsoft_client import GraphClient, MicrosoftSettings
        from sheets_sync.workspace import Workspace

        settings = Workspace.from_path(config).microsoft
        assert isinstance(settings, MicrosoftSettings)
        return GraphClient(settings).auth.login(lambda _line: None)


@pytest.fixture(scope="session")
def ms_certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_certificates(tmp_path_factory.mktemp("ms-ca"))


@pytest.fixture
def ms_api(ms_certificates: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[MicrosoftApi]:
    """A fresh stand-in per test; the Graph and login URLs and the CA bundle point at it."""
    ca, cert, key = ms_certificates
    standin = GraphStandIn()
    with StandInServer(standin, cert, key) as server:
        monkeypatch.setenv("OKR_SYNC_GRAPH_URL", server.url)
        monkeypatch.setenv("OKR_SYNC_MS_LOGIN_URL", server.url)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
        monkeypatch.setenv("OKR_SYNC_MS_BACKOFF", "0.01")
        monkeypatch.delenv("OKR_SYNC_MS_CLIENT_SECRET", raising=False)
        monkeypatch.delenv("OKR_SYNC_MS_TOKEN_CACHE", raising=False)
        yield MicrosoftApi(standin, server.url)
