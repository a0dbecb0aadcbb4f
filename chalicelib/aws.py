"""boto3 clients, created lazily once per process (boto3 costs ~180 ms to import)."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=2,
        read_timeout=5,
        max_pool_connections=64,
    )
    return boto3.session.Session().client(service, config=config)


def reset() -> None:
    """Drop cached clients (the local stack and tests point them at new endpoints)."""
    client.cache_clear()
