"""Shared test helpers: an API client with keys, DynamoDB call counting, a settable clock."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from chalice.test import Client

from chalicelib.api import models
from chalicelib.domain import commands
from chalicelib.store import aws


class Api:
    """chalice.test.Client with JSON in/out and the two roles' keys."""

    def __init__(self, client: Client, storefront_key: str, ops_key: str) -> None:
        self.client = client
        self.keys = {"storefront": storefront_key, "ops": ops_key}

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        role: str | None = "storefront",
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if role:
            all_headers["Authorization"] = f"Bearer {self.keys[role]}"
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        response = getattr(self.client.http, method.lower())(path, headers=all_headers, body=data)
        text = response.body.decode() if response.body else ""
        return response.status_code, (json.loads(text) if text else None)

    def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return self.call("POST", path, body, **kw)


@contextmanager
def count_dynamodb_calls() -> Iterator[Counter[str]]:
    """Count DynamoDB round trips by operation (a botocore event hook on the shared client)."""
    counts: Counter[str] = Counter()

    def record(model: Any, **_: Any) -> None:
        counts[model.name] += 1

    events = aws.client("dynamodb").meta.events
    events.register("before-call.dynamodb", record)
    try:
        yield counts
    finally:
        events.unregister("before-call.dynamodb", record)


class FixedClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@contextmanager
def moto_stack(table: str, bus: str) -> Iterator[None]:
    """moto with fake credentials, the table's name and an event bus, for a whole test module
    (creating boto3 clients costs far more than a table, so modules share one moto)."""
    import pytest
    from moto import mock_aws

    from chalicelib import config

    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
            patch.delenv(name, raising=False)
        for name, value in {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "TABLE_NAME": table,
            "EVENT_BUS_NAME": bus,
        }.items():
            patch.setenv(name, value)
        config.reset()
        aws.reset()
        try:
            with mock_aws():
                aws.client("events").create_event_bus(Name=bus)
                yield
        finally:
            config.reset()
            aws.reset()


@contextmanager
def api_client() -> Iterator[Api]:
    """A storefront and an ops key, and the app's test client (on the current table)."""
    from app import app
    from chalicelib.services import keys

    _, storefront = keys.create_key("storefront", "test storefront")
    _, ops = keys.create_key("ops", "test ops")
    with Client(app) as client:
        yield Api(client, storefront, ops)


def moto_table_definition(table: str) -> dict[str, Any]:
    """The table as deployed, without its stream: moto copies a table's whole state (stream records
    included) on every transaction, which makes long moto tests quadratic. The stream is tested
    on DynamoDB Local (tests/integration/test_kpis.py)."""
    from chalicelib.store.schema import table_definition

    definition = table_definition(table)
    definition.pop("StreamSpecification")
    return definition


@contextmanager
def api_on_fresh_table(table: str) -> Iterator[Api]:
    """An empty table and an `api_client` on it, dropped afterwards (inside moto_stack)."""
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(**moto_table_definition(table))
    try:
        with api_client() as api:
            yield api
    finally:
        dynamodb.delete_table(TableName=table)


def ok(result: tuple[int, Any], status: int = 200) -> Any:
    got, body = result
    assert got == status, body
    return body


def assert_error(result: tuple[int, Any], status: int, code: str) -> dict[str, Any]:
    """The documented error body: {"error": {"code", "message", "details"}} with the given code."""
    got, body = result
    assert got == status, body
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["details"], list), error
    return error


# Request bodies as the API would take them, turned into the commands the services take.


def enrol_command(body: dict[str, Any]) -> commands.Enrol:
    return models.EnrolRequest.model_validate(body).command()


def purchase_command(member_id: str, body: dict[str, Any]) -> commands.RecordPurchase:
    return models.PurchaseRequest.model_validate(body).command(member_id)


def return_command(member_id: str, body: dict[str, Any]) -> commands.RecordReturn:
    return models.ReturnRequest.model_validate(body).command(member_id)


def redeem_command(member_id: str, body: dict[str, Any]) -> commands.Redeem:
    return models.RedemptionRequest.model_validate(body).command(member_id)


def activity_command(member_id: str, body: dict[str, Any]) -> commands.RecordActivity:
    return models.ActivityRequest.model_validate(body).command(member_id)


def adjustment_command(member_id: str, body: dict[str, Any]) -> commands.Adjust:
    return models.AdjustmentRequest.model_validate(body).command(member_id)


class _MotoStreams:
    """The stream API of moto's in-process DynamoDB, from its backend: moto routes the
    `dynamodbstreams` client's requests to DynamoDB itself, which answers 'not yet implemented'."""

    def __init__(self) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodbstreams.models import dynamodbstreams_backends

        self.backend = dynamodbstreams_backends[DEFAULT_ACCOUNT_ID][os.environ.get("AWS_DEFAULT_REGION", "us-east-1")]

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": self.backend.describe_stream(StreamArn)}

    def get_shard_iterator(
        self, StreamArn: str, ShardId: str, ShardIteratorType: str, SequenceNumber: str | None = None
    ) -> dict[str, Any]:
        number = int(SequenceNumber) if SequenceNumber is not None else None
        found = self.backend.get_shard_iterator(StreamArn, ShardId, ShardIteratorType, number)
        return {"ShardIterator": found.arn}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        answer: dict[str, Any] = self.backend.get_records(ShardIterator, Limit)
        return answer


class Outbox:
    """The table's stream handed to the outbox's stream handler (`event_outbox`), as Lambda and
    `loyalty dev` do: the domain events are published from it, not by the writes. Turns the stream
    on when the table has none (moto tables are made without, see moto_table_definition).
    `deliver()` publishes what was committed since its last call."""

    def __init__(self, table: str) -> None:
        from app import app
        from loyalty_tools.local.streams import StreamPump, stream_handlers

        dynamodb = aws.client("dynamodb")
        if not dynamodb.describe_table(TableName=table)["Table"].get("LatestStreamArn"):
            spec = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
            dynamodb.update_table(TableName=table, StreamSpecification=spec)
        self.answers: list[Any] = []  # what the handler answered, batch by batch
        (handler, batch_size) = next((h, b) for name, h, b in stream_handlers(app) if name == "event_outbox")

        def answering(event: dict[str, Any], context: Any) -> Any:
            self.answers.append(handler(event, context))
            return self.answers[-1]

        self.pump = StreamPump(table, answering, function_name="event_outbox", batch_size=batch_size)
        if not os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"):
            self.pump._client = _MotoStreams()  # the table is moto's, in this process

    def deliver(self) -> int:
        return self.pump.drain()


def as_emitted(event: Any) -> tuple[str, dict[str, Any]]:
    """A published event's type and detail as the change emitted it, without the `event_id` and
    `segment` the outbox adds."""
    detail = {name: value for name, value in event.detail.items() if name not in ("event_id", "segment")}
    return event.detail_type, detail


def readable(item: dict[str, Any]) -> dict[str, Any]:
    """A raw DynamoDB item with its compressed attributes (a write's stored answer) as text, so a
    test that looks for personal data in the table also reads what compression would hide."""
    from chalicelib.store import codec

    return {
        name: {"S": json.dumps(codec.response_from_item({"response": value["B"]}), ensure_ascii=False)}
        if set(value) == {"B"}
        else value
        for name, value in item.items()
    }
