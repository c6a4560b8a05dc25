"""The demo company and the shipped example companies: content, alignment, one mistake, a real sync."""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from pathlib import Path

import openpyxl
import pytest

from sheets_sync import engine, templates
from sheets_sync.core import schema
from sheets_sync.demo import DEMO_MISTAKE, DEMO_MISTAKE_PLACE, DEMO_MISTAKE_ZH, write_demo_company
from sheets_sync.errors import ConfigError
from sheets_sync.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
MID_CYCLE = dt.date(2026, 11, 15)
FILES = ["co.xlsx", "mkt.xlsx", "mkt-seo.xlsx", "eng.xlsx", "sales.xlsx"]


def _read_unit(path: Path) -> tuple[dict[str, object], list[dict[str, object]]]:
    """Settings by key and OKR rows by column key, as a person would read them."""
    wb = openpyxl.load_workbook(path)
    settings_ws = wb[schema.match_sheet(wb.sheetnames, schema.SHEET_SETTINGS) or ""]
    settings = {
        schema.SETTING_LOOKUP[schema.normalize(r[0].value)]: r[1].value for r in settings_ws.iter_rows(max_col=2)
    }
    ws = wb["OKRs"]
    header = [schema.HEADER_LOOKUP.get(schema.normalize(c.value or "")) for c in
              ws[templates.HEADER_ROW]]  # fmt: skip
    rows = []
    for line in ws.iter_rows(min_row=templates.HEADER_ROW + 1, values_only=True):
        row = {k: v for k, v in zip(header, line, strict=True) if k and v is not None}
        if row:
            rows.append(row)
    return settings, rows


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "company"
    paths = write_demo_company(folder)
    assert [p.name for p in paths] == FILES
    return folder


def test_units_levels_languages_and_parents(demo: Path) -> None:
    units = {name: _read_unit(demo / name) for name in FILES}
    summary = {s["unit_code"]: (s["level"], s["parent"], s["language"]) for s, _ in units.values()}
    assert summary == {
        "CO": ("company", None, "en"),
        "MKT": ("department", "CO", "en"),
        "MKT-SEO": ("team", "MKT", "en"),
        "ENG": ("department", "CO", "en"),
        "SALES": ("部门", "CO", "zh"),
    }
    settings, rows = units["sales.xlsx"]
    assert settings["unit_name"] == "销售部"
    assert all(r["type"] in ("目标", "关键结果") for r in rows)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in str(r["text"])) for r in rows)
    for s, _ in units.values():
        assert s["cycle"] == "2026-Q4" and s["cycle_start"] == dt.datetime(2026, 10, 1)


def test_alignment_dependencies_and_metric_mix(demo: Path) -> None:
    units = {name: _read_unit(demo / name) for name in FILES}
    level_of = {s["unit_code"]: schema.choice_lookup(schema.LEVELS)[schema.normalize(s["level"])]
                for s, _ in units.values()}  # fmt: skip
    ids = {f"{s['unit_code']}/{r['id']}" for s, rows in units.values() for r in rows}
    metrics: Counter[str] = Counter()
    committed = []
    dependencies = 0
    for settings, rows in units.values():
        code = settings["unit_code"]
        for row in rows:
            kind = schema.choice_lookup(schema.TYPES)[schema.normalize(row["type"])]
            if kind == "O":
                if code != "CO":
                    target = str(row["aligns_to"])
                    assert target in ids, f"{code}/{row['id']} aligns to missing {target}"
                    above = target.split("/")[0]
                    assert schema.LEVEL_RANK[level_of[above]] < schema.LEVEL_RANK[level_of[code]]
                if "commitment" in row:
                    canonical = schema.choice_lookup(schema.COMMITMENTS)[schema.normalize(row["commitment"])]
                    if canonical == "committed":
                        committed.append(f"{code}/{row['id']}")
            else:
                metrics[schema.choice_lookup(schema.METRICS)[schema.normalize(row["metric"])]] += 1
            for dep in str(row.get("depends_on") or "").split(","):
                if dep.strip():
                    dependencies += 1
                    assert dep.strip() in ids and not dep.strip().startswith(f"{code}/")
    assert set(metrics) == set(schema.METRICS)
    assert committed == ["ENG/O2"]
    assert dependencies >= 4


def test_the_mistake_is_where_the_constant_says(demo: Path) -> None:
    file, sheet, cell = DEMO_MISTAKE_PLACE
    assert openpyxl.load_workbook(demo / file)[sheet][cell].value == "TBD"
    assert DEMO_MISTAKE.startswith(f"{file} › {sheet} › {cell}:")
    assert "TBD" in DEMO_MISTAKE and "300" in DEMO_MISTAKE
    assert DEMO_MISTAKE_ZH.startswith(f"{file} › {sheet} › {cell}：") and "300" in DEMO_MISTAKE_ZH


def test_demo_refuses_to_overwrite(demo: Path, tmp_path: Path) -> None:
    before = (demo / "co.xlsx").read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        write_demo_company(demo)
    assert (demo / "co.xlsx").read_bytes() == before
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        write_demo_company(a_file)


def test_demo_syncs_with_exactly_one_error_then_none_once_fixed(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    write_demo_company(folder)
    report = engine.sync(Workspace.from_path(folder), as_of=MID_CYCLE)
    assert not report.failed_units
    errors = [f for f in report.findings if f.severity == "error"]
    assert len(errors) == 1, [str(f) for f in errors]
    assert str(errors[0].place) == " › ".join(DEMO_MISTAKE_PLACE)
    assert report.exit_code == 1
    assert 0.3 < (report.company_score or 0) < 0.8
    statuses = Counter()
    for path in folder.glob("*.xlsx"):
        if path.name in FILES:
            statuses.update(str(r.get("status")) for r in _read_unit(path)[1])
    for status in ("on track", "at risk", "off track", "done", "正常", "落后"):
        assert statuses[status] > 0, (status, statuses)

    file, sheet, cell = DEMO_MISTAKE_PLACE
    wb = openpyxl.load_workbook(folder / file)
    wb[sheet][cell] = 300
    wb.save(folder / file)
    again = engine.sync(Workspace.from_path(folder), as_of=MID_CYCLE)
    assert [str(f) for f in again.findings if f.severity == "error"] == []
    assert again.exit_code == 0


def test_demo_follows_the_cycle_it_is_given(tmp_path: Path) -> None:
    write_demo_company(tmp_path, cycle="2027-H1")
    settings, rows = _read_unit(tmp_path / "eng.xlsx")
    assert settings["cycle_start"] == dt.datetime(2027, 1, 1)
    assert settings["cycle_end"] == dt.datetime(2027, 6, 30)
    dues = [r["due"] for r in rows if "due" in r]
    assert dues and all(dt.datetime(2027, 1, 1) <= d <= dt.datetime(2027, 6, 30) for d in dues)
    report = engine.sync(Workspace.from_path(tmp_path), as_of=dt.date(2027, 3, 31))
    assert len([f for f in report.findings if f.severity == "error"]) == 1


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_shipped_example_company_syncs_clean(tmp_path: Path, lang: str) -> None:
    folder = tmp_path / "example"
    shutil.copytree(ROOT / "templates" / f"example-company-{lang}", folder)
    report = engine.sync(Workspace.from_path(folder), as_of=MID_CYCLE)
    assert len(report.units) == 5 and not report.failed_units
    assert [str(f) for f in report.findings if f.severity == "error"] == []
    assert all(u.language == lang for u in report.units)
    if lang == "zh":
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in f.message) for f in report.findings)
