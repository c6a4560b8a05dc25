"""One acceptance suite over the three backends: the same company as .xlsx files, as Google
spreadsheets (on the emulator) and as SharePoint workbooks (on the Graph stand-in), each through
okr-sync.toml, yields the same figures. Plus quota and fault behaviour of a Google workspace."""

from __future__ import annotations

import datetime as dt
import io
import time
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from builders import HEADER_KEYS, kr, o, unit, write_xlsx
from conftest_google import *  # noqa: F403
from conftest_google import GoogleApi
from conftest_microsoft import *  # noqa: F403
from conftest_microsoft import MicrosoftApi
from google_emulator import GoogleEmulator

from sheets_sync.backends.google_client import Limits, limiter_for
from sheets_sync.core.rollup import RollupBook
from sheets_sync.engine import SyncReport, sync
from sheets_sync.workspace import Workspace

AS_OF = dt.date(2026, 11, 15)
COMPUTED = ("Progress", "Score", "Status", "Check", "Aligned score")


def company() -> dict[str, dict[str, list[list[Any]]]]:
    """A small company touching every metric, typed numbers, both languages, errors, warnings."""
    return {
        "co": unit(
            "CO",
            "company",
            [
                o("O1", "Win the market", commitment="committed"),
                kr("KR1.1", "Revenue", metric="currency", start=0, target="¥1,000", current="¥600"),
                kr("KR1.2", "NPS", metric="stay above", target=40, current=45),
                kr("KR1.3", "Launch in Japan", metric="yes-no", current="yes"),
                o("O2", "Be efficient", weight=2),
                kr("KR2.1", "Cost per order", start=30, target=20, current="25"),
                kr("KR2.2", "Incidents", metric="stay below", target=3, current=5),
                kr("KR2.3", "Migration", metric="milestone", current="60%"),
            ],
        ),
        "mkt": unit(
            "MKT",
            "department",
            [
                o("O1", "More qualified leads", aligns_to="CO/O1", depends_on="SALES/O1"),
                kr("KR1.1", "Leads", start=0, target="1.5万", current="9 000", confidence=7, due=dt.date(2026, 12, 1)),
                kr("KR1.2", "Conversion", metric="percent", start=0.02, target=0.05, current="3%"),
                kr("KR1.2", "Duplicate ID", target=5, current=1),
                kr("KR1.4", "Unreadable", target=10, current="lots"),
                {"type": "KR", "text": "A row without an ID", "target": 5, "current": 1},
            ],
            parent="CO",
        ),
        "sales": unit(
            "SALES",
            "department",
            [
                o("O1", "Close more deals", aligns_to="CO/KR1.1"),
                kr("KR1.1", "Deals", target=40, current=None),
                kr("KR1.2", "Pipeline", start=100, target=100, current=120),
                kr("KR3.1", "Orphan KR", target=1, current=1),
            ],
            parent="CO",
            lang="zh",
        ),
        "seo": unit(
            "MKT-SEO",
            "team",
            [
                o("O1", "Rank first", aligns_to="MKT/O1"),
                kr("KR1.1", "Keywords in top 3", target=20, current=12, confidence=11),
                o("O2", "Aligns nowhere"),
            ],
            parent="MKT",
        ),
    }


def xlsx_run(tmp: Path) -> tuple[SyncReport, dict[str, dict[str, dict[str, Any]]]]:
    folder = tmp / "okrs"
    folder.mkdir()
    for name, sheets in company().items():
        write_xlsx(folder / f"{name}.xlsx", sheets)
    report = sync(Workspace.from_path(folder, rollup=tmp / "rollup.xlsx"), AS_OF)
    written = {}
    for name in company():
        wb = openpyxl.load_workbook(folder / f"{name}.xlsx", data_only=True)
        written[name] = _rows([[c.value for c in row] for row in wb["OKRs"].iter_rows()])
    return report, written


