"""The standard templates: structure, language, styling, protection, drift, LibreOffice, sync."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from python_calamine import CalamineWorkbook

from sheets_sync import engine, shipped, templates
from sheets_sync.cli import cli
from sheets_sync.core import cycles, schema
from sheets_sync.errors import ConfigError
from sheets_sync.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "templates"
LEVELS = ("company", "department", "team", "individual")
LANGS = ("en", "zh")
PARENTS = {"company": None, "department": "CO", "team": "MKT", "individual": "MKT-SEO"}


# ---------------------------------------------------------------- cycles


@pytest.mark.parametrize(
    ("cycle", "start", "end"),
    [
        ("2026-Q1", dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
        ("2026-Q2", dt.date(2026, 4, 1), dt.date(2026, 6, 30)),
        ("2026-Q3", dt.date(2026, 7, 1), dt.date(2026, 9, 30)),
        ("2026-Q4", dt.date(2026, 10, 1), dt.date(2026, 12, 31)),
        ("2026-H1", dt.date(2026, 1, 1), dt.date(2026, 6, 30)),
        ("2026-H2", dt.date(2026, 7, 1), dt.date(2026, 12, 31)),
        ("2026", dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
        (" 2028-q1 ", dt.date(2028, 1, 1), dt.date(2028, 3, 31)),
        ("2024-h1", dt.date(2024, 1, 1), dt.date(2024, 6, 30)),
    ],
)
def test_cycle_dates(cycle: str, start: dt.date, end: dt.date) -> None:
    assert cycles.cycle_dates(cycle) == (start, end)


@pytest.mark.parametrize("bad", ["2026-Q5", "2026-Q0", "2026-H3", "Q4", "", "2026-13", "26-Q1"])
def test_cycle_dates_rejects_bad_input(bad: str) -> None:
    with pytest.raises(ConfigError, match="2026-Q4|H1 and H2|out of range"):
        cycles.cycle_dates(bad)


def test_current_cycle_is_the_quarter_of_today() -> None:
    assert cycles.current_cycle(dt.date(2026, 11, 23)) == "2026-Q4"
    assert cycles.current_cycle(dt.date(2027, 1, 1)) == "2027-Q1"
    assert cycles.current_cycle(dt.date(2027, 6, 30)) == "2027-Q2"
    assert cycles.normalize_cycle("2026-q4") == "2026-Q4"


# ---------------------------------------------------------------- structure


def _header_row(ws: openpyxl.worksheet.worksheet.Worksheet) -> int:
    """The standard's rule: the first row holding at least three known headers."""
    for row in ws.iter_rows(min_row=1, max_row=20):
        known = [c for c in row if c.value and schema.normalize(c.value) in schema.HEADER_LOOKUP]
        if len(known) >= 3:
            return row[0].row
    raise AssertionError("no header row")


