"""The incentive figures of GET /kpis (docs/kpis.md) from the day rows: pure, no reads.

Which incentives pay for themselves: points earned by source, coupons issued / used / expired by
kind, rewards redeemed, member spend by tier, members by segment and the liability in money. The
roll-up (kpi_rollup.py) keeps them as counters of the day rows, named by a prefix and a key; here
they become maps that list every key the program knows (0 when nothing happened) and any other
key the rows hold (a reward since removed from the catalog, a ledger kind added later).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from chalicelib.domain import kpi_rollup as r
from chalicelib.domain.segments import NAMES as SEGMENT_NAMES
from chalicelib.program import Program

# Where earned points come from: the ledger kinds that credit or take back points (enrol is
# `welcome`); the campaign points inside a purchase, enrolment or activity are `campaign`.
# Birthdays give a coupon and 0 points in the default program. `return` and `referral_clawback`
# are negative (points taken back), so the sources add up to `points_earned`.
SOURCES = (
    *("purchase", "campaign", "welcome", "referral", "activity", "reactivation", "adjustment"),
    *("points_payment_refund", "birthday", "return", "referral_clawback"),
)
COUPON_KINDS = ("first_purchase", "reward", "birthday", "welcome_back", "campaign")  # what the rules issue


@dataclass(frozen=True)
class Catalog:
    """What the program names, so that the maps list every key, and how money is shown."""

    tiers: tuple[str, ...] = ()
    rewards: tuple[str, ...] = ()
    segments: tuple[str, ...] = SEGMENT_NAMES
    currency_places: int = 2
    points_per_unit: int | None = None  # the points-as-payment rate; None: the program has none


def catalog_of(program: Program) -> Catalog:
    payment = getattr(program, "points_payment", None)
    return Catalog(
        tiers=tuple(tier.code for tier in program.tiers),
        rewards=tuple(reward.reward_id for reward in program.rewards),
        currency_places=program.currency_places,
        points_per_unit=getattr(payment, "points_per_unit", None),
    )


def is_flow(name: str) -> bool:
    """A day-row counter of these figures that is a flow (summed over the range)."""
    return name == r.POINTS_PAID or name.startswith((r.SOURCE, r.COUPON, r.REWARD, r.SPEND))


def flow_names(row: Iterable[str]) -> list[str]:
    return [name for name in row if is_flow(name)]


def _by_key(counts: Mapping[str, int], prefix: str, known: Iterable[str]) -> dict[str, int]:
    answer = dict.fromkeys(known, 0)
    for name in sorted(counts):
        if name.startswith(prefix):
            key = name[len(prefix) :]
            answer[key] = answer.get(key, 0) + int(counts[name])
    return answer


def _coupons(flows: Mapping[str, int]) -> dict[str, Any]:
    by_kind: dict[str, dict[str, int]] = {kind: dict.fromkeys(r.COUPON_STATES, 0) for kind in COUPON_KINDS}
    for state in r.COUPON_STATES:
        for kind, count in _by_key(flows, f"{r.COUPON}{state}_", ()).items():
            by_kind.setdefault(kind, dict.fromkeys(r.COUPON_STATES, 0))[state] += count
    totals = {state: sum(kinds[state] for kinds in by_kind.values()) for state in r.COUPON_STATES}
    return {**totals, "by_kind": by_kind}


def _money(minor: int, places: int) -> str:
    return str((Decimal(minor) / 10**places).quantize(Decimal(1).scaleb(-places)))


def outstanding_value(points: int, catalog: Catalog) -> str | None:
    """The liability in money at the points-as-payment rate (rounded half up to the currency's
    places); None when the program takes no points as payment."""
    if not catalog.points_per_unit:
        return None
    value = Decimal(points) / catalog.points_per_unit
    return str(value.quantize(Decimal(1).scaleb(-catalog.currency_places), ROUND_HALF_UP))


def figures(flows: Mapping[str, int], stocks: Mapping[str, int], catalog: Catalog) -> dict[str, Any]:
    """The figures of a day or a range: `flows` summed over it, `stocks` at its end."""
    spend = _by_key(flows, r.SPEND, catalog.tiers)
    return {
        "points_by_source": _by_key(flows, r.SOURCE, SOURCES),
        "points_paid": int(flows.get(r.POINTS_PAID, 0)),
        "coupons": _coupons(flows),
        "rewards_redeemed": _by_key(flows, r.REWARD, catalog.rewards),
        "spend_by_tier": {tier: _money(minor, catalog.currency_places) for tier, minor in spend.items()},
        "members_by_segment": _by_key(stocks, r.SEGMENT, catalog.segments),
        "points_outstanding_value": outstanding_value(int(stocks.get(r.OUTSTANDING, 0)), catalog),
    }
