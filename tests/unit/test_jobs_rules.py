"""The scheduled jobs' pure rules: due dates, and what each job does to a member on a given day."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.domain import jobs, rules
from chalicelib.domain.model import ACTIVE, DORMANT, ERASED, JobMarks, Member, MemberChange, PendingLot
from chalicelib.store import codec, keys

from ._support import PROGRAM, at, new_member, purchase

D = Decimal


def kinds(change: MemberChange | None) -> list[str]:
    assert change is not None
    return [event.detail_type for event in change.events]


def detail(change: MemberChange, detail_type: str) -> dict[str, Any]:
    (found,) = [e.detail for e in change.events if e.detail_type == detail_type]
    return found


def bought(member: Member, order_id: str, amount: str, when: datetime) -> Member:
    change, _ = rules.record_purchase(PROGRAM, member, purchase(order_id, amount, when), when)
    return change.after


def with_marks(member: Member, **marks: Any) -> Member:
    """A copy of the member that remembers the given notices."""
    marked = member.clone()
    marked.marks = JobMarks(**marks)
    return marked


def gold_member() -> Member:
    """Gold since 2026-03-14 (review 2027-03-14), with no spend after that."""
    member = bought(new_member(at(2026, 3, 14)), "o1", "8000", at(2026, 3, 14))
    assert (member.tier, member.review_at) == ("gold", date(2027, 3, 14))
    return member


# --- expiry --------------------------------------------------------------------------------------


def test_expiry_is_due_at_the_notice_date_then_at_the_lot_end():
    member = new_member(at(2026, 1, 15))  # 100 welcome points in lot 2027-01
    assert member.wallet.lots == {"2027-01": 100}
    assert jobs.expiry_due_on(PROGRAM, member) == date(2027, 1, 1)  # 31 Jan - 30 days
    noticed = with_marks(member, expiring_through="2027-01")
    assert jobs.expiry_due_on(PROGRAM, noticed) == date(2027, 2, 1)


def test_expiry_on_the_last_day_only_warns_and_the_next_day_expires():
    member = new_member(at(2026, 1, 15))
    assert jobs.expire_points(PROGRAM, member, date(2026, 12, 31)) is None
    warned = jobs.expire_points(PROGRAM, member, date(2027, 1, 31))
    assert kinds(warned) == ["points.expiring"]
    assert detail(warned, "points.expiring") == {
        "member_id": "m-1",
        "points": 100,
        "lot_month": "2027-01",
        "expires_on": date(2027, 1, 31),
    }
    assert warned.entries == [] and warned.after.available == 100
    assert jobs.expire_points(PROGRAM, warned.after, date(2027, 1, 31)) is None  # once per lot

    expired = jobs.expire_points(PROGRAM, warned.after, date(2027, 2, 1))
    assert kinds(expired) == ["points.expired"]
    (entry,) = expired.entries
    assert (entry.entry_id, entry.points) == ("expire#2027-01", -100)
    assert entry.occurred_at == datetime(2027, 1, 31, 23, 59, 59, tzinfo=PROGRAM.tz)
    assert expired.after.available == 0 and expired.after.wallet.lots == {}
    assert jobs.expiry_due_on(PROGRAM, expired.after) is None


def test_a_late_run_expires_every_ended_lot_and_warns_about_the_next():
    member = bought(new_member(at(2026, 1, 15)), "o1", "300", at(2026, 2, 10))  # lots 2027-01: 100, 2027-02: 300
    member = bought(member, "o2", "50", at(2026, 3, 10))  # lot 2027-03: 50
    change = jobs.expire_points(PROGRAM, member, date(2027, 3, 2))
    assert [e.entry_id for e in change.entries] == ["expire#2027-01", "expire#2027-02"]
    assert kinds(change) == ["points.expired", "points.expired", "points.expiring"]
    assert detail(change, "points.expiring")["lot_month"] == "2027-03"
    assert change.after.available == 50


def test_expiry_follows_fifo_spending():
    member = bought(new_member(at(2026, 1, 15)), "o1", "500", at(2026, 1, 15))  # lot 2027-01: 600
    member = bought(member, "o2", "300", at(2026, 2, 10))  # lot 2027-02: 300
    member = rules.redeem_points(PROGRAM, member, "r1", 400, "gift", at(2026, 3, 1)).after
    assert member.wallet.lots == {"2027-01": 200, "2027-02": 300}
    change = jobs.expire_points(PROGRAM, member, date(2027, 2, 1))
    assert [(e.entry_id, e.points) for e in change.entries] == [("expire#2027-01", -200)]
    assert change.after.available == 300


# --- tier review -----------------------------------------------------------------------------------


def test_review_moves_down_one_tier_only_and_sets_the_floor():
    member = gold_member()
    assert jobs.tier_review_due_on(PROGRAM, member) == date(2027, 2, 12)  # at-risk check first
    assert jobs.review_tier(PROGRAM, member, date(2027, 2, 11)) is None
    change = jobs.review_tier(PROGRAM, member, date(2027, 3, 14))
    after = change.after
    assert (after.tier, after.tier_floor, after.tier_since, after.review_at) == (
        "silver",
        "silver",
        date(2027, 3, 14),
        date(2028, 3, 14),
    )
    assert detail(change, "tier.downgraded")["to_tier"] == "silver"

    again = jobs.review_tier(PROGRAM, after, date(2028, 3, 14))
    assert (again.after.tier, again.after.tier_floor, again.after.review_at) == ("member", "member", None)
    assert jobs.tier_review_due_on(PROGRAM, again.after) is None


def test_review_keeps_the_tier_when_the_rolling_spend_still_meets_it():
    member = bought(gold_member(), "o2", "8000", at(2027, 1, 10))
    change = jobs.review_tier(PROGRAM, with_marks(member, at_risk_for=date(2027, 3, 14)), date(2027, 3, 14))
    assert kinds(change) == []
    assert (change.after.tier, change.after.tier_floor, change.after.review_at) == ("gold", "gold", date(2028, 3, 14))


def test_a_late_review_catches_up_year_by_year():
    change = jobs.review_tier(PROGRAM, gold_member(), date(2028, 4, 1))
    assert change.after.tier == "member"
    assert [e["to_tier"] for e in (x.detail for x in change.events)] == ["silver", "member"]


def test_at_risk_is_sent_once_30_days_before_a_review_that_would_downgrade():
    member = gold_member()
    change = jobs.review_tier(PROGRAM, member, date(2027, 2, 12))
    assert kinds(change) == ["tier.at_risk"]
    assert detail(change, "tier.at_risk") == {
        "member_id": "m-1",
        "tier": "gold",
        "would_become": "silver",
        "review_at": date(2027, 3, 14),
        "qualifying_spend": D(0),
        "spend_to_keep": D(8000),
    }
    assert change.after.tier == "gold"
    assert jobs.tier_review_due_on(PROGRAM, change.after) == date(2027, 3, 14)
    assert jobs.review_tier(PROGRAM, change.after, date(2027, 2, 20)) is None


def test_no_at_risk_when_the_spend_keeps_the_tier():
    member = bought(gold_member(), "o2", "8000", at(2027, 1, 10))
    change = jobs.review_tier(PROGRAM, member, date(2027, 2, 12))
    assert kinds(change) == []
    assert jobs.tier_review_due_on(PROGRAM, change.after) == date(2027, 3, 14)


# --- dormant -----------------------------------------------------------------------------------------


def test_dormant_after_180_days_with_a_welcome_back_coupon_then_reactivated_by_a_purchase():
    member = bought(new_member(at(2026, 1, 10)), "o1", "100", at(2026, 1, 15))
    assert jobs.dormant_due_on(PROGRAM, member) == date(2026, 7, 14)
    assert jobs.mark_dormant(PROGRAM, member, date(2026, 7, 13), at(2026, 7, 13), "WB") is None
    change = jobs.mark_dormant(PROGRAM, member, date(2026, 7, 14), at(2026, 7, 14, 0, 5), "WB")
    assert change.after.status == DORMANT
    assert kinds(change) == ["member.dormant", "coupon.issued"]
    (coupon,) = change.coupons
    assert (coupon.kind, coupon.value, coupon.expires_at) == ("welcome_back", D("20.00"), at(2026, 8, 13, 0, 5))
    assert jobs.dormant_due_on(PROGRAM, change.after) is None
    assert jobs.mark_dormant(PROGRAM, change.after, date(2026, 8, 1), at(2026, 8, 1), "WB2") is None

    back, _ = rules.record_purchase(PROGRAM, change.after, purchase("o2", "50", at(2026, 7, 20)), at(2026, 7, 20))
    assert back.after.status == ACTIVE
    assert "member.reactivated" in kinds(back)
    assert back.after.available == change.after.available + 50 + 200
    assert jobs.dormant_due_on(PROGRAM, back.after) == date(2027, 1, 16)


def test_activity_postpones_dormancy():
    member = new_member(at(2026, 1, 10))
    active = rules.record_activity(PROGRAM, member, "a1", "check_in", at(2026, 5, 1)).after
    assert jobs.dormant_due_on(PROGRAM, active) == date(2026, 10, 28)


# --- birthday ----------------------------------------------------------------------------------------


def test_birthday_keys_celebrate_29_february_on_28_february_in_common_years():
    assert jobs.birthday_keys_on(date(2027, 2, 28)) == ["02-28", "02-29"]
    assert jobs.birthday_keys_on(date(2028, 2, 28)) == ["02-28"]
    assert jobs.birthday_keys_on(date(2028, 2, 29)) == ["02-29"]


def test_birthday_coupon_of_the_tier_on_the_day():
    member = new_member(at(2026, 1, 10), birthday=date(2000, 2, 29))
    assert jobs.birthday_key(member) == "02-29"
    assert jobs.grant_birthday(PROGRAM, member, date(2027, 2, 27), at(2027, 2, 27), "B1") is None
    change = jobs.grant_birthday(PROGRAM, member, date(2027, 2, 28), at(2027, 2, 28), "B1")
    (coupon,) = change.coupons
    assert (coupon.kind, coupon.value) == ("birthday", D("10.00"))
    (entry,) = change.entries
    assert (entry.entry_id, entry.points) == ("birthday#2027", 0)
    assert jobs.grant_birthday(PROGRAM, member, date(2028, 2, 28), at(2028, 2, 28), "B2") is None
    assert jobs.grant_birthday(PROGRAM, member, date(2028, 2, 29), at(2028, 2, 29), "B2") is not None


def test_birthday_coupon_follows_the_tier():
    member = bought(new_member(at(2026, 1, 10), birthday=date(1990, 6, 1)), "o1", "20000", at(2026, 1, 10))
    change = jobs.grant_birthday(PROGRAM, member, date(2026, 6, 1), at(2026, 6, 1), "B1")
    assert change.coupons[0].value == D("100.00")


@pytest.mark.parametrize(
    ("as_of", "done", "expected"),
    [
        (date(2027, 3, 1), None, [date(2027, 3, 1)]),
        (date(2027, 3, 1), date(2027, 2, 28), [date(2027, 3, 1)]),
        (date(2027, 3, 1), date(2027, 2, 26), [date(2027, 2, 27), date(2027, 2, 28), date(2027, 3, 1)]),
        (date(2027, 3, 1), date(2027, 3, 1), []),
        (date(2027, 3, 1), date(2027, 3, 5), [date(2027, 3, 1)]),  # an explicit re-run of a past day
        (date(2027, 3, 20), date(2027, 1, 1), [date(2027, 3, 14) + timedelta(days=n) for n in range(7)]),
    ],
)
def test_catch_up_days(as_of, done, expected):
    assert jobs.catch_up_days(as_of, done) == expected


# --- pending -----------------------------------------------------------------------------------------


def test_pending_points_join_the_lot_of_their_month_on_release():
    program = PROGRAM.model_copy(update={"pending_days": 7})
    member = new_member(at(2026, 1, 15), program=program)
    change, _ = rules.record_purchase(program, member, purchase("o1", "500", at(2026, 1, 15)), at(2026, 1, 15))
    member = change.after
    assert member.pending == [PendingLot("purchase#o1", 500, date(2026, 1, 22), "2027-01")]
    assert jobs.pending_due_on(member) == date(2026, 1, 22)
    assert jobs.release_pending(program, member, date(2026, 1, 21)) is None
    released = jobs.release_pending(program, member, date(2026, 1, 22))
    (entry,) = released.entries
    assert (entry.entry_id, entry.points, entry.details) == (
        "release#purchase#o1",
        0,
        {"points": 500, "lot_month": "2027-01"},
    )
    assert released.after.pending == [] and released.after.wallet.lots == {"2027-01": 600}
    assert released.after.balances() == {"available": 600, "pending": 0, "lifetime_earned": 600}
    assert jobs.pending_due_on(released.after) is None


# --- every job -----------------------------------------------------------------------------------------


def test_an_erased_member_is_due_for_nothing():
    member = bought(gold_member(), "o2", "10", at(2026, 3, 20))
    member.birthday = date(1990, 1, 1)
    member.status = ERASED
    assert jobs.expiry_due_on(PROGRAM, member) is None
    assert jobs.tier_review_due_on(PROGRAM, member) is None
    assert jobs.dormant_due_on(PROGRAM, member) is None
    assert jobs.pending_due_on(member) is None
    assert jobs.birthday_key(member) is None


def test_rules_never_mutate_the_member_they_are_given():
    member = bought(gold_member(), "o2", "10", at(2026, 3, 20))
    before = member.clone()
    for day in (date(2027, 2, 12), date(2027, 3, 1), date(2028, 1, 1)):  # at-risk, expiry notice, late run
        jobs.expire_points(PROGRAM, member, day)
        jobs.review_tier(PROGRAM, member, day)
        jobs.mark_dormant(PROGRAM, member, day, at(day.year, day.month, day.day), "C")
    assert member == before


def test_the_marks_are_part_of_the_member_and_every_use_case_keeps_them():
    """Another use case's change carries the marks along, so the due dates it computes are exact."""
    member = bought(new_member(at(2026, 1, 15)), "o1", "300", at(2026, 2, 10))  # lots 2027-01, 2027-02
    warned = jobs.expire_points(PROGRAM, member, date(2027, 1, 29))
    assert kinds(warned) == ["points.expiring", "points.expiring"]
    assert warned.after.marks == JobMarks(expiring_through="2027-02") and member.marks == JobMarks()
    redeemed = rules.redeem_points(PROGRAM, warned.after, "r1", 100, "gift", at(2027, 1, 30)).after
    assert redeemed.marks == warned.after.marks
    assert jobs.expiry_due_on(PROGRAM, redeemed) == date(2027, 3, 1)  # both notices sent: the lot end


