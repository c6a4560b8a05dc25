"""Issue 11's rules: coverage, scale sanity, unknown headers, Confidence and Weight, keep-level KRs, History."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from builders import HEADER_KEYS, kr, o, unit
from conftest import run_memory

from sheets_sync.core.model import CellError, Coverage

NOV_29 = dt.date(2026, 11, 29)


def cell(backend: Any, book: str, row: int, key: str, lang: str = "en") -> Any:
    """The value of a column (by key) of a sheet row after the sync."""
    from sheets_sync.core.schema import COLUMNS_BY_KEY

    grid = backend.workbooks[book]["OKRs"]
    return grid[row - 1][grid[0].index(COLUMNS_BY_KEY[key].header(lang))]  # type: ignore[arg-type]


def ops(kr31: Any, lang: str = "en", kr32: Any = 5) -> dict[str, Any]:
    """The OPS unit of the issue: three objectives; KR3.1's Current is what the case varies."""
    return unit("OPS", "company", [
        o("O1", "Run smoothly"), kr("KR1.1", "a", target=10, current=8), kr("KR1.2", "b", target=10, current=6),
        o("O2", "Cut cost"), kr("KR2.1", "c", target=100, current=75),
        o("O3", "Scale support"), kr("KR3.1", "d", target=100, current=kr31), kr("KR3.2", "e", target=10, current=kr32),
    ], lang=lang)


# --- Coverage -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_missing_or_unreadable_current_never_raises_the_score(lang: str) -> None:
    # O1 0.70, O2 0.75; O3 = (KR3.1 + 0.50) / 2. Measured at 40 it is 0.45 → unit 0.63.
    scores = {}
    for case, current in (("measured", 40), ("blank", None), ("tbc", "TBC"), ("error", CellError("#N/A"))):
        report, backend = run_memory({"ops.xlsx": ops(current, lang)})
        scores[case] = report.units[0].score
        if case != "measured":
            assert cell(backend, "ops.xlsx", 8, "score", lang) is None  # KR3.1 keeps a blank Score
            assert cell(backend, "ops.xlsx", 8, "status", lang) == ("无数据" if lang == "zh" else "no data")
            assert cell(backend, "ops.xlsx", 7, "score", lang) == 0.25  # counted as 0 in O3
            check = cell(backend, "ops.xlsx", 7, "check", lang)
            assert ("2 个关键结果中已衡量 1 个" if lang == "zh" else "1 of 2 key results measured") in check
    assert scores == {"measured": 0.63, "blank": 0.57, "tbc": 0.57, "error": 0.57}


def test_an_objective_with_nothing_measured_is_blank_no_data_and_counts_zero() -> None:
    books = {"ops.xlsx": ops(None, kr32=None)}
    report, backend = run_memory(books)
    assert cell(backend, "ops.xlsx", 7, "score") is None
    assert cell(backend, "ops.xlsx", 7, "status") == "no data"
    assert report.units[0].score == 0.48  # (0.70 + 0.75 + 0) / 3: O3 is not left out
    assert report.rollup is not None
    assert report.rollup.company_coverage == Coverage(3, 5)


def test_every_objective_check_carries_its_coverage_in_both_languages() -> None:
    for lang, text in (("en", "2 of 2 key results measured"), ("zh", "2 个关键结果中已衡量 2 个")):
        _, backend = run_memory({"ops.xlsx": ops(40, lang)})
        assert cell(backend, "ops.xlsx", 2, "check", lang) == text
        assert cell(backend, "ops.xlsx", 3, "check", lang) is None  # a clean key result stays empty


def test_an_aligns_to_error_reports_but_does_not_stop_the_objective_score() -> None:
    books = {
        "co.xlsx": unit("CO", "company", [o("O1", "Grow"), kr("KR1.1", "k", target=10, current=5)]),
        "mkt.xlsx": unit("MKT", "department", [o("O1", "Leads", aligns_to="CO/O9", depends_on="XX/O1"),
                                                kr("KR1.1", "k", target=10, current=6)], parent="CO"),
    }
    report, backend = run_memory(books)
    assert "align-unknown" in {f.rule for f in report.findings}
    assert cell(backend, "mkt.xlsx", 2, "score") == 0.6
    assert report.units[1].score == 0.6


