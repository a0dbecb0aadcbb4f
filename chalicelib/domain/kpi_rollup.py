"""What one committed change adds to the KPI day rows: pure functions over plain item values.

The roll-up reads the table's stream. A profile's old and new image tell how the stocks moved
(members by tier, status and segment, outstanding points), whether the member went dormant or came
back, and how the purchase days grew (active windows). A new ledger entry is a flow (points earned,
redeemed, expired, by source; an order and its spend; an enrolment; a reward), dated by when it
happened (`occurred_at`). Profile changes are dated by `changed_at`, the engine's time of the write
(a segment by the day it is as of). A coupon's images tell the days it was issued, used, or ends
unused. Everything here is a sum of deltas, so records may be applied in any order, by anyone, at
any time, with the same result.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from chalicelib.domain.attribution import FIRST_PURCHASE_DAYS
from chalicelib.domain.model import ACTIVE, DORMANT, ERASED
from chalicelib.domain.purchase_days import ACTIVE_WINDOWS, window_gains

# Day-row attribute names (docs/kpis.md gives the figures computed from them).
ENROLMENTS, EARNED, REDEEMED, EXPIRED = "enrolments", "points_earned", "points_redeemed", "points_expired"
ORDERS, REPEAT_ORDERS = "member_orders", "repeat_orders"
REACTIVATIONS, DORMANCIES = "reactivations", "dormancies"
OUTSTANDING = "outstanding"
RECRUITED = "recruited_first_purchase_30d"  # store and staff rows (with ENROLMENTS): recruitment
STATUSES = (ACTIVE, DORMANT, ERASED)
# Incentive figures (docs/kpis.md): flows by name prefix, the segments a stock like the tiers.
POINTS_PAID = "points_paid"
SOURCE, COUPON, REWARD, SPEND, SEGMENT = "src_", "cpn_", "rwd_", "spend_", "seg_"
COUPON_STATES = ("issued", "used", "expired")
REDEEMING = ("redemption", "points_payment")  # kinds that spend points (points_redeemed)
LAPSING = ("expire", "release")  # a release moves points only when they lapse
SOURCE_OF_KIND = {"enrol": "welcome"}  # every other crediting kind is its own source


def tier_attribute(tier: str) -> str:
    return f"tier_{tier}"


def status_attribute(status: str) -> str:
    return f"status_{status}"


def gain_attribute(window: int, length: int) -> str:
    return f"a{window}_{length}"


def segment_attribute(segment: str) -> str:
    return f"{SEGMENT}{segment}"


def coupon_attribute(state: str, kind: str) -> str:
    return f"{COUPON}{state}_{kind}"


def is_stock_attribute(name: str) -> bool:
    return name == OUTSTANDING or name.startswith(("tier_", "status_", SEGMENT))


@dataclass
class Deltas:
    """Counter deltas per row: program-wide days, months (stocks only), (day, store) pairs and
    (day, store, staff) triples."""

    days: dict[date, Counter[str]] = field(default_factory=dict)
    months: dict[str, Counter[str]] = field(default_factory=dict)
    stores: dict[tuple[date, str], Counter[str]] = field(default_factory=dict)
    staff: dict[tuple[date, str, str], Counter[str]] = field(default_factory=dict)

    def add_day(self, day: date, **counts: int) -> None:
        _bump(self.days, day, counts)

    def add_store(self, day: date, store_id: str, **counts: int) -> None:
        _bump(self.stores, (day, store_id), counts)

    def add_staff(self, day: date, store_id: str, staff_id: str, **counts: int) -> None:
        _bump(self.staff, (day, store_id, staff_id), counts)

    def add_stock(self, day: date, counts: Counter[str]) -> None:
        _bump(self.days, day, counts)
        _bump(self.months, day.isoformat()[:7], counts)

    def merge(self, other: Deltas) -> None:
        for day, counts in other.days.items():
            _bump(self.days, day, counts)
        for month, counts in other.months.items():
            _bump(self.months, month, counts)
        for key, counts in other.stores.items():
            _bump(self.stores, key, counts)
        for triple, counts in other.staff.items():
            _bump(self.staff, triple, counts)

    def rows(self) -> int:
        return len(self.days) + len(self.months) + len(self.stores) + len(self.staff)

    def empty(self) -> bool:
        return self.rows() == 0


def _bump(rows: dict[Any, Counter[str]], key: Any, counts: Any) -> None:
    """Add `counts` to the row `key`; a row whose counters all come to zero is dropped."""
    row = rows.setdefault(key, Counter())
    for name, value in counts.items():
        if value:
            row[name] += value
    for name in [name for name, value in row.items() if value == 0]:
        del row[name]
    if not row:
        del rows[key]


def _local_day(moment: str, tz: tzinfo) -> date:
    return datetime.fromisoformat(moment).astimezone(tz).date()


# --- Profiles ---------------------------------------------------------------------------------------


def _stock(profile: dict[str, Any] | None) -> Counter[str]:
    if profile is None:
        return Counter()
    status = profile["status"]
    stock = Counter({status_attribute(status): 1, OUTSTANDING: int(profile.get("available", 0))})
    stock[OUTSTANDING] += int(profile.get("pending", 0))
    if status != ERASED:  # an erased member is no longer a member of a tier
        stock[tier_attribute(profile["tier"])] += 1
    return stock


def _segment(profile: dict[str, Any] | None) -> Counter[str]:
    """The member's `segment` as last stored: every write stores it as of its day, and the audience
    job as of the day it changes without a write (none for an erased member)."""
    stored = (profile or {}).get("segment")
    return Counter({segment_attribute(stored): 1}) if stored else Counter()


def _segment_deltas(deltas: Deltas, old: dict[str, Any] | None, new: dict[str, Any] | None, day: date) -> None:
    """Dated by the day the new segment is as of (`segment_day`), else as the profile's change."""
    moved = _segment(new)
    moved.subtract(_segment(old))
    as_of = (new or {}).get("segment_day")
    deltas.add_stock(date.fromisoformat(as_of) if as_of else day, moved)


