"""The use-case rules as pure functions: state in, `MemberChange` out. No I/O, no clock reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from chalicelib.domain import checkout, purchase_days, segments, tiers
from chalicelib.domain.attribution import Attribution
from chalicelib.domain.calendar import expiry_month, last_day_of_month, local_date, month_key
from chalicelib.domain.earning import Line, clawback_points, purchase_points
from chalicelib.domain.errors import (
    InsufficientPointsError,
    InvalidRequest,
    MemberErased,
    NotFound,
    ReturnExceedsPurchase,
    TierTooLow,
)
from chalicelib.domain.lots import InsufficientPoints
from chalicelib.domain.model import (
    DORMANT,
    ERASED,
    Coupon,
    LedgerEntry,
    Member,
    MemberChange,
    PendingLot,
)
from chalicelib.program import CouponRule, Program


def _today(program: Program, now: datetime) -> date:
    return local_date(now, program.tz)


def _writable(member: Member) -> Member:
    if member.status == ERASED:
        raise MemberErased(f"member {member.member_id} was erased")
    return member.clone()


def _credit_bonus(
    program: Program, change: MemberChange, kind: str, ref: str, points: int, now: datetime, **details: object
) -> None:
    """Credit a bonus into the lot of the current month, with its ledger entry and event."""
    if points <= 0:
        return
    member = change.after
    member.wallet.credit(points, expiry_month(_today(program, now), program.expiry_months))
    member.lifetime_earned += points
    change.entries.append(LedgerEntry(kind, ref, points, now, dict(details)))
    change.emit("points.earned", points=points, reason=kind, ref=ref)


def issue_coupon(
    program: Program,
    change: MemberChange,
    code: str,
    kind: str,
    rule: CouponRule,
    now: datetime,
    reward_id: str | None = None,
) -> Coupon:
    coupon = Coupon(code, kind, rule.value, now, now + timedelta(days=rule.valid_days), reward_id)
    change.coupons.append(coupon)
    change.emit(
        "coupon.issued", coupon_code=code, kind=kind, value=rule.value, expires_at=coupon.expires_at.isoformat()
    )
    return coupon


def enrol(
    program: Program,
    member_id: str,
    now: datetime,
    coupon_code: str,
    birthday: date | None = None,
    referrer_id: str | None = None,
    card_number: str | None = None,
    recruited: Attribution | None = None,
) -> MemberChange:
    today = _today(program, now)
    member = Member(
        member_id=member_id,
        enrolled_at=now,
        tier=program.tiers[0].code,
        tier_since=today,
        tier_floor=program.tiers[0].code,
        birthday=birthday,
        referrer_id=referrer_id,
        last_activity_at=now,
        card_number=card_number,
        enrolment=recruited or Attribution(),
    )
    change = MemberChange(before=None, after=member)
    where = {name: value for name, value in member.enrolment.as_dict().items() if value and name != "staff_id"}
    change.emit("member.enrolled", tier=member.tier, referred=referrer_id is not None, **where)
    # The enrolment entry is always written (even with no welcome bonus): it is the idempotency record.
    points = program.welcome_points
    member.wallet.credit(points, expiry_month(today, program.expiry_months))
    member.lifetime_earned += points
    change.entries.append(LedgerEntry("enrol", member_id, points, now, {"reason": "welcome"}))
    if points:
        change.emit("points.earned", points=points, reason="welcome", ref=member_id)
    issue_coupon(program, change, coupon_code, "first_purchase", program.first_purchase_coupon, now)
    return change


@dataclass(frozen=True)
class Purchase:
    order_id: str
    amount: Decimal
    occurred_at: datetime
    lines: Sequence[Line] = ()
    channel: str | None = None
    store_id: str | None = None
    staff_id: str | None = None
    points_payment: int | None = None  # points paying part of the amount (domain/checkout.py)


def _check_lines(purchase: Purchase) -> None:
    total = sum((line.amount for line in purchase.lines), Decimal(0))
    if total > purchase.amount:
        raise InvalidRequest(
            "the lines add up to more than the purchase amount",
            [{"field": "lines", "message": f"lines total {total} > amount {purchase.amount}"}],
        )


def record_purchase(
    program: Program, member: Member, purchase: Purchase, now: datetime, referrer: Member | None = None
) -> tuple[MemberChange, MemberChange | None]:
    """Earn points for a purchase; upgrade at once; reactivate a dormant member; pay a referral."""
    _check_lines(purchase)
    after = _writable(member)
    change = MemberChange(before=member, after=after)
    today = _today(program, now)
    bought_on = local_date(purchase.occurred_at, program.tz)
    lot_month = expiry_month(bought_on, program.expiry_months)
    payment = checkout.take_payment(program, after, purchase.amount, purchase.points_payment)
    share = checkout.money_share(purchase.amount, payment.value if payment else Decimal(0))

    points = purchase_points(program, member.tier, purchase.amount, purchase.lines, share)
    lapsed = 0
    if lot_month < month_key(today):  # a very late order whose points would already have expired
        lapsed, points = points, 0
    release_on = bought_on + timedelta(days=program.pending_days)
    pending = program.pending_days > 0 and release_on > today and points > 0
    details = _purchase_details(member, purchase, lot_month, bought_on, pending, lapsed)
    if payment is not None:
        details[checkout.FIELD] = payment.as_details()
    entry = LedgerEntry("purchase", purchase.order_id, points, purchase.occurred_at, details)
    if pending:
        after.pending.append(PendingLot(entry.entry_id, points, release_on, lot_month))
    elif points:
        after.wallet.credit(points, lot_month)
    after.lifetime_earned += points
    _record_spend(program, after, purchase, bought_on, today)
    change.entries.append(entry)
    change.emit(
        "points.earned",
        points=points,
        reason="purchase",
        order_id=purchase.order_id,
        amount=purchase.amount,
        pending=pending,
        store_id=purchase.store_id,
    )

    if payment is not None:
        checkout.record_payment(change, purchase.order_id, payment, now)
    _reactivate_if_dormant(program, change, purchase.order_id, now)
    _upgrade_if_earned(program, change, today)
    return change, _referral(program, member, referrer, now, purchase.order_id)


def _purchase_details(
    member: Member, purchase: Purchase, lot_month: str, bought_on: date, pending: bool, lapsed: int
) -> dict[str, object]:
    return {
        "amount": purchase.amount,
        "lot_month": lot_month,
        "spend_month": month_key(bought_on),
        "channel": purchase.channel,
        "store_id": purchase.store_id,
        "staff_id": purchase.staff_id,
        "pending": pending,
        "lapsed_points": lapsed,
        "tier": member.tier,
        "order_number": member.purchase_count + 1,  # 1: the member's first order (repeat-purchase KPI)
        # What a replay under another program needs to earn again (category multipliers, campaigns).
        "lines": [_line_detail(line) for line in purchase.lines] or None,
    }


def _line_detail(line: Line) -> dict[str, str]:
    return {"amount": str(line.amount)} | ({"category": line.category} if line.category else {})


def _reactivate_if_dormant(program: Program, change: MemberChange, order_id: str, now: datetime) -> None:
    """A dormant member's next purchase makes them active again, with the reactivation bonus."""
    if change.before is None or change.before.status != DORMANT:
        return
    change.after.status = "active"
    change.emit("member.reactivated", order_id=order_id)
    _credit_bonus(program, change, "reactivation", order_id, program.reactivation_points, now)