def test_aligned_scores_count_an_objective_without_a_score_as_zero() -> None:
    books = {
        "co.xlsx": unit("CO", "company", [o("O1", "Grow"), kr("KR1.1", "k", target=10, current=5)]),
        "a.xlsx": unit("A", "department", [o("O1", "A", aligns_to="CO/O1"), kr("KR1.1", "k", target=10, current=8)],
                       parent="CO"),
        "b.xlsx": unit("B", "department", [o("O1", "B", aligns_to="CO/O1"), kr("KR1.1", "k", target=10, current="?")],
                       parent="CO"),
    }
    report, backend = run_memory(books)
    assert cell(backend, "co.xlsx", 2, "aligned_score") == 0.4  # (0.8 + 0) / 2, not 0.8
    assert report.rollup is not None
    units = {r[0]: r for r in report.rollup.sheet("Units").rows}
    headers = report.rollup.sheet("Units").headers
    assert units["B"][headers.index("Measured")] == 0 and units["B"][headers.index("Key results")] == 1
    rollup = report.rollup.sheet("Rollup")
    measured = {r[3]: r[rollup.headers.index("Measured")] for r in rollup.rows}
    assert measured["B/O1"] == "0 of 1" and measured["A/KR1.1"] == "yes" and measured["B/KR1.1"] == "no"
    assert report.rollup.total_coverage == Coverage(2, 3)


# --- Scale sanity ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "target"), [("88%", "97%"), (0.88, 0.97)])
def test_a_plain_93_among_percentages_is_an_error_not_done(start: Any, target: Any) -> None:
    rows = [o("O1", "Quality"), kr("KR1.1", "Uptime", metric="percent", start=start, target=target, current=93)]
    report, backend = run_memory({"co.xlsx": unit("CO", "company", rows)})
    hit = next(f for f in report.findings if f.rule == "percent-scale")
    assert hit.severity == "error" and hit.place.cell == "L3"
    assert hit.message.startswith("Current 93 — did you mean 93%?")
    assert cell(backend, "co.xlsx", 3, "score") is None
    assert cell(backend, "co.xlsx", 3, "status") == "no data"


def test_percent_figures_all_in_points_are_read_as_typed() -> None:
    rows = [o("O1", "Quality"), kr("KR1.1", "Uptime", metric="percent", start=88, target=97, current=93)]
    report, backend = run_memory({"co.xlsx": unit("CO", "company", rows)})
    assert cell(backend, "co.xlsx", 3, "score") == 0.56
    assert "percent-scale" not in {f.rule for f in report.findings}


def test_percent_scale_in_chinese() -> None:
    rows = [o("O1", "质量"), kr("KR1.1", "可用率", metric="百分比", start="88%", target="97%", current="93")]
    report, _ = run_memory({"co.xlsx": unit("CO", "company", rows, lang="zh")})
    hit = next(f for f in report.findings if f.rule == "percent-scale")
    assert hit.message.startswith("当前值 93 —— 是否应为 93%？")


@pytest.mark.parametrize("target", ["1.500", 1.5])
def test_target_typed_1_500_warns_progress_over_2_naming_the_figures(target: Any) -> None:
    rows = [o("O1", "Sell"), kr("KR1.1", "Units sold", target=target, current=750)]
    report, _ = run_memory({"co.xlsx": unit("CO", "company", rows)})
    hit = next(f for f in report.findings if f.rule == "progress-over-2")
    assert hit.severity == "warning" and hit.place.cell == "L3"
    assert "Progress is 50,000% (Start 0, Target 1.5" in hit.message and "Current 750" in hit.message


def test_progress_over_2_in_chinese() -> None:
    rows = [o("O1", "销售"), kr("KR1.1", "销量", target="1.500", current=750)]
    report, _ = run_memory({"co.xlsx": unit("CO", "company", rows, lang="zh")})
    hit = next(f for f in report.findings if f.rule == "progress-over-2")
    assert hit.message.startswith("进度为 50,000%（起始值 0，目标值 1.500，当前值 750）")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_current_missing_the_wan_of_its_target_warns(lang: str) -> None:
    rows = [o("O1", "Revenue"), kr("KR1.1", "Revenue", metric="currency", target="¥20万", current=18)]
    report, _ = run_memory({"co.xlsx": unit("CO", "company", rows, lang=lang)})
    hit = next(f for f in report.findings if f.rule == "unit-scale")
    assert ("是否应为 18万" if lang == "zh" else "did you mean 18万?") in hit.message


def test_a_date_in_a_number_column_is_named_as_a_date() -> None:
    rows = [o("O1", "Grow"), kr("KR1.1", "k", target=10, current=dt.datetime(2026, 1, 2))]
    report, _ = run_memory({"co.xlsx": unit("CO", "company", rows)})
    hit = next(f for f in report.findings if f.rule == "date-in-number")
    assert hit.place.cell == "L3" and "2026-01-02" in hit.message