def _columns(ws: openpyxl.worksheet.worksheet.Worksheet) -> dict[str, int]:
    hdr = _header_row(ws)
    return {
        schema.HEADER_LOOKUP[schema.normalize(c.value)]: c.column
        for c in ws[hdr]
        if c.value and schema.normalize(c.value) in schema.HEADER_LOOKUP
    }


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    folder = tmp_path_factory.mktemp("new")
    out = {}
    for level in LEVELS:
        for lang in LANGS:
            code = {"company": "CO", "department": "MKT", "team": "MKT-SEO"}.get(level, "TOM")
            out[(level, lang)] = templates.write_template(
                folder / f"{level}-{lang}.xlsx", level=level, code=code, parent=PARENTS[level],
                name=f"Unit {code}", owner="Tom Becker", lang=lang, cycle="2026-H1",
            )  # fmt: skip
    return out


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("level", LEVELS)
def test_template_reads_back_with_openpyxl(written: dict[tuple[str, str], Path], level: str, lang: str) -> None:
    wb = openpyxl.load_workbook(written[(level, lang)])
    settings_name = "设置" if lang == "zh" else "Settings"
    instructions_name = "说明" if lang == "zh" else "Instructions"
    assert wb.sheetnames == ["OKRs", instructions_name, settings_name]

    ws = wb["OKRs"]
    assert _header_row(ws) == templates.HEADER_ROW
    cols = _columns(ws)
    assert set(cols) == {c.key for c in schema.ALL_COLUMNS}
    headers = [ws.cell(templates.HEADER_ROW, cols[c.key]).value for c in schema.ALL_COLUMNS]
    assert headers == [c.header(lang) for c in schema.ALL_COLUMNS]
    # Input columns first, computed ones after.
    assert max(cols[c.key] for c in schema.INPUT_COLUMNS) < min(cols[c.key] for c in schema.COMPUTED_COLUMNS)

    first = templates.HEADER_ROW + 1
    ids = [ws.cell(r, cols["id"]).value for r in range(first, first + 12)]
    assert ids == ["O1", "KR1.1", "KR1.2", "KR1.3", "O2", "KR2.1", "KR2.2", "KR2.3",
                   "O3", "KR3.1", "KR3.2", "KR3.3"]  # fmt: skip
    types = {ws.cell(r, cols["type"]).value for r in range(first, first + 12)}
    assert types == ({"目标", "关键结果"} if lang == "zh" else {"O", "KR"})
    assert ws.cell(first + 12, cols["id"]).value is None
    # No formulas anywhere: scores come from the sync.
    for row in ws.iter_rows(min_row=first):
        for cell in row:
            assert not (isinstance(cell.value, str) and cell.value.startswith("="))

    settings = {
        schema.SETTING_LOOKUP[schema.normalize(r[0].value)]: r[1].value for r in wb[settings_name].iter_rows(max_col=2)
    }
    assert settings["unit_code"] in ("CO", "MKT", "MKT-SEO", "TOM")
    assert settings["level"] == schema.label(schema.LEVELS, level, lang)  # type: ignore[arg-type]
    assert settings["parent"] == PARENTS[level]
    assert settings["cycle"] == "2026-H1"
    assert settings["cycle_start"] == dt.datetime(2026, 1, 1)
    assert settings["cycle_end"] == dt.datetime(2026, 6, 30)
    assert settings["owner"] == "Tom Becker"
    assert settings["language"] == lang
    keys = [r[0].value for r in wb[settings_name].iter_rows(max_col=1)]
    assert keys == [s.zh if lang == "zh" else s.en for s in schema.SETTING_KEYS]

    text = "\n".join(str(c.value) for c in wb[instructions_name]["B"] if c.value)
    must = ("0.6–0.7", "承诺型", "挑战型", "对齐", "CO/KR2.1", "0.4") if lang == "zh" else (
        "0.6–0.7", "committed", "aspirational", "Aligns to", "CO/KR2.1", "below 0.4")  # fmt: skip
    for phrase in must:
        assert phrase in text, phrase
    assert len(text) > 2000


@pytest.mark.parametrize("lang", LANGS)
def test_template_reads_back_with_calamine(written: dict[tuple[str, str], Path], lang: str) -> None:
    for level in LEVELS:
        book = CalamineWorkbook.from_path(str(written[(level, lang)]))
        assert book.sheet_names[0] == "OKRs"
        rows = book.get_sheet_by_name("OKRs").to_python()
        header = rows[templates.HEADER_ROW - 1]
        assert [h for h in header if h] == [c.header(lang) for c in schema.ALL_COLUMNS]
        assert rows[templates.HEADER_ROW][1] == "O1"
        settings = book.get_sheet_by_name("设置" if lang == "zh" else "Settings").to_python()
        assert settings[8][:2] == (["语言", "zh"] if lang == "zh" else ["Language", "en"])


def _dv_for(ws: openpyxl.worksheet.worksheet.Worksheet, col: int, row: int):  # type: ignore[no-untyped-def]
    ref = f"{openpyxl.utils.get_column_letter(col)}{row}"
    found = [dv for dv in ws.data_validations.dataValidation if ref in dv.sqref]
    assert len(found) == 1, f"{ref}: {len(found)} validations"
    return found[0]


