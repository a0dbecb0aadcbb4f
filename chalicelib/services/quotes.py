"""POST /members/{id}/quote: what a cart would earn and what may pay for it, written nowhere. It runs
the purchase's own decision (services/points.purchase_change) on the member as read, so the
purchase that follows with the same body credits exactly `points_to_earn`."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from chalicelib import clock
from chalicelib.domain import attribution, checkout, tiers
from chalicelib.domain.calendar import local_date
from chalicelib.domain.commands import RecordPurchase, check_currency
from chalicelib.domain.earning import floor_points, weighted_spend
from chalicelib.domain.errors import MemberNotFound
from chalicelib.domain.model import LedgerEntry, Member
from chalicelib.program import Program, load_program
from chalicelib.services.points import purchase_change
from chalicelib.store import codec, members


def _breakdown(program: Program, member: Member, command: RecordPurchase, entry: LedgerEntry) -> dict[str, Any]:
    """The purchase's points split so that base + category + tier + campaigns = points_to_earn:
    base 1 per unit of money paid, then what the category and the tier multipliers add."""
    campaigns = list(entry.details.get("campaigns") or [])
    if entry.details.get("lapsed_points") or entry.points == 0:
        base = category = tier = 0
    else:
        payment = checkout.Payment.from_details(entry.details.get(checkout.FIELD))
        share = checkout.money_share(command.amount, payment.value if payment else Decimal(0))
        weighted = weighted_spend(program, command.amount, command.earning_lines()) * share
        base = floor_points(command.amount * share)
        category = floor_points(weighted) - base
        tier = entry.points - sum(int(c["points"]) for c in campaigns) - base - category
    return {
        "base": base,
        "category": category,
        "tier": tier,
        "campaigns": campaigns,
        "campaigns_skipped": list(entry.details.get("campaigns_skipped") or []),
    }


def _coupons(codes: list[str], wallet: dict[str, dict[str, Any]], amount: Decimal, now: datetime) -> list[Any]:
    found = []
    for code in dict.fromkeys(codes):  # each code once, in the order given
        item = wallet.get(code)
        if item is None:
            found.append({"code": code, "value": None, "applicable": False, "reason": "unknown"})
            continue
        view = codec.coupon_view(item, now)
        reason = None if view["status"] == "available" else view["status"]
        if reason is None and Decimal(item["value"]) > amount:
            reason = "exceeds_amount"
        found.append({"code": code, "value": view["value"], "applicable": reason is None, "reason": reason})
    return found


def _points_payment(program: Program, member: Member, amount: Decimal) -> dict[str, Any] | None:
    """The most points this cart may pay with: the program's share of the amount, what the member
    has, in whole money steps (`points_per_unit` points are worth 1.00)."""
    rule = program.points_payment
    if rule is None:
        return None
    step = rule.step(program.currency_places)
    most = min(rule.max_points(amount), max(member.available, 0)) // step * step
    if most < rule.min_points:
        most = 0
    return {
        "max_points": most,
        "max_value": rule.value(most, program.currency_places),
        "points_per_unit": rule.points_per_unit,
        "min_points": rule.min_points,
    }


def quote(command: RecordPurchase, coupon_codes: list[str]) -> dict[str, Any]:
    program = load_program()
    check_currency(program.currency, command.currency)
    attribution.check_staff(command.attribution())
    now = clock.now()
    member, wallet = members.load_member_and_coupons(command.member_id)  # the one Query
    if member is None:
        raise MemberNotFound(f"member {command.member_id} not found")
    # Budgets are not read (that would be a second round trip): a budgeted campaign is quoted as if
    # it had budget left; the purchase then says `budget_exhausted` if it had not.
    _, change = purchase_change(program, command, member, now, None, frozenset())
    entry, after = change.entries[0], change.after
    today = local_date(now, program.tz)
    progress = tiers.progress(program, after.tier, tiers.rolling_spend(after.spend_by_month, today))
    discount = program.tier(member.tier).benefits.discount_percent
    cent = Decimal(1).scaleb(-program.currency_places)
    return codec.jsonable(
        {
            "member_id": member.member_id,
            "points_to_earn": entry.points,
            "pending": bool(entry.details.get("pending")),
            "breakdown": _breakdown(program, member, command, entry),
            "tier_discount": {
                "percent": discount,
                "value": (command.amount * discount / 100).quantize(cent, rounding=ROUND_HALF_UP),
            },
            "coupons": _coupons(coupon_codes, wallet, command.amount, now),
            "points_payment": _points_payment(program, member, command.amount),
            "tier_after": after.tier,
            "spend_to_next_tier_after": progress.spend_to_next_tier.quantize(cent),
            "next_tier_after": progress.next_tier,
        }
    )