# --- Unknown headers ------------------------------------------------------------------------------------


def with_headers(book: dict[str, Any], **renamed: str) -> dict[str, Any]:
    for key, header in renamed.items():
        book["OKRs"][0][HEADER_KEYS.index(key)] = header
    return book


def test_a_misspelled_header_is_named_on_its_cell() -> None:
    book = with_headers(unit("CO", "company", [o("O1", "x"), kr("KR1.1", "k", target=10, current=5, confidence=7)]),
                        confidence="Confidance", notes="Region")
    report, _ = run_memory({"co.xlsx": book})
    hits = [f for f in report.findings if f.rule == "unknown-header"]
    assert [(h.place.cell, h.message.split(" Rename")[0]) for h in hits] == [
        ("N1", "'Confidance' is not a column okr-sync knows — did you mean Confidence?")]


def test_a_missing_needed_column_is_an_error_naming_the_look_alike() -> None:
    book = with_headers(unit("CO", "company", [o("O1", "x"), kr("KR1.1", "k", target=120, current=60)]),
                        target="Target value", current="Curent")
    report, _ = run_memory({"co.xlsx": book})
    warned = {f.place.cell: f.message for f in report.findings if f.rule == "unknown-header"}
    assert warned["L1"].startswith("'Curent' is not a column okr-sync knows — did you mean Current?")
    errors = {f.place.cell: f.message for f in report.findings if f.rule == "missing-input-column"}
    assert errors["K1"].startswith("The OKRs sheet has no Target column, which the rows need ('Target value' in K1")
    assert "L1" in errors
    # One message on the header, not one "has no Target" per row.
    assert "kr-not-measurable" not in {f.rule for f in report.findings}


def test_a_missing_needed_column_without_look_alike_names_the_header_row() -> None:
    keys = [k for k in HEADER_KEYS if k != "target"]
    from builders import okrs_grid, settings_grid

    book = {"Settings": settings_grid("CO", "company"),
            "OKRs": okrs_grid([o("O1", "x"), kr("KR1.1", "k", current=5)], keys=keys)}
    report, _ = run_memory({"co.xlsx": book})
    hit = next(f for f in report.findings if f.rule == "missing-input-column")
    assert str(hit.place) == "co.xlsx › OKRs › 1" and "Target" in hit.message


def test_chinese_headers_close_to_known_ones_warn_in_chinese() -> None:
    book = with_headers(unit("CO", "company", [o("O1", "增长"), kr("KR1.1", "k", target=10, current=5)], lang="zh"),
                        confidence="信心指数值", notes="联系人")
    report, _ = run_memory({"co.xlsx": book})
    hits = [f for f in report.findings if f.rule == "unknown-header"]
    assert [h.message.split(" ")[0] for h in hits] == ["“信心指数值”不是"] or \
        [h.message[:30] for h in hits] == ["“信心指数值”不是 okr-sync 认识的列 —— 是否应为“信心"]


def test_a_persons_own_columns_stay_silent() -> None:
    book = with_headers(unit("CO", "company", [o("O1", "x"), kr("KR1.1", "k", target=10, current=5)]),
                        notes="Region", owner="Comments", depends_on="Quarter")
    report, _ = run_memory({"co.xlsx": book})
    assert not [f for f in report.findings if f.rule in ("unknown-header", "missing-input-column")]


# --- Confidence and Weight ------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "read"), [(7, 7.0), ("7/10", 7.0), ("70%", 7.0), ("７", 7.0)])
def test_confidence_reads_the_forms_people_type(typed: Any, read: float) -> None:
    rows = [o("O1", "x"), kr("KR1.1", "k", target=10, current=5, confidence=typed)]
    report, backend = run_memory({"co.xlsx": unit("CO", "company", rows)})
    assert not report.findings
    history = backend.workbooks["co.xlsx"]["History"]
    assert history[2][history[0].index("Confidence")] == read


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_unreadable_confidence_and_weight_warn_and_never_block_the_score(lang: str) -> None:
    rows = [o("O1", "x", weight="2x"), kr("KR1.1", "k", target=10, current=5, confidence="high", weight="heavy"),
            kr("KR1.2", "k", target=10, current=10, weight=0)]
    report, backend = run_memory({"co.xlsx": unit("CO", "company", rows, lang=lang)})
    rules = sorted((f.rule, f.severity, f.place.cell) for f in report.findings)
    assert rules == [("bad-weight", "warning", "H2"), ("bad-weight", "warning", "H3"),
                     ("bad-weight", "warning", "H4"), ("confidence-unreadable", "warning", "N3")]
    confidence = next(f for f in report.findings if f.rule == "confidence-unreadable")
    assert ("7、7/10 或 70%" if lang == "zh" else "Type 7, 7/10 or 70%.") in confidence.message
    assert "1.5万" not in confidence.message
    assert cell(backend, "co.xlsx", 3, "score", lang) == 0.5
    assert cell(backend, "co.xlsx", 2, "score", lang) == 0.75  # both weights count as 1


