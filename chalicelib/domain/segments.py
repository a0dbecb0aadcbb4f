"""Member segments for marketing: RFM scores (recency, frequency, monetary) and top categories.

A segment is a pure function of the member's state and a date, computed when it is needed (the
ops member view, every event published) rather than stored: recency changes every day without any
write, so a stored name would be stale exactly for the members marketing wants to catch (those
drifting away).

- Recency: days from the member's last purchase day (program-local, `Member.purchase_days`) to the
  day asked about. Frequency: distinct purchase days in the 365 days ending that day. Monetary:
  the rolling 12-month net spend (`tiers.rolling_spend`, the tiers' qualifying spend).
- Each is scored 1-5 by the program's four boundaries (`program.segments`); the name comes from the
  classic RFM grid on (R, F) below. A member without any purchase is `no_purchase`, unscored.
- Top categories: the categories of the member's purchase lines with the most spend. The profile
  keeps at most CATEGORY_SLOTS counters (Space-Saving: a newcomer takes over the smallest counter
  and starts from its value), so the item stays small while any category holding more than
  1/CATEGORY_SLOTS of the member's categorised spend is always kept. Returns do not carry lines,
  so the counters are gross purchase spend: a preference signal, not books.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from chalicelib.domain import tiers
from chalicelib.domain.earning import Line
from chalicelib.domain.model import Member
from chalicelib.program import Program

FREQUENCY_WINDOW_DAYS = 365
CATEGORY_SLOTS = 10
NO_PURCHASE = "no_purchase"

# The classic RFM grid on (R, F): rows R 5..1, columns F 1..5.
_GRID: dict[int, tuple[str, str, str, str, str]] = {
    5: ("new", "potential_loyalist", "potential_loyalist", "champions", "champions"),
    4: ("promising", "potential_loyalist", "potential_loyalist", "loyal", "loyal"),
    3: ("about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"),
    2: ("hibernating", "hibernating", "at_risk", "at_risk", "cannot_lose"),
    1: ("lost", "lost", "at_risk", "at_risk", "cannot_lose"),
}
NAMES: tuple[str, ...] = (*dict.fromkeys(name for row in _GRID.values() for name in row), NO_PURCHASE)


@dataclass(frozen=True)
class Segment:
    name: str
    r: int | None
    f: int | None
    m: int | None
    days_since_purchase: int | None  # None: no purchase, or none the profile still knows the day of
    purchase_days: int  # distinct purchase days in the last 365 days
    spend_12m: Decimal
    top_categories: tuple[str, ...]

    @property
    def score(self) -> str | None:
        """The RFM score as marketing writes it, e.g. "545"."""
        if self.r is None or self.f is None or self.m is None:
            return None
        return f"{self.r}{self.f}{self.m}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "score": self.score,
            "r": self.r,
            "f": self.f,
            "m": self.m,
            "days_since_purchase": self.days_since_purchase,
            "purchase_days_365": self.purchase_days,
            "spend_12m": self.spend_12m,
            "top_categories": list(self.top_categories),
        }


def recency_score(days: int | None, boundaries: tuple[int, ...]) -> int:
    """5 when the last purchase is at most b1 days ago, ... 1 beyond b4 (or unknown)."""
    if days is None:
        return 1
    return 5 - sum(1 for bound in boundaries if days > bound)


def rising_score(value: Decimal | int, boundaries: tuple[Decimal, ...] | tuple[int, ...]) -> int:
    """1 below b1, 2 from b1, ... 5 from b4 (frequency and monetary: more is better)."""
    return 1 + sum(1 for bound in boundaries if value >= bound)


def grid_name(r: int, f: int) -> str:
    return _GRID[r][f - 1]


def top_categories(category_spend: dict[str, Decimal], count: int) -> tuple[str, ...]:
    ranked = sorted((item for item in category_spend.items() if item[1] > 0), key=lambda item: (-item[1], item[0]))
    return tuple(code for code, _ in ranked[:count])


def segment(program: Program, member: Member, as_of: date) -> Segment:
    """The member's segment on `as_of` (program-local day). Purchase days after `as_of` are ignored,
    so a job run for an earlier day sees the member as of that day."""
    rules = program.segments
    known = [day for day in member.purchase_days if day <= as_of]
    last = max(known, default=None)
    frequency = sum(1 for day in known if (as_of - day).days < FREQUENCY_WINDOW_DAYS)
    spend = tiers.rolling_spend(member.spend_by_month, as_of)
    categories = top_categories(member.category_spend, rules.top_categories)
    days = (as_of - last).days if last is not None else None
    if last is None and member.purchase_count == 0:
        return Segment(NO_PURCHASE, None, None, None, None, 0, spend, categories)
    r = recency_score(days, rules.recency_days)
    f = rising_score(frequency, rules.frequency_days)
    m = rising_score(spend, rules.monetary)
    return Segment(grid_name(r, f), r, f, m, days, frequency, spend, categories)


def add_category_spend(
    category_spend: dict[str, Decimal], lines: Iterable[Line], slots: int = CATEGORY_SLOTS
) -> dict[str, Decimal]:
    """The counters after a purchase's lines (lines without a category count nowhere)."""
    spent: dict[str, Decimal] = {}
    for line in lines:
        code = (line.category or "").strip()
        if code and line.amount > 0:
            spent[code] = spent.get(code, Decimal(0)) + line.amount
    counters = dict(category_spend)
    for code in sorted(spent):
        if code not in counters and len(counters) >= slots:
            smallest = min(counters, key=lambda known: (counters[known], known))
            counters[code] = counters.pop(smallest)  # Space-Saving: inherit the evicted count
        counters[code] = counters.get(code, Decimal(0)) + spent[code]
    return counters
