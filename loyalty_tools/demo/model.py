"""The plan's data: a member's planned calls (`Action`), a store's till rows (`StoreRow`), the
whole year (`Plan`), and the small distributions the planners share."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from loyalty_tools.demo.people import Person

CENT = Decimal("0.01")
OPEN, CLOSE = 7 * 60, 22 * 60  # the daytime actions happen in [07:00, 22:00)
EVENING = 22 * 60  # redemptions, adjustments and erasures: [22:00, 24:00)
# Orders by hour of the day, 07:00 to 21:00.
HOUR_WEIGHTS = (1, 2, 3, 3, 4, 6, 5, 3, 3, 4, 6, 7, 7, 5, 3)
SALE, RETURN = "SALE", "RETURN"
RETURN_SHARE = 0.065
NON_MEMBER_RETURN_SHARE = 0.03
MISREAD_CARD_SHARE = 0.004  # a till records a card number that belongs to nobody (a rejected row)


@dataclass(frozen=True)
class Action:
    """One storefront or ops call of a member, at `minute` of its day (program time)."""

    minute: int
    kind: str  # enrol | order | return | activity | update | redeem | adjust | erase
    body: dict[str, Any]
    pick: float = 0.0  # a die rolled in advance for the choices made when it runs


@dataclass(eq=False)
class StoreRow:
    """One receipt line of a store's daily file (receipt ids are given once a day is complete)."""

    day: int
    minute: int
    kind: str
    amount: Decimal
    member_id: str = ""
    category: str = ""
    original: StoreRow | None = None
    receipt_id: str = ""


@dataclass
class Plan:
    seed: int
    start: date
    days: int  # the last day's offset: days 0..days are simulated (day `days` is today)
    stores: list[str]
    people: list[Person]
    actions: dict[int, dict[str, list[Action]]] = field(default_factory=lambda: defaultdict(dict))
    store_rows: dict[int, dict[str, list[StoreRow]]] = field(default_factory=lambda: defaultdict(dict))
    birthday_days: set[int] = field(default_factory=set)
    currency: str = "CNY"

    def date_of(self, day: int) -> date:
        return self.start + timedelta(days=day)


def money(value: float) -> Decimal:
    return max(Decimal("1.00"), Decimal(str(round(value, 2))).quantize(CENT))


def demand(day: date, online: bool) -> float:
    """More shopping at weekends, and online on the big sale days (6.18, 11.11, 12.12)."""
    factor = {4: 1.1, 5: 1.3, 6: 1.3}.get(day.weekday(), 0.95)
    if online and (day.month, day.day) in ((6, 18), (11, 11), (12, 12)):
        factor *= 2.5
    return factor


def poisson(rng: random.Random, mean: float) -> int:
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