def _record_spend(program: Program, after: Member, purchase: Purchase, bought_on: date, today: date) -> None:
    """What a purchase adds to the member's history: tier spend, purchase days, category spend, the
    first purchase's moment."""
    if after.purchase_count == 0 or (after.first_purchase_at and purchase.occurred_at < after.first_purchase_at):
        after.first_purchase_at = purchase.occurred_at
    after.purchase_count += 1
    spend_month = month_key(bought_on)
    after.spend_by_month[spend_month] = after.spend_by_month.get(spend_month, Decimal(0)) + purchase.amount
    after.spend_by_month = _pruned_spend(after, today)
    after.purchase_days = purchase_days.with_day(after.purchase_days, bought_on, _keep_days_from(program, today))
    after.category_spend = segments.add_category_spend(after.category_spend, purchase.lines)
    if after.last_activity_at is None or purchase.occurred_at > after.last_activity_at:
        after.last_activity_at = purchase.occurred_at


def _keep_days_from(program: Program, today: date) -> date:
    """The oldest purchase day kept: what the active-member KPIs need, and at least the 365 days the
    segments' frequency counts (a program with little back-dating would otherwise keep fewer)."""
    return min(
        purchase_days.keep_from(today, program.max_backdate_days),
        today - timedelta(days=segments.FREQUENCY_WINDOW_DAYS),
    )


