"""Shared fixtures: fake AWS credentials for every test, DynamoDB Local once per session, moto's server.

Nothing here can reach real AWS: the credentials are fake, profile files are hidden, and every
endpoint a fixture sets is on 127.0.0.1.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from chalicelib import config
from chalicelib.store import aws
from loyalty_tools.local.ddb_local import DynamoDBLocal
from loyalty_tools.local.emulators import MotoServer
from loyalty_tools.local.stack import FAKE_AWS_ENV, LocalResources, create_resources, ensure_table


def _reset_caches() -> None:
    config.reset()
    aws.reset()


@pytest.fixture(scope="session", autouse=True)
def fake_aws_environment() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS_ENV.items():
            patch.setenv(name, value)  # over real ones too
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            patch.delenv(name, raising=False)
        # A shell that runs `loyalty dev` exports these: tests must not write into that stack.
        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_CONFIG_FILE", os.devnull)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        _reset_caches()
        yield
    _reset_caches()


@pytest.fixture(scope="session")
def ddb_local_endpoint() -> Iterator[str]:
    """DynamoDB Local, started once per session (a JVM start takes seconds) on a free port."""
    with DynamoDBLocal() as dynamodb:
        yield dynamodb.endpoint


def unique_name(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def ddb_local_table(ddb_local_endpoint: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh table on DynamoDB Local that `chalicelib.config`/`chalicelib.store.aws` point at; dropped after.
    Its stream is on only for tests marked `stream` (DynamoDB Local slows down as a session's
    stream records pile up)."""
    name = unique_name()
    stream = request.node.get_closest_marker("stream") is not None
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TABLE_NAME", name)
        patch.setenv("AWS_ENDPOINT_URL_DYNAMODB", ddb_local_endpoint)
        _reset_caches()
        dynamodb = aws.client("dynamodb")
        ensure_table(dynamodb, name, stream=stream)
        try:
            yield name
        finally:
            dynamodb.delete_table(TableName=name)
    _reset_caches()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server (S3, SQS, EventBridge) in this process, on a free port.

    moto's state is process-wide and `mock_aws` resets it: create what a test needs in the test
    (e.g. with `local_stack`), never once per session.
    """
    with MotoServer(port=0) as moto:
        yield moto.endpoint


@pytest.fixture
def local_stack(ddb_local_table: str, moto_endpoint: str, request: pytest.FixtureRequest) -> Iterator[LocalResources]:
    """Every resource of `loyalty dev` under fresh names: table on DynamoDB Local, the rest on moto."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
        patch.setenv("BUCKET_NAME", unique_name())
        patch.setenv("INGEST_QUEUE_NAME", unique_name())
        patch.setenv("EVENT_BUS_NAME", unique_name())
        _reset_caches()
        yield create_resources(stream=request.node.get_closest_marker("stream") is not None)
    _reset_caches()
