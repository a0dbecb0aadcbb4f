"""A message that fails every delivery goes to the ingest queue's DLQ (the queue's own
maxReceiveCount, moto), and the DLQ handler fails its file: never left `running`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import events
from chalicelib.ingest import reader
from chalicelib.services.sales_files import limits, phases
from chalicelib.store import aws, file_runs
from loyalty_tools.local.pump import SqsPump
from tests.integration.conftest import TABLE
from tests.integration.test_ingest_files import (  # the shared harness
    QUEUE,
    Harness,
    csv_file,
    ingest,  # noqa: F401  (fixture)
    sale,
)
from tests.support import Api, Outbox

MAX_RECEIVE_COUNT = 2


@pytest.fixture
def dead_letters(ingest: Harness, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str], Outbox]:  # noqa: F811
    """The DLQ behind the harness's queue, the detail types of the events published, and the table's
    stream that publishes them."""
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"{QUEUE}-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
    sqs.set_queue_attributes(QueueUrl=ingest.queue_url, Attributes={"RedrivePolicy": json.dumps(redrive)})
    published: list[str] = []
    monkeypatch.setattr(events, "publish", lambda items: published.extend(e.detail_type for e in items) or set())
    return url, published, Outbox(TABLE)


def deliver_dead_letters(url: str) -> int:
    from app import app

    pump = SqsPump(url, app.handler_map["ingest_dead_letters"], wait_seconds=0)
    delivered = 0
    while received := pump.poll_once():
        delivered += received
    return delivered


def the_run(api: Api) -> dict[str, Any]:
    status, listed = api.get("/files?date=2026-11-21&store_id=s1", role="ops")
    assert status == 200 and len(listed["files"]) == 1
    status, one = api.get(f"/files/{listed['files'][0]['file_id']}", role="ops")
    assert status == 200
    return one


def rows(count: int) -> str:
    return csv_file(*(sale(f"r{i}", "10.00") for i in range(count)))


def test_a_chunk_that_always_fails_is_dead_lettered_and_fails_its_file(
    api: Api,
    ingest: Harness,  # noqa: F811
    dead_letters: tuple[str, list[str], Outbox],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dlq_url, published, outbox = dead_letters
    monkeypatch.setattr(limits, "ROWS_PER_CHUNK", 2)
    apply_chunk = phases.apply_chunk
    attempts: list[int] = []

    def broken_second_chunk(run: dict[str, Any], task: Any) -> Any:
        if task.chunk == 1:
            attempts.append(1)
            raise RuntimeError("injected: the chunk's rows cannot be read")
        return apply_chunk(run, task)

    monkeypatch.setattr(phases, "apply_chunk", broken_second_chunk)
    ingest.upload(rows(6))
    ingest.deliver()

    assert len(attempts) == MAX_RECEIVE_COUNT  # the queue's redrive, not our code, gave up
    assert the_run(api)["status"] == file_runs.RUNNING  # before the DLQ is read: the gap
    assert deliver_dead_letters(dlq_url) == 1

    run = the_run(api)
    assert run["status"] == file_runs.FAILED and run["reason"] == "chunk_failed"
    assert "chunk 1 of the sales phase" in run["message"] and "injected: the chunk's rows" in run["message"]
    report = ingest.report()
    assert (report["status"], report["reason"], report["message"]) == ("failed", "chunk_failed", run["message"])
    outbox.deliver()
    assert published.count("file.failed") == 1 and "file.completed" not in published


def test_a_file_message_that_always_fails_fails_its_file(
    api: Api,
    ingest: Harness,  # noqa: F811
    dead_letters: tuple[str, list[str], Outbox],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dlq_url, published, outbox = dead_letters

    def broken_plan(*args: Any) -> Any:
        raise OSError("injected: S3 read reset")

    monkeypatch.setattr(reader, "plan_file", broken_plan)
    ingest.upload(rows(3))
    ingest.deliver()
    assert deliver_dead_letters(dlq_url) == 1

    run = the_run(api)
    assert (run["status"], run["reason"]) == ("failed", "processing_failed")
    assert ingest.report()["reason"] == "processing_failed"
    outbox.deliver()
    assert published == ["file.failed"]


def test_a_dead_letter_leaves_a_finished_file_as_it_is(
    api: Api,
    ingest: Harness,  # noqa: F811
    dead_letters: tuple[str, list[str], Outbox],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dlq_url, published, outbox = dead_letters
    monkeypatch.setattr(limits, "ROWS_PER_CHUNK", 2)
    sent: list[str] = []
    enqueue = phases.tasks.enqueue
    monkeypatch.setattr(
        phases.tasks, "enqueue", lambda tasks: sent.extend(t.message() for t in tasks) or enqueue(tasks)
    )
    ingest.upload(rows(6))
    ingest.deliver()
    completed = ingest.report()
    assert completed["status"] == "completed" and sent

    # A late copy of a chunk message and of the file's notification reach the DLQ
    notification = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "x"}, "object": {"key": "incoming/s1/2026-11-21.csv"}},
            }
        ]
    }
    aws.client("sqs").send_message(QueueUrl=dlq_url, MessageBody=sent[0])
    aws.client("sqs").send_message(QueueUrl=dlq_url, MessageBody=json.dumps(notification))
    aws.client("sqs").send_message(QueueUrl=dlq_url, MessageBody="not json")
    assert deliver_dead_letters(dlq_url) == 3

    assert the_run(api)["status"] == "completed"
    assert ingest.report() == completed
    outbox.deliver()
    assert published == ["file.completed"]


def test_loyalty_dev_finds_the_dead_letter_handler_by_its_queue() -> None:
    from app import app
    from loyalty_tools.local.pump import sqs_handler

    def name(queue: str) -> str | None:
        found = sqs_handler(app, queue)
        return found[0] if found else None

    assert name("loyalty-ingest-dlq") == "ingest_dead_letters"
    assert name("loyalty-ingest") == "ingest_queue_consumer"
    assert name(f"{QUEUE}-dlq") == "ingest_dead_letters"  # another stage's names: the handler of that kind
    assert name(QUEUE) == "ingest_queue_consumer"
