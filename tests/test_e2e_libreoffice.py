"""End to end: the demo's synced workbooks and rollup open in LibreOffice and show the service's figures."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from conftest import soffice_convert
from python_calamine import CalamineWorkbook

from sheets_sync.cli import cli
from sheets_sync.core.schema import HEADER_LOOKUP, normalize


def scores(path: Path, sheet: str) -> list[tuple[str, float]]:
    """(ID, Score) pairs of a sheet whose header row holds ID and Score, in English or Chinese."""
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()
    keys = [[HEADER_LOOKUP.get(normalize(v)) for v in r] for r in rows]
    header_at = next(i for i, k in enumerate(keys) if "score" in k and "id" in k)
    id_col, score_col = keys[header_at].index("id"), keys[header_at].index("score")
    return [(str(line[id_col]), round(float(line[score_col]), 2))
            for line in rows[header_at + 1:] if line[id_col] and line[score_col] != ""]


def test_libreoffice_opens_every_written_workbook_with_the_same_figures(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", str(folder)])
    assert result.exit_code == 0, result.output
    books = sorted(folder.glob("*.xlsx"))
    out_dir = tmp_path / "lo"
    out_dir.mkdir()
    converted = soffice_convert(books, out_dir, "xlsx")
    for original, copy in zip(books, converted, strict=True):
        sheet = "Rollup" if original.name.startswith("okr-rollup") else "OKRs"
        theirs = scores(copy, sheet)
        assert theirs, f"LibreOffice shows no scores in {original.name}"
        assert theirs == scores(original, sheet), original.name
