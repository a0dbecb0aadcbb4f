"""Tier rules: rolling 12-month qualifying spend, immediate upgrades, one-step review downgrades."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from chalicelib.domain.calendar import add_months, add_years, month_key
from chalicelib.program import Program, Tier

ROLLING_MONTHS = 12


def rolling_spend(spend_by_month: dict[str, Decimal], today: date) -> Decimal:
    """Qualifying spend of the current month and the 11 before it (month granularity)."""
    window = _rolling_window(month_key(today))
    return sum((amount for month, amount in spend_by_month.items() if month in window), Decimal(0))


@cache  # every purchase, return and review asks; a replay of history asks for every write
def _rolling_window(current: str) -> frozenset[str]:
    return frozenset(add_months(current, -offset) for offset in range(ROLLING_MONTHS))


def prune_spend(spend_by_month: dict[str, Decimal], today: date) -> dict[str, Decimal]:
    """Keep only the months that can still count (a small map on the profile)."""
    oldest = add_months(month_key(today), -ROLLING_MONTHS)
    return {month: amount for month, amount in spend_by_month.items() if month >= oldest and amount != 0}


def tier_for_spend(program: Program, spend: Decimal) -> Tier:
    """The highest tier the spend reaches (the base tier for no or negative spend)."""
    eligible = [tier for tier in program.tiers if tier.threshold <= spend]
    return eligible[-1] if eligible else program.tiers[0]


def higher(program: Program, first: str, second: str) -> str:
    return first if program.tier_rank(first) >= program.tier_rank(second) else second


def review_date(program: Program, tier_code: str, since: date) -> date | None:
    """The base tier is never reviewed; every other tier at its anniversary."""
    return None if program.tier_rank(tier_code) == 0 else add_years(since, 1)


def tier_after_review(program: Program, current: str, spend: Decimal) -> str:
    """Keep the tier when the rolling spend still meets it, else move down exactly one tier."""
    rank = program.tier_rank(current)
    if rank == 0 or spend >= program.tier(current).threshold:
        return current
    return program.tiers[rank - 1].code


@dataclass(frozen=True)
class Progress:
    qualifying_spend: Decimal
    next_tier: str | None
    spend_to_next_tier: Decimal
    percent: Decimal
    spend_to_keep_tier: Decimal

    def as_dict(self) -> dict[str, object]:
        return {
            "qualifying_spend": self.qualifying_spend,
            "next_tier": self.next_tier,
            "spend_to_next_tier": self.spend_to_next_tier,
            "percent": self.percent,
            "spend_to_keep_tier": self.spend_to_keep_tier,
        }


def progress(program: Program, current: str, spend: Decimal) -> Progress:
    rank = program.tier_rank(current)
    keep = max(program.tier(current).threshold - spend, Decimal(0))
    if rank + 1 >= len(program.tiers):
        return Progress(spend, None, Decimal(0), Decimal(100), keep)
    target = program.tiers[rank + 1]
    to_next = max(target.threshold - spend, Decimal(0))
    percent = min(spend / target.threshold * 100, Decimal(100)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return Progress(spend, target.code, to_next, percent, keep)