def google_run(api: GoogleApi, tmp: Path) -> tuple[SyncReport, dict[str, dict[str, dict[str, Any]]], dict[str, str]]:
    emu = api.emulator
    folder = emu.add_folder("Departments")
    keys = {}
    for name, sheets in company().items():
        in_folder = name in ("mkt", "sales")
        keys[name] = emu.add_spreadsheet(name.upper() + " OKRs", sheets, folder=folder if in_folder else None)
    roll = emu.add_spreadsheet("Company rollup", {"Sheet1": []})
    config = tmp / "okr-sync.toml"
    config.write_text(
        f'credentials = "{api.key_path.name}"\n\n'
        f'[[sources]]\ngoogle = "https://docs.google.com/spreadsheets/d/{keys["co"]}/edit"\n\n'
        f'[[sources]]\ngoogle = "{keys["seo"]}"\n\n'
        f'[[sources]]\ngoogle_folder = "{folder}"\n\n'
        f'[rollup]\ngoogle = "{roll}"\n',
        encoding="utf-8",
    )
    report = sync(Workspace.from_path(config), AS_OF)
    written = {name: _rows(emu.values(key, "OKRs")) for name, key in keys.items()}
    sources = {keys[n]: f"{n.upper()} OKRs" for n in keys}
    return report, written, {v: f"{k}" for k, v in sources.items()} | {"rollup": roll}


def microsoft_run(api: MicrosoftApi, tmp: Path) -> tuple[SyncReport, dict[str, dict[str, dict[str, Any]]], str]:
    """The company in SharePoint: two departments in a folder, two workbooks named one by one."""
    standin = api.standin
    folder = standin.add_folder("OKRs/Departments")
    top = standin.add_folder("OKRs")
    urls = {}
    for name, sheets in company().items():
        write_xlsx(tmp / f"{name}.xlsx", sheets)
        urls[name] = standin.add_workbook(folder if name in ("mkt", "sales") else top, f"{name}.xlsx",
                                          (tmp / f"{name}.xlsx").read_bytes())
    rollup = standin.site + "/Shared Documents/Leadership/okr-rollup.xlsx"
    standin.add_folder("Leadership")
    config = api.config(tmp / "ws", [urls["co"], urls["seo"], folder], rollup)
    api.login(config)
    report = sync(Workspace.from_path(config), AS_OF)
    written = {}
    for name, url in urls.items():
        ws = standin.workbook(url)["OKRs"]
        written[name] = _rows([[c.value for c in row] for row in ws.iter_rows()])
    return report, written, rollup


def _rows(grid: list[list[Any]]) -> dict[str, dict[str, Any]]:
    header = [str(h) if h is not None else "" for h in grid[0]]
    out = {}
    for i, row in enumerate(grid[1:], start=2):
        if all(v is None or v == "" for v in row):
            continue  # a blank row some writers keep in the sheet's dimension
        row = list(row) + [None] * (len(header) - len(row))
        values = dict(zip(header, row, strict=False))
        out[f"{i}:{values.get('ID') or values.get('编号')}"] = {k: _plain(values.get(k)) for k in COMPUTED}
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _normalise(text: Any, names: dict[str, str]) -> Any:
    """Unit workbooks are named differently on each backend (co.xlsx vs CO OKRs)."""
    if not isinstance(text, str):
        return _plain(text)
    for old, new in names.items():
        text = text.replace(old, new)
    return text


def _rollup(book: RollupBook | None, names: dict[str, str]) -> dict[str, list[list[Any]]]:
    assert book is not None
    return {s.name: [[_normalise(v, names) for v in row] for row in s.rows] for s in book.sheets}


