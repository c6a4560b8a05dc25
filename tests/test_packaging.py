"""The wheel installs one top-level import name, with the server's and the add-in's files inside it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_installs_one_top_level_name(tmp_path: Path) -> None:
    # From a clean copy: a build/ folder left in the working tree would lend the wheel files it should lack.
    clean = tmp_path / "src"
    shutil.copytree(ROOT, clean, ignore=shutil.ignore_patterns(
        "build", "dist", ".git", ".venv", "*.egg-info", "__pycache__", ".okr-sync", "node_modules"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(clean)],
        check=True, capture_output=True,
    )
    wheel = next(tmp_path.glob("okr_sync-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top_level = next(n for n in names if n.endswith("top_level.txt"))
        assert archive.read(top_level).decode().split() == ["sheets_sync"]
    roots = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert roots == {"sheets_sync"}
    for shipped in ("sheets_sync/server/templates/dashboard.html", "sheets_sync/excel_addin/manifest.xml",
                    "sheets_sync/excel_addin/taskpane/taskpane.html", "sheets_sync/server/api.py"):
        assert shipped in names, shipped
    # Every module of the source tree is in the wheel (a subpackage missing from pyproject's list is not).
    source = {f"sheets_sync/{p.relative_to(ROOT / 'sheets_sync').as_posix()}"
              for p in (ROOT / "sheets_sync").rglob("*.py")}
    source |= {f"sheets_sync/server/{p.relative_to(ROOT / 'server').as_posix()}"
               for p in (ROOT / "server").rglob("*.py")}
    missing = sorted(source - set(names))
    assert missing == []