# --- Keep-level key results -----------------------------------------------------------------------------


def keep_level(current: Any, due: Any = None) -> dict[str, Any]:
    return {"co.xlsx": unit("CO", "company", [
        o("O1", "Stay safe"), kr("KR1.1", "Stay below 0 incidents", metric="stay below", target=0, current=current,
                                 due=due)])}


@pytest.mark.parametrize(("current", "as_of", "due", "status", "objective"), [
    (0, NOV_29, None, "on track", "on track"),      # held, but December can still break it
    (1, NOV_29, None, "off track", "off track"),    # broken
    (0, dt.date(2026, 12, 31), None, "done", "done"),  # the cycle has ended with the level held
    (0, NOV_29, dt.date(2026, 11, 20), "done", "done"),  # its own Due date has passed
    (2, dt.date(2026, 12, 31), None, "off track", "off track"),
])
def test_stay_below_is_done_only_once_its_period_has_ended(current: int, as_of: dt.date, due: Any, status: str,
                                                          objective: str) -> None:
    _, backend = run_memory(keep_level(current, due), as_of=as_of)
    assert cell(backend, "co.xlsx", 3, "status") == status
    assert cell(backend, "co.xlsx", 2, "status") == objective


def test_stay_above_in_chinese_is_on_track_while_held() -> None:
    rows = [o("O1", "满意度"), kr("KR1.1", "NPS 保持高于 40", metric="保持高于", target=40, current=45)]
    _, backend = run_memory({"co.xlsx": unit("CO", "company", rows, lang="zh")}, as_of=NOV_29)
    assert cell(backend, "co.xlsx", 3, "status", "zh") == "正常"


# --- History --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_history_has_real_dates_an_as_of_objectives_and_rounded_figures(lang: str) -> None:
    rows = [o("O1", "x"), kr("KR1.1", "k", metric="percent", start="50%", target="100%", current="82%")]
    _, backend = run_memory({"co.xlsx": unit("CO", "company", rows, lang=lang)}, as_of=NOV_29)
    history = backend.workbooks["co.xlsx"]["历史" if lang == "zh" else "History"]
    header = history[0]
    assert header[:3] == (["时间", "截至日期", "编号"] if lang == "zh" else ["Time", "As of", "ID"])
    by_id = {line[2]: dict(zip(header, line, strict=False)) for line in history[1:]}
    assert set(by_id) == {"O1", "KR1.1"}
    first = history[1]
    assert isinstance(first[0], dt.datetime) and first[1] == NOV_29
    current = "当前值" if lang == "zh" else "Current"
    score = "得分" if lang == "zh" else "Score"
    assert by_id["KR1.1"][current] == 0.82  # not 0.8200000000000001
    assert by_id["KR1.1"][score] == 0.64 and by_id["O1"][score] == 0.64
    assert by_id["O1"]["已衡量" if lang == "zh" else "Measured"] == "1/1"


def test_history_written_by_an_earlier_version_keeps_its_columns() -> None:
    old = ["Time", "ID", "Current", "Confidence", "Progress", "Score", "Status"]
    book = unit("CO", "company", [o("O1", "x"), kr("KR1.1", "k", target=10, current=6)])
    book["History"] = [old, ["2026-11-01 09:00:00", "KR1.1", 5, None, 0.5, 0.5, "on track"]]
    _, backend = run_memory({"co.xlsx": book})
    history = backend.workbooks["co.xlsx"]["History"]
    assert history[0] == old
    assert [line[1] for line in history[2:]] == ["O1", "KR1.1"]
    assert history[-1][2] == 6 and history[-1][5] == 0.6
    # A second sync with nothing new appends nothing.
    report, _ = run_memory(backend.workbooks)
    assert all(not u.changes.appends or not any(a.rows for a in u.changes.appends) for u in report.units)
