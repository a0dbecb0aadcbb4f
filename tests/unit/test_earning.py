"""Earning and clawback arithmetic: whole points, rounded down once, pro rata on cumulative amounts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.domain import rules
from chalicelib.domain.earning import Line, clawback_points, floor_points, purchase_points, weighted_spend
from chalicelib.domain.errors import InvalidRequest

from ._support import PROGRAM, at, new_member, purchase

D = Decimal


@pytest.mark.parametrize(
    ("tier", "amount", "expected"),
    [
        ("member", "99.99", 99),
        ("member", "0.99", 0),
        ("member", "1.00", 1),
        ("member", "100", 100),
        ("silver", "100", 120),
        ("silver", "99.99", 119),  # 119.988 -> 119
        ("gold", "10.01", 15),  # 15.015 -> 15
        ("gold", "0.67", 1),  # 1.005 -> 1
        ("platinum", "0.50", 1),
        ("platinum", "12.34", 24),  # 24.68 -> 24
    ],
)
def test_points_are_spend_times_tier_multiplier_rounded_down(tier: str, amount: str, expected: int) -> None:
    assert purchase_points(PROGRAM, tier, D(amount)) == expected


def test_rounding_happens_once_per_purchase_not_per_line() -> None:
    # Three 0.50 lines at 1x: per line each would floor to 0; once per purchase the 1.50 earns 1.
    lines = [Line("household", D("0.50")), Line("household", D("0.50")), Line(None, D("0.50"))]

    assert purchase_points(PROGRAM, "member", D("1.50"), lines) == 1
    # Silver: 1.50 x 1.2 = 1.8 -> 1 (not 0 + 0 + 0).
    assert purchase_points(PROGRAM, "silver", D("1.50"), lines) == 1
    # Gold: 1.50 x 1.5 = 2.25 -> 2.
    assert purchase_points(PROGRAM, "gold", D("1.50"), lines) == 2


def test_category_multiplier_applies_to_its_line_and_the_rest_counts_once() -> None:
    # 10.50 of fresh (2x) in a 30.00 basket: 21.00 + 19.50 = 40.50 -> 40.
    lines = [Line("fresh", D("10.50"))]

    assert weighted_spend(PROGRAM, D("30.00"), lines) == D("40.50")
    assert purchase_points(PROGRAM, "member", D("30.00"), lines) == 40
    # Silver: 40.50 x 1.2 = 48.6 -> 48.
    assert purchase_points(PROGRAM, "silver", D("30.00"), lines) == 48


def test_unknown_and_missing_categories_count_once() -> None:
    lines = [Line("electronics", D("40")), Line(None, D("10"))]

    assert weighted_spend(PROGRAM, D("60"), lines) == D("60")
    assert purchase_points(PROGRAM, "member", D("60"), lines) == 60


def test_all_fresh_basket_doubles() -> None:
    assert purchase_points(PROGRAM, "platinum", D("10.50"), [Line("fresh", D("10.50"))]) == 42


def test_floor_points_is_a_floor() -> None:
    assert floor_points(D("119.999")) == 119
    assert floor_points(D("120")) == 120
    assert floor_points(D("-0.5")) == -1


def test_lines_summing_over_the_amount_are_refused_by_record_purchase() -> None:
    now = at(2026, 3, 14)
    member = new_member(now)
    lines = (Line("fresh", D("60.00")), Line("household", D("40.01")))

    with pytest.raises(InvalidRequest) as caught:
        rules.record_purchase(PROGRAM, member, purchase("o-1", "100.00", now, lines), now)

    assert caught.value.code == "invalid_request"
    assert caught.value.details[0]["field"] == "lines"
    assert "100.01" in caught.value.details[0]["message"]


def test_lines_summing_exactly_to_the_amount_are_accepted() -> None:
    now = at(2026, 3, 14)
    member = new_member(now)
    lines = (Line("fresh", D("60.00")), Line("household", D("40.00")))

    change, _ = rules.record_purchase(PROGRAM, member, purchase("o-1", "100.00", now, lines), now)

    assert change.entries[0].points == 160


# --- clawback --------------------------------------------------------------------------------------


def test_full_return_takes_back_exactly_the_points() -> None:
    assert clawback_points(119, D("99.99"), D("0"), D("99.99")) == 119


def test_half_return_takes_back_half_rounded_down() -> None:
    assert clawback_points(120, D("100"), D("0"), D("50")) == 60
    assert clawback_points(10, D("3.00"), D("0"), D("1.00")) == 3  # 3.33.. -> 3


def test_partial_returns_add_up_to_exactly_the_earned_points() -> None:
    earned, amount = 10, D("3.00")
    parts = [D("1.00"), D("1.00"), D("1.00")]

    taken, returned = [], D(0)
    for part in parts:
        taken.append(clawback_points(earned, amount, returned, part))
        returned += part

    assert taken == [3, 3, 4]  # floor(3.33), floor(6.66) - 3, 10 - 6
    assert sum(taken) == earned


def test_many_small_returns_never_exceed_the_earned_points() -> None:
    earned, amount = 7, D("10.00")
    returned, total = D(0), 0
    for _ in range(9):
        total += clawback_points(earned, amount, returned, D("1.00"))
        returned += D("1.00")
        assert total <= earned

    assert total == 6  # floor(7 x 9/10)
    assert total + clawback_points(earned, amount, returned, D("1.00")) == earned


def test_return_of_a_purchase_that_earned_nothing_takes_nothing() -> None:
    assert clawback_points(0, D("0.99"), D("0"), D("0.99")) == 0
    assert clawback_points(10, D("0"), D("0"), D("0")) == 0