@pytest.mark.parametrize("lang", LANGS)
def test_dropdowns_hints_colours_protection(written: dict[tuple[str, str], Path], lang: str) -> None:
    wb = openpyxl.load_workbook(written[("team", lang)])
    ws = wb["OKRs"]
    cols = _columns(ws)
    row = templates.HEADER_ROW + 5
    for key, table in (("type", schema.TYPES), ("metric", schema.METRICS),
                       ("commitment", schema.COMMITMENTS)):  # fmt: skip
        dv = _dv_for(ws, cols[key], row)
        assert dv.type == "list"
        labels = dv.formula1.strip('"').split(",")
        assert labels == [schema.label(table, c, lang) for c in table]  # type: ignore[arg-type]
        # Still there on row 150: people add rows.
        assert _dv_for(ws, cols[key], templates.HEADER_ROW + 150).formula1 == dv.formula1
    for key in ("start", "target", "current", "metric", "aligns_to"):
        dv = _dv_for(ws, cols[key], row)
        assert dv.showInputMessage and dv.prompt and dv.promptTitle
        assert len(dv.prompt) <= 255 and len(dv.promptTitle) <= 32
    if lang == "zh":
        assert "目标值" in _dv_for(ws, cols["target"], row).promptTitle

    settings = wb["设置" if lang == "zh" else "Settings"]
    level_dv = _dv_for(settings, 2, 3)
    assert level_dv.formula1.strip('"').split(",") == [
        schema.label(schema.LEVELS, lv, lang)  # type: ignore[arg-type]
        for lv in schema.LEVELS
    ]

    progress_col = openpyxl.utils.get_column_letter(cols["progress"])
    assert ws.cell(row, cols["progress"]).number_format == "0%"
    rules: dict[str, list[str]] = {}
    for cf in ws.conditional_formatting:
        for rule in cf.rules:
            rules.setdefault(str(cf.sqref).split(":")[0].rstrip("0123456789"), []).extend(rule.formula)
    for key in ("progress", "score"):
        letter = openpyxl.utils.get_column_letter(cols[key])
        formulas = " ".join(rules[letter])
        assert ">=0.7" in formulas and ">=0.4" in formulas and "<0.4" in formulas
    status_rules = " ".join(rules[openpyxl.utils.get_column_letter(cols["status"])])
    for en, zh in schema.STATUSES.values():
        assert f'"{en}"' in status_rules and f'"{zh}"' in status_rules
    assert progress_col in rules

    prot = ws.protection
    assert prot.sheet and not prot.password
    # False = allowed while protected.
    assert not prot.insertRows and not prot.deleteRows and not prot.formatCells
    assert not prot.sort and not prot.autoFilter
    for c in schema.ALL_COLUMNS:
        cell = ws.cell(row, cols[c.key])
        assert cell.protection.locked is c.computed, c.key
        assert (cell.fill.fgColor.rgb == "00EDEDED") is c.computed, c.key
    assert ws.cell(templates.HEADER_ROW + 150, cols["text"]).protection.locked is False
    for c in schema.ALL_COLUMNS:
        letter = openpyxl.utils.get_column_letter(cols[c.key])
        assert ws.column_dimensions[letter].protection.locked is c.computed, c.key
    assert ws.freeze_panes == f"C{templates.HEADER_ROW + 1}"


def test_filled_rows_replace_the_skeleton(tmp_path: Path) -> None:
    rows = [
        {"type": "O", "id": "O1", "text": "Delight", "aligns_to": "CO/O1"},
        {"type": "KR", "id": "KR1.1", "text": "NPS 30 to 40", "metric": "percent",
         "start": 0.3, "target": 0.4, "current": 0.35},
    ]  # fmt: skip
    path = templates.write_template(tmp_path / "x.xlsx", level="team", code="T", okrs=rows,
                                    cycle="2026-Q4")  # fmt: skip
    ws = openpyxl.load_workbook(path)["OKRs"]
    cols = _columns(ws)
    first = templates.HEADER_ROW + 1
    assert ws.cell(first, cols["aligns_to"]).value == "CO/O1"
    assert ws.cell(first + 1, cols["current"]).value == 0.35
    assert ws.cell(first + 1, cols["current"]).number_format == "0.0%"
    assert ws.cell(first + 2, cols["id"]).value is None


