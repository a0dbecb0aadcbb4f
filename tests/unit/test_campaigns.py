"""The one evaluation of a purchase against campaigns (domain/campaigns.py): pure, no AWS."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.domain import rules
from chalicelib.domain.campaigns import Campaign, PurchaseFacts, credit, evaluate
from chalicelib.domain.earning import Line, floor_points, purchase_points, weighted_spend

from ._support import PROGRAM, at, new_member

WEDNESDAY = at(2026, 11, 25, 1)  # Tuesday 17:00 UTC


def make(campaign_id: str, **fields: Any) -> Campaign:
    body: dict[str, Any] = {
        "campaign_id": campaign_id,
        "name": campaign_id,
        "starts_at": "2026-11-01T00:00:00+08:00",
        "ends_at": "2027-01-01T00:00:00+08:00",
        "effect": {"multiplier": "2"},
    }
    return Campaign.model_validate({**body, **fields})


def facts(amount: str, when: datetime = WEDNESDAY, lines: tuple[Line, ...] = ()) -> PurchaseFacts:
    return PurchaseFacts(Decimal(amount), when, lines)


def test_the_day_and_window_are_the_purchases_own_in_program_time() -> None:
    member = new_member(at(2026, 11, 1))
    member_day = make("md", days={"weekdays": [3]})
    assert evaluate(PROGRAM, [member_day], member, facts("100")).granted == [("md", 100)]
    assert evaluate(PROGRAM, [member_day], member, facts("100", at(2026, 11, 24, 23))).granted == []
    dated = make("d", days={"dates": ["2026-11-24"]})
    assert evaluate(PROGRAM, [dated], member, facts("100", at(2026, 11, 24, 23))).granted == [("d", 100)]
    assert evaluate(PROGRAM, [member_day], member, facts("100", at(2027, 1, 6))).granted == []  # after its end


def test_the_highest_multiplier_wins_and_bonuses_add() -> None:
    member = new_member(at(2026, 11, 1))
    found = [
        make("x2"),
        make("x3", effect={"multiplier": "3", "bonus_points": 5}),
        make("b", effect={"bonus_points": 7}),
    ]
    outcome = evaluate(PROGRAM, found, member, facts("10"))
    assert sorted(outcome.granted) == [("b", 7), ("x3", 25)]  # 2 x 10 (not 10 + 20 + 30) + 5, and 7


def test_paused_campaigns_min_amount_and_audience_do_not_match() -> None:
    member = new_member(at(2026, 11, 1))
    found = [
        make("paused", status="paused"),
        make("big", conditions={"min_amount": "100.00"}),
        make("store", audience={"stores": ["s9"]}),
        make("new", audience={"enrolled_within_days": 10}),
    ]
    assert evaluate(PROGRAM, found, member, facts("99.99")).granted == []


def test_credit_adds_to_the_purchase_entry_and_the_member_counts() -> None:
    member = new_member(at(2026, 11, 1))
    change, _ = rules.record_purchase(PROGRAM, member, rules.Purchase("o1", Decimal("10"), WEDNESDAY), WEDNESDAY)
    credit(change, evaluate(PROGRAM, [make("x2", limits={"per_member": 1})], member, facts("10")))
    assert change.entries[0].points == 20
    assert change.after.available == member.available + 20
    assert change.after.campaign_uses == {"x2": 1}
    assert [e.detail["points"] for e in change.events if e.detail_type == "points.earned"] == [20]
    again = evaluate(PROGRAM, [make("x2", limits={"per_member": 1})], change.after, facts("10"))
    assert again.skipped == [("x2", "per_member_limit")]


def test_bad_campaigns_are_refused() -> None:
    refused: list[dict[str, Any]] = [
        {"effect": {}},
        {"ends_at": "2026-10-01T00:00:00+08:00"},
        {"trigger": "activity", "conditions": {"min_amount": "10"}},  # amounts are a purchase's
        {"trigger": "enrolment"},  # an enrolment has no points to multiply
        {"effect": {"coupon": {"value": "0", "valid_days": 7}}},
        {"limits": {"shards": 65}},
    ]
    for fields in refused:
        with pytest.raises(ValidationError):
            make("bad", **fields)


multipliers = st.decimals(min_value=1, max_value=5, places=1)
bonuses = st.one_of(st.none(), st.integers(min_value=1, max_value=500))


@given(
    effects=st.lists(st.tuples(st.one_of(st.none(), multipliers), bonuses), min_size=1, max_size=6),
    amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2),
    fresh=st.decimals(min_value=0, max_value=1, places=2),
)
def test_property_highest_multiplier_wins_bonuses_add_never_negative(
    effects: list[tuple[Decimal | None, int | None]], amount: Decimal, fresh: Decimal
) -> None:
    member = new_member(at(2026, 11, 1))
    lines = (Line("fresh", (amount * fresh).quantize(Decimal("0.01"))),)
    found = [
        make(f"c{n}", effect={"multiplier": m, "bonus_points": b if m or b else 1}) for n, (m, b) in enumerate(effects)
    ]
    outcome = evaluate(PROGRAM, found, member, facts(str(amount), lines=lines))
    base = weighted_spend(PROGRAM, amount, lines) * PROGRAM.tier(member.tier).multiplier  # before its floor
    top = max((c.effect.multiplier for c in found if c.effect.multiplier), default=Decimal(1))
    bonus = sum(c.effect.bonus_points or 0 for c in found)
    assert all(points > 0 for _, points in outcome.granted)
    assert outcome.points - bonus == floor_points(base * (top - 1))  # the top one only, not compounded
    assert purchase_points(PROGRAM, member.tier, amount, lines) + outcome.points >= 0


def test_an_activity_campaign_multiplies_the_activity_points_only() -> None:
    member = new_member(at(2026, 11, 1))
    found = [make("a3", trigger="activity", effect={"multiplier": "3"}), make("p2")]  # p2: purchases only
    activity = PurchaseFacts(Decimal(0), WEDNESDAY, trigger="activity", base_points=5)
    assert evaluate(PROGRAM, found, member, activity).granted == [("a3", 10)]
    assert evaluate(PROGRAM, found, member, facts("10")).granted == [("p2", 10)]


def test_a_coupon_effect_is_issued_with_its_campaign_and_event() -> None:
    member = new_member(at(2026, 11, 1))
    gift = make("gift", effect={"coupon": {"value": "8.00", "valid_days": 10}})
    change, _ = rules.record_purchase(PROGRAM, member, rules.Purchase("o1", Decimal("10"), WEDNESDAY), WEDNESDAY)
    outcome = credit(change, evaluate(PROGRAM, [gift], member, facts("10")), PROGRAM, lambda: "CODE1", now=WEDNESDAY)
    assert outcome.granted == [("gift", 0)] and change.entries[0].points == 10
    [coupon] = change.coupons
    assert (coupon.code, coupon.kind, coupon.campaign_id, coupon.value) == ("CODE1", "campaign", "gift", Decimal("8"))
    issued = [e.detail for e in change.events if e.detail_type == "coupon.issued"]
    assert issued[0]["campaign_id"] == "gift" and change.after.campaign_uses == {"gift": 1}


def test_shards_follow_the_budget_size_unless_given() -> None:
    assert make("s", limits={"budget_points": 99_999}).limits.shard_count() == 1
    assert make("b", limits={"budget_points": 5_000_000}).limits.shard_count() == 16
    assert make("n", limits={"budget_points": 50, "shards": 4}).limits.shard_count() == 4
