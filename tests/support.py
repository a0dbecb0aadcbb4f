"""Shared test helpers: an API client with keys, DynamoDB call counting, a settable clock."""

from __future__ import annotations

import json
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