def test_same_company_same_figures_on_both_backends(google_api: GoogleApi, tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / google_api.key_path.name).write_bytes(google_api.key_path.read_bytes())
    x_report, x_written = xlsx_run(tmp_path / "x")
    g_report, g_written, _ = google_run(google_api, tmp_path / "g")
    assert not x_report.failed_units and not g_report.failed_units
    x_names = {f"{n}.xlsx": f"<{n}>" for n in company()}
    g_names = {f"{n.upper()} OKRs": f"<{n}>" for n in company()}

    def by_code(report: SyncReport) -> dict[str, tuple[Any, int, int]]:
        return {u.unit_code or "": (u.score, u.errors, u.warnings) for u in report.units}

    assert by_code(x_report) == by_code(g_report)
    assert len(x_report.findings) == len(g_report.findings) > 5
    assert x_report.company_score == g_report.company_score is not None
    assert x_written == g_written
    assert _rollup(x_report.rollup, x_names) == _rollup(g_report.rollup, g_names)
    # The figures are really there: a few spot checks of the written cells.
    assert g_written["co"]["3:KR1.1"]["Score"] == 0.6
    assert g_written["mkt"]["3:KR1.1"]["Progress"] == 0.6
    assert g_written["mkt"]["5:KR1.2"]["Check"]  # the duplicate ID is reported on its row
    assert g_written["mkt"]["7:None"]["Check"]  # and a missing ID on its row


def test_same_company_same_figures_on_sharepoint(ms_api: MicrosoftApi, tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "m").mkdir()
    x_report, x_written = xlsx_run(tmp_path / "x")
    m_report, m_written, rollup_url = microsoft_run(ms_api, tmp_path / "m")
    assert not m_report.failed_units and not m_report.rollup_error
    names = {f"{n}.xlsx": f"<{n}>" for n in company()}

    def by_code(report: SyncReport) -> dict[str, tuple[Any, int, int]]:
        return {u.unit_code or "": (u.score, u.errors, u.warnings) for u in report.units}

    assert by_code(x_report) == by_code(m_report)
    assert len(x_report.findings) == len(m_report.findings) > 5
    assert x_report.company_score == m_report.company_score is not None
    assert x_written == m_written
    assert _rollup(x_report.rollup, names) == _rollup(m_report.rollup, names)
    assert m_written["co"]["3:KR1.1"]["Score"] == 0.6
    assert m_written["mkt"]["5:KR1.2"]["Check"] and m_written["mkt"]["7:None"]["Check"]
    # The rollup is in SharePoint, whole, and is the report's.
    uploaded = openpyxl.load_workbook(io.BytesIO(ms_api.standin.content(rollup_url)), data_only=True)
    assert m_report.rollup is not None and m_report.rollup_written
    for sheet in m_report.rollup.sheets:
        got = [[c.value for c in row] for row in uploaded[sheet.name].iter_rows()]
        assert len(got) >= len(sheet.rows) + 1


def test_google_rollup_matches_the_report(google_api: GoogleApi, tmp_path: Path) -> None:
    (tmp_path / google_api.key_path.name).write_bytes(google_api.key_path.read_bytes())
    report, _, names = google_run(google_api, tmp_path)
    emu = google_api.emulator
    assert report.rollup_written and report.rollup is not None
    for sheet in report.rollup.sheets:
        grid = emu.values(names["rollup"], sheet.name)
        assert len(grid) == len(sheet.rows) + 1
        for got, want in zip(grid[1:], sheet.rows, strict=True):
            got = got + [None] * (len(want) - len(got))
            assert [_plain(v) for v in got] == [_plain(v) if v != "" else None for v in want]


def _hundred_units(emu: GoogleEmulator) -> list[str]:
    keys = [
        emu.add_spreadsheet(
            "CO", unit("CO", "company", [o("O1", "Grow"), kr("KR1.1", "Revenue", target=100, current=40)])
        )
    ]
    for i in range(99):
        code = f"T{i:02d}"
        keys.append(
            emu.add_spreadsheet(
                code,
                unit(
                    code,
                    "team",
                    [o("O1", "Help", aligns_to="CO/O1"), kr("KR1.1", "Work", target=10, current=i % 11)],
                    parent="CO",
                ),
            )
        )
    return keys