def _pruned_spend(member: Member, today: date) -> dict[str, Decimal]:
    """The months that can still count: the last 12, and those a tier review not yet run still needs
    (a late or replayed review judges the 12 months before its own date, not before today)."""
    since = min(today, member.review_at) if member.review_at else today
    return tiers.prune_spend(member.spend_by_month, since)


def _upgrade_if_earned(program: Program, change: MemberChange, today: date) -> None:
    member = change.after
    spend = tiers.rolling_spend(member.spend_by_month, today)
    candidate = tiers.tier_for_spend(program, spend).code
    if program.tier_rank(candidate) > program.tier_rank(member.tier):
        change.emit("tier.upgraded", from_tier=member.tier, to_tier=candidate, qualifying_spend=spend)
        member.tier, member.tier_since = candidate, today
        member.review_at = tiers.review_date(program, candidate, today)


def _referral(
    program: Program, member: Member, referrer: Member | None, now: datetime, order_id: str
) -> MemberChange | None:
    """200 points to the referrer on the referred member's first purchase (once, by entry id); the
    entry names that purchase (its full return takes the bonus back: domain/referrals.py)."""
    if member.purchase_count or referrer is None or referrer.status == ERASED:
        return None
    change = MemberChange(before=referrer, after=referrer.clone())
    _credit_bonus(
        program, change, "referral", member.member_id, program.referral_points, now,
        referred_member_id=member.member_id, order_id=order_id,
    )  # fmt: skip
    return change


@dataclass(frozen=True)
class PurchaseRecord:
    """What a return needs to know of the purchase it returns (from the purchase's ledger entry)."""

    order_id: str
    amount: Decimal
    points: int
    returned_amount: Decimal
    clawed_points: int
    lot_month: str
    spend_month: str
    payment: checkout.Payment | None = None  # the points it paid with, given back pro rata


def record_return(
    program: Program,
    member: Member,
    purchase: PurchaseRecord,
    return_id: str,
    amount: Decimal,
    occurred_at: datetime,
    now: datetime,
) -> MemberChange:
    """Take back the points the returned amount earned (pro rata); re-check the tier."""
    left = purchase.amount - purchase.returned_amount
    if amount > left:
        raise ReturnExceedsPurchase(
            f"return of {amount} exceeds the {left} left of order {purchase.order_id}",
            [{"field": "amount", "message": f"at most {left} can be returned"}],
        )
    after = _writable(member)
    change = MemberChange(before=member, after=after)
    today = _today(program, now)
    points = clawback_points(purchase.points, purchase.amount, purchase.returned_amount, amount)
    if purchase.lot_month < month_key(today):
        points = 0  # the purchase's points have already expired: taking them again would charge twice
    still_pending = next((p for p in after.pending if p.entry_id == f"purchase#{purchase.order_id}"), None)
    from_pending = min(points, still_pending.points) if still_pending else 0
    if still_pending and from_pending:
        still_pending.points -= from_pending
        if still_pending.points == 0:
            after.pending.remove(still_pending)
    after.wallet.claw_back(points - from_pending, purchase.lot_month)
    after.lifetime_earned -= points
    month = purchase.spend_month
    after.spend_by_month[month] = after.spend_by_month.get(month, Decimal(0)) - amount
    after.spend_by_month = _pruned_spend(after, today)
    details = {"order_id": purchase.order_id, "amount": amount}
    change.entries.append(LedgerEntry("return", return_id, -points, occurred_at, details))
    change.emit("points.returned", points=points, order_id=purchase.order_id, return_id=return_id, amount=amount)
    if purchase.payment is not None:
        amounts = (purchase.amount, purchase.returned_amount, amount)
        checkout.refund_payment(
            program, change, purchase.order_id, return_id, purchase.payment, amounts, today, occurred_at
        )
    _downgrade_after_return(program, change, today)
    return change


