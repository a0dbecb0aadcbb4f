"""`loyalty dev` publishes the domain events as AWS does: from the table's stream, through the outbox
handler its stream pump feeds, to moto's EventBridge bus; a rule on the bus delivers them to a queue."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_dev_server import DevStack, _call, running_dev

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_dev(Path(tmp_path_factory.mktemp("events"))) as stack:
        yield stack


def test_the_events_of_api_writes_reach_a_rule_on_the_bus_with_their_ids(dev: DevStack) -> None:
    import boto3

    endpoint = dev.lines["AWS_ENDPOINT_URL"]
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    bridge = boto3.client("events", endpoint_url=endpoint, region_name="us-east-1")
    bus = dev.lines["event bus"].split()[0]
    url = sqs.create_queue(QueueName="e2e-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bridge.put_rule(Name="e2e-all", EventBusName=bus, EventPattern=json.dumps({"source": ["loyalty"]}))
    bridge.put_targets(Rule="e2e-all", EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    assert "event_outbox" in dev.lines["table stream"]
    key = dev.create_key("storefront", "events")

    assert _call(f"{dev.api}/members", key, {"member_id": "ev-1"})[0] == 201
    purchase = {"order_id": "ev-o1", "amount": "88.00", "currency": "CNY"}
    assert _call(f"{dev.api}/members/ev-1/purchases", key, purchase)[0] == 201

    found: dict[str, dict[str, object]] = {}
    deadline = time.monotonic() + 30
    while "ev-1/purchase#ev-o1/0" not in found:
        assert time.monotonic() < deadline, f"the events did not arrive within 30 s: {sorted(found)}"
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            event = json.loads(message["Body"])
            found[event["detail"]["event_id"]] = event
    assert found["ev-1/purchase#ev-o1/0"]["detail-type"] == "points.earned"
    assert found["ev-1/enrol#ev-1/0"]["detail-type"] == "member.enrolled"
    assert all(event["detail"]["member_id"] == "ev-1" for event in found.values())