def test_write_template_refuses_overwrite_and_bad_options(tmp_path: Path) -> None:
    target = tmp_path / "t.xlsx"
    templates.write_template(target, level="team", code="T")
    before = target.read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        templates.write_template(target, level="team", code="T")
    assert target.read_bytes() == before
    with pytest.raises(ConfigError, match="company, department, team or individual"):
        templates.write_template(tmp_path / "a.xlsx", level="squad", code="T")
    with pytest.raises(ConfigError, match="en or zh"):
        templates.write_template(tmp_path / "b.xlsx", level="team", code="T", lang="fr")
    with pytest.raises(ConfigError, match="2026-Q4"):
        templates.write_template(tmp_path / "c.xlsx", level="team", code="T", cycle="Q4")
    with pytest.raises(ConfigError, match=".xlsx"):
        templates.write_template(tmp_path / "d.csv", level="team", code="T")
    with pytest.raises(ConfigError, match="is a folder"):
        templates.write_template(tmp_path, level="team", code="T")
    with pytest.raises(ConfigError, match="not a folder"):
        templates.write_template(tmp_path / "nope" / "e.xlsx", level="team", code="T")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.xlsx"]  # no temp files left
    # Chinese level names are accepted, and the default cycle is the current quarter.
    wb = templates.build_template(level="团队", code="T", lang="zh")
    assert wb["设置"]["B5"].value == cycles.current_cycle()


# ---------------------------------------------------------------- shipped files


@pytest.fixture(scope="module")
def generated() -> dict[str, bytes]:
    return shipped.shipped_bytes()


def test_shipped_files_match_the_generator(generated: dict[str, bytes]) -> None:
    assert shipped.check_shipped(SHIPPED, generated) == []
    names = {p.relative_to(SHIPPED).as_posix() for p in SHIPPED.rglob("*.xlsx")}
    assert {f"{lv}-{lang}.xlsx" for lv in LEVELS for lang in LANGS} <= names
    assert {n.split("/")[0] for n in names if "/" in n} == {
        "example-company-en",
        "example-company-zh",
    }


def test_drift_is_detected(tmp_path: Path, generated: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "templates"
    shutil.copytree(SHIPPED, copy)
    wb = openpyxl.load_workbook(copy / "team-en.xlsx")
    wb["OKRs"]["C4"] = "Someone edited the shipped file"
    wb.save(copy / "team-en.xlsx")
    (copy / "company-zh.xlsx").unlink()
    (copy / "example-company-en" / "stray.xlsx").write_bytes(generated["team-en.xlsx"])
    problems = shipped.check_shipped(copy, generated)
    assert len(problems) == 3, problems
    assert "stray.xlsx: not made by the generator" in problems[0]
    assert "team-en.xlsx: differs" in problems[1] and "Someone edited" in problems[1]
    assert "company-zh.xlsx: missing" in problems[2]
    monkeypatch.setattr(shipped, "shipped_bytes", lambda: generated)
    runner = CliRunner()
    drifted = runner.invoke(cli, ["templates", "build", "--check", str(copy)])
    assert drifted.exit_code == 1 and "okr-sync templates build" in drifted.output
    assert runner.invoke(cli, ["templates", "build", "--check", str(SHIPPED)]).exit_code == 0


def test_every_validation_fits_excel_limits() -> None:
    """Excel shows a repair prompt for over-long validation titles and messages."""
    for path in sorted(SHIPPED.rglob("*.xlsx")):
        wb = openpyxl.load_workbook(path)
        for ws in wb.worksheets:
            for dv in ws.data_validations.dataValidation:
                where = f"{path.name} › {ws.title} › {dv.sqref}"
                assert len(dv.promptTitle or "") <= 32 and len(dv.errorTitle or "") <= 32, where
                assert len(dv.prompt or "") <= 255 and len(dv.error or "") <= 225, where
                assert len(dv.formula1 or "") <= 255, where


def test_generation_is_deterministic(generated: dict[str, bytes]) -> None:
    assert len(generated) == 18
    for rel, wb in shipped.shipped_workbooks().items():
        if rel in ("team-zh.xlsx", "example-company-en/sales.xlsx"):
            again = templates.workbook_bytes(wb, fixed_time=shipped.FIXED_TIME)
            assert again == generated[rel], rel
    # A user's new file gets real timestamps instead.
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    wb = templates.build_template(level="team", code="T")
    data = templates.workbook_bytes(wb)
    created = openpyxl.load_workbook(io.BytesIO(data)).properties.created
    assert created is not None and created >= before


def test_libreoffice_converts_every_shipped_file(tmp_path: Path) -> None:
    files = sorted(SHIPPED.rglob("*.xlsx"))
    # Same base names live in both example folders: copy them flat under unique names.
    flat = tmp_path / "in"
    flat.mkdir()
    for f in files:
        shutil.copy(f, flat / f.relative_to(SHIPPED).as_posix().replace("/", "__"))
    out = tmp_path / "pdf"
    env = {**os.environ, "HOME": str(tmp_path)}
    proc = subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{tmp_path}/lo-profile", "--headless",
         "--convert-to", "pdf", "--outdir", str(out), *sorted(str(p) for p in flat.iterdir())],
        capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Error" not in proc.stderr, proc.stderr
    pdfs = sorted(p.stem for p in out.glob("*.pdf"))
    assert pdfs == sorted(p.stem for p in flat.iterdir())
    for pdf in out.glob("*.pdf"):
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5000, pdf.name


