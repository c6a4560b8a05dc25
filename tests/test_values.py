"""Values as people type them: numbers, dates, choices; half-up rounding like a spreadsheet."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sheets_sync.core import schema
from sheets_sync.core.model import CellError, NoCachedValue
from sheets_sync.core.values import (
    Unreadable,
    parse_choice,
    parse_date,
    parse_number,
    parse_yes_no,
    round2,
    same_value,
    weighted_mean,
)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (1500, 1500.0), (12.5, 12.5), ("1500", 1500.0), ("1,500", 1500.0), ("1 500", 1500.0),
        ("1\u00a0500", 1500.0), ("¥20", 20.0), ("$20", 20.0), ("20元", 20.0), ("１５０", 150.0),
        ("75%", 0.75), ("７５％", 0.75), ("1.5万", 15000.0), ("2亿", 200_000_000.0), (" -3.5 ", -3.5),
        ("−4", -4.0), ("$1,234,567.89", 1234567.89), ("RMB 300", 300.0), ("1e3", 1000.0),
    ],
)
def test_numbers_are_read_as_people_type_them(typed: object, expected: float) -> None:
    assert parse_number(typed) == pytest.approx(expected)  # type: ignore[arg-type]


@pytest.mark.parametrize("typed", ["TBD", "", "1,5,0,0x", "about 20", True, None, CellError("#DIV/0!"),
                                   NoCachedValue("A1*2"), dt.date(2026, 1, 1), "12%%"])
def test_what_is_not_a_number_is_unreadable_never_zero(typed: object) -> None:
    with pytest.raises(Unreadable):
        parse_number(typed)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-10-01", dt.date(2026, 10, 1)), ("2026/10/01", dt.date(2026, 10, 1)),
        ("2026年10月1日", dt.date(2026, 10, 1)), ("2026.10.1", dt.date(2026, 10, 1)),
        (dt.datetime(2026, 10, 1, 9, 30), dt.date(2026, 10, 1)), (dt.date(2026, 12, 31), dt.date(2026, 12, 31)),
        (46296, dt.date(2026, 10, 1)),  # a spreadsheet serial number (Google, Excel JS)
        ("２０２６－１０－０１", dt.date(2026, 10, 1)), ("2026-10-01 08:00", dt.date(2026, 10, 1)),
    ],
)
def test_dates(typed: object, expected: dt.date) -> None:
    assert parse_date(typed) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("typed", ["next week", "2026-13-01", "2026-02-30", -5, "10/01", True])
def test_bad_dates(typed: object) -> None:
    with pytest.raises(Unreadable):
        parse_date(typed)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("typed", "choices", "expected"),
    [
        (" kr ", schema.TYPES, "KR"), ("o", schema.TYPES, "O"), ("目标", schema.TYPES, "O"),
        ("关键结果", schema.TYPES, "KR"), ("Yes-No", schema.METRICS, "yes-no"), ("是否", schema.METRICS, "yes-no"),
        ("STAY ABOVE", schema.METRICS, "stay above"), ("保持低于", schema.METRICS, "stay below"),
        ("Committed", schema.COMMITMENTS, "committed"), ("挑战型", schema.COMMITMENTS, "aspirational"),
        ("部门", schema.LEVELS, "department"), (" Team", schema.LEVELS, "team"),
    ],
)
def test_choices_ignore_case_spaces_and_language(typed: str, choices: dict, expected: str) -> None:
    assert parse_choice(typed, schema.choice_lookup(choices), "x") == expected


def test_unknown_choice_is_unreadable() -> None:
    with pytest.raises(Unreadable):
        parse_choice("Objective-ish", schema.choice_lookup(schema.TYPES), "type")


@pytest.mark.parametrize("typed", ["yes", "Y", "TRUE", "1", "done", "是", "完成", True, 1, " Yes "])
def test_yes_values(typed: object) -> None:
    assert parse_yes_no(typed) == 1.0  # type: ignore[arg-type]


@pytest.mark.parametrize("typed", ["no", "否", "maybe", "0", False, 0, 2, "not yet"])
def test_anything_else_typed_is_no(typed: object) -> None:
    assert parse_yes_no(typed) == 0.0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.125, 0.13), (0.135, 0.14), (0.005, 0.01), (0.004999, 0.0), (2.675, 2.68), (1 / 3, 0.33),
     (0.285, 0.29), (0.7 * 0.5, 0.35), (1.005, 1.01), (-0.125, -0.13)],
)
def test_rounding_is_half_up_like_a_spreadsheet(value: float, expected: float) -> None:
    assert round2(value) == expected


@given(st.integers(min_value=0, max_value=10_000))
def test_round2_of_exact_halves_goes_up(n: int) -> None:
    # n/1000 with a 5 in the third decimal is an exact half in decimal terms.
    value = (n * 10 + 5) / 1000
    assert round2(value) == pytest.approx((n + 1) / 100)


def test_weighted_mean_uses_weights_and_rounds() -> None:
    assert weighted_mean([(0.5, 1), (1.0, 3)]) == 0.88  # 3.5 / 4 = 0.875 → 0.88
    assert weighted_mean([]) is None


def test_same_value_treats_blank_and_number_noise_as_equal() -> None:
    assert same_value(None, "")
    assert same_value(0.7, 0.7000000000001)
    assert not same_value(0.7, "0.7")
    assert not same_value(None, 0)
    assert not same_value(True, 1)
    assert same_value(dt.date(2026, 1, 2), dt.datetime(2026, 1, 2))


def test_percentages_read_without_float_noise() -> None:
    from sheets_sync.core.values import parse_confidence, parse_number

    assert parse_number("82%") == 0.82 and repr(parse_number("82%")) == "0.82"  # not 0.8200000000000001
    assert parse_number("1,234,567,890,123") == 1234567890123.0  # large figures keep every digit
    assert [parse_confidence(v) for v in ("7", "7/10", "70%", "７／10")] == [7.0, 7.0, 7.0, 7.0]
