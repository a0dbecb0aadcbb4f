"""The local stack: resources on DynamoDB Local + moto, S3 → SQS delivery, the SQS pump, the scheduler."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest

from chalicelib.store import aws
from loyalty_tools.local.ddb_local import DynamoDBLocal
from loyalty_tools.local.pump import SqsPump, sqs_handler
from loyalty_tools.local.scheduler import Scheduler, scheduled_jobs
from loyalty_tools.local.stack import MAX_RECEIVE_COUNT, LocalResources, create_resources, ensure_table

pytestmark = pytest.mark.ddb_local


def queue_counts(queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = aws.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return int(attributes[names[0]]), int(attributes[names[1]])


def drain(queue_url: str) -> list[dict[str, Any]]:
    """Receive (and delete) whatever is on the queue now."""
    sqs = aws.client("sqs")
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return messages
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        messages += batch


def s3_keys(messages: list[dict[str, Any]]) -> list[str]:
    # S3 events carry the key URL-encoded (moto even encodes "/"): consumers must unquote_plus it.
    bodies = [json.loads(message["Body"]) for message in messages]
    return [unquote_plus(record["s3"]["object"]["key"]) for body in bodies for record in body.get("Records", [])]


def test_stack_creates_every_resource_once(local_stack: LocalResources) -> None:
    # When: the stack is created a second time
    again = create_resources()

    # Then: the same resources, and each exists as the app expects it
    assert again == local_stack
    table = aws.client("dynamodb").describe_table(TableName=local_stack.table_name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    aws.client("s3").head_bucket(Bucket=local_stack.bucket_name)
    aws.client("events").describe_event_bus(Name=local_stack.event_bus_name)
    sqs = aws.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=local_stack.queue_url, AttributeNames=["All"])["Attributes"]
    dead_letter = sqs.get_queue_attributes(QueueUrl=local_stack.dead_letter_queue_url, AttributeNames=["QueueArn"])
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dead_letter["Attributes"]["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == MAX_RECEIVE_COUNT
    notification = aws.client("s3").get_bucket_notification_configuration(Bucket=local_stack.bucket_name)
    assert [item["QueueArn"] for item in notification["QueueConfigurations"]] == [attributes["QueueArn"]]


def test_ensure_table_adds_an_index_missing_from_a_kept_table(ddb_local_table: str, monkeypatch: Any) -> None:
    # Given: a table created before the schema gained an index (as `loyalty dev --data` keeps it)
    from loyalty_tools.local import stack

    original = stack.table_definition

    def with_new_index(name: str) -> dict[str, Any]:
        definition = original(name)
        definition["AttributeDefinitions"].append({"AttributeName": "due_new", "AttributeType": "S"})
        index = {
            "IndexName": "by_due_new",
            "KeySchema": [{"AttributeName": "due_new", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
        definition.setdefault("GlobalSecondaryIndexes", []).append(index)
        return definition

    monkeypatch.setattr(stack, "table_definition", with_new_index)
    dynamodb = aws.client("dynamodb")

    # When
    ensure_table(dynamodb, ddb_local_table)

    # Then
    table = dynamodb.describe_table(TableName=ddb_local_table)["Table"]
    assert "by_due_new" in {index["IndexName"] for index in table["GlobalSecondaryIndexes"]}


def test_upload_into_incoming_arrives_on_the_ingest_queue(local_stack: LocalResources) -> None:
    drain(local_stack.queue_url)  # S3's s3:TestEvent from setting up the notification
    s3 = aws.client("s3")

    # When: one file under incoming/ and one elsewhere
    s3.put_object(Bucket=local_stack.bucket_name, Key="incoming/store-1/2026-11-21.csv", Body=b"store_id\n")
    s3.put_object(Bucket=local_stack.bucket_name, Key="reports/incoming/store-1/x.json", Body=b"{}")

    # Then: only the first is announced
    assert s3_keys(drain(local_stack.queue_url)) == ["incoming/store-1/2026-11-21.csv"]


def send(queue_url: str, bodies: list[str]) -> None:
    sqs = aws.client("sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)


def test_pump_calls_the_handler_with_a_lambda_event_and_deletes_what_succeeded(local_stack: LocalResources) -> None:
    drain(local_stack.queue_url)
    send(local_stack.queue_url, ["ok-1", "fail", "ok-2"])
    events: list[dict[str, Any]] = []
    contexts: list[Any] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        events.append(event)
        contexts.append(context)
        failed = [r["messageId"] for r in event["Records"] if r["body"] == "fail"]
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

    # When
    received = SqsPump(local_stack.queue_url, handler, function_name="ingest", wait_seconds=1).poll_once()

    # Then: one Lambda-shaped batch; the failure is still on the queue (in flight), the rest gone
    assert received == 3
    [event] = events
    records = event["Records"]
    assert sorted(record["body"] for record in records) == ["fail", "ok-1", "ok-2"]
    queue_arn = aws.client("sqs").get_queue_attributes(QueueUrl=local_stack.queue_url, AttributeNames=["QueueArn"])
    for record in records:
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"] == queue_arn["Attributes"]["QueueArn"]
        assert record["awsRegion"] == "us-east-1"
        assert record["attributes"]["ApproximateReceiveCount"] == "1"
        assert {"messageId", "receiptHandle", "md5OfBody", "messageAttributes"} <= set(record)
    assert contexts[0].function_name == "ingest"
    assert contexts[0].get_remaining_time_in_millis() > 0
    assert queue_counts(local_stack.queue_url) == (0, 1)


def test_pump_leaves_the_whole_batch_when_the_handler_raises(local_stack: LocalResources) -> None:
    drain(local_stack.queue_url)
    send(local_stack.queue_url, ["a", "b"])

    def handler(event: dict[str, Any], context: Any) -> None:
        raise RuntimeError("boom")

    # When
    SqsPump(local_stack.queue_url, handler, wait_seconds=1).poll_once()

    # Then: nothing was deleted; both come back after the visibility timeout
    assert queue_counts(local_stack.queue_url) == (0, 2)


def test_pump_thread_delivers_an_uploaded_file_to_the_handler(local_stack: LocalResources) -> None:
    drain(local_stack.queue_url)
    delivered: list[str] = []
    arrived = threading.Event()

    def handler(event: dict[str, Any], context: Any) -> None:
        delivered.extend(s3_keys([{"Body": record["body"]} for record in event["Records"]]))
        arrived.set()

    pump = SqsPump(local_stack.queue_url, handler, wait_seconds=1).start()
    try:
        # When: a store uploads a file
        key = "incoming/store-7/2026-11-22.csv"
        aws.client("s3").put_object(Bucket=local_stack.bucket_name, Key=key, Body=b"store_id\n")

        # Then: the handler gets it, and the message is gone
        assert arrived.wait(10)
        assert delivered == [key]
    finally:
        started = time.monotonic()
        pump.stop()
        assert time.monotonic() - started < 5  # one long poll at most
    assert queue_counts(local_stack.queue_url) == (0, 0)


def test_scheduler_runs_every_job_each_interval_and_survives_a_failing_one() -> None:
    runs: list[str] = []
    two_rounds = threading.Event()

    def failing() -> None:
        runs.append("failing")
        raise RuntimeError("boom")

    def counting() -> None:
        runs.append("counting")
        if runs.count("counting") >= 2:
            two_rounds.set()

    scheduler = Scheduler({"failing": failing, "counting": counting}, interval_seconds=0.05).start()
    try:
        assert two_rounds.wait(5)
    finally:
        scheduler.stop()
    assert runs[:4] == ["failing", "counting", "failing", "counting"]


def test_scheduler_skips_its_rounds_while_paused() -> None:
    runs: list[str] = []
    holder: list[str | None] = ["loyalty demo --seed 1"]
    scheduler = Scheduler({"counting": lambda: runs.append("run")}, interval_seconds=0.01, paused_by=lambda: holder[0])
    scheduler.start()
    try:
        time.sleep(0.2)
        assert runs == []
        holder[0] = None  # the lease ended
        deadline = time.monotonic() + 5
        while not runs and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        scheduler.stop()
    assert runs


def test_scheduler_with_no_jobs_starts_and_stops() -> None:
    scheduler = Scheduler({}, interval_seconds=0.01).start()
    time.sleep(0.05)
    scheduler.stop()


def test_dynamodb_local_keeps_the_table_in_a_data_dir(tmp_path: Path) -> None:
    import boto3

    def client(endpoint: str) -> Any:
        return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")

    # Given: a table written by one DynamoDB Local with a data dir
    with DynamoDBLocal(data_dir=tmp_path / "data") as first:
        ensure_table(client(first.endpoint), "kept")
        client(first.endpoint).put_item(TableName="kept", Item={"pk": {"S": "a"}, "sk": {"S": "b"}})

    # When: another one starts on the same dir
    with DynamoDBLocal(data_dir=tmp_path / "data") as second:
        item = client(second.endpoint).get_item(TableName="kept", Key={"pk": {"S": "a"}, "sk": {"S": "b"}})

    # Then
    assert item["Item"] == {"pk": {"S": "a"}, "sk": {"S": "b"}}


def test_pump_drives_the_chalice_sqs_handler_it_finds_in_the_app(local_stack: LocalResources) -> None:
    # Given: an app whose ingest handler fails the records it cannot process, as app.py will
    from chalice import Chalice

    app = Chalice(app_name="pump-test")
    seen: list[str] = []

    @app.on_sqs_message(queue=local_stack.queue_name, batch_size=10)
    def ingest(event: Any) -> dict[str, Any]:
        failures = []
        for record in event:
            seen.append(record.body)
            if record.body == "bad":
                failures.append({"itemIdentifier": record.to_dict()["messageId"]})
        return {"batchItemFailures": failures}

    found = sqs_handler(app, local_stack.queue_name)
    assert found is not None
    name, handler = found
    assert name == "ingest"
    drain(local_stack.queue_url)
    send(local_stack.queue_url, ["good", "bad"])

    # When
    SqsPump(local_stack.queue_url, handler, function_name=name, wait_seconds=1).poll_once()

    # Then
    assert sorted(seen) == ["bad", "good"]
    assert queue_counts(local_stack.queue_url) == (0, 1)


def test_no_sqs_handler_in_an_app_without_one() -> None:
    from chalice import Chalice

    assert sqs_handler(Chalice(app_name="no-queues"), "loyalty-ingest") is None


def test_scheduled_jobs_call_the_apps_schedule_handlers_as_eventbridge_does() -> None:
    from chalice import Chalice, Rate

    app = Chalice(app_name="jobs-test")
    calls: list[tuple[str, str, int]] = []

    @app.schedule(Rate(1, unit=Rate.HOURS), name="job_expiry")
    def job_expiry(event: Any) -> dict[str, str]:
        calls.append((event.detail_type, event.resources[0], event.context.get_remaining_time_in_millis()))
        return {"ok": "yes"}

    jobs = scheduled_jobs(app)

    assert list(jobs) == ["job_expiry"]
    assert jobs["job_expiry"]() == {"ok": "yes"}
    [(detail_type, resource, time_left)] = calls
    assert detail_type == "Scheduled Event"
    assert resource.endswith(":rule/job_expiry")
    assert time_left > 0
