"""A large generated workspace for benchmarks/scale.py: real workbooks, cloned under new unit codes."""

from __future__ import annotations

import re
import shutil
import sys
import zipfile
from pathlib import Path

# Writing a workbook with openpyxl takes ~0.1 s; 10,000 of them would take longer than the runs they feed.
# So BASE units are generated for real and the rest are copies whose unit codes (and the codes their
# key results depend on) are rewritten in the sheet XML: the same shape, distinct units.
BASE = 200
_CODE = re.compile(rb"\bD(\d{3,5})\b")


def _clone(source: Path, target: Path, offset: int) -> None:
    def renumber(match: re.Match[bytes]) -> bytes:
        return b"D%05d" % (int(match.group(1)) + offset)

    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            data = old.read(info)
            if info.filename.startswith("xl/worksheets/"):
                data = _CODE.sub(renumber, data)
            new.writestr(info, data)


def make_workspace(folder: Path, units: int, base_folder: Path | None = None) -> None:
    """`units` department workbooks and the company in `folder` (reused when it already holds them)."""
    if folder.exists() and len(list(folder.glob("d*.xlsx"))) == units:
        return
    shutil.rmtree(folder, ignore_errors=True)
    base = base_folder or folder.with_name(f"base-{BASE}")
    if not (base.exists() and len(list(base.glob("d*.xlsx"))) == BASE):
        shutil.rmtree(base, ignore_errors=True)
        # Imported here: it brings pandas and openpyxl, whose memory every later child would inherit as its
        # starting peak (Linux carries a process's peak resident size across fork and exec).
        sys.path.insert(0, str(Path(__file__).parent))
        from rollup_vs_pandas import generate

        generate(base, BASE)
    folder.mkdir(parents=True)
    shutil.copy2(base / "co.xlsx", folder / "co.xlsx")
    for index in range(units):
        copy, number = divmod(index, BASE)
        source = base / f"d{number + 1:03d}.xlsx"
        if copy == 0:
            shutil.copy2(source, folder / source.name)
        else:
            _clone(source, folder / f"d{copy:02d}-{number + 1:03d}.xlsx", copy * BASE)


if __name__ == "__main__":
    make_workspace(Path(sys.argv[1]), int(sys.argv[2]))