def _purchase_days(profile: dict[str, Any] | None) -> list[date]:
    return [date.fromisoformat(day) for day in (profile or {}).get("purchase_days") or []]


def profile_deltas(old: dict[str, Any] | None, new: dict[str, Any] | None, tz: tzinfo, fallback: datetime) -> Deltas:
    """A profile written (old → new), created (old None) or deleted (new None)."""
    deltas = Deltas()
    changed_at = (new or {}).get("changed_at")
    day = _local_day(changed_at, tz) if changed_at else fallback.astimezone(tz).date()
    stock = _stock(new)
    stock.subtract(_stock(old))
    deltas.add_stock(day, stock)
    _segment_deltas(deltas, old, new, day)
    before, after = (old or {}).get("status"), (new or {}).get("status")
    if before == DORMANT and after == ACTIVE:
        deltas.add_day(day, **{REACTIVATIONS: 1})
    if before == ACTIVE and after == DORMANT:
        deltas.add_day(day, **{DORMANCIES: 1})
    for window in ACTIVE_WINDOWS:
        for start, length in window_gains(_purchase_days(old), _purchase_days(new), window):
            deltas.add_day(start, **{gain_attribute(window, length): 1})
    _recruitment_deltas(deltas, old, new, tz)
    return deltas


Recruited = tuple[date, str, str, str]  # (day, store, staff or "", figure)


def recruitment(profile: dict[str, Any] | None, tz: tzinfo) -> Counter[Recruited]:
    """What a profile counts for its recruiting store and clerk: the enrolment, on its day, and the
    first purchase, on the day it happened, when that is 0 to FIRST_PURCHASE_DAYS days after the
    enrolment day. A profile's later images count the same, so only a change moves a figure: a late
    file's earlier first purchase moves the count to its own day; returns never move it."""
    store = (profile or {}).get("enrol_store_id")
    if not profile or not store:
        return Counter()
    staff = profile.get("enrol_staff_id") or ""
    enrolled = _local_day(profile["enrolled_at"], tz)
    found: Counter[Recruited] = Counter({(enrolled, store, staff, ENROLMENTS): 1})
    first = profile.get("first_purchase_at")
    if first and 0 <= (_local_day(first, tz) - enrolled).days <= FIRST_PURCHASE_DAYS:
        found[(_local_day(first, tz), store, staff, RECRUITED)] += 1
    return found


