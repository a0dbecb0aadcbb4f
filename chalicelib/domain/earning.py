"""How many points a purchase earns and how many a return takes back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from chalicelib.program import Program


@dataclass(frozen=True)
class Line:
    category: str | None
    amount: Decimal


def floor_points(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def weighted_spend(program: Program, amount: Decimal, lines: Sequence[Line]) -> Decimal:
    """Net spend weighted by category multipliers; the part of `amount` not in lines counts 1x.

    Callers validate that the lines add up to at most `amount`.
    """
    in_lines = sum((line.amount for line in lines), Decimal(0))
    weighted = amount - in_lines
    for line in lines:
        weighted += line.amount * program.categories.get(line.category or "", Decimal(1))
    return weighted


def purchase_points(
    program: Program, tier_code: str, amount: Decimal, lines: Sequence[Line] = (), money_share: Decimal = Decimal(1)
) -> int:
    """1 point per 1.00 of (category-weighted) spend x tier multiplier, rounded down once per purchase.
    `money_share`: the part paid with money (points paid with earn nothing), spread over every line."""
    multiplier = program.tier(tier_code).multiplier
    return floor_points(weighted_spend(program, amount, lines) * multiplier * money_share)


def clawback_points(
    purchase_points_earned: int,
    purchase_amount: Decimal,
    returned_before: Decimal,
    returning: Decimal,
) -> int:
    """Points a return takes back, pro rata of the amount.

    Computed on the cumulative returned amount, so partial returns never take back more in total
    than the purchase earned, and returning everything takes back exactly what it earned.
    """
    if purchase_amount <= 0:
        return 0
    before = floor_points(purchase_points_earned * returned_before / purchase_amount)
    after = floor_points(purchase_points_earned * (returned_before + returning) / purchase_amount)
    return after - before
