"""The outbox's stream consumer (`event_outbox`): the only function that may put events on the bus,
with a role of its own (the stream, its on-failure queue, the bus: no table), its mapping reporting
the first failed record, its skipped batches on an encrypted queue that is alarmed."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.store.stream_filter import OUTBOX_HANDLER, PATTERNS_BY_HANDLER, filter_criteria
from tests.infra.cfn import alarms_on, as_list, getatt, logical_id, of_type, statements
from tests.infra.conftest import Stack
from tests.infra.test_security import granted, role_of

OUTBOX = logical_id(OUTBOX_HANDLER)


def project(stack: Stack) -> None:
    if OUTBOX_HANDLER not in [c["name"] for c in stack.inventory["stream_consumers"]]:
        pytest.skip("the app has no outbox")


def mapping(stack: Stack) -> dict[str, Any]:
    function = stack.template["Resources"][OUTBOX]["Properties"]
    return dict(function["Events"][f"{OUTBOX}DynamodbEventSource"]["Properties"])


def test_the_project_app_publishes_its_events_from_the_table_stream(stacks: list[Stack]) -> None:
    (project_stack, *_) = [s for s in stacks if s.app == "project"]
    assert OUTBOX_HANDLER in [c["name"] for c in project_stack.inventory["stream_consumers"]]


def test_the_outbox_mapping_reports_its_first_failed_record_and_skips_to_an_encrypted_alarmed_queue(
    stack: Stack,
) -> None:
    project(stack)
    event = mapping(stack)
    (table,) = of_type(stack.template, "AWS::DynamoDB::Table")
    assert event["Stream"] == getatt(table, "StreamArn")
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["BisectBatchOnFunctionError"] is True and 1 <= event["MaximumRetryAttempts"] <= 10
    assert event["FilterCriteria"] == filter_criteria(PATTERNS_BY_HANDLER[OUTBOX_HANDLER])
    queue = event["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    properties = stack.template["Resources"][queue]["Properties"]
    assert properties["SqsManagedSseEnabled"] is True
    assert properties["QueueName"] == f"loyalty-event-outbox-{stack.stage}-dlq"
    (alarm,) = alarms_on(
        stack.template, "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": getatt(queue, "QueueName")}
    )
    assert alarm["AlarmName"] == f"loyalty-{stack.stage}-{OUTBOX}-FailedBatches" and alarm["Threshold"] == 1
    assert alarm["AlarmActions"], "the alarm notifies the alarm topic"


def test_the_outbox_role_reads_the_stream_sends_its_failures_and_puts_events_on_the_bus_only(stack: Stack) -> None:
    project(stack)
    (table,) = of_type(stack.template, "AWS::DynamoDB::Table")
    (bus,) = of_type(stack.template, "AWS::Events::EventBus")
    queue = mapping(stack)["DestinationConfig"]["OnFailure"]["Destination"]
    actions = granted(stack, OUTBOX)
    assert actions["events:PutEvents"] == [getatt(bus)]
    assert actions["sqs:SendMessage"] == [queue]
    for action in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"):
        assert actions[action] == [getatt(table, "StreamArn")]
    # Nothing of the table beyond its stream: the stream's images carry the events.
    assert {a for a in actions if a.startswith("dynamodb:")} == {
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
    }
    assert not any(a.startswith(("s3:", "sqs:Receive", "sqs:Delete")) for a in actions)


def test_no_other_function_may_put_events(stack: Stack) -> None:
    """The writes commit their events with them (the outbox): none of them talks to the bus."""
    resources = stack.template["Resources"]
    for name, fn in of_type(stack.template, "AWS::Serverless::Function").items():
        if name == OUTBOX:
            continue
        for document in resources[role_of(fn["Properties"])]["Properties"]["Policies"]:
            for statement in statements(document["PolicyDocument"]):
                assert not any(a.startswith("events:") for a in as_list(statement["Action"])), f"{stack.id}: {name}"
