"""Integration tests on moto (S3, SQS, EventBridge and a small DynamoDB table), in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import aws, config
from chalicelib.services import keys
from chalicelib.store.schema import table_definition
from tests.support import Api


@pytest.fixture
def moto_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("TABLE_NAME", "loyalty-test")
    monkeypatch.setenv("EVENT_BUS_NAME", "loyalty-test-bus")
    config.reset()
    aws.reset()
    with mock_aws():
        aws.client("dynamodb").create_table(**table_definition("loyalty-test"))
        aws.client("events").create_event_bus(Name="loyalty-test-bus")
        yield
    config.reset()
    aws.reset()


@pytest.fixture
def api(moto_env: None) -> Iterator[Api]:
    from app import app

    _, storefront = keys.create_key("storefront", "test storefront")
    _, ops = keys.create_key("ops", "test ops")
    with Client(app) as client:
        yield Api(client, storefront, ops)
