"""The use-case rules: state in, MemberChange out (entries, coupons, events), no I/O."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.domain import rules
from chalicelib.domain.errors import (
    InsufficientPointsError,
    InvalidRequest,
    MemberErased,
    NotFound,
    ReturnExceedsPurchase,
    TierTooLow,
)
from chalicelib.domain.model import ACTIVE, DORMANT, ERASED, Member, MemberChange, PendingLot

from ._support import PROGRAM, at, new_member, purchase, record_from_entry

D = Decimal
NOW = at(2026, 3, 14)  # lots earned now expire in 2027-03


def events(change: MemberChange) -> list[str]:
    return [event.detail_type for event in change.events]


def event(change: MemberChange, detail_type: str) -> dict[str, Any]:
    (found,) = [e.detail for e in change.events if e.detail_type == detail_type]
    return found


def buy(
    member: Member,
    order_id: str,
    amount: str,
    when: datetime = NOW,
    now: datetime | None = None,
    program: Any = PROGRAM,
    **kwargs: Any,
) -> MemberChange:
    change, _ = rules.record_purchase(program, member, purchase(order_id, amount, when), now or when, **kwargs)
    return change


# --- enrol -----------------------------------------------------------------------------------------


def test_enrol_credits_the_welcome_bonus_and_issues_the_first_purchase_coupon() -> None:
    change = rules.enrol(PROGRAM, "m-1", NOW, "FP-1", birthday=date(1990, 2, 28), referrer_id="m-0")
    member = change.after

    assert change.before is None
    assert (member.member_id, member.status, member.tier, member.tier_floor) == ("m-1", ACTIVE, "member", "member")
    assert member.tier_since == date(2026, 3, 14)
    assert member.review_at is None
    assert member.wallet.lots == {"2027-03": 100}
    assert member.balances() == {"available": 100, "pending": 0, "lifetime_earned": 100}
    assert (member.birthday, member.referrer_id, member.last_activity_at) == (date(1990, 2, 28), "m-0", NOW)
    [entry] = change.entries
    assert (entry.kind, entry.ref, entry.points, entry.entry_id) == ("enrol", "m-1", 100, "enrol#m-1")
    [coupon] = change.coupons
    assert (coupon.code, coupon.kind, coupon.value) == ("FP-1", "first_purchase", D("10.00"))
    assert coupon.expires_at == NOW + timedelta(days=30)
    assert events(change) == ["member.enrolled", "points.earned", "coupon.issued"]
    assert event(change, "member.enrolled") == {"member_id": "m-1", "tier": "member", "referred": True}
    assert event(change, "points.earned")["points"] == 100


def test_enrol_uses_the_program_date_for_the_lot_and_tier_since() -> None:
    late_utc = datetime(2026, 3, 31, 17, 0, tzinfo=UTC)  # 1 April 01:00 in Shanghai

    member = rules.enrol(PROGRAM, "m-1", late_utc, "FP-1").after

    assert member.tier_since == date(2026, 4, 1)
    assert member.wallet.lots == {"2027-04": 100}


def test_enrol_without_a_welcome_bonus_still_writes_the_enrol_entry() -> None:
    program = PROGRAM.model_copy(update={"welcome_points": 0})

    change = rules.enrol(program, "m-1", NOW, "FP-1")

    assert [(e.kind, e.points) for e in change.entries] == [("enrol", 0)]
    assert change.after.wallet.lots == {}
    assert events(change) == ["member.enrolled", "coupon.issued"]


# --- purchases -------------------------------------------------------------------------------------


def test_purchase_earns_points_into_the_lot_of_its_month() -> None:
    member = new_member(NOW)

    change = buy(member, "o-1", "99.99")
    after = change.after

    [entry] = change.entries
    assert (entry.kind, entry.ref, entry.points, entry.occurred_at) == ("purchase", "o-1", 99, NOW)
    assert entry.details["amount"] == D("99.99")
    assert entry.details["lot_month"] == "2027-03"
    assert entry.details["spend_month"] == "2026-03"
    assert entry.details["pending"] is False
    assert entry.details["lapsed_points"] == 0
    assert entry.details["tier"] == "member"
    assert after.wallet.lots == {"2027-03": 199}
    assert after.balances() == {"available": 199, "pending": 0, "lifetime_earned": 199}
    assert after.purchase_count == 1
    assert after.spend_by_month == {"2026-03": D("99.99")}
    assert events(change) == ["points.earned"]
    assert event(change, "points.earned")["points"] == 99


def test_backdated_purchase_goes_to_the_lot_and_spend_month_of_when_it_happened() -> None:
    member = new_member(at(2026, 1, 5))
    bought = datetime(2026, 1, 31, 16, 30, tzinfo=UTC)  # 1 February 00:30 in Shanghai

    change = buy(member, "o-1", "50", when=bought, now=NOW)

    assert change.entries[0].details["lot_month"] == "2027-02"
    assert change.after.wallet.lots == {"2027-01": 100, "2027-02": 50}
    assert change.after.spend_by_month == {"2026-02": D("50")}
    assert change.after.last_activity_at == bought


def test_older_purchase_does_not_move_last_activity_back() -> None:
    member = new_member(NOW)

    change = buy(member, "o-1", "50", when=NOW - timedelta(days=3), now=NOW)

    assert change.after.last_activity_at == NOW


def test_purchase_reaching_a_threshold_upgrades_at_once() -> None:
    member = buy(new_member(NOW), "o-1", "1900").after

    change = buy(member, "o-2", "150", when=NOW + timedelta(hours=1))

    assert change.entries[0].points == 150  # still earned at the member rate
    assert change.after.tier == "silver"
    assert change.after.tier_since == date(2026, 3, 14)
    assert change.after.review_at == date(2027, 3, 14)
    assert change.after.tier_floor == "member"
    assert events(change) == ["points.earned", "tier.upgraded"]
    assert event(change, "tier.upgraded") == {
        "member_id": "m-1",
        "from_tier": "member",
        "to_tier": "silver",
        "qualifying_spend": D("2050"),
    }


def test_purchase_earns_at_the_tier_before_the_purchase() -> None:
    silver = buy(new_member(NOW), "o-1", "2000").after
    assert silver.tier == "silver"

    change = buy(silver, "o-2", "10000")

    assert change.entries[0].points == 12000  # 1.2x, not gold's 1.5x
    assert change.entries[0].details["tier"] == "silver"
    assert change.after.tier == "gold"
    assert buy(change.after, "o-3", "100").entries[0].points == 150


def test_one_big_purchase_can_skip_tiers() -> None:
    change = buy(new_member(NOW), "o-1", "20000")

    assert change.entries[0].points == 20000
    assert change.after.tier == "platinum"
    assert event(change, "tier.upgraded")["from_tier"] == "member"
    assert event(change, "tier.upgraded")["to_tier"] == "platinum"


def test_spend_older_than_the_rolling_window_does_not_upgrade() -> None:
    member = buy(new_member(at(2025, 3, 1)), "o-old", "1500", when=at(2025, 3, 2), now=at(2025, 3, 2)).after

    change = buy(member, "o-new", "600", when=at(2026, 3, 1))

    assert change.after.tier == "member"
    assert "tier.upgraded" not in events(change)
    assert change.after.spend_by_month == {"2025-03": D("1500"), "2026-03": D("600")}


def test_category_lines_earn_their_multiplier() -> None:
    lines = (rules.Line("fresh", D("10.50")),)

    change, _ = rules.record_purchase(PROGRAM, new_member(NOW), purchase("o-1", "30.00", NOW, lines), NOW)

    assert change.entries[0].points == 40


def test_purchase_points_stay_pending_when_the_program_has_a_return_window() -> None:
    program = PROGRAM.model_copy(update={"pending_days": 7})
    member = new_member(NOW, program=program)

    change = buy(member, "o-1", "100", program=program)

    assert change.entries[0].points == 100
    assert change.entries[0].details["pending"] is True
    assert change.after.pending == [PendingLot("purchase#o-1", 100, date(2026, 3, 21), "2027-03")]
    assert change.after.balances() == {"available": 100, "pending": 100, "lifetime_earned": 200}
    assert change.after.wallet.lots == {"2027-03": 100}
    assert event(change, "points.earned")["pending"] is True


def test_a_purchase_older_than_the_pending_window_is_available_at_once() -> None:
    program = PROGRAM.model_copy(update={"pending_days": 7})
    member = new_member(at(2026, 3, 1), program=program)

    change = buy(member, "o-1", "100", when=at(2026, 3, 6), now=NOW, program=program)  # releases 13 March

    assert change.entries[0].details["pending"] is False
    assert change.after.pending == []
    assert change.after.balances() == {"available": 200, "pending": 0, "lifetime_earned": 200}


def test_purchase_reactivates_a_dormant_member_with_a_bonus() -> None:
    member = new_member(at(2025, 6, 1))
    member.status = DORMANT

    change = buy(member, "o-1", "100")

    assert change.after.status == ACTIVE
    assert [(e.kind, e.ref, e.points) for e in change.entries] == [
        ("purchase", "o-1", 100),
        ("reactivation", "o-1", 200),
    ]
    assert events(change) == ["points.earned", "member.reactivated", "points.earned"]
    assert event(change, "member.reactivated") == {"member_id": "m-1", "order_id": "o-1"}
    assert change.after.wallet.lots == {"2026-06": 100, "2027-03": 300}
    assert change.after.lifetime_earned == 400


def test_purchase_of_an_active_member_pays_no_reactivation_bonus() -> None:
    change = buy(new_member(NOW), "o-1", "100")

    assert [e.kind for e in change.entries] == ["purchase"]
    assert "member.reactivated" not in events(change)


def test_referral_is_paid_to_the_referrer_on_the_first_purchase_only() -> None:
    referrer = new_member(at(2026, 1, 1), member_id="m-ref")
    referred = new_member(NOW, member_id="m-new", referrer_id="m-ref")
    referrer_before = copy.deepcopy(referrer)

    change, referral = rules.record_purchase(PROGRAM, referred, purchase("o-1", "10", NOW), NOW, referrer)

    assert referral is not None
    assert referral.before is referrer
    assert referrer == referrer_before
    assert referral.after.member_id == "m-ref"
    assert referral.after.available == 300
    assert referral.after.wallet.lots == {"2027-01": 100, "2027-03": 200}
    [entry] = referral.entries
    assert (entry.kind, entry.ref, entry.points) == ("referral", "m-new", 200)
    assert entry.details == {"referred_member_id": "m-new", "order_id": "o-1"}
    assert event(referral, "points.earned")["member_id"] == "m-ref"
    # The referred member gets nothing extra.
    assert change.after.available == 110

    _, second = rules.record_purchase(PROGRAM, change.after, purchase("o-2", "10", NOW), NOW, referral.after)
    assert second is None


def test_no_referral_without_a_referrer_or_to_an_erased_one() -> None:
    referred = new_member(NOW, member_id="m-new", referrer_id="m-ref")
    erased = new_member(NOW, member_id="m-ref")
    erased.status = ERASED

    assert rules.record_purchase(PROGRAM, referred, purchase("o-1", "10", NOW), NOW)[1] is None
    assert rules.record_purchase(PROGRAM, referred, purchase("o-1", "10", NOW), NOW, erased)[1] is None


def test_very_late_purchase_whose_lot_already_ended_earns_nothing() -> None:
    member = new_member(at(2026, 3, 1))
    now = at(2027, 4, 2)  # the 2027-03 lot ended two days ago

    change = buy(member, "o-late", "100", when=at(2026, 3, 20), now=now)

    entry = change.entries[0]
    assert entry.points == 0
    assert entry.details["lapsed_points"] == 100
    assert entry.details["lot_month"] == "2027-03"
    assert change.after.wallet.lots == {"2027-03": 100}
    assert change.after.lifetime_earned == 100
    assert change.after.purchase_count == 1


def test_late_purchase_whose_lot_ends_this_month_still_earns() -> None:
    member = new_member(at(2026, 3, 1))

    change = buy(member, "o-late", "100", when=at(2026, 3, 20), now=at(2027, 3, 31, 23, 0))

    assert change.entries[0].points == 100
    assert change.entries[0].details["lapsed_points"] == 0
    assert change.after.wallet.lots == {"2027-03": 200}


def test_erased_member_cannot_purchase() -> None:
    member = new_member(NOW)
    member.status = ERASED

    with pytest.raises(MemberErased):
        buy(member, "o-1", "10")


# --- returns ---------------------------------------------------------------------------------------


def test_return_claws_back_pro_rata_and_reduces_the_spend() -> None:
    bought = buy(new_member(NOW), "o-1", "250")
    record = record_from_entry(bought.entries[0])

    change = rules.record_return(PROGRAM, bought.after, record, "r-1", D("100.50"), NOW, NOW)

    [entry] = change.entries
    assert (entry.kind, entry.ref, entry.points) == ("return", "r-1", -100)  # 100.5 rounded down
    assert entry.details == {"order_id": "o-1", "amount": D("100.50")}
    assert change.after.available == 250
    assert change.after.lifetime_earned == 250
    assert change.after.spend_by_month == {"2026-03": D("149.50")}
    assert event(change, "points.returned")["points"] == 100

    rest = record_from_entry(bought.entries[0], returned="100.50", clawed=100)
    final = rules.record_return(PROGRAM, change.after, rest, "r-2", D("149.50"), NOW, NOW)

    assert final.entries[0].points == -150  # together exactly the 250 earned
    assert final.after.available == 100
    assert final.after.lifetime_earned == 100
    assert final.after.spend_by_month == {}


def test_return_exceeding_what_is_left_is_refused() -> None:
    bought = buy(new_member(NOW), "o-1", "250")
    record = record_from_entry(bought.entries[0], returned="100.50", clawed=100)

    with pytest.raises(ReturnExceedsPurchase) as caught:
        rules.record_return(PROGRAM, bought.after, record, "r-2", D("149.51"), NOW, NOW)

    assert caught.value.code == "return_exceeds_purchase"
    assert caught.value.details == [{"field": "amount", "message": "at most 149.50 can be returned"}]


def test_return_takes_the_purchase_lot_first() -> None:
    member = new_member(NOW)  # welcome lot 2027-03
    april = at(2026, 4, 10)
    bought = buy(member, "o-1", "80", when=april)

    change = rules.record_return(
        PROGRAM, bought.after, record_from_entry(bought.entries[0]), "r-1", D("80"), april, april
    )

    assert change.after.wallet.lots == {"2027-03": 100}


def test_return_after_the_points_were_spent_leaves_a_debt_settled_by_later_earnings() -> None:
    bought = buy(new_member(NOW), "o-1", "500")  # 600 available
    spent = rules.redeem_reward(PROGRAM, bought.after, "red-1", "cash-5", NOW, "C-1").after  # 100 left

    returned = rules.record_return(PROGRAM, spent, record_from_entry(bought.entries[0]), "r-1", D("500"), NOW, NOW)

    assert returned.entries[0].points == -500
    assert returned.after.wallet.lots == {}
    assert returned.after.wallet.debt == 400
    assert returned.after.available == -400

    later = buy(returned.after, "o-2", "1000", when=NOW + timedelta(days=1))

    assert later.after.wallet.debt == 0
    assert later.after.wallet.lots == {"2027-03": 600}
    assert later.after.available == 600


def test_return_of_pending_points_takes_them_from_pending() -> None:
    program = PROGRAM.model_copy(update={"pending_days": 7})
    bought = buy(new_member(NOW, program=program), "o-1", "100", program=program)
    record = record_from_entry(bought.entries[0])

    half = rules.record_return(program, bought.after, record, "r-1", D("50"), NOW, NOW)

    assert half.entries[0].points == -50
    assert [lot.points for lot in half.after.pending] == [50]
    assert half.after.available == 100

    rest = rules.record_return(
        program, half.after, record_from_entry(bought.entries[0], "50", 50), "r-2", D("50"), NOW, NOW
    )
    assert rest.after.pending == []
    assert rest.after.balances() == {"available": 100, "pending": 0, "lifetime_earned": 100}


def test_return_below_the_threshold_downgrades_the_upgraded_tier() -> None:
    bought = buy(new_member(NOW), "o-1", "2500")
    assert bought.after.tier == "silver"

    change = rules.record_return(
        PROGRAM, bought.after, record_from_entry(bought.entries[0]), "r-1", D("600"), NOW, NOW + timedelta(days=2)
    )

    assert change.after.tier == "member"
    assert change.after.tier_since == date(2026, 3, 16)
    assert change.after.review_at is None
    assert event(change, "tier.downgraded") == {
        "member_id": "m-1",
        "from_tier": "silver",
        "to_tier": "member",
        "reason": "return",
        "qualifying_spend": D("1900"),
    }


def test_return_keeping_the_spend_above_the_threshold_keeps_the_tier() -> None:
    bought = buy(new_member(NOW), "o-1", "2500")

    change = rules.record_return(PROGRAM, bought.after, record_from_entry(bought.entries[0]), "r-1", D("500"), NOW, NOW)

    assert change.after.tier == "silver"
    assert "tier.downgraded" not in events(change)


def test_return_never_drops_below_the_tier_floor() -> None:
    bought = buy(new_member(NOW), "o-1", "8000")
    gold = bought.after
    assert gold.tier == "gold"
    gold.tier_floor = "silver"  # kept silver at an earlier review

    change = rules.record_return(PROGRAM, gold, record_from_entry(bought.entries[0]), "r-1", D("8000"), NOW, NOW)

    assert change.after.tier == "silver"
    assert event(change, "tier.downgraded")["to_tier"] == "silver"


# --- redemptions -----------------------------------------------------------------------------------


def test_reward_above_the_member_tier_is_refused() -> None:
    rich = buy(new_member(NOW), "o-1", "1500").after

    with pytest.raises(TierTooLow) as caught:
        rules.redeem_reward(PROGRAM, rich, "red-1", "tote-bag", NOW, "C-1")

    assert caught.value.code == "tier_too_low"
    assert "silver" in caught.value.message


def test_reward_with_too_few_points_is_refused() -> None:
    member = buy(new_member(NOW), "o-1", "399.99").after  # 499 points

    with pytest.raises(InsufficientPointsError) as caught:
        rules.redeem_reward(PROGRAM, member, "red-1", "cash-5", NOW, "C-1")

    assert caught.value.code == "insufficient_points"
    assert caught.value.details == [{"field": "points", "message": "499 points available"}]


def test_unknown_reward_is_not_found() -> None:
    with pytest.raises(NotFound):
        rules.redeem_reward(PROGRAM, new_member(NOW), "red-1", "yacht", NOW, "C-1")


def test_redeeming_a_reward_spends_oldest_points_and_issues_a_coupon() -> None:
    member = buy(new_member(at(2026, 1, 2)), "o-1", "600").after  # lots 2027-01: 100, 2027-03: 600

    change = rules.redeem_reward(PROGRAM, member, "red-1", "cash-5", NOW, "C-1")

    assert change.after.wallet.lots == {"2027-03": 200}
    assert change.after.lifetime_earned == 700
    [coupon] = change.coupons
    assert (coupon.code, coupon.kind, coupon.value, coupon.reward_id) == ("C-1", "reward", D("5.00"), "cash-5")
    assert coupon.expires_at == NOW + timedelta(days=90)
    [entry] = change.entries
    assert (entry.kind, entry.ref, entry.points) == ("redemption", "red-1", -500)
    assert entry.details == {"reward_id": "cash-5", "coupon_code": "C-1"}
    assert events(change) == ["coupon.issued", "points.redeemed"]
    assert event(change, "points.redeemed")["points"] == 500


def test_silver_member_can_redeem_a_silver_reward() -> None:
    silver = buy(new_member(NOW), "o-1", "2000").after

    change = rules.redeem_reward(PROGRAM, silver, "red-1", "tote-bag", NOW, "C-1")

    assert change.after.available == 2100 - 1200


def test_redeem_points_spends_them() -> None:
    change = rules.redeem_points(PROGRAM, new_member(NOW), "red-1", 60, "donation", NOW)

    assert change.after.available == 40
    assert [(e.kind, e.points, e.details) for e in change.entries] == [("redemption", -60, {"reason": "donation"})]
    assert events(change) == ["points.redeemed"]


def test_redeem_points_beyond_the_balance_is_refused() -> None:
    with pytest.raises(InsufficientPointsError):
        rules.redeem_points(PROGRAM, new_member(NOW), "red-1", 101, "donation", NOW)


# --- activities and adjustments --------------------------------------------------------------------


def test_activity_earns_its_points_and_counts_as_activity() -> None:
    later = NOW + timedelta(days=40)

    change = rules.record_activity(PROGRAM, new_member(NOW), "act-1", "review", later)

    assert change.after.available == 120
    assert change.after.wallet.lots == {"2027-03": 100, "2027-04": 20}
    assert change.after.last_activity_at == later
    assert [(e.kind, e.ref, e.points, e.details) for e in change.entries] == [
        ("activity", "act-1", 20, {"type": "review"})
    ]


def test_unknown_activity_type_is_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        rules.record_activity(PROGRAM, new_member(NOW), "act-1", "dance", NOW)

    assert caught.value.details[0]["field"] == "type"
    assert "check_in" in caught.value.details[0]["message"]


def test_adjustment_credit_goes_to_the_current_lot_and_counts_as_earned() -> None:
    change = rules.adjust(PROGRAM, new_member(NOW), "adj-1", 30, "goodwill", NOW + timedelta(days=31))

    assert change.after.wallet.lots == {"2027-03": 100, "2027-04": 30}
    assert change.after.lifetime_earned == 130
    assert [(e.kind, e.points) for e in change.entries] == [("adjustment", 30)]


def test_adjustment_debit_spends_but_never_below_zero() -> None:
    debit = rules.adjust(PROGRAM, new_member(NOW), "adj-1", -100, "correction", NOW)

    assert debit.after.available == 0
    assert debit.after.lifetime_earned == 100
    assert debit.entries[0].points == -100

    with pytest.raises(InsufficientPointsError):
        rules.adjust(PROGRAM, new_member(NOW), "adj-2", -101, "correction", NOW)


def test_expiring_lists_lots_soonest_first() -> None:
    member = buy(new_member(at(2026, 1, 2)), "o-1", "600").after

    assert rules.expiring(PROGRAM, member) == [
        {"date": date(2027, 1, 31), "points": 100},
        {"date": date(2027, 3, 31), "points": 600},
    ]


# --- rules never mutate their input ----------------------------------------------------------------


def _rich_member() -> tuple[Member, rules.PurchaseRecord]:
    program = PROGRAM.model_copy(update={"pending_days": 7})
    member = new_member(at(2026, 1, 2), program=program)
    bought = buy(member, "o-1", "2500", when=at(2026, 3, 1), now=NOW, program=program)  # released
    pending = buy(bought.after, "o-2", "100", program=program)
    return pending.after, record_from_entry(bought.entries[0])


CALLS: dict[str, Callable[[Member, rules.PurchaseRecord], object]] = {
    "purchase": lambda m, _: rules.record_purchase(PROGRAM, m, purchase("o-3", "30000", NOW), NOW),
    "purchase-dormant": lambda m, _: rules.record_purchase(
        PROGRAM, m, purchase("o-3", "10", NOW), NOW, new_member(NOW, "m-ref")
    ),
    "return": lambda m, r: rules.record_return(PROGRAM, m, r, "r-1", D("2500"), NOW, NOW),
    "return-too-much": lambda m, r: rules.record_return(PROGRAM, m, r, "r-1", D("2500.01"), NOW, NOW),
    "reward": lambda m, _: rules.redeem_reward(PROGRAM, m, "red-1", "tote-bag", NOW, "C-1"),
    "reward-tier-too-low": lambda m, _: rules.redeem_reward(PROGRAM, m, "red-1", "lounge-pass", NOW, "C-1"),
    "points-insufficient": lambda m, _: rules.redeem_points(PROGRAM, m, "red-1", 2601, "x", NOW),
    "points": lambda m, _: rules.redeem_points(PROGRAM, m, "red-1", 1500, "x", NOW),
    "activity": lambda m, _: rules.record_activity(PROGRAM, m, "act-1", "share", NOW),
    "adjust-credit": lambda m, _: rules.adjust(PROGRAM, m, "adj-1", 10, "x", NOW),
    "adjust-debit": lambda m, _: rules.adjust(PROGRAM, m, "adj-1", -10, "x", NOW),
    "adjust-too-much": lambda m, _: rules.adjust(PROGRAM, m, "adj-1", -5000, "x", NOW),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_rules_never_mutate_the_member_they_are_given(name: str) -> None:
    member, record = _rich_member()
    if name == "purchase-dormant":
        member.status = DORMANT
    snapshot = copy.deepcopy(member)
    assert member.balances() == {"available": 2600, "pending": 120, "lifetime_earned": 2720}
    assert member.tier == "silver"

    try:
        result = CALLS[name](member, record)
    except (InsufficientPointsError, ReturnExceedsPurchase, TierTooLow):
        result = None

    assert member == snapshot
    if name.endswith(("too-much", "insufficient", "too-low")):
        assert result is None
    else:
        change = result[0] if isinstance(result, tuple) else result
        assert isinstance(change, MemberChange)
        assert change.before is member
        assert change.after is not member
        assert change.after != snapshot


def test_purchase_dates_follow_the_program_time_zone() -> None:
    bought = datetime(2026, 3, 31, 17, 0, tzinfo=UTC)  # 1 April in Shanghai, still 31 March in UTC
    utc_program = PROGRAM.model_copy(update={"timezone": "UTC"})

    shanghai = buy(new_member(NOW), "o-1", "10", when=bought)
    utc = buy(new_member(NOW, program=utc_program), "o-1", "10", when=bought, program=utc_program)

    assert shanghai.entries[0].details["spend_month"] == "2026-04"
    assert shanghai.entries[0].details["lot_month"] == "2027-04"
    assert utc.entries[0].details["spend_month"] == "2026-03"
    assert utc.entries[0].details["lot_month"] == "2027-03"


def test_return_of_a_purchase_whose_points_already_expired_takes_nothing_back() -> None:
    # Given a purchase in 2026-01 whose lot expired at the end of 2027-01
    bought = at(2026, 1, 10)
    member = new_member(bought)
    change, _ = rules.record_purchase(PROGRAM, member, purchase("old-1", "300.00", bought), bought)
    entry = change.entries[0]
    later = at(2027, 2, 5)
    after_expiry = change.after.clone()
    after_expiry.wallet.expire(entry.details["lot_month"])
    after_expiry.wallet.credit(50, "2028-02")
    # When it is returned after the expiry
    returned = rules.record_return(
        PROGRAM, after_expiry, record_from_entry(entry), "ret-old", Decimal("300.00"), later, later
    )
    # Then no points are taken a second time, but the spend is reduced
    assert returned.entries[0].points == 0
    assert returned.after.available == 50
    assert returned.after.spend_by_month.get("2026-01", Decimal(0)) == 0


def test_no_spend_or_negative_spend_is_the_base_tier() -> None:
    from chalicelib.domain import tiers

    assert tiers.tier_for_spend(PROGRAM, Decimal("-5")).code == "member"
