"""Campaigns as data (member days, double points, offers to a tier or segment) and the one
evaluation of a purchase against them. Pure: no I/O, no clock reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from chalicelib.domain.calendar import local_date
from chalicelib.domain.earning import Line, floor_points
from chalicelib.domain.errors import BusinessRule
from chalicelib.domain.model import Member, MemberChange
from chalicelib.program import CouponRule, Program

CAMPAIGN_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
BUDGET_EXHAUSTED, PER_MEMBER_LIMIT = "budget_exhausted", "per_member_limit"
Code = Annotated[str, Field(min_length=1, max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Audience(_Strict):
    tiers: list[Code] | None = Field(default=None, min_length=1)
    stores: list[Code] | None = Field(default=None, min_length=1)
    channels: list[Code] | None = Field(default=None, min_length=1)
    enrolled_within_days: int | None = Field(default=None, ge=1, le=36500)
    segments: list[Code] | None = Field(default=None, min_length=1)


class Days(_Strict):
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] | None = Field(default=None, min_length=1)
    dates: list[dt.date] | None = Field(default=None, min_length=1)


class Conditions(_Strict):
    min_amount: Decimal | None = Field(default=None, gt=0, max_digits=9, decimal_places=2)
    categories: list[Code] | None = Field(default=None, min_length=1)


class Effect(_Strict):
    multiplier: Decimal | None = Field(default=None, ge=1, le=100, max_digits=6, decimal_places=2)
    bonus_points: int | None = Field(default=None, gt=0, le=1_000_000)
    coupon: CouponRule | None = None

    @model_validator(mode="after")
    def _something(self) -> Effect:
        if self.multiplier is None and self.bonus_points is None and self.coupon is None:
            raise ValueError("an effect needs multiplier, bonus_points or coupon")
        if self.coupon is not None and self.coupon.value <= 0:
            raise ValueError("a coupon's value must be more than 0")
        return self


BIG_BUDGET, BIG_SHARDS = 100_000, 16  # a budget this big is split in 16 shards unless `shards` says


class Limits(_Strict):
    per_member: int | None = Field(default=None, ge=1, le=10_000)
    budget_points: int | None = Field(default=None, ge=1, le=10_000_000_000)
    shards: int | None = Field(default=None, ge=1, le=64)  # the counter items (docs/campaigns.md)

    def shard_count(self) -> int:
        """Counter items of a campaign: each is one DynamoDB partition (~500 transactional writes a second)."""
        if self.shards is not None:
            return self.shards
        return 1 if self.budget_points is not None and self.budget_points < BIG_BUDGET else BIG_SHARDS


class Campaign(_Strict):
    campaign_id: str = Field(pattern=CAMPAIGN_ID)
    name: str = Field(min_length=1, max_length=200)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    status: Literal["active", "paused", "ended"] = "active"
    trigger: Literal["purchase", "enrolment", "activity"] = "purchase"
    audience: Audience = Field(default_factory=Audience)  # a factory: no model is built at import
    days: Days | None = None
    conditions: Conditions = Field(default_factory=Conditions)
    effect: Effect
    limits: Limits = Field(default_factory=Limits)

    @model_validator(mode="after")
    def _window(self) -> Campaign:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.trigger != "purchase" and self.conditions != Conditions():
            raise ValueError(f"conditions (amount, categories) apply to purchases, not to trigger {self.trigger}")
        if self.trigger == "enrolment" and self.effect.multiplier is not None:
            raise ValueError("an enrolment campaign grants bonus_points or a coupon, not a multiplier")
        return self


class BudgetExhausted(BusinessRule):
    """The campaign's budget counter refused this purchase's points (its transaction's condition)."""

    code = BUDGET_EXHAUSTED

    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"campaign {campaign_id} has no budget left")
        self.campaign_id = campaign_id


@dataclass(frozen=True)
class PurchaseFacts:
    """What a campaign can ask of a purchase (or, by `trigger`, of an enrolment or an activity,
    whose own points, `base_points`, are what an activity campaign's multiplier multiplies)."""

    amount: Decimal
    occurred_at: dt.datetime
    lines: Sequence[Line] = ()
    channel: str | None = None
    store_id: str | None = None
    trigger: str = "purchase"
    base_points: int = 0
    money_share: Decimal = Decimal(1)  # the part paid with money: points paid with earn no multiplier


