"""boto3 clients, created lazily once per process (boto3 costs ~180 ms to import)."""

from __future__ import annotations

import os
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
        # Presigned URLs (services/uploads.py) as S3 calls already are: SigV4 (botocore would presign
        # SigV2 in us-east-1) on the bucket's regional host (the global one redirects for a new
        # bucket); emulators on an IP address (`loyalty dev`) need path style.
        signature_version="s3v4" if service == "s3" else None,
        s3={"addressing_style": "virtual"} if service == "s3" and not _custom_endpoint() else None,
    )
    return boto3.session.Session().client(service, config=config)


def _custom_endpoint() -> bool:
    return bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))


def reset() -> None:
    """Drop cached clients (the local stack and tests point them at new endpoints)."""
    client.cache_clear()
