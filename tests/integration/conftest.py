"""Integration tests on moto (S3, SQS, EventBridge and a small DynamoDB table), in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.store import aws
from tests.support import Api, api_client, moto_stack, moto_table_definition

TABLE, BUS = "loyalty-test", "loyalty-test-bus"


@pytest.fixture
def moto_env() -> Iterator[None]:
    with moto_stack(TABLE, BUS):
        aws.client("dynamodb").create_table(**moto_table_definition(TABLE))
        yield


@pytest.fixture
def api(moto_env: None) -> Iterator[Api]:
    with api_client() as client:
        yield client