@dataclass
class Outcome:
    """Campaign points of a purchase: `granted` [(campaign_id, points)] (points may be 0 for a
    coupon-only campaign), `skipped` [(campaign_id, reason)], `coupons` [(campaign_id, rule)]."""

    granted: list[tuple[str, int]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    coupons: list[tuple[str, CouponRule]] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(points for _, points in self.granted)


def _in_audience(program: Program, campaign: Campaign, member: Member, purchase: PurchaseFacts) -> bool:
    audience = campaign.audience
    parts = (audience.tiers, audience.stores, audience.channels, audience.enrolled_within_days, audience.segments)
    if parts == (None, None, None, None, None):
        return True  # everyone (most campaigns): no day is computed for them
    day = local_date(purchase.occurred_at, program.tz)
    if audience.tiers is not None and member.tier not in audience.tiers:
        return False
    if audience.stores is not None and purchase.store_id not in audience.stores:
        return False
    if audience.channels is not None and purchase.channel not in audience.channels:
        return False
    if audience.enrolled_within_days is not None:
        enrolled = local_date(member.enrolled_at, program.tz)
        if (day - enrolled).days > audience.enrolled_within_days:
            return False
    if audience.segments is not None:
        from chalicelib.domain import segments  # only campaigns for a segment pay for computing it

        if segments.segment(program, member, day).name not in audience.segments:
            return False
    return True


def _on_its_day(program: Program, campaign: Campaign, purchase: PurchaseFacts) -> bool:
    """The purchase's own moment (not its arrival) in program time decides window and day."""
    if not campaign.starts_at <= purchase.occurred_at < campaign.ends_at:
        return False
    if campaign.days is None:
        return True
    day = local_date(purchase.occurred_at, program.tz)
    weekdays, dates = campaign.days.weekdays, campaign.days.dates
    return bool((weekdays and day.isoweekday() in weekdays) or (dates and day in dates))


def matches(program: Program, campaign: Campaign, member: Member, purchase: PurchaseFacts) -> bool:
    if campaign.status != "active" or campaign.trigger != purchase.trigger:
        return False
    minimum = campaign.conditions.min_amount
    if minimum is not None and purchase.amount < minimum:
        return False
    if campaign.conditions.categories is not None and not _matching_lines(campaign, purchase):
        return False
    return _on_its_day(program, campaign, purchase) and _in_audience(program, campaign, member, purchase)


def _matching_lines(campaign: Campaign, purchase: PurchaseFacts) -> list[Line]:
    wanted = campaign.conditions.categories or []
    return [line for line in purchase.lines if line.category in wanted]


def base_of(program: Program, member: Member, purchase: PurchaseFacts, campaign: Campaign) -> Decimal:
    """The tier x category points (unrounded) a multiplier applies to: the matching lines', or the
    whole purchase's when the campaign has no category condition."""
    from chalicelib.domain.earning import weighted_spend

    if purchase.trigger != "purchase":
        return Decimal(purchase.base_points)
    tier = program.tier(member.tier).multiplier * purchase.money_share
    if campaign.conditions.categories is None:
        return weighted_spend(program, purchase.amount, purchase.lines) * tier
    lines = _matching_lines(campaign, purchase)
    return weighted_spend(program, sum((line.amount for line in lines), Decimal(0)), lines) * tier


def evaluate(
    program: Program,
    campaigns: Sequence[Campaign],
    member: Member,
    purchase: PurchaseFacts,
    exhausted: frozenset[str] = frozenset(),
) -> Outcome:
    """The campaign points of a purchase, on top of its tier x category points. Of the matching
    campaigns the highest multiplier applies (never compounded); every matching bonus adds. A
    campaign the member used up, or whose budget refused this purchase (`exhausted`), is skipped."""
    outcome, live = Outcome(), []
    for campaign in sorted(campaigns, key=lambda c: c.campaign_id):
        if not matches(program, campaign, member, purchase):
            continue
        per_member = campaign.limits.per_member
        if per_member is not None and member.campaign_uses.get(campaign.campaign_id, 0) >= per_member:
            outcome.skipped.append((campaign.campaign_id, PER_MEMBER_LIMIT))
        elif campaign.campaign_id in exhausted:
            outcome.skipped.append((campaign.campaign_id, BUDGET_EXHAUSTED))
        else:
            live.append(campaign)
    with_multiplier = [c for c in live if c.effect.multiplier is not None]
    best = max(with_multiplier, key=lambda c: c.effect.multiplier or 0, default=None)  # first id wins ties
    for campaign in live:
        points = campaign.effect.bonus_points or 0
        if campaign is best:
            points += floor_points(
                base_of(program, member, purchase, campaign) * ((campaign.effect.multiplier or 1) - 1)
            )
        if campaign.effect.coupon is not None:
            outcome.coupons.append((campaign.campaign_id, campaign.effect.coupon))
        if points > 0 or campaign.effect.coupon is not None:
            outcome.granted.append((campaign.campaign_id, points))
    return outcome


EARNED_REASON = {"purchase": "purchase", "enrol": "welcome", "activity": "activity"}


def credit(
    change: MemberChange,
    outcome: Outcome,
    program: Program | None = None,
    codes: Callable[[], str] = lambda: "",
    lot_month: str | None = None,
    now: dt.datetime | None = None,
) -> Outcome:
    """Add the campaign points to the purchase, enrolment or activity just decided
    (`change.entries[0]`) and issue their coupons (`codes` draws a code; issued `now`, the write's time). A
    purchase's campaign points are part of its points: pending with it, in its lot, and clawed back
    pro rata by a return; an enrolment's or activity's go to `lot_month`. A lapsed purchase (points
    already expired) grants nothing. Returns what was credited."""
    entry, after = change.entries[0], change.after
    if entry.details.get("lapsed_points"):
        outcome = Outcome([], outcome.skipped)
    entry.details.update(ledger_details(outcome))
    if not outcome.granted:
        return outcome
    for campaign_id, _ in outcome.granted:
        after.campaign_uses[campaign_id] = after.campaign_uses.get(campaign_id, 0) + 1
    if outcome.coupons and program is not None:  # without the program (a points-only replay): no coupons
        _issue_coupons(program, change, outcome, codes, now or change.entries[0].occurred_at)
    points = outcome.points
    entry.points += points
    pending = next((lot for lot in after.pending if lot.entry_id == entry.entry_id), None)
    if pending is not None:
        pending.points += points
    elif points:
        after.wallet.credit(points, lot_month or str(entry.details["lot_month"]))
    after.lifetime_earned += points
    _announce(change, outcome)
    return outcome


def _issue_coupons(
    program: Program, change: MemberChange, outcome: Outcome, codes: Callable[[], str], now: dt.datetime
) -> None:
    from chalicelib.domain.rules import issue_coupon  # rules does not know campaigns

    for campaign_id, rule in outcome.coupons:
        coupon = issue_coupon(program, change, codes(), "campaign", rule, now)
        coupon.campaign_id = campaign_id
        change.events[-1].detail["campaign_id"] = campaign_id  # the coupon.issued event just emitted


def _announce(change: MemberChange, outcome: Outcome) -> None:
    """The entry's points.earned event carries its new total; campaign.applied names the split."""
    entry, reason = change.entries[0], EARNED_REASON.get(change.entries[0].kind, change.entries[0].kind)
    earned = [e for e in change.events if e.detail_type == "points.earned" and e.detail.get("reason") == reason]
    for event in earned:
        event.detail["points"] = entry.points
    if not earned and outcome.points:
        change.emit("points.earned", points=entry.points, reason=reason, ref=entry.ref)
    granted = [{"campaign_id": cid, "points": n} for cid, n in outcome.granted]
    ref = {"order_id" if entry.kind == "purchase" else "ref": entry.ref}
    change.emit("campaign.applied", points=outcome.points, campaigns=granted, trigger=entry.kind, **ref)


def ledger_details(outcome: Outcome) -> dict[str, list[dict[str, object]]]:
    return {
        "campaigns": [{"campaign_id": cid, "points": n} for cid, n in outcome.granted],
        "campaigns_skipped": [{"campaign_id": cid, "reason": reason} for cid, reason in outcome.skipped],
    }