def test_the_marks_are_stored_on_the_profile():
    member = with_marks(gold_member(), expiring_through="2027-03", at_risk_for=date(2027, 3, 14))
    state = codec.profile_state(member)
    assert state[keys.JOB_MARKS] == {"expiring_through": "2027-03", "at_risk_for": "2027-03-14"}
    assert codec.profile_state(gold_member())[keys.JOB_MARKS] is None
    lots = [{keys.SK: f"{keys.LOT_PREFIX}{m}", "remaining": p} for m, p in member.wallet.lots.items()]
    read = codec.member_from_items([{keys.SK: keys.STATE_PREFIX, **state, "version": 0}, *lots])
    assert read == member


DUE = [
    (jobs.expiry_due_on, lambda m, d: jobs.expire_points(PROGRAM, m, d)),
    (jobs.tier_review_due_on, lambda m, d: jobs.review_tier(PROGRAM, m, d)),
    (jobs.dormant_due_on, lambda m, d: jobs.mark_dormant(PROGRAM, m, d, at(d.year, d.month, d.day), "C")),
]


@pytest.mark.parametrize(("due_on", "rule"), DUE)
def test_a_rule_acts_exactly_from_its_due_date(due_on, rule):
    """The due index and the rules agree: walking day by day, the rule acts on the due date (and
    never before), and what it did moves the due date past that day."""
    member = bought(gold_member(), "o2", "300", at(2026, 6, 20))
    day, acted = date(2026, 6, 21), 0
    while day < date(2029, 1, 1):
        due = due_on(PROGRAM, member)
        change = rule(member, day)
        assert (change is not None) == (due is not None and due <= day), day
        if change is not None:
            acted += 1
            member = change.after
            assert due_on(PROGRAM, member) is None or due_on(PROGRAM, member) > day
        day += timedelta(days=1)
    assert acted >= 1
