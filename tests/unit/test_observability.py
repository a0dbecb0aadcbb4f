"""Log keys per invocation: handlers that run at the same time in threads of one process (as in
`loyalty dev`) each log their own function name and correlation id, and nothing of an invocation
stays on its thread for the next one."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from chalice.local import LambdaContext

from app import app
from chalicelib.observability import logger
from chalicelib.services import jobs
from chalicelib.services.sales_files import queue as ingest
from loyalty_tools.local.lambda_runtime import scheduled_event

WAIT_SECONDS = 10  # only a broken handshake waits this long: the test then fails on the returned False


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The logger's JSON lines, formatted as in Lambda."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    std_logger, level = logging.getLogger(logger.name), logger.log_level
    std_logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # another test (a CLI command run in-process) may have raised it
    try:
        yield stream
    finally:
        std_logger.removeHandler(handler)
        logger.setLevel(level)


def lines_of(stream: io.StringIO) -> dict[str, dict[str, Any]]:
    return {line["message"]: line for line in map(json.loads, stream.getvalue().splitlines())}


def sqs_event(message_id: str) -> dict[str, Any]:
    record = {
        "messageId": message_id,
        "receiptHandle": "handle",
        "body": "{}",
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:loyalty-ingest",
        "awsRegion": "us-east-1",
    }
    return {"Records": [record]}


def context(function_name: str) -> LambdaContext:
    return LambdaContext(function_name, 1024, max_runtime_ms=60_000)


def test_two_handlers_running_at_once_each_log_their_own_keys(
    log_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_started, job_started, job_logged = threading.Event(), threading.Event(), threading.Event()
    handshakes: list[bool] = []

    def handle_messages(messages: list[tuple[str, str]]) -> list[str]:
        logger.info("ingest: before the job started")
        ingest_started.set()
        handshakes.append(job_started.wait(WAIT_SECONDS))  # the job's keys are set by now
        logger.info("ingest: while the job runs")
        handshakes.append(job_logged.wait(WAIT_SECONDS))
        return []

    def run(name: str, time_left_ms: Any = None) -> Any:
        job_started.set()
        logger.info("job: while the ingestion runs")
        job_logged.set()
        return SimpleNamespace(as_dict=dict)

    monkeypatch.setattr(ingest, "handle_messages", handle_messages)
    monkeypatch.setattr(jobs, "run", run)

    # When: the ingestion handler runs in one thread, and a job starts in another meanwhile
    ingestion = threading.Thread(
        target=app.handler_map["ingest_queue_consumer"], args=(sqs_event("msg-1"), context("ingest_fn"))
    )
    ingestion.start()
    assert ingest_started.wait(WAIT_SECONDS)
    job = scheduled_event("expiry-rule", "us-east-1")
    app.handler_map["job_expiry"](job, context("job_fn"))
    ingestion.join(WAIT_SECONDS)

    # Then: each line has the keys of the invocation that wrote it
    assert handshakes == [True, True]
    lines = lines_of(log_lines)
    for message in ("ingest: before the job started", "ingest: while the job runs"):
        assert (lines[message].get("function_name"), lines[message].get("correlation_id")) == ("ingest_fn", "msg-1")
    job_line = lines["job: while the ingestion runs"]
    assert (job_line.get("function_name"), job_line.get("correlation_id")) == ("job_fn", job["id"])


def test_nothing_of_an_invocation_stays_on_its_thread(log_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    def handle_messages(messages: list[tuple[str, str]]) -> list[str]:
        logger.info(f"ingest {messages[0][0]}")
        return []

    monkeypatch.setattr(ingest, "handle_messages", handle_messages)
    handler = app.handler_map["ingest_queue_consumer"]

    # When: an invocation, a line outside any, then an invocation whose context has no function name
    handler(sqs_event("msg-1"), context("ingest_fn"))
    logger.info("between invocations")
    handler(sqs_event("msg-2"), None)

    # Then
    lines = lines_of(log_lines)
    assert lines["ingest msg-1"]["function_name"] == "ingest_fn"
    assert "function_name" not in lines["between invocations"]
    assert "correlation_id" not in lines["between invocations"]
    assert "function_name" not in lines["ingest msg-2"]
    assert lines["ingest msg-2"]["correlation_id"] == "msg-2"


def test_a_batch_of_one_sqs_message_is_correlated_by_its_message_id(
    log_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "handle_messages", lambda messages: logger.info("one") or [])

    app.handler_map["ingest_queue_consumer"](sqs_event("msg-9"), context("ingest_fn"))

    assert lines_of(log_lines)["one"]["correlation_id"] == "msg-9"