# ---------------------------------------------------------------- with the engine


def _fill_skeleton(path: Path, lang: str) -> None:
    """Fill the skeleton as a person would: text, metrics, numbers (openpyxl keeps the styling)."""
    wb = openpyxl.load_workbook(path)
    ws = wb["OKRs"]
    cols = _columns(ws)
    metric_cycle = ["number", "percent", "yes-no", "milestone", "stay above", "currency",
                    "stay below", "number", "number"]  # fmt: skip
    values = {
        "number": (10, 20, 15), "percent": (0.2, 0.4, 0.3), "currency": (1000, 5000, 2000),
        "yes-no": (None, None, "yes" if lang == "en" else "是"), "milestone": (None, None, 0.5),
        "stay above": (None, 0.9, 0.95), "stay below": (None, 30, 25),
    }  # fmt: skip
    k = 0
    for r in range(templates.HEADER_ROW + 1, templates.HEADER_ROW + 13):
        row_id = ws.cell(r, cols["id"]).value
        ws.cell(r, cols["text"]).value = f"Outcome {row_id} we want"
        if row_id.startswith("KR"):
            metric = metric_cycle[k]
            k += 1
            ws.cell(r, cols["metric"]).value = schema.label(schema.METRICS, metric, lang)  # type: ignore[arg-type]
            for key, value in zip(("start", "target", "current"), values[metric], strict=True):
                ws.cell(r, cols[key]).value = value
            ws.cell(r, cols["confidence"]).value = 7
    wb.save(path)


@pytest.mark.parametrize("lang", LANGS)
def test_filled_templates_validate_and_sync(tmp_path: Path, lang: str) -> None:
    codes = {"company": ("CO", None), "department": ("MKT", "CO"), "team": ("MKT-SEO", "MKT"),
             "individual": ("TOM", "MKT-SEO")}  # fmt: skip
    paths = {}
    for level, (code, parent) in codes.items():
        paths[code] = templates.write_template(
            tmp_path / f"{code}.xlsx", level=level, code=code, parent=parent, lang=lang,
            cycle="2026-Q4")  # fmt: skip
        _fill_skeleton(paths[code], lang)

    report = engine.sync(Workspace.from_path(tmp_path), as_of=dt.date(2026, 11, 15))
    assert not report.failed_units
    assert [str(f) for f in report.findings if f.severity == "error"] == []
    assert len(report.units) == 4
    for unit in report.units:
        assert unit.written and unit.score is not None
    ws = openpyxl.load_workbook(paths["MKT-SEO"])["OKRs"]
    cols = _columns(ws)
    first = templates.HEADER_ROW + 1
    scores = [ws.cell(r, cols["score"]).value for r in range(first, first + 12)]
    assert all(isinstance(s, (int, float)) for s in scores), scores
    # KR1.1 number 10 -> 20 at 15: 0.5; KR1.3 yes-no done: 1.
    assert scores[1] == 0.5 and scores[3] == 1
    status = ws.cell(first + 3, cols["status"]).value
    assert status == schema.label(schema.STATUSES, "done", lang)  # type: ignore[arg-type]
    # The sync keeps the template's protection and dropdowns.
    assert ws.protection.sheet and len(ws.data_validations.dataValidation) >= 10