def _recruitment_deltas(deltas: Deltas, old: dict[str, Any] | None, new: dict[str, Any] | None, tz: tzinfo) -> None:
    moved = recruitment(new, tz)
    moved.subtract(recruitment(old, tz))
    for (day, store, staff, figure), count in moved.items():
        if count:
            deltas.add_store(day, store, **{figure: count})
            if staff:
                deltas.add_staff(day, store, staff, **{figure: count})


# --- Ledger entries ---------------------------------------------------------------------------------


def entry_deltas(entry: dict[str, Any], tz: tzinfo, currency_places: int = 2) -> Deltas:
    """A new ledger entry: its points by kind and by source, and the order, enrolment or reward it
    records. `currency_places`: spend is counted in the currency's minor units (an integer).

    `points` is the entry's effect on available + pending, so per day outstanding moves by
    earned - redeemed - expired (returns, clawbacks and adjustments count in earned)."""
    deltas = Deltas()
    day = _local_day(entry["occurred_at"], tz)
    kind, points = entry["kind"], int(entry["points"])
    details = entry.get("details") or {}
    if kind in REDEEMING:
        deltas.add_day(day, **{REDEEMED: -points})
        if kind == "points_payment":
            deltas.add_day(day, **{POINTS_PAID: -points})
        elif details.get("reward_id"):
            deltas.add_day(day, **{f"{REWARD}{details['reward_id']}": 1})
    elif kind in LAPSING:
        deltas.add_day(day, **{EXPIRED: -points})
    else:
        deltas.add_day(day, **{EARNED: points}, **_sources(kind, points, details))
    if kind == "enrol":
        deltas.add_day(day, **{ENROLMENTS: 1})
    if kind == "purchase":
        repeat = int(details.get("order_number", 1)) > 1
        order = {ORDERS: 1, REPEAT_ORDERS: int(repeat)}
        deltas.add_day(day, **order)
        if details.get("tier"):
            minor = Decimal(str(details["amount"])).scaleb(currency_places).to_integral_value(ROUND_HALF_UP)
            deltas.add_day(day, **{f"{SPEND}{details['tier']}": int(minor)})
        if details.get("store_id"):
            deltas.add_store(day, details["store_id"], **order, **{EARNED: points})
    return deltas


def _sources(kind: str, points: int, details: dict[str, Any]) -> dict[str, int]:
    """Points earned by where they came from (they add up to the entry's points). The campaign
    points a purchase, enrolment or activity earned are inside its points (`details.campaigns`):
    the rest is the kind's own (a purchase's base, the welcome bonus, the activity's points)."""
    campaigns = sum(int(granted["points"]) for granted in details.get("campaigns") or [])
    return {f"{SOURCE}{SOURCE_OF_KIND.get(kind, kind)}": points - campaigns, f"{SOURCE}campaign": campaigns}


# --- Coupons ----------------------------------------------------------------------------------------


def _coupon_counts(coupon: dict[str, Any] | None, tz: tzinfo) -> Counter[tuple[date, str]]:
    """What a coupon counts for: issued on its issue day; then used on the day it was used, or else
    expired on the day its validity ends (a coupon cannot be used from that moment on)."""
    if coupon is None:
        return Counter()
    kind = coupon["kind"]
    found = Counter({(_local_day(coupon["issued_at"], tz), coupon_attribute("issued", kind)): 1})
    if coupon.get("coupon_status") == "used":
        found[(_local_day(coupon["used_at"], tz), coupon_attribute("used", kind))] += 1
    else:
        found[(_local_day(coupon["expires_at"], tz), coupon_attribute("expired", kind))] += 1
    return found


def coupon_deltas(old: dict[str, Any] | None, new: dict[str, Any] | None, tz: tzinfo) -> Deltas:
    """A coupon issued (old None) or used (old available, new used): what its images differ by. An
    unused coupon counts as expired on its last day until it is used, so a use moves that count. A
    deleted coupon (new None) keeps what it counted."""
    deltas = Deltas()
    if new is None:
        return deltas
    moved = _coupon_counts(new, tz)
    moved.subtract(_coupon_counts(old, tz))
    for (day, name), count in moved.items():
        deltas.add_day(day, **{name: count})
    return deltas
