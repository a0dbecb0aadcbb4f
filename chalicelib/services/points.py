"""Points use cases: purchase, return, redemption, activity, adjustment."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib.domain import attribution, checkout, rules
from chalicelib.domain.calendar import expiry_month
from chalicelib.domain.campaigns import BudgetExhausted, PurchaseFacts
from chalicelib.domain.checkout import Payment
from chalicelib.domain.commands import Adjust, RecordActivity, RecordPurchase, RecordReturn, Redeem, check_currency
from chalicelib.domain.errors import (
    ActivityLimitReached,
    NotFound,
    RewardOutOfStock,
)
from chalicelib.domain.model import Member, MemberChange
from chalicelib.program import Program, load_program
from chalicelib.services import campaigns, referrals
from chalicelib.services.writes import Plan, check_occurred_at, member_write, new_coupon_code
from chalicelib.store import members


def record_purchase(command: RecordPurchase) -> dict[str, Any]:
    program = load_program()
    check_currency(program.currency, command.currency)
    attribution.check_staff(command.attribution())
    exhausted: set[str] = set()
    while True:  # a campaign whose budget refused the points: once more without it (base points still earned)
        try:
            return _earn(program, command, frozenset(exhausted))
        except BudgetExhausted as refused:
            if refused.campaign_id in exhausted:
                raise
            exhausted.add(refused.campaign_id)


def purchase_change(
    program: Program,
    command: RecordPurchase,
    member: Member,
    now: datetime,
    referrer: Member | None,
    exhausted: frozenset[str],
) -> tuple[Plan, MemberChange]:
    """The purchase decided (base points, points paid, campaigns): what it writes and its change.
    The quote runs exactly this, so what it says is what the purchase then credits."""
    # occurred_at is checked here, inside the write: a replay is then answered from its entry
    # even after its occurred_at has left the back-dating window (member_write looks it up).
    purchase = rules.Purchase(
        order_id=command.order_id,
        amount=command.amount,
        occurred_at=check_occurred_at(program, command.occurred_at, now),
        lines=command.earning_lines(),
        channel=command.channel,
        store_id=command.store_id,
        staff_id=command.staff_id,
        points_payment=command.points_payment,
    )
    change, referral = rules.record_purchase(program, member, purchase, now, referrer)
    paid = Payment.from_details(change.entries[0].details.get(checkout.FIELD))
    facts = PurchaseFacts(
        purchase.amount,
        purchase.occurred_at,
        purchase.lines,
        purchase.channel,
        purchase.store_id,
        money_share=checkout.money_share(purchase.amount, paid.value if paid else Decimal(0)),
    )
    budgets = campaigns.apply(program, member, facts, change, exhausted)
    return Plan([change] if referral is None else [change, referral], budgets), change


def _earn(program: Program, command: RecordPurchase, exhausted: frozenset[str]) -> dict[str, Any]:
    def decide(member: Member, now: datetime) -> Plan:
        referrer = None
        if member.purchase_count == 0 and member.referrer_id:
            referrer = members.load_member(member.referrer_id)
        return purchase_change(program, command, member, now, referrer, exhausted)[0]

    return member_write(command.member_id, f"purchase#{command.order_id}", command.identity(), decide)


def _purchase_record(item: dict[str, Any]) -> rules.PurchaseRecord:
    details = item.get("details") or {}
    return rules.PurchaseRecord(
        order_id=item["ref"],
        amount=Decimal(details["amount"]),
        points=int(item["points"]),
        returned_amount=Decimal(item.get("returned_amount", 0)),
        clawed_points=int(item.get("clawed_points", 0)),
        lot_month=details["lot_month"],
        spend_month=details["spend_month"],
        payment=Payment.from_details(details.get(checkout.FIELD)),
    )


def record_return(command: RecordReturn) -> dict[str, Any]:
    program = load_program()
    member_id, order_id, return_id, amount = command.member_id, command.order_id, command.return_id, command.amount

    def decide(member: Member, now: datetime) -> Plan:
        occurred_at = check_occurred_at(program, command.occurred_at, now)  # inside: as for purchases
        item = members.get_entry(member_id, f"purchase#{order_id}")
        if item is None:
            raise NotFound(
                f"order {order_id} is not a purchase of this member",
                [{"field": "order_id", "message": "unknown order"}],
            )
        purchase = _purchase_record(item)
        change = rules.record_return(program, member, purchase, return_id, amount, occurred_at, now)
        clawed = -change.entries[0].points
        returned = purchase.returned_amount
        record = members.returned_purchase_op(
            member_id, order_id, returned, returned + amount, purchase.clawed_points + clawed
        )
        # The referrer's change goes in the same transaction as the return (as the referral did with the purchase).
        clawback = referrals.clawback_on_return(program, member, item, returned + amount, now)
        budgets = campaigns.give_back(item.get("details") or {}, purchase.amount, returned, amount)
        return Plan([change] if clawback is None else [change, clawback], [members.Extra(record), *budgets])

    return member_write(member_id, f"return#{return_id}", command.identity(), decide)


def redeem(command: Redeem) -> dict[str, Any]:
    program = load_program()
    member_id, redemption_id, reward_id = command.member_id, command.redemption_id, command.reward_id

    def decide(member: Member, now: datetime) -> Plan:
        if reward_id is None:
            assert command.points is not None and command.reason is not None  # the request model's rule
            return Plan([rules.redeem_points(program, member, redemption_id, command.points, command.reason, now)])
        change = rules.redeem_reward(program, member, redemption_id, reward_id, now, new_coupon_code())
        reward = program.reward(reward_id)
        extras = []
        if reward is not None and reward.stock is not None:
            stock = members.reward_stock_op(reward_id, reward.stock)
            extras.append(members.Extra(stock, RewardOutOfStock(f"reward {reward_id} is out of stock")))
        coupon = change.coupons[0]
        return Plan(
            [change],
            extras,
            {
                "coupon": {
                    "code": coupon.code,
                    "value": coupon.value,
                    "expires_at": coupon.expires_at,
                    "reward_id": reward_id,
                }
            },
        )

    return member_write(member_id, f"redemption#{redemption_id}", command.identity(), decide)


def record_activity(command: RecordActivity) -> dict[str, Any]:
    program = load_program()
    return campaigns.budget_retries(lambda exhausted: _activity(program, command, exhausted))


def _activity(program: Program, command: RecordActivity, exhausted: frozenset[str]) -> dict[str, Any]:
    member_id, activity_type = command.member_id, command.type
    rule = program.activities.get(activity_type)

    def decide(member: Member, now: datetime) -> Plan:
        change = rules.record_activity(program, member, command.activity_id, activity_type, now)
        assert rule is not None  # record_activity refused unknown types
        today = now.astimezone(program.tz).date()
        expires_at = int(now.timestamp()) + 3 * 86400  # the counter outlives its day in every time zone
        counter = members.activity_counter_op(member_id, today.isoformat(), activity_type, rule.daily_limit, expires_at)
        limit = ActivityLimitReached(f"{activity_type} is limited to {rule.daily_limit} a day")
        # Activity campaigns multiply the activity's points and add their bonus, into this month's lot.
        facts = PurchaseFacts(Decimal(0), now, trigger="activity", base_points=rule.points)
        lot = expiry_month(today, program.expiry_months)
        offers = campaigns.apply(program, member, facts, change, exhausted, lot) if change.entries else []
        return Plan([change], [members.Extra(counter, limit), *offers])

    return member_write(member_id, f"activity#{command.activity_id}", command.identity(), decide)


def adjust(command: Adjust) -> dict[str, Any]:
    program = load_program()

    def decide(member: Member, now: datetime) -> Plan:
        return Plan([rules.adjust(program, member, command.adjustment_id, command.points, command.reason, now)])

    return member_write(command.member_id, f"adjustment#{command.adjustment_id}", command.identity(), decide)