def test_a_hundred_units_sync_without_a_single_429(
    google_api: GoogleApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = google_api.emulator
    # A "minute" of 1 s keeps the test short; server and client share the same quota.
    emu.quota.reads, emu.quota.writes, emu.quota.window = 60, 60, 1.0
    monkeypatch.setenv("OKR_SYNC_GOOGLE_QUOTA_WINDOW", "1.0")
    # The account's read quota was just used up in this process (the limiter is per credential),
    # so the limiter has work to do however fast or loaded this machine is.
    limiter = limiter_for(google_api.email, Limits.from_env())
    for _ in range(60):
        with limiter.slot("read"):
            pass
    keys = _hundred_units(emu)
    roll = emu.add_spreadsheet("Rollup", {"Sheet1": []})
    config = tmp_path / "okr-sync.toml"
    lines = "".join(f'[[sources]]\ngoogle = "{k}"\n' for k in keys)
    config.write_text(f'{lines}[rollup]\ngoogle = "{roll}"\n', encoding="utf-8")
    started = time.monotonic()
    report = sync(Workspace.from_path(config), AS_OF)
    elapsed = time.monotonic() - started
    assert emu.rejected_429 == 0
    assert not report.failed_units and len(report.units) == 100
    assert all(u.written for u in report.units)
    reads = sum(emu.calls[m] for m in ("spreadsheets.get", "values.batchGet"))
    # Per unit: metadata, values and the look before binding (the binding's own answer is the
    # look after it); and the rollup's one read.
    assert reads == 3 * 100 + 1
    # Far more reads than one window allows: only the limiter kept Google from answering 429.
    assert elapsed >= (reads / 60 - 1) * 1.0
    assert limiter.waited > 0
    emu.reset_counts()
    report = sync(Workspace.from_path(config), AS_OF)
    assert emu.rejected_429 == 0 and emu.write_calls() == 0
    assert not report.failed_units and not report.rollup_written


def test_5xx_then_success_and_persistent_5xx_fails_one_unit(
    google_api: GoogleApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKR_SYNC_GOOGLE_BACKOFF", "0.001")
    monkeypatch.setenv("OKR_SYNC_GOOGLE_ATTEMPTS", "3")
    emu = google_api.emulator
    keys = {name: emu.add_spreadsheet(name, sheets) for name, sheets in company().items()}
    config = tmp_path / "okr-sync.toml"
    config.write_text(
        "".join(f'[[sources]]\ngoogle = "{k}"\n' for k in keys.values()) + '[rollup]\npath = "rollup.xlsx"\n',
        encoding="utf-8",
    )
    emu.fail("values.batchGet", 503, times=2, spreadsheet=keys["co"])  # flaky, then fine
    emu.fail("values.batchUpdateByDataFilter", 500, times=50, spreadsheet=keys["mkt"])  # down
    report = sync(Workspace.from_path(config), AS_OF)
    assert [u.locator for u in report.failed_units] == [keys["mkt"]]
    assert "500" in (report.failed_units[0].error or "") and "mkt" in report.failed_units[0].error
    done = {u.locator for u in report.units if u.written}
    assert done == {keys["co"], keys["sales"], keys["seo"]}
    assert report.exit_code == 2 and (tmp_path / "rollup.xlsx").exists()


# --- Issue 11: figures leadership can trust, on both backends, in English and Chinese ---------------------

NOV_29 = dt.date(2026, 11, 29)


def trust_company() -> dict[str, dict[str, list[list[Any]]]]:
    """Every rule of issue 11 once in an English and once in a Chinese workbook."""
    en = unit("OPS", "company", [
        o("O1", "Run smoothly"), kr("KR1.1", "Tickets closed", target=10, current=8),
        kr("KR1.2", "Uptime", metric="percent", start="88%", target="97%", current=93),       # percent-scale
        o("O2", "Sell more", weight="2x"),                                                      # bad-weight
        kr("KR2.1", "Units sold", target="1.500", current=750, confidence="high"),             # progress-over-2
        kr("KR2.2", "Revenue", metric="currency", target="¥20万", current=18),                  # unit-scale
        o("O3", "Scale support"), kr("KR3.1", "Agents hired", target=100, current="TBC"),       # not measured
        o("O4", "Stay safe"), kr("KR4.1", "Stay below 0 incidents", metric="stay below", target=0, current=0),
    ])
    en["OKRs"][0][HEADER_KEYS.index("owner")] = "Onwer"  # unknown-header
    zh = unit("SUP", "department", [
        o("O1", "提升满意度", aligns_to="OPS/O3"),
        kr("KR1.1", "满意度", metric="百分比", start="80%", target="95%", current="90"),          # percent-scale
        kr("KR1.2", "NPS 保持高于 40", metric="保持高于", target=40, current=45, confidence="7/10"),
        o("O2", "缩短响应", aligns_to="OPS/O1"), kr("KR2.1", "响应时间", start=30, target=10, current=None),
    ], parent="OPS", lang="zh")
    zh["OKRs"][0][HEADER_KEYS.index("due")] = "截止日"  # unknown-header in Chinese
    qa = unit("QA", "department", [o("O1", "减少缺陷", aligns_to="OPS/O3"),
                                   kr("KR1.1", "缺陷数", start=50, target=20, current=30)], parent="OPS", lang="zh")
    qa["OKRs"][0][HEADER_KEYS.index("target")] = "目标值（万元）"  # look-alike of a needed column
    return {"ops": en, "sup": zh, "qa": qa}


def _in_english(grid: list[list[Any]]) -> list[list[Any]]:
    """A Chinese OKRs grid with the standard's English headers, so rows compare by one set of names."""
    from sheets_sync.core.schema import ALL_COLUMNS

    names = {c.zh: c.en for c in ALL_COLUMNS}
    return [[names.get(h, h) for h in grid[0]], *grid[1:]]


def test_issue_11_rules_on_both_backends(google_api: GoogleApi, tmp_path: Path) -> None:
    books = trust_company()
    folder = tmp_path / "okrs"
    folder.mkdir()
    for name, sheets in books.items():
        write_xlsx(folder / f"{name}.xlsx", sheets)
    x_report = sync(Workspace.from_path(folder, rollup=tmp_path / "rollup.xlsx"), NOV_29)
    emu = google_api.emulator
    keys = {name: emu.add_spreadsheet(name.upper(), sheets) for name, sheets in books.items()}
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / google_api.key_path.name).write_bytes(google_api.key_path.read_bytes())
    config = tmp_path / "g" / "okr-sync.toml"
    config.write_text(f'credentials = "{google_api.key_path.name}"\n\n'
                      + "".join(f'[[sources]]\ngoogle = "{k}"\n\n' for k in keys.values())
                      + '[rollup]\npath = "rollup.xlsx"\n', encoding="utf-8")
    g_report = sync(Workspace.from_path(config), NOV_29)
    assert not x_report.failed_units and not g_report.failed_units

    def rules(report: SyncReport) -> dict[str, list[tuple[str, str, str | None]]]:
        return {u.unit_code or "": sorted((f.rule, f.severity, f.place.cell) for f in u.findings)
                for u in report.units}

    assert rules(x_report) == rules(g_report)
    found = rules(x_report)
    assert {("percent-scale", "error", "L4"), ("bad-weight", "warning", "H5"), ("progress-over-2", "warning", "L6"),
            ("confidence-unreadable", "warning", "N6"), ("unit-scale", "warning", "L7"),
            ("unknown-header", "warning", "D1")} <= set(found["OPS"])
    assert {("percent-scale", "error", "L3"), ("unknown-header", "warning", "O1")} <= set(found["SUP"])
    assert {("unknown-header", "warning", "K1"), ("missing-input-column", "error", "K1")} <= set(found["QA"])
    assert all(r != "kr-not-measurable" for r, _, _ in found["QA"])
    messages = {f.rule: f.message for u in x_report.units for f in u.findings if u.unit_code == "SUP"}
    assert messages["percent-scale"].startswith("当前值 90 —— 是否应为 90%？")
    assert messages["unknown-header"].startswith("“截止日”不是 okr-sync 认识的列 —— 是否应为“截止日期”？")

    x_written = {n: _rows(_in_english([[c.value for c in row] for row in openpyxl.load_workbook(
        folder / f"{n}.xlsx", data_only=True)["OKRs"].iter_rows()])) for n in books}
    g_written = {n: _rows(_in_english(emu.values(k, "OKRs"))) for n, k in keys.items()}
    assert x_written == g_written
    ops = x_written["ops"]
    assert ops["3:KR1.1"]["Score"] == 0.8
    assert ops["4:KR1.2"]["Score"] is None and ops["4:KR1.2"]["Status"] == "no data"  # 93 is not 9300%
    assert ops["2:O1"]["Score"] == 0.4  # (0.8 + 0) / 2: the unmeasured KR counts as 0
    assert ops["2:O1"]["Check"].startswith("⚠ B2: 1 of 2 key results measured; not measured: KR1.2")
    assert ops["8:O3"]["Score"] is None and ops["8:O3"]["Status"] == "no data"  # TBC: blank, not dropped
    assert ops["11:KR4.1"]["Status"] == "on track" and ops["10:O4"]["Status"] == "on track"  # not done in November
    sup = x_written["sup"]
    assert sup["3:KR1.1"]["Score"] is None and sup["4:KR1.2"]["Status"] == "正常"  # held in November: not 完成
    assert sup["5:O2"]["Score"] is None and sup["5:O2"]["Status"] == "无数据"
    assert x_written["qa"]["2:O1"]["Score"] is None  # no Target column: nothing measured
    # OPS/O3's aligned score: SUP/O1 0.50 (its KR1.1 counts 0) and QA/O1, without a score, counting 0.
    assert ops["8:O3"]["Aligned score"] == 0.25
    assert ops["2:O1"]["Aligned score"] is None  # only SUP/O2 aligns here, and it has no score
    assert x_report.company_score == g_report.company_score == x_report.units[0].score
    assert x_report.rollup is not None and x_report.rollup.company_coverage is not None
    assert x_report.rollup.company_coverage.as_dict() == {"measured": 4, "total": 6}
    # (O1 0.40 + O2 0.50 [1.0 and 0.00, Weight "2x" counting 1] + O3 0 [nothing measured] + O4 1.00) / 4
    assert x_report.company_score == 0.48

    # History: real date-times and as-of dates, objectives too, on both backends.
    x_hist = openpyxl.load_workbook(folder / "ops.xlsx")["History"]
    header = [c.value for c in x_hist[1]]
    assert header == ["Time", "As of", "ID", "Current", "Confidence", "Progress", "Score", "Status", "Measured",
                      "By", "Comment"]
    first = [c.value for c in x_hist[2]]
    assert isinstance(first[0], dt.datetime) and isinstance(first[1], dt.datetime) and first[1].date() == NOV_29
    assert {c.value for c in x_hist["C"][1:]} >= {"O1", "KR1.1", "O4"}
    g_hist = emu.values(keys["sup"], "历史")
    assert g_hist[0][:3] == ["时间", "截至日期", "编号"]
    sheet = emu.book(keys["sup"]).sheet_by_title("历史")
    assert sheet is not None
    assert sheet.cells[(1, 0)].fmt["numberFormat"]["type"] == "DATE_TIME"
    assert isinstance(g_hist[1][0], float) and int(g_hist[1][1]) == (NOV_29 - dt.date(1899, 12, 30)).days
