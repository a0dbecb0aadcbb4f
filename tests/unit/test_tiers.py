"""Tier rules: rolling 12-month spend by month, thresholds, one-step review, progress numbers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from chalicelib.domain.tiers import (
    higher,
    progress,
    prune_spend,
    review_date,
    rolling_spend,
    tier_after_review,
    tier_for_spend,
)

from ._support import PROGRAM

D = Decimal


def test_rolling_spend_counts_the_current_month_and_the_eleven_before() -> None:
    spend = {
        "2025-03": D("1000"),  # 12 months before: outside
        "2025-04": D("200"),  # 11 months before: inside
        "2025-12": D("30"),
        "2026-03": D("4"),  # the current month
        "2026-04": D("0.5"),  # after today: not in the window
    }

    assert rolling_spend(spend, date(2026, 3, 31)) == D("234")
    assert rolling_spend(spend, date(2026, 3, 1)) == D("234")  # month granularity, not days
    assert rolling_spend(spend, date(2026, 4, 1)) == D("34.5")


def test_rolling_spend_of_nothing_is_zero() -> None:
    assert rolling_spend({}, date(2026, 3, 14)) == D(0)


def test_prune_spend_keeps_thirteen_months_and_drops_zeros() -> None:
    spend = {"2025-02": D("5"), "2025-03": D("6"), "2025-10": D("0"), "2026-03": D("7")}

    assert prune_spend(spend, date(2026, 3, 14)) == {"2025-03": D("6"), "2026-03": D("7")}


@pytest.mark.parametrize(
    ("spend", "tier"),
    [
        ("0", "member"),
        ("1999.99", "member"),
        ("2000", "silver"),
        ("7999.99", "silver"),
        ("8000.00", "gold"),
        ("19999.99", "gold"),
        ("20000", "platinum"),
        ("1000000", "platinum"),
    ],
)
def test_upgrade_thresholds(spend: str, tier: str) -> None:
    assert tier_for_spend(PROGRAM, D(spend)).code == tier


def test_higher_of_two_tiers() -> None:
    assert higher(PROGRAM, "silver", "gold") == "gold"
    assert higher(PROGRAM, "platinum", "member") == "platinum"
    assert higher(PROGRAM, "silver", "silver") == "silver"


@pytest.mark.parametrize(
    ("current", "spend", "after"),
    [
        ("platinum", "20000", "platinum"),
        ("platinum", "19999.99", "gold"),
        ("platinum", "0", "gold"),  # exactly one step down, however little was spent
        ("gold", "8000", "gold"),
        ("gold", "100", "silver"),
        ("silver", "1999", "member"),
        ("silver", "50000", "silver"),  # a review never upgrades
        ("member", "0", "member"),
    ],
)
def test_tier_after_review_moves_down_exactly_one_tier(current: str, spend: str, after: str) -> None:
    assert tier_after_review(PROGRAM, current, D(spend)) == after


def test_review_is_at_the_anniversary_and_never_for_the_base_tier() -> None:
    assert review_date(PROGRAM, "gold", date(2026, 3, 14)) == date(2027, 3, 14)
    assert review_date(PROGRAM, "member", date(2026, 3, 14)) is None


def test_progress_of_a_member_towards_silver() -> None:
    p = progress(PROGRAM, "member", D("500"))

    assert p.qualifying_spend == D("500")
    assert p.next_tier == "silver"
    assert p.spend_to_next_tier == D("1500")
    assert p.percent == D("25.0")
    assert p.spend_to_keep_tier == D("0")


def test_progress_percent_is_rounded_to_one_place() -> None:
    p = progress(PROGRAM, "silver", D("2345.67"))

    assert p.next_tier == "gold"
    assert p.spend_to_next_tier == D("5654.33")
    assert p.percent == D("29.3")  # 29.320875
    assert str(p.percent) == "29.3"
    assert p.spend_to_keep_tier == D("0")


def test_progress_of_a_gold_member_below_their_threshold() -> None:
    p = progress(PROGRAM, "gold", D("7000"))

    assert p.next_tier == "platinum"
    assert p.spend_to_next_tier == D("13000")
    assert p.percent == D("35.0")
    assert p.spend_to_keep_tier == D("1000")


def test_progress_is_capped_at_100_percent() -> None:
    p = progress(PROGRAM, "member", D("2500"))

    assert p.spend_to_next_tier == D("0")
    assert p.percent == D("100")


def test_platinum_has_no_next_tier() -> None:
    p = progress(PROGRAM, "platinum", D("15000"))

    assert p.next_tier is None
    assert p.spend_to_next_tier == D("0")
    assert p.percent == D("100")
    assert p.spend_to_keep_tier == D("5000")
    assert p.as_dict() == {
        "qualifying_spend": D("15000"),
        "next_tier": None,
        "spend_to_next_tier": D("0"),
        "percent": D("100"),
        "spend_to_keep_tier": D("5000"),
    }
