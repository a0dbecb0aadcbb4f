"""Enrolment and activity campaigns, coupon effects and GET /campaigns/{id}/results
(docs/campaigns.md): the same audience, day, limit and budget rules as for purchases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib import clock
from chalicelib.domain.campaigns import Campaign
from chalicelib.services import campaigns, check, members, points
from tests.support import (
    Api,
    FixedClock,
    activity_command,
    count_dynamodb_calls,
    enrol_command,
    purchase_command,
    return_command,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEDNESDAY = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    campaigns.clear_cache()
    yield
    campaigns.clear_cache()


@pytest.fixture
def on_wednesday(monkeypatch: pytest.MonkeyPatch) -> FixedClock:
    fixed = FixedClock(WEDNESDAY)
    monkeypatch.setattr(clock, "now", fixed)
    return fixed


def create(campaign_id: str, **fields: Any) -> None:
    body: dict[str, Any] = {
        "campaign_id": campaign_id,
        "name": campaign_id,
        "starts_at": "2026-11-01T00:00:00+08:00",
        "ends_at": "2027-01-01T00:00:00+08:00",
        **fields,
    }
    campaigns.create(Campaign.model_validate(body))


def enrol(member_id: str, **extra: Any) -> dict[str, Any]:
    return members.enrol(enrol_command({"member_id": member_id, **extra}))


def coupons(api: Api, member_id: str) -> list[dict[str, Any]]:
    status, body = api.get(f"/members/{member_id}/coupons", role="ops")
    assert status == 200, body
    return [c for c in body["coupons"] if c["kind"] == "campaign"]


def test_an_enrolment_campaign_grants_its_bonus_and_coupon_in_the_enrolment(api: Api, on_wednesday: FixedClock) -> None:
    create(
        "join-bonus",
        trigger="enrolment",
        effect={"bonus_points": 50, "coupon": {"value": "5.00", "valid_days": 14}},
        audience={"stores": ["s1"]},
    )
    with count_dynamodb_calls() as calls:
        joined = enrol("m1", store_id="s1", channel="store")
    assert calls["TransactWriteItems"] == 1  # the bonus, the coupon and the counters: the same transaction
    assert joined["entry"]["points"] == 100 + 50  # welcome + campaign
    assert joined["entry"]["details"]["campaigns"] == [{"campaign_id": "join-bonus", "points": 50}]
    assert joined["balances"]["available"] == 150
    [coupon] = coupons(api, "m1")
    assert coupon["value"] == "5.00" and coupon["expires_at"].startswith("2026-12-09")
    elsewhere = enrol("m2", store_id="s2", channel="store")  # not its audience
    assert elsewhere["entry"]["points"] == 100 and coupons(api, "m2") == []
    assert check.check_member("m1") == []
    results = api.get("/campaigns/join-bonus/results", role="ops")[1]
    assert (results["participants"], results["points_granted"], results["coupons_issued"]) == (1, 50, 1)


def test_an_enrolment_campaign_s_budget_and_window_hold(api: Api, on_wednesday: FixedClock) -> None:
    create("first-100", trigger="enrolment", effect={"bonus_points": 40}, limits={"budget_points": 100})
    create("over", trigger="enrolment", effect={"bonus_points": 7}, ends_at="2026-11-20T00:00:00+08:00")
    entries = [enrol(f"m{n}")["entry"] for n in range(3)]
    assert [e["points"] for e in entries] == [140, 140, 100]
    assert entries[2]["details"]["campaigns_skipped"] == [{"campaign_id": "first-100", "reason": "budget_exhausted"}]
    assert api.get("/campaigns/first-100", role="ops")[1]["budget_left"] == 20


def test_an_activity_campaign_multiplies_the_activity_and_adds_its_bonus(api: Api, on_wednesday: FixedClock) -> None:
    create("check-in-3x", trigger="activity", effect={"multiplier": "3"}, days={"weekdays": [3]})
    create("gold-review", trigger="activity", effect={"bonus_points": 9}, audience={"tiers": ["gold"]})
    create("once", trigger="activity", effect={"bonus_points": 2}, limits={"per_member": 1})
    enrol("m1")
    first = points.record_activity(activity_command("m1", {"activity_id": "a1", "type": "check_in"}))["entry"]
    assert first["points"] == 5 * 3 + 2  # check_in is 5 points: x3 on a Wednesday, plus the one-off bonus
    assert sorted(c["campaign_id"] for c in first["details"]["campaigns"]) == ["check-in-3x", "once"]
    on_wednesday.moment = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)  # Thursday
    second = points.record_activity(activity_command("m1", {"activity_id": "a2", "type": "review"}))["entry"]
    assert second["points"] == 20
    assert second["details"]["campaigns_skipped"] == [{"campaign_id": "once", "reason": "per_member_limit"}]
    assert check.check_member("m1") == []
    assert api.get("/campaigns/check-in-3x/results", role="ops")[1]["points_granted"] == 10


def test_a_purchase_campaign_coupon_is_issued_and_its_use_counted(api: Api, on_wednesday: FixedClock) -> None:
    create("spend-200", effect={"coupon": {"value": "20.00", "valid_days": 30}}, conditions={"min_amount": "200"})
    enrol("m1")
    small = points.record_purchase(purchase_command("m1", {"order_id": "o1", "amount": "50.00", "currency": "CNY"}))
    assert coupons(api, "m1") == [] and small["entry"]["details"]["campaigns"] == []
    big = points.record_purchase(purchase_command("m1", {"order_id": "o2", "amount": "250.00", "currency": "CNY"}))
    assert big["entry"]["points"] == 250  # a coupon, no points
    assert big["entry"]["details"]["campaigns"] == [{"campaign_id": "spend-200", "points": 0}]
    [coupon] = coupons(api, "m1")
    assert coupon["value"] == "20.00"
    used = api.post(f"/members/m1/coupons/{coupon['code']}/use", {"order_id": "o3"})
    assert used[0] == 200, used
    api.post(f"/members/m1/coupons/{coupon['code']}/use", {"order_id": "o3"})  # a replay counts nothing more
    results = api.get("/campaigns/spend-200/results", role="ops")[1]
    assert (results["coupons_issued"], results["coupons_used"], results["points_granted"]) == (1, 1, 0)


def test_results_count_participants_their_sales_in_the_window_and_returns(api: Api, on_wednesday: FixedClock) -> None:
    create("md", effect={"multiplier": "2"}, days={"weekdays": [3]}, limits={"budget_points": 1000})
    for member_id in ("m1", "m2", "m3"):
        enrol(member_id)

    def buy(member_id: str, order_id: str, amount: str, at: str) -> None:
        body = {"order_id": order_id, "amount": amount, "currency": "CNY", "occurred_at": at}
        points.record_purchase(purchase_command(member_id, body))

    buy("m3", "o0", "70.00", "2026-11-24T10:00:00+08:00")  # Tuesday, before m3 takes part: not counted
    buy("m1", "o1", "100.00", "2026-11-25T09:00:00+08:00")  # Wednesday: applies
    buy("m1", "o2", "30.00", "2026-11-25T09:30:00+08:00")  # applies again (no per-member limit)
    buy("m2", "o3", "50.00", "2026-11-25T09:40:00+08:00")  # applies
    buy("m3", "o4", "10.00", "2026-11-24T11:00:00+08:00")  # Tuesday, m3 never took part: not counted
    buy("m2", "o5", "40.00", "2026-11-24T12:00:00+08:00")  # Tuesday after taking part: a participant's sale
    status, results = api.get("/campaigns/md/results", role="ops")
    assert status == 200, results
    assert results == {
        "campaign_id": "md",
        "status": "active",
        "participants": 2,
        "applied": 3,
        "points_granted": 180,
        "coupons_issued": 0,
        "coupons_used": 0,
        "budget_points": 1000,
        "budget_left": 820,
        "participant_orders": 4,
        "participant_sales": "220.00",
    }
    points.record_return(return_command("m1", {"order_id": "o1", "return_id": "r1", "amount": "100.00"}))
    after = api.get("/campaigns/md/results", role="ops")[1]
    assert (after["points_granted"], after["budget_left"]) == (80, 920)
    assert api.get("/campaigns/nope/results", role="ops")[0] == 404
    assert api.get("/campaigns/md/results")[0] == 403  # a storefront key


def test_one_purchase_counts_participants_sales_for_at_most_20_campaigns(api: Api, on_wednesday: FixedClock) -> None:
    for n in range(22):
        create(f"w{n:02d}", effect={"bonus_points": 1}, days={"weekdays": [3]})
    enrol("m1")
    wednesday = points.record_purchase(purchase_command("m1", {"order_id": "o1", "amount": "10.00", "currency": "CNY"}))
    assert wednesday["entry"]["points"] == 10 + 22  # every campaign applies: none is left out
    body = {"order_id": "o2", "amount": "10.00", "currency": "CNY", "occurred_at": "2026-11-24T10:00:00+08:00"}
    points.record_purchase(purchase_command("m1", body))  # Tuesday: a participant's sale for 20 of them
    orders = [campaigns.results(f"w{n:02d}")["participant_orders"] for n in range(22)]
    assert sorted(orders) == [1, 1] + [2] * 20
    assert check.check_member("m1") == []
