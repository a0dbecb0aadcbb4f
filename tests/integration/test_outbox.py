"""The table's stream is the outbox, on the local stack (DynamoDB Local with its stream, moto's server
for EventBridge and SQS, as `loyalty dev`): a handler killed between the commit and its answer loses
no event, a redelivered stream repeats ids only, and a sales file's events are published 10 per
PutEvents call."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.domain.outbox import OUTBOX
from chalicelib.services import members as member_service
from chalicelib.services.sales_files import limits
from chalicelib.store import aws, dynamo, keys
from chalicelib.store import members as member_store
from loyalty_tools.local import streams
from loyalty_tools.local.stack import LocalResources
from tests.integration.test_ingest_files import NOW, csv_file, sale
from tests.integration.test_ingest_local_stack import upload_and_wait
from tests.support import FixedClock, Outbox, api_client, enrol_command, ok

pytestmark = [pytest.mark.ddb_local, pytest.mark.stream]


class Killed(BaseException):
    """The Lambda's process dying (out of time or memory): nothing after it runs, nothing catches it."""


@pytest.fixture
def stack(local_stack: LocalResources, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalResources]:
    monkeypatch.setattr(clock, "now", FixedClock(NOW))
    yield local_stack


def bus_queue(bus: str) -> str:
    """A consumer of the bus: a rule on every event of the app, to a queue."""
    sqs, bridge = aws.client("sqs"), aws.client("events")
    url = sqs.create_queue(QueueName=f"{bus}-consumer")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bridge.put_rule(Name="all", EventBusName=bus, EventPattern=json.dumps({"source": ["loyalty"]}))
    bridge.put_targets(Rule="all", EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    return url


def arrived(url: str) -> list[dict[str, Any]]:
    sqs, found = aws.client("sqs"), list[dict[str, Any]]()
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def committed_event_ids(*member_ids: str) -> set[str]:
    """The ids of every event the members' committed changes hold, from their items' outboxes."""
    ids = set()
    for member_id in member_ids:
        for item in dynamo.query_all(keys.member_pk(member_id), keys.ENTRY_PREFIX):
            if OUTBOX in item:
                n = len(json.loads(item[OUTBOX])["events"])
                ids |= {f"{member_id}/{item['entry_id']}/{i}" for i in range(n)}
    return ids


def test_a_handler_killed_after_the_commit_loses_no_event_and_dedup_leaves_each_once(
    stack: LocalResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = bus_queue(stack.event_bus_name)
    outbox = Outbox(stack.table_name)
    real_commit = member_store.commit

    def commit_then_die(commit: member_store.Commit, now: Any) -> None:
        real_commit(commit, now)
        raise Killed  # after the commit, before the answer (and before anything else the request does)

    with api_client() as api:
        ok(api.post("/members", {"member_id": "k1"}), 201)
        purchase = {"order_id": "o1", "amount": "20000.00", "currency": "CNY"}  # earned + tier.upgraded
        with monkeypatch.context() as dying:
            dying.setattr(member_store, "commit", commit_then_die)
            with pytest.raises(Killed):
                api.post("/members", {"member_id": "k2"})
            with pytest.raises(Killed):
                api.post("/members/k1/purchases", purchase)
            with pytest.raises(Killed):
                api.post("/members/k1/activities", {"activity_id": "a1", "type": "check_in"})
        # The clients retry: answered from the stored entries, nothing written twice.
        assert ok(api.post("/members/k1/purchases", purchase), 201)["balances"]["available"] == 100 + 20000
        ok(api.post("/members/k1/activities", {"activity_id": "a1", "type": "check_in"}), 201)
    assert arrived(consumer) == []  # the writes published nothing themselves

    outbox.deliver()
    Outbox(stack.table_name).deliver()  # the stream read again from its start: a redelivery
    events = arrived(consumer)
    ids = Counter(event["detail"]["event_id"] for event in events)
    expected = committed_event_ids("k1", "k2")
    assert set(ids) == expected  # every committed event arrived, none other
    assert set(ids.values()) == {2}  # each twice (two deliveries): one after dropping a seen id
    kinds = Counter(event["detail-type"] for event in {e["detail"]["event_id"]: e for e in events}.values())
    assert kinds["member.enrolled"] == 2 and kinds["tier.upgraded"] == 1
    killed_purchase = [e for e in events if e["detail"]["event_id"].startswith("k1/purchase#o1/")]
    assert {e["detail-type"] for e in killed_purchase} >= {"points.earned", "tier.upgraded"}


# DynamoDB Local applies ~100 rows/s here: 1,000 rows by default (the 10k-row count without the
# table is test_outbox_batching.py's); OUTBOX_FILE_ROWS=10000 runs the whole 10k file (minutes).
ROWS = int(os.environ.get("OUTBOX_FILE_ROWS", "1000"))
MEMBERS = ROWS // 10


def test_a_sales_file_is_published_with_one_put_events_call_per_10_member_rows(
    stack: LocalResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    # Lambda under load fills its batches; here the pump waits for full ones however slow the machine.
    monkeypatch.setattr(streams, "BATCH_WINDOW_SECONDS", 600.0)
    member_ids = [f"p{i:03d}" for i in range(MEMBERS)]
    for member_id in member_ids:
        member_service.enrol(enrol_command({"member_id": member_id}))
    outbox = Outbox(stack.table_name)
    outbox.deliver()  # the enrolments' events: not the file's
    calls: list[int] = []
    bus = aws.client("events").meta.events
    count = lambda params, **_: calls.append(len(params["Entries"]))  # noqa: E731
    bus.register("before-parameter-build.eventbridge.PutEvents", count)
    try:
        # Small amounts: one event per member row (points.earned), no tier change.
        rows = [sale(f"r{i}", f"{1 + i % 7}.00", member_ids[i % MEMBERS]) for i in range(ROWS)]
        monkeypatch.setattr(limits, "ROWS_PER_CHUNK", 500)
        report = upload_and_wait(stack, "s1", csv_file(*rows), pumps=2)
        assert (report["status"], report["applied"]) == ("completed", ROWS)
        outbox.deliver()
    finally:
        bus.unregister("before-parameter-build.eventbridge.PutEvents", count)
    events = sum(calls)
    assert events == ROWS + 1  # a points.earned per row, and file.completed
    # Full calls of 10; one more for file.completed.
    assert len(calls) <= ROWS // 10 + 1, f"{len(calls)} PutEvents calls for {ROWS} member rows"
    assert all(answer == {"batchItemFailures": []} for answer in outbox.answers)
    print(f"{ROWS} member rows: {len(calls)} PutEvents calls, {time.monotonic() - started:.1f} s")