def _downgrade_after_return(program: Program, change: MemberChange, today: date) -> None:
    member = change.after
    spend = tiers.rolling_spend(member.spend_by_month, today)
    candidate = tiers.higher(program, member.tier_floor, tiers.tier_for_spend(program, spend).code)
    if program.tier_rank(candidate) < program.tier_rank(member.tier):
        change.emit(
            "tier.downgraded", from_tier=member.tier, to_tier=candidate, reason="return", qualifying_spend=spend
        )
        member.tier, member.tier_since = candidate, today
        member.review_at = tiers.review_date(program, candidate, today)


def _spend(change: MemberChange, points: int) -> None:
    try:
        change.after.wallet.spend(points)
    except InsufficientPoints as exc:
        raise InsufficientPointsError(
            f"needs {exc.needed} points, {exc.available} available",
            [{"field": "points", "message": f"{exc.available} points available"}],
        ) from exc


def redeem_reward(
    program: Program, member: Member, redemption_id: str, reward_id: str, now: datetime, coupon_code: str
) -> MemberChange:
    reward = program.reward(reward_id)
    if reward is None:
        raise NotFound(f"reward {reward_id!r} is not in the catalog")
    if program.tier_rank(member.tier) < program.tier_rank(reward.min_tier):
        raise TierTooLow(f"reward {reward_id} needs tier {reward.min_tier}, member is {member.tier}")
    change = MemberChange(before=member, after=_writable(member))
    _spend(change, reward.points_cost)
    rule = CouponRule(value=reward.coupon_value, valid_days=reward.coupon_valid_days)
    coupon = issue_coupon(program, change, coupon_code, "reward", rule, now, reward_id)
    change.entries.append(
        LedgerEntry(
            "redemption", redemption_id, -reward.points_cost, now, {"reward_id": reward_id, "coupon_code": coupon.code}
        )
    )
    change.emit("points.redeemed", points=reward.points_cost, redemption_id=redemption_id, reward_id=reward_id)
    return change


def redeem_points(
    program: Program, member: Member, redemption_id: str, points: int, reason: str, now: datetime
) -> MemberChange:
    change = MemberChange(before=member, after=_writable(member))
    _spend(change, points)
    change.entries.append(LedgerEntry("redemption", redemption_id, -points, now, {"reason": reason}))
    change.emit("points.redeemed", points=points, redemption_id=redemption_id, reason=reason)
    return change


def record_activity(
    program: Program, member: Member, activity_id: str, activity_type: str, now: datetime
) -> MemberChange:
    rule = program.activities.get(activity_type)
    if rule is None:
        raise InvalidRequest(
            f"unknown activity type {activity_type!r}",
            [{"field": "type", "message": f"one of {sorted(program.activities)}"}],
        )
    change = MemberChange(before=member, after=_writable(member))
    change.after.last_activity_at = now
    _credit_bonus(program, change, "activity", activity_id, rule.points, now, type=activity_type)
    return change


def adjust(
    program: Program, member: Member, adjustment_id: str, points: int, reason: str, now: datetime
) -> MemberChange:
    """An ops correction: credits go to the current month's lot; debits never go below zero."""
    change = MemberChange(before=member, after=_writable(member))
    if points > 0:
        change.after.wallet.credit(points, expiry_month(_today(program, now), program.expiry_months))
        change.after.lifetime_earned += points
    else:
        _spend(change, -points)
    change.entries.append(LedgerEntry("adjustment", adjustment_id, points, now, {"reason": reason}))
    change.emit("points.adjusted", points=points, adjustment_id=adjustment_id)
    return change


def expiring(program: Program, member: Member) -> list[dict[str, object]]:
    """The member's lots as (expiry date, points), soonest first: what the member view shows."""
    return [
        {"date": last_day_of_month(month), "points": points}
        for month, points in sorted(member.wallet.lots.items())
        if points > 0
    ]
