"""Shared test helpers: an API client with keys, DynamoDB call counting, a settable clock."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from chalice.test import Client

from chalicelib import aws


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
