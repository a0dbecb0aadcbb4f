"""Member segments through the API on moto: the ops member view shows the RFM segment and the
storefront's does not; every member event on the bus carries the member's segment after the change,
and an EventBridge rule on `{"detail": {"segment": ["at_risk"]}}` receives exactly those events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib import clock
from chalicelib.domain import segments
from chalicelib.services import jobs
from chalicelib.store import aws
from tests.support import Api, FixedClock, Outbox, api_on_fresh_table, moto_stack, ok

TZ = ZoneInfo("Asia/Shanghai")
TABLE, BUS = "loyalty-segments", "loyalty-segments-bus"
START = datetime(2026, 7, 23, 10, tzinfo=TZ)


@pytest.fixture(scope="module")
def moto_module() -> Iterator[None]:
    with moto_stack(TABLE, BUS):
        yield


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> FixedClock:
    fixed = FixedClock(START)
    monkeypatch.setattr(clock, "now", fixed)
    return fixed


@pytest.fixture
def api(moto_module: None, now: FixedClock) -> Iterator[Api]:
    with api_on_fresh_table(TABLE) as client:
        yield client


@pytest.fixture
def outbox(api: Api) -> Outbox:
    """The table's stream, handed to the outbox's handler that publishes the events."""
    return Outbox(TABLE)


@pytest.fixture
def sent() -> Iterator[list[dict[str, Any]]]:
    """Every PutEvents entry as the app sends it (the real publisher, from the stream, not a stand-in)."""
    entries: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        entries.extend(params["Entries"])

    bus = aws.client("events").meta.events
    bus.register("before-parameter-build.eventbridge.PutEvents", record)
    try:
        yield entries
    finally:
        bus.unregister("before-parameter-build.eventbridge.PutEvents", record)


@pytest.fixture
def at_risk_queue(moto_module: None) -> Iterator[str]:
    """A marketing rule on the bus: events of at-risk members go to a queue."""
    sqs, bridge = aws.client("sqs"), aws.client("events")
    url = sqs.create_queue(QueueName="marketing-at-risk")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["loyalty"], "detail": {"segment": ["at_risk"]}}
    bridge.put_rule(Name="at-risk", EventBusName=BUS, EventPattern=json.dumps(pattern))
    bridge.put_targets(Rule="at-risk", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": arn}])
    try:
        yield url
    finally:
        bridge.remove_targets(Rule="at-risk", EventBusName=BUS, Ids=["queue"])
        bridge.delete_rule(Name="at-risk", EventBusName=BUS)
        sqs.delete_queue(QueueUrl=url)


def received(url: str) -> list[dict[str, Any]]:
    sqs, found = aws.client("sqs"), list[dict[str, Any]]()
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def buy(api: Api, member_id: str, order_id: str, amount: str, day: str, lines: list[dict[str, str]]) -> None:
    body = {"order_id": order_id, "amount": amount, "currency": "CNY", "occurred_at": f"{day}T12:00:00+08:00"}
    ok(api.post(f"/members/{member_id}/purchases", {**body, "lines": lines}), 201)


def four_purchases_last_spring(api: Api, member_id: str) -> None:
    """Four purchase days, the last 113 days before START: R2 F3, an at-risk regular."""
    buy(api, member_id, "o1", "300.00", "2026-03-01", [{"sku": "a", "category": "fresh", "amount": "200.00"}])
    buy(api, member_id, "o2", "250.00", "2026-03-10", [{"sku": "b", "category": "household", "amount": "90.00"}])
    buy(api, member_id, "o3", "180.00", "2026-03-20", [{"sku": "c", "category": "fresh", "amount": "100.00"}])
    buy(api, member_id, "o4", "400.00", "2026-04-01", [{"sku": "d", "category": "dairy", "amount": "120.00"}])


def test_ops_keys_see_the_segment_and_storefront_keys_do_not(api: Api) -> None:
    ok(api.post("/members", {"member_id": "m1"}), 201)
    fresh = ok(api.get("/members/m1", role="ops"))["segment"]
    assert fresh["name"] == "no_purchase" and fresh["score"] is None and fresh["top_categories"] == []

    four_purchases_last_spring(api, "m1")
    storefront = ok(api.get("/members/m1"))
    ops = ok(api.get("/members/m1", role="ops"))
    assert "segment" not in storefront
    assert {name: value for name, value in ops.items() if name != "segment"} == storefront
    assert ops["segment"] == {
        "name": "at_risk",
        "score": "232",  # 113 days ago: R2; 4 purchase days: F3; 1,130.00 in 12 months: M2
        "r": 2,
        "f": 3,
        "m": 2,
        "days_since_purchase": 113,
        "purchase_days_365": 4,
        "spend_12m": "1130.00",
        "top_categories": ["fresh", "dairy", "household"],
        "as_of": "2026-07-23",
    }
    assert "segments" not in ok(api.get("/program"))  # the thresholds are marketing's too
    assert ok(api.get("/program", role="ops"))["segments"]["recency_days"] == [14, 45, 90, 180]


def test_every_member_event_carries_the_segment_after_the_change(
    api: Api, now: FixedClock, outbox: Outbox, sent: list[dict[str, Any]], at_risk_queue: str
) -> None:
    ok(api.post("/members", {"member_id": "m1"}), 201)
    four_purchases_last_spring(api, "m1")
    ok(api.post("/members/m1/activities", {"activity_id": "c1", "type": "check_in"}), 201)
    assert not sent  # the writes publish nothing themselves: the stream does
    outbox.deliver()

    details = [(entry["DetailType"], json.loads(entry["Detail"])) for entry in sent]
    assert all(detail["segment"] in segments.NAMES for _, detail in details)
    # Enrolment: no purchase yet; each purchase is scored with itself counted (R2 throughout, F
    # rising with the days: hibernating until the fourth day makes the member an at-risk regular).
    assert [(kind, detail["segment"]) for kind, detail in details] == [
        ("member.enrolled", "no_purchase"),
        ("points.earned", "no_purchase"),
        ("coupon.issued", "no_purchase"),
        ("points.earned", "hibernating"),
        ("points.earned", "hibernating"),
        ("points.earned", "hibernating"),
        ("points.earned", "at_risk"),
        ("points.earned", "at_risk"),  # the check-in: activity is not a purchase
    ]

    # A scheduled job's events too: dormant after 180 days without activity.
    now.moment = datetime(2027, 2, 1, 9, tzinfo=TZ)
    sent.clear()
    assert jobs.run("dormant", date(2027, 2, 1)).members_changed == 1
    outbox.deliver()
    details = [(entry["DetailType"], json.loads(entry["Detail"])) for entry in sent]
    assert sorted(kind for kind, _ in details) == ["coupon.issued", "member.dormant"]
    assert {detail["segment"] for _, detail in details} == {"at_risk"}  # R1 now, still F3: at risk

    # Marketing's rule on the segment received exactly the at-risk members' events.
    arrived = received(at_risk_queue)
    assert sorted(event["detail-type"] for event in arrived) == sorted(
        ["points.earned", "points.earned", "member.dormant", "coupon.issued"]
    )
    assert all(event["detail"]["segment"] == "at_risk" for event in arrived)
    assert all({"phone", "email", "name"}.isdisjoint(event["detail"]) for event in arrived)
