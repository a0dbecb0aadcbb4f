"""What the DynamoDB Local benchmarks share: fake credentials, quiet metrics, a fresh table."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from chalicelib import config
from chalicelib.store import aws


def use_local_aws() -> None:
    """Fake credentials only (nothing here may reach AWS); no EMF lines on stdout."""
    os.environ.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)


def use_table(endpoint: str, name: str) -> None:
    """Create the table (as deployed, with its stream) on DynamoDB Local and point the app at it."""
    from chalicelib.store.schema import table_definition

    os.environ.update({"AWS_ENDPOINT_URL_DYNAMODB": endpoint, "TABLE_NAME": name})
    config.reset()
    aws.reset()
    aws.client("dynamodb").create_table(**table_definition(name))


@dataclass
class Reads:
    calls: Counter[str]
    items: int = 0  # items DynamoDB read for us (Scan/Query ScannedCount, GetItem hits)
    index_items: int = 0  # of which from a due index
    member_queries: int = 0  # Queries on the table itself: one per member state read


@contextmanager
def count_reads() -> Iterator[Reads]:
    """Count DynamoDB calls and the items they read (botocore hooks on the shared client)."""
    reads = Reads(Counter())
    client_events = aws.client("dynamodb").meta.events

    def before(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_index"] = params.get("IndexName")

    def after(parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        reads.calls[model.name] += 1
        if model.name in ("Query", "Scan"):
            scanned = int(parsed.get("ScannedCount", parsed.get("Count", 0)))
            reads.items += scanned
            if context.get("bench_index"):
                reads.index_items += scanned
            elif model.name == "Query":
                reads.member_queries += 1
        elif model.name == "GetItem" and parsed.get("Item"):
            reads.items += 1
        elif model.name == "BatchGetItem":
            reads.items += sum(len(found) for found in parsed.get("Responses", {}).values())

    client_events.register("before-parameter-build.dynamodb", before)
    client_events.register("after-call.dynamodb", after)
    try:
        yield reads
    finally:
        client_events.unregister("before-parameter-build.dynamodb", before)
        client_events.unregister("after-call.dynamodb", after)
