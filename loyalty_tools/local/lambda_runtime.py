"""What Lambda hands a handler besides its event: a context, and the events of the local triggers
that moto does not deliver itself (scheduled rules)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from chalice.local import LambdaContext

ACCOUNT_ID = "123456789012"  # moto's default account
TIMEOUT_MS = 900_000
MEMORY_MB = 1024


def context(function_name: str) -> LambdaContext:
    """A fresh context (new request id, full time budget) for one invocation."""
    return LambdaContext(function_name, MEMORY_MB, max_runtime_ms=TIMEOUT_MS)


def scheduled_event(rule_name: str, region: str) -> dict[str, Any]:
    """The event EventBridge sends for a schedule rule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{rule_name}"],
        "detail": {},
    }
