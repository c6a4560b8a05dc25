"""Shared fixtures: memory workspaces, a CLI runner, LibreOffice headless."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

from builders import unit  # noqa: E402

from sheets_sync import engine  # noqa: E402
from sheets_sync.backends.memory import MemoryBackend, MemoryRollup  # noqa: E402
from sheets_sync.workspace import Workspace  # noqa: E402

MID_CYCLE = dt.date(2026, 11, 15)  # 2026-Q4: 45 of 91 days gone, expected ≈ 0.49


def run_memory(books: dict[str, dict[str, list[list[Any]]]], as_of: dt.date = MID_CYCLE,
               **kw: Any) -> tuple[engine.SyncReport, MemoryBackend]:
    """Sync in-memory workbooks; return the report and the backend holding the written grids."""
    backend = MemoryBackend(books, kw.pop("protected", None))
    report = engine.sync(Workspace([backend], MemoryRollup()), as_of, **kw)
    return report, backend


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


# Debian's Chromium, headless, with no traffic leaving the machine (it has no network but loopback).
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Real headless Chromium through Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def screenshot_target(name: str, tmp_path: Path) -> Path:
    """docs/NAME when UPDATE_SCREENSHOTS=1 (to refresh the README's pictures), else a temporary file."""
    return DOCS / name if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path / name


SERVER_TOKEN = "test-token-0123456789abcdef-0123456789"  # 32+ characters, as the server demands
AUTH = {"Authorization": f"Bearer {SERVER_TOKEN}"}


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo company, written once per test session; copy it before changing it."""
    from sheets_sync.demo import write_demo_company

    folder = tmp_path_factory.mktemp("demo-template")
    write_demo_company(folder)
    return folder


@pytest.fixture
def company(demo_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the demo company's workbooks."""
    folder = tmp_path / "okrs"
    shutil.copytree(demo_template, folder)
    return folder


@pytest.fixture
def app(company: Path) -> Any:
    """The server app on the demo company (Flask tutorial style)."""
    from sheets_sync.server import create_app

    return create_app({"WORKSPACE": str(company), "TOKENS": [SERVER_TOKEN], "TESTING": True})


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def soffice_convert(files: list[Path], out_dir: Path, fmt: str = "csv") -> list[Path]:
    """Convert workbooks with LibreOffice headless (private profile); return the converted files."""
    binary = shutil.which("soffice") or shutil.which("libreoffice")
    assert binary, "LibreOffice is required: apt-get install libreoffice-calc-nogui"
    profile = out_dir / "lo-profile"
    result = subprocess.run(
        [binary, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", fmt,
         "--outdir", str(out_dir), *map(str, files)],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr
    converted = [out_dir / f"{f.stem}.{fmt.split(':')[0]}" for f in files]
    missing = [c for c in converted if not c.exists()]
    assert not missing, f"LibreOffice did not convert {missing}: {result.stdout} {result.stderr}"
    return converted


__all__ = ["AUTH", "CHROMIUM_ARGS", "MID_CYCLE", "SERVER_TOKEN", "run_memory", "screenshot_target", "soffice_convert",
           "unit"]
