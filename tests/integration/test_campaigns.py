"""Campaigns as data (docs/campaigns.md): the ops API, and purchases through both doors earning
campaign points by the purchase's own moment in program time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib import clock
from chalicelib.services import campaigns as campaign_service
from chalicelib.services import members, points
from chalicelib.store import campaigns as campaign_store
from tests.integration.test_ingest_files import Harness, csv_file, enrol, ingest, sale  # noqa: F401
from tests.support import Api, FixedClock, count_dynamodb_calls, enrol_command, purchase_command, return_command

SHANGHAI = ZoneInfo("Asia/Shanghai")
THURSDAY = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
WEDNESDAY_EARLY = "2026-11-25T01:00:00+08:00"  # Tuesday 17:00 UTC: Wednesday in program time


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    campaign_service.clear_cache()
    yield
    campaign_service.clear_cache()  # the next module's table has the same name


@pytest.fixture
def at_thursday(monkeypatch: pytest.MonkeyPatch) -> FixedClock:
    fixed = FixedClock(THURSDAY)
    monkeypatch.setattr(clock, "now", fixed)
    return fixed


def campaign(campaign_id: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "campaign_id": campaign_id,
        "name": f"campaign {campaign_id}",
        "starts_at": "2026-11-01T00:00:00+08:00",
        "ends_at": "2027-01-01T00:00:00+08:00",
        "effect": {"multiplier": "2"},
    }
    return {**body, **fields}


def buy(member_id: str, order_id: str, amount: str, at: str, **extra: Any) -> dict[str, Any]:
    body = {"order_id": order_id, "amount": amount, "currency": "CNY", "occurred_at": at, **extra}
    return points.record_purchase(purchase_command(member_id, body))


def create(body: dict[str, Any]) -> None:
    from chalicelib.domain.campaigns import Campaign

    campaign_service.create(Campaign.model_validate(body))


def test_create_replay_conflict_list_read_and_patch(api: Api, at_thursday: FixedClock) -> None:
    body = campaign("member-day", days={"weekdays": [3]}, limits={"budget_points": 1000})
    status, created = api.post("/campaigns", body, role="ops")
    assert status == 201, created
    assert created["effect"] == {"multiplier": "2", "bonus_points": None, "coupon": None}
    assert api.post("/campaigns", body, role="ops") == (201, created)  # the same body answers again
    status, error = api.post("/campaigns", {**body, "name": "another"}, role="ops")
    assert status == 409 and error["error"]["code"] == "conflict"
    assert api.post("/campaigns", body)[0] == 403  # a storefront key
    api.post("/campaigns", campaign("later"), role="ops")
    assert api.call("PATCH", "/campaigns/later", {"status": "paused"}, role="ops")[1]["status"] == "paused"
    status, listed = api.get("/campaigns?status=active", role="ops")
    assert [c["campaign_id"] for c in listed["campaigns"]] == ["member-day"]
    status, one = api.get("/campaigns/member-day", role="ops")
    assert (one["granted_points"], one["budget_left"]) == (0, 1000)
    assert api.get("/campaigns/nope", role="ops")[0] == 404


def test_bad_campaigns_are_400_with_their_field_and_nothing_written(api: Api, at_thursday: FixedClock) -> None:
    cases = {
        "effect.multiplier": campaign("b1", effect={"multiplier": "0.5"}),
        "effect.bonus_points": campaign("b2", effect={"bonus_points": 0}),
        "days.weekdays.0": campaign("b3", days={"weekdays": [8]}),
        "starts_at": campaign("b4", starts_at="2026-11-01T00:00:00"),
        "limits.budget_points": campaign("b5", limits={"budget_points": -1}),
        "body": campaign("b6", trigger="enrolment"),  # a multiplier: an enrolment has no points to multiply
        "campaign_id": campaign("a/b"),
        "audience.colour": campaign("b8", audience={"colour": "red"}),
    }
    for field, body in cases.items():
        status, error = api.post("/campaigns", body, role="ops")
        assert status == 400, (field, error)
        assert field in [d["field"] for d in error["error"]["details"]], (field, error)
    _, error = api.post("/campaigns", campaign("b6", trigger="enrolment"), role="ops")
    assert "not a multiplier" in error["error"]["details"][0]["message"]
    assert api.get("/campaigns", role="ops")[1] == {"campaigns": []}


def test_patch_takes_a_status_or_a_later_end_only(api: Api, at_thursday: FixedClock) -> None:
    api.post("/campaigns", campaign("c1"), role="ops")
    patch = lambda body: api.call("PATCH", "/campaigns/c1", body, role="ops")  # noqa: E731
    assert patch({"effect": {"multiplier": "3"}})[0] == 400
    assert patch({"ends_at": "2026-12-01T00:00:00+08:00"})[0] == 400  # earlier
    assert patch({})[0] == 400
    status, later = patch({"ends_at": "2027-02-01T00:00:00+08:00"})
    assert status == 200 and later["ends_at"] == "2027-02-01T00:00:00+08:00"
    assert later["effect"]["multiplier"] == "2"
    assert patch({"status": "ended"})[1]["status"] == "ended"
    assert patch({"status": "active"})[0] == 400  # an ended campaign stays ended


def test_wednesday_member_day_doubles_only_on_wednesdays_in_program_time(api: Api, at_thursday: FixedClock) -> None:
    create(campaign("member-day", days={"weekdays": [3]}))
    members.enrol(enrol_command({"member_id": "m1"}))
    wednesday = buy("m1", "o1", "100.00", WEDNESDAY_EARLY)  # Tuesday in UTC
    tuesday = buy("m1", "o2", "100.00", "2026-11-24T23:59:00+08:00")
    thursday = buy("m1", "o3", "100.00", "2026-11-26T00:00:00+08:00")
    assert wednesday["entry"]["points"] == 200
    assert wednesday["entry"]["details"]["campaigns"] == [{"campaign_id": "member-day", "points": 100}]
    assert (tuesday["entry"]["points"], thursday["entry"]["points"]) == (100, 100)
    assert tuesday["entry"]["details"]["campaigns"] == []


def test_a_triple_on_fresh_only_multiplies_the_fresh_lines_base_points(api: Api, at_thursday: FixedClock) -> None:
    create(campaign("fresh-3x", effect={"multiplier": "3"}, conditions={"categories": ["fresh"]}))
    create(campaign("all-2x", effect={"multiplier": "2"}, conditions={"categories": ["household"]}))
    members.enrol(enrol_command({"member_id": "m1"}))
    lines = [{"sku": "A", "category": "fresh", "amount": "30.00"}, {"sku": "B", "category": "toys", "amount": "20.00"}]
    answer = buy("m1", "o1", "100.00", WEDNESDAY_EARLY, lines=lines)
    # base: 70 unweighted + 30 fresh x 2 = 130; the 3x adds 2 x 60 on the fresh line only
    assert answer["entry"]["points"] == 130 + 120
    assert answer["entry"]["details"]["campaigns"] == [{"campaign_id": "fresh-3x", "points": 120}]
    assert buy("m1", "o2", "10.00", WEDNESDAY_EARLY)["entry"]["points"] == 10  # no fresh line


def test_a_bonus_for_one_tier_or_one_segment_only(api: Api, at_thursday: FixedClock) -> None:
    create(campaign("gold-50", effect={"bonus_points": 50}, audience={"tiers": ["gold"]}))
    create(campaign("new-20", effect={"bonus_points": 20}, audience={"segments": ["new"]}))
    members.enrol(enrol_command({"member_id": "m1"}))
    first = buy("m1", "o1", "10.00", WEDNESDAY_EARLY)
    assert first["entry"]["details"]["campaigns"] == []  # no purchase yet: segment no_purchase, tier member
    second = buy("m1", "o2", "10.00", WEDNESDAY_EARLY)
    assert second["entry"]["details"]["campaigns"] == [{"campaign_id": "new-20", "points": 20}]
    buy("m1", "o3", "9000.00", WEDNESDAY_EARLY)  # now gold
    gold = buy("m1", "o4", "10.00", "2026-11-25T02:00:00+08:00")
    assert {c["campaign_id"] for c in gold["entry"]["details"]["campaigns"]} >= {"gold-50"}


def test_a_win_back_bonus_only_for_at_risk_members_and_only_within_its_window(
    api: Api, at_thursday: FixedClock
) -> None:
    # At risk: bought on 4 days of the year (frequency 3), the last more than 90 days ago (recency 2).
    for member_id, days in (("risk1", 4), ("risk2", 4), ("risk3", 4), ("once", 1)):
        members.enrol(enrol_command({"member_id": member_id}))
        for n in range(days):
            buy(member_id, f"{member_id}-{n}", "20.00", f"2026-08-0{n + 1}T10:00:00+08:00")
    create(
        campaign(
            "win-back",
            starts_at="2026-11-20T00:00:00+08:00",
            ends_at="2026-12-04T00:00:00+08:00",  # 14 days
            audience={"segments": ["at_risk"]},
            effect={"bonus_points": 200},
            limits={"per_member": 1},
        )
    )
    inside, before, after = "2026-11-25T10:00:00+08:00", "2026-11-19T23:00:00+08:00", "2026-12-04T00:00:00+08:00"
    assert buy("once", "o1", "20.00", inside)["entry"]["details"]["campaigns"] == []  # hibernating, not at risk
    assert buy("risk1", "o1", "20.00", before)["entry"]["details"]["campaigns"] == []  # before the window
    won = buy("risk2", "o1", "20.00", inside)["entry"]
    assert won["points"] == 20 + 200 and won["details"]["campaigns"] == [{"campaign_id": "win-back", "points": 200}]
    at_thursday.moment = datetime(2026, 12, 5, 10, 0, tzinfo=SHANGHAI)
    late = buy("risk3", "o1", "20.00", after)["entry"]  # at risk, at its end: outside (ends_at is excluded)
    assert late["details"]["campaigns"] == []
    assert api.get("/campaigns/win-back/results", role="ops")[1]["participants"] == 1


def test_a_paused_campaign_stops_applying_after_the_cache_ttl(api: Api, at_thursday: FixedClock) -> None:
    create(campaign("c1", effect={"bonus_points": 7}))
    members.enrol(enrol_command({"member_id": "m1"}))
    assert buy("m1", "o1", "10.00", WEDNESDAY_EARLY)["entry"]["points"] == 17
    item = campaign_store.get("c1")
    assert item is not None
    campaign_store.update("c1", {"status": "paused"}, int(item["version"]))  # as another process would
    at_thursday.moment = THURSDAY + timedelta(seconds=29)
    assert buy("m1", "o2", "10.00", WEDNESDAY_EARLY)["entry"]["points"] == 17  # still cached
    at_thursday.moment = THURSDAY + timedelta(seconds=30)
    assert buy("m1", "o3", "10.00", WEDNESDAY_EARLY)["entry"]["points"] == 10


def test_an_earn_with_campaigns_cached_is_one_query_and_one_transaction(api: Api, at_thursday: FixedClock) -> None:
    create(campaign("c1", effect={"bonus_points": 5}, limits={"budget_points": 100}))
    create(campaign("c2", effect={"multiplier": "2"}, days={"weekdays": [3]}))
    create(campaign("c3", effect={"multiplier": "3"}, audience={"tiers": ["platinum"]}))
    members.enrol(enrol_command({"member_id": "m1"}))
    buy("m1", "o1", "10.00", WEDNESDAY_EARLY)  # warms the cache
    with count_dynamodb_calls() as calls:
        answer = buy("m1", "o2", "10.00", WEDNESDAY_EARLY)
    assert answer["entry"]["points"] == 10 + 10 + 5
    assert dict(calls) == {"Query": 1, "TransactWriteItems": 1}


def test_an_earn_with_20_active_campaigns_one_budgeted_is_one_query_and_one_transaction(
    api: Api, at_thursday: FixedClock
) -> None:
    create(campaign("budgeted", effect={"bonus_points": 5}, limits={"budget_points": 1_000_000}))  # 16 shards
    create(campaign("everyone-2x", effect={"multiplier": "2"}))
    for n, tier in enumerate(("silver", "gold", "platinum")):
        create(campaign(f"tier{n}", effect={"multiplier": "3"}, audience={"tiers": [tier]}))
    for n, segment in enumerate(("at_risk", "champions")):
        create(campaign(f"segment{n}", effect={"bonus_points": 50}, audience={"segments": [segment]}))
    for n in range(6):
        create(campaign(f"store{n}", audience={"stores": [f"s9{n}"]}))
    for n in range(4):
        create(campaign(f"fresh{n}", effect={"multiplier": "3"}, conditions={"categories": ["fresh"]}))
    for n in range(3):
        create(campaign(f"big{n}", effect={"bonus_points": 20}, conditions={"min_amount": f"{500 + n}"}))
    assert len(campaign_service.active()) == 20
    members.enrol(enrol_command({"member_id": "m1"}))
    buy("m1", "o1", "10.00", WEDNESDAY_EARLY)  # warms the cache
    with count_dynamodb_calls() as calls:
        answer = buy("m1", "o2", "10.00", WEDNESDAY_EARLY)
    assert answer["entry"]["points"] == 10 + 10 + 5
    assert dict(calls) == {"Query": 1, "TransactWriteItems": 1}  # the budget charge and counters are inside it


def test_a_budget_runs_out_and_a_return_gives_it_back(api: Api, at_thursday: FixedClock) -> None:
    create(campaign("c1", effect={"bonus_points": 40}, limits={"budget_points": 100, "per_member": 5}))
    members.enrol(enrol_command({"member_id": "m1"}))
    granted = [buy("m1", f"o{n}", "10.00", WEDNESDAY_EARLY)["entry"] for n in range(3)]
    assert [e["points"] for e in granted] == [50, 50, 10]
    assert granted[2]["details"]["campaigns_skipped"] == [{"campaign_id": "c1", "reason": "budget_exhausted"}]
    assert api.get("/campaigns/c1", role="ops")[1]["budget_left"] == 20
    back = points.record_return(return_command("m1", {"order_id": "o0", "return_id": "r0", "amount": "10.00"}))
    assert back["entry"]["points"] == -50  # the campaign points go back with the purchase's
    assert api.get("/campaigns/c1", role="ops")[1]["budget_left"] == 60


def test_the_per_member_limit_is_counted_on_the_profile(api: Api, at_thursday: FixedClock) -> None:
    create(campaign("once", effect={"bonus_points": 9}, limits={"per_member": 1}))
    members.enrol(enrol_command({"member_id": "m1"}))
    assert buy("m1", "o1", "10.00", WEDNESDAY_EARLY)["entry"]["points"] == 19
    second = buy("m1", "o2", "10.00", WEDNESDAY_EARLY)["entry"]
    assert second["points"] == 10
    assert second["details"]["campaigns_skipped"] == [{"campaign_id": "once", "reason": "per_member_limit"}]


def test_a_store_file_of_last_wednesday_ingested_on_thursday_earns_member_day_points(
    ingest: Harness,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clock, "now", FixedClock(THURSDAY))
    create(campaign("member-day", days={"weekdays": [3]}))
    enrol("m-file")
    report = ingest.run(csv_file(sale("r1", "80.00", "m-file", at="2026-11-25T20:00:00+08:00")), "2026-11-25.csv")
    assert report["applied"] == 1, report
    from chalicelib.store import members as member_store

    entry = member_store.get_entry("m-file", "purchase#s1/r1")
    assert entry is not None and int(entry["points"]) == 160
    assert entry["details"]["campaigns"] == [{"campaign_id": "member-day", "points": 80}]
