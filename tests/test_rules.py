"""Every rule of the validator: its code, severity, place (file › sheet › cell) and language."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from builders import HEADER_KEYS, kr, o, okrs_grid, settings_grid, unit
from conftest import run_memory

from sheets_sync.core.messages import RULES
from sheets_sync.core.model import CellError, NoCachedValue

CO = ("co.xlsx", unit("CO", "company", [o("O1", "Grow revenue"),
                                        kr("KR1.1", "Reach 10M revenue", target=10, current=5)]))


def dept(rows: list[dict[str, Any]], code: str = "MKT", **kw: Any) -> dict[str, Any]:
    return unit(code, "department", rows, parent="CO", **kw)


def good_o(id: str = "O1", **kw: Any) -> dict[str, Any]:
    return o(id, "Win the market", aligns_to="CO/O1", **kw)


def with_co(book: dict[str, Any], name: str = "mkt.xlsx") -> dict[str, Any]:
    return {CO[0]: CO[1], name: book}


def settings_without(key: str) -> dict[str, Any]:
    book = dept([good_o(), kr("KR1.1", "k", target=1, current=1)])
    book["Settings"] = [line for line in book["Settings"] if line[0] != key]
    return book


def settings_with(key: str, value: Any) -> dict[str, Any]:
    book = dept([good_o(), kr("KR1.1", "k", target=1, current=1)])
    book["Settings"] = [[k, value if k == key else v] for k, v in book["Settings"]]
    return book


def renamed(book: dict[str, Any], key: str, header: str) -> dict[str, Any]:
    """A workbook whose header cell for `key` reads `header` instead."""
    book["OKRs"][0][HEADER_KEYS.index(key)] = header
    return book


# rule → (workbooks, the workbook and cell the finding must name; None where it names a sheet only)
SCENARIOS: dict[str, tuple[dict[str, Any], str, str | None]] = {
    "settings-missing": (with_co({"OKRs": okrs_grid([good_o()])}), "mkt.xlsx", None),
    "setting-missing": (with_co(settings_without("Cycle start")), "mkt.xlsx", None),
    "setting-unreadable": (with_co(settings_with("Level", "division")), "mkt.xlsx", "B3"),
    "cycle-dates": (with_co(settings_with("Cycle end", dt.date(2026, 9, 1))), "mkt.xlsx", "B7"),
    "okrs-missing": (with_co({"Settings": settings_grid("MKT", "department", "CO")}), "mkt.xlsx", None),
    "header-missing": (with_co({"Settings": settings_grid("MKT", "department", "CO"),
                                "OKRs": [["just", "notes"], ["nothing", "here"]]}), "mkt.xlsx", None),
    "duplicate-unit": ({**with_co(dept([good_o(), kr("KR1.1", "k", target=1, current=1)])),
                        "z.xlsx": dept([good_o(), kr("KR1.1", "k", target=1, current=1)])}, "z.xlsx", "B1"),
    "missing-type": (with_co(dept([{"id": "O1", "text": "x", "aligns_to": "CO/O1"}])), "mkt.xlsx", "A2"),
    "missing-id": (with_co(dept([o(None, "x", aligns_to="CO/O1")])), "mkt.xlsx", "B2"),  # type: ignore[arg-type]
    # A row with only Type and ID is a template placeholder; text missing beside other content is an error.
    "missing-text": (with_co(dept([o("O1", None, aligns_to="CO/O1")])), "mkt.xlsx", "C2"),  # type: ignore[arg-type]
    "duplicate-id": (with_co(dept([good_o(), kr("KR1.1", "a", target=1), kr("KR1.1", "b", target=1)])),
                     "mkt.xlsx", "B3"),
    "kr-without-objective": (with_co(dept([good_o(), kr("KR2.1", "k", target=1)])), "mkt.xlsx", "B3"),
    "bad-number": (with_co(dept([good_o(), kr("KR1.1", "k", target="TBD", current=1)])), "mkt.xlsx", "K3"),
    "bad-date": (with_co(dept([good_o(), kr("KR1.1", "k", target=2, due="soon")])), "mkt.xlsx", "O3"),
    "bad-choice": (with_co(dept([good_o(), kr("KR1.1", "k", target=2, metric="vibes")])), "mkt.xlsx", "I3"),
    "unreadable-value": (with_co(dept([good_o(), kr("KR1.1", "k", target=2, current=CellError("#DIV/0!"))])),
                         "mkt.xlsx", "L3"),
    "target-equals-start": (with_co(dept([good_o(), kr("KR1.1", "k", start=3, target=3)])), "mkt.xlsx", "K3"),
    "bad-weight": (with_co(dept([good_o(weight="2x"), kr("KR1.1", "k", target=2)])), "mkt.xlsx", "H2"),
    "align-unknown": (with_co(dept([o("O1", "x", aligns_to="CO/O7"), kr("KR1.1", "k", target=2)])),
                      "mkt.xlsx", "E2"),
    "align-not-above": ({**with_co(dept([good_o(), kr("KR1.1", "k", target=2)])),
                         "ops.xlsx": dept([o("O1", "x", aligns_to="MKT/O1"), kr("KR1.1", "k", target=2)],
                                          code="OPS")}, "ops.xlsx", "E2"),
    "align-cycle": ({**with_co(dept([o("O1", "x", aligns_to="OPS/O1"), kr("KR1.1", "k", target=2)])),
                     "ops.xlsx": dept([o("O1", "y", aligns_to="MKT/KR1.1"), kr("KR1.1", "k", target=2)],
                                      code="OPS")}, "mkt.xlsx", "E2"),
    "source-unreadable": (with_co(dept([good_o(), kr("KR1.1", "k", target=2, source="nowhere.xlsx › Data › B2")])),
                          "mkt.xlsx", "M3"),
    "formula-no-value": (with_co(dept([good_o(), kr("KR1.1", "k", target=2, current=NoCachedValue("B9*2"))])),
                         "mkt.xlsx", "L3"),
    "missing-column": (with_co({"Settings": settings_grid("MKT", "department", "CO"),
                                "OKRs": okrs_grid([good_o(), kr("KR1.1", "k", target=2)],
                                                  keys=[k for k in HEADER_KEYS if k != "status"])}),
                       "mkt.xlsx", None),
    "no-objectives": (with_co(dept([{"type": "O", "id": "O1"}, {"type": "KR", "id": "KR1.1"}])), "mkt.xlsx", None),
    "too-many-objectives": (with_co(dept([r for i in range(1, 7) for r in (good_o(f"O{i}"),
                                                                             kr(f"KR{i}.1", "k", target=1))])),
                            "mkt.xlsx", "B12"),
    "too-many-krs": (with_co(dept([good_o(), *[kr(f"KR1.{i}", "k", target=1) for i in range(1, 7)]])),
                     "mkt.xlsx", "B2"),
    "objective-without-krs": (with_co(dept([good_o()])), "mkt.xlsx", "B2"),
    "kr-not-measurable": (with_co(dept([good_o(), kr("KR1.1", "Be great", current=3)])), "mkt.xlsx", "K3"),
    "milestone-over-1": (with_co(dept([good_o(), kr("KR1.1", "k", metric="milestone", current=75)])),
                         "mkt.xlsx", "L3"),
    "align-on-kr": (with_co(dept([good_o(), kr("KR1.1", "k", target=1, aligns_to="CO/O1")])), "mkt.xlsx", "E3"),
    "parent-unknown": (with_co(unit("MKT", "department", [good_o(), kr("KR1.1", "k", target=1)], parent="HQ")),
                       "mkt.xlsx", "B4"),
    "objective-unaligned": (with_co(dept([o("O1", "x"), kr("KR1.1", "k", target=1)])), "mkt.xlsx", "E2"),
    "copies-parent-kr": (with_co(dept([o("O1", "Reach 10M  revenue", aligns_to="CO/KR1.1"),
                                       kr("KR1.1", "k", target=1)])), "mkt.xlsx", "C2"),
    "confidence-range": (with_co(dept([good_o(), kr("KR1.1", "k", target=1, confidence=11)])), "mkt.xlsx", "N3"),
    "due-outside-cycle": (with_co(dept([good_o(), kr("KR1.1", "k", target=1, due="2027-02-01")])),
                          "mkt.xlsx", "O3"),
    "dependency-unknown": (with_co(dept([good_o(depends_on="ENG/KR1.1"), kr("KR1.1", "k", target=1)])),
                           "mkt.xlsx", "F2"),
    "dependency-off-track": ({**with_co(dept([good_o(), kr("KR1.1", "k", target=10, current=0,
                                                            depends_on="ENG/KR1.1")])),
                              "eng.xlsx": dept([good_o(), kr("KR1.1", "k", target=10, current=0.1)], code="ENG")},
                             "mkt.xlsx", "F3"),
    "committed-below-1": (with_co(dept([good_o(commitment="committed"), kr("KR1.1", "k", target=10, current=9)])),
                          "mkt.xlsx", "R2"),
    "aspirational-at-1": (with_co(dept([good_o(), kr("KR1.1", "k", target=10, current=10)])), "mkt.xlsx", "R2"),
    "objective-below-0.4": (with_co(dept([good_o(), kr("KR1.1", "k", target=10, current=3)])), "mkt.xlsx", "R2"),
    "owner-unknown": ({"co.xlsx": {**CO[1], "People": [["Name", "Email"], ["Ana Li", "ana@example.com"]]},
                       "mkt.xlsx": dept([good_o(owner="ana li"), kr("KR1.1", "k", target=1, owner="Zed")])},
                      "mkt.xlsx", "D3"),
    "percent-scale": (with_co(dept([good_o(), kr("KR1.1", "k", metric="percent", start="88%", target="97%",
                                                 current=93)])), "mkt.xlsx", "L3"),
    "date-in-number": (with_co(dept([good_o(), kr("KR1.1", "k", target=dt.date(2026, 1, 2), current=1)])),
                       "mkt.xlsx", "K3"),
    "progress-over-2": (with_co(dept([good_o(), kr("KR1.1", "k", target=1.5, current=750)])), "mkt.xlsx", "L3"),
    "unit-scale": (with_co(dept([good_o(), kr("KR1.1", "k", metric="currency", target="20万", current=18)])),
                   "mkt.xlsx", "L3"),
    "unknown-header": (with_co(renamed(dept([good_o(), kr("KR1.1", "k", target=2, current=1, confidence=7)]),
                                       "confidence", "Confidance")), "mkt.xlsx", "N1"),
    "missing-input-column": (with_co(renamed(dept([good_o(), kr("KR1.1", "k", target=120, current=60)]),
                                             "target", "Target value")), "mkt.xlsx", "K1"),
    "confidence-unreadable": (with_co(dept([good_o(), kr("KR1.1", "k", target=2, current=1, confidence="high")])),
                              "mkt.xlsx", "N3"),
    "unscored-krs": (with_co(dept([good_o(), kr("KR1.1", "k", target=1, current=1), kr("KR1.2", "k")])),
                     "mkt.xlsx", "B2"),
    # Progress of KR1.1 (Q3) lies in an array formula anchored at Q3 (the xlsx backend finds these).
    "array-formula": (with_co(dept([good_o(), kr("KR1.1", "k", target=10, current=3)])), "mkt.xlsx", "Q3"),
    "history-full": ({**with_co(dept([good_o(), kr("KR1.1", "k", target=10, current=3)]))}, "mkt.xlsx", None),
    # Cycles: the same company's previous quarter sits beside this one.
    "align-other-cycle": ({**with_co(dept([o("O1", "x", aligns_to="CO/O5"), kr("KR1.1", "k", target=2)])),
                           "co-2026-Q3.xlsx": unit("CO", "company", [o("O5", "Old"), kr("KR5.1", "k", target=1)],
                                                   cycle="2026-Q3", start=dt.date(2026, 7, 1),
                                                   end=dt.date(2026, 9, 30))}, "mkt.xlsx", "E2"),
    "dependency-other-cycle": ({**with_co(dept([good_o(depends_on="ENG/KR1.1"), kr("KR1.1", "k", target=1)])),
                                "eng-2026-Q3.xlsx": dept([good_o(), kr("KR1.1", "k", target=1)], code="ENG",
                                                         cycle="2026-Q3", start=dt.date(2026, 7, 1),
                                                         end=dt.date(2026, 9, 30))}, "mkt.xlsx", "F2"),
    "cycle-dates-differ": (with_co(settings_with("Cycle start", dt.date(2026, 10, 5))), "mkt.xlsx", "B6"),
}
SCENARIOS["history-full"][0]["mkt.xlsx"]["History"] = [["Time", "ID"]] + [[]] * (1_048_576 - 1)
PROTECTED = {"array-formula": {"mkt.xlsx": {"OKRs": {(3, 17): "Q3", (4, 17): "Q3"}}}}
END_OF_CYCLE = {"committed-below-1", "aspirational-at-1", "objective-below-0.4"}


def test_every_rule_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(RULES)


@pytest.mark.parametrize("rule", sorted(SCENARIOS))
def test_rule_is_reported_with_its_place(rule: str) -> None:
    books, book, cell = SCENARIOS[rule]
    as_of = dt.date(2026, 12, 31) if rule in END_OF_CYCLE else dt.date(2026, 11, 15)
    report, _ = run_memory(books, as_of=as_of, write_rollup=False, protected=PROTECTED.get(rule))
    hits = [f for f in report.findings if f.rule == rule]
    assert hits, f"{rule} not reported; got {[str(f) for f in report.findings]}"
    hit = hits[0]
    assert hit.severity == RULES[rule].severity
    assert hit.place.source == book
    assert hit.place.cell == cell or (cell is None and hit.place.col is None), str(hit.place)
    assert str(hit.place).startswith(book + " › ")
    assert hit.message and "{" not in hit.message


def test_owners_match_the_people_list_by_name_or_email_and_unknown_ones_are_warned_in_check() -> None:
    people = [["Name", "Email", "Language"], ["Ana  Li", "ana@example.com", "zh"], ["Bo", "bo@example.com", ""]]
    books = {"co.xlsx": {**CO[1], "人员": people},
             "mkt.xlsx": dept([good_o(owner="ANA LI"), kr("KR1.1", "k", target=1, current=1, owner="bo@example.com"),
                               kr("KR1.2", "k", target=1, current=1, owner="stranger@example.com"),
                               kr("KR1.3", "k", target=1, current=1, owner="Zed")])}
    report, backend = run_memory(books)
    unknown = [f for f in report.findings if f.rule == "owner-unknown"]
    assert [f.place.cell for f in unknown] == ["D5"]  # an email nobody listed still reaches someone
    grid = backend.workbooks["mkt.xlsx"]["OKRs"]
    assert "Owner 'Zed' is not on the people list (co.xlsx › 人员)" in grid[4][grid[0].index("Check")]


def test_errors_leave_the_row_unscored_and_say_so_in_check() -> None:
    books, _, _ = SCENARIOS["bad-number"]
    _, backend = run_memory(books)
    grid = backend.workbooks["mkt.xlsx"]["OKRs"]
    header = grid[0]
    line = grid[2]
    assert line[header.index("Score")] is None
    assert line[header.index("Check")].startswith("✖ K3: Target 'TBD' is not a number")


def test_an_id_used_twice_is_reported_on_every_row() -> None:
    books, _, _ = SCENARIOS["duplicate-id"]
    report, _ = run_memory(books)
    assert sorted(f.place.cell for f in report.findings if f.rule == "duplicate-id") == ["B3", "B4"]


def test_messages_follow_the_workbooks_language() -> None:
    books = with_co(unit("MKT", "department", [o("O1", "赢得市场", aligns_to="CO/O1"),
                                                kr("KR1.1", "线索", target="待定")], parent="CO", lang="zh"))
    report, backend = run_memory(books)
    finding = next(f for f in report.findings if f.rule == "bad-number")
    assert finding.message.startswith("目标值“待定”不是数字")
    grid = backend.workbooks["mkt.xlsx"]["OKRs"]
    assert grid[2][grid[0].index("校验")].startswith("✖ K3: 目标值")


def test_a_clean_company_has_no_findings() -> None:
    books = with_co(dept([good_o(), kr("KR1.1", "k", target=10, current=5),
                          kr("KR1.2", "k2", metric="yes-no", current="yes")]))
    report, _ = run_memory(books)
    assert [str(f) for f in report.findings] == []
    assert report.exit_code == 0


def test_warnings_do_not_unscore_a_row() -> None:
    books, _, _ = SCENARIOS["confidence-range"]
    books["mkt.xlsx"]["OKRs"][2][HEADER_KEYS.index("current")] = 1
    _, backend = run_memory(books)
    grid = backend.workbooks["mkt.xlsx"]["OKRs"]
    assert grid[2][grid[0].index("Score")] == 1.0
