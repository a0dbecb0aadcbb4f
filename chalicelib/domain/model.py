"""The member's state and what a change to it produces (entries, coupons, events)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from chalicelib.domain.attribution import Attribution
from chalicelib.domain.lots import Wallet

ACTIVE, DORMANT, ERASED = "active", "dormant", "erased"


@dataclass
class PendingLot:
    """Points of a purchase that become spendable on `release_on` (covers the return window)."""

    entry_id: str
    points: int
    release_on: date
    month: str  # expiry month of the lot the points join on release


@dataclass
class JobMarks:
    """What the scheduled jobs already told the member, so that each notice goes out once."""

    expiring_through: str | None = None  # last lot month ("yyyy-mm") a points.expiring notice covered
    at_risk_for: date | None = None  # review date the tier.at_risk check was made for


@dataclass
class Member:
    member_id: str
    enrolled_at: datetime
    status: str = ACTIVE
    version: int = 0
    tier: str = "member"
    tier_since: date | None = None
    tier_floor: str = "member"  # the tier kept at the last review; returns never drop below it
    review_at: date | None = None
    wallet: Wallet = field(default_factory=Wallet)
    pending: list[PendingLot] = field(default_factory=list)
    lifetime_earned: int = 0
    purchase_count: int = 0
    spend_by_month: dict[str, Decimal] = field(default_factory=dict)
    last_activity_at: datetime | None = None
    # Program-local days with a purchase, recent ones only (domain/purchase_days.py): the KPI roll-up
    # counts distinct active members over 30/90-day windows from how this set grows.
    purchase_days: list[date] = field(default_factory=list)
    # Spend by purchase-line category, a few heavy hitters only (domain/segments.py, Space-Saving):
    # the member's top categories for marketing segments.
    category_spend: dict[str, Decimal] = field(default_factory=dict)
    referrer_id: str | None = None
    birthday: date | None = None
    marks: JobMarks = field(default_factory=JobMarks)
    # The membership card (domain/cards.py); None for members enrolled before cards, until their next
    # write or the backfill gives them one, and once erased.
    card_number: str | None = None
    enrolment: Attribution = field(default_factory=Attribution)  # the store, clerk and channel that recruited
    # The earliest purchase's moment (by occurred_at, so a late file can move it earlier); never moved
    # by returns. None: no purchase yet, or purchases from before it was kept.
    first_purchase_at: datetime | None = None
    # Times each campaign credited this member (its per-member limit), kept here so that no read is added.
    campaign_uses: dict[str, int] = field(default_factory=dict)

    @property
    def available(self) -> int:
        return self.wallet.available

    @property
    def pending_points(self) -> int:
        return sum(lot.points for lot in self.pending)

    def balances(self) -> dict[str, int]:
        return {
            "available": self.available,
            "pending": self.pending_points,
            "lifetime_earned": self.lifetime_earned,
        }

    def clone(self) -> Member:
        """A copy to change: its containers and mutable parts are new, the values in them (str, int,
        Decimal, date, frozen dataclasses) shared. Far cheaper than a deepcopy, which dominated a
        replay of history (the program simulator clones once per write). A new mutable field must
        be copied here (tests/unit/test_simulation.py checks every field)."""
        copied = object.__new__(Member)
        copied.__dict__.update(self.__dict__)
        copied.wallet = self.wallet.copy()
        copied.pending = [PendingLot(p.entry_id, p.points, p.release_on, p.month) for p in self.pending]
        copied.spend_by_month = dict(self.spend_by_month)
        copied.purchase_days = list(self.purchase_days)
        copied.category_spend = dict(self.category_spend)
        copied.marks = JobMarks(self.marks.expiring_through, self.marks.at_risk_for)
        copied.campaign_uses = dict(self.campaign_uses)
        return copied


@dataclass
class LedgerEntry:
    """One line of a member's points ledger; `points` is its effect on available + pending."""

    kind: str
    ref: str  # the client's id (order_id, return_id, ...) or a derived one for bonuses
    points: int
    occurred_at: datetime
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def entry_id(self) -> str:
        return f"{self.kind}#{self.ref}"


@dataclass
class Coupon:
    code: str
    kind: str  # first_purchase, reward, birthday, welcome_back
    value: Decimal
    issued_at: datetime
    expires_at: datetime
    reward_id: str | None = None
    campaign_id: str | None = None  # a campaign's coupon (its results count the uses)


@dataclass
class DomainEvent:
    detail_type: str
    detail: dict[str, Any]
    # The member the event is about, as it is once the whole change is decided (the same object
    # as `MemberChange.after`): the publisher adds the member's segment from it (events.py).
    subject: Member | None = field(default=None, repr=False, compare=False)


@dataclass
class MemberChange:
    """What one use case did to one member; the store writes it as one transaction."""

    before: Member | None
    after: Member
    entries: list[LedgerEntry] = field(default_factory=list)
    coupons: list[Coupon] = field(default_factory=list)
    events: list[DomainEvent] = field(default_factory=list)

    def emit(self, detail_type: str, **detail: Any) -> None:
        self.events.append(DomainEvent(detail_type, {"member_id": self.after.member_id, **detail}, self.after))
