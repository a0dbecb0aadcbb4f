"""The arithmetic of bench/cost.py, pure (no I/O): published prices, AWS's billing units and
rounding rules, and what a measured usage costs. Tested by tests/unit/test_cost_model.py.

Prices: us-east-1, on-demand, list prices as published, taken on PRICES_AS_OF (no free tier, no
Savings Plans, no volume tiers: the first tier of each). They change; re-check before quoting.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

PRICES_AS_OF = "2026-12-06"
MILLION = 1_000_000

# DynamoDB on-demand, Standard table class (halved in November 2024).
DYNAMODB_PER_WRU = 0.625 / MILLION
DYNAMODB_PER_RRU = 0.125 / MILLION
# Lambda, arm64 (Graviton), first 7.5 billion GB-seconds a month; the request price is per invocation.
LAMBDA_PER_REQUEST = 0.20 / MILLION
LAMBDA_PER_GB_SECOND_ARM = 0.0000133334
# API Gateway, first 333 million REST requests a month; an HTTP API: first 300 million.
API_GATEWAY_REST_PER_REQUEST = 3.50 / MILLION
API_GATEWAY_HTTP_PER_REQUEST = 1.00 / MILLION
# EventBridge custom events put on a bus, per 64 KB chunk of an entry.
EVENTBRIDGE_PER_EVENT = 1.00 / MILLION
# SQS standard queue, per request, each 64 KB chunk of a request's payload a request.
SQS_PER_REQUEST = 0.40 / MILLION
# S3 Standard requests: PUT, COPY, POST, LIST / GET, SELECT, HEAD.
S3_PER_PUT = 0.005 / 1000
S3_PER_GET = 0.0004 / 1000
# CloudWatch Logs, standard log class, per GB ingested.
LOGS_PER_GB = 0.50

EARN_GOAL = 10.00  # dollars per million earns, all-in

# Modelled, not measured. Lambda writes START, END and REPORT lines per invocation; API Gateway's
# access log one JSON line of 8 fields per request (infra/stack.py, ACCESS_LOG_FIELDS).
LAMBDA_PLATFORM_LOG_BYTES = 300
ACCESS_LOG_BYTES = 250
KB = 1024
CHUNK_64KB = 64 * KB

SERVICES = (
    "API Gateway",
    "Lambda requests",
    "Lambda GB-s",
    "DynamoDB writes",
    "DynamoDB reads",
    "EventBridge",
    "SQS",
    "S3",
    "CloudWatch Logs",
)


def write_units(item_bytes: int, transactional: bool = False) -> int:
    """Write request units of one item write: 1 per KB or part of one (at least 1), doubled in a
    transaction."""
    units = max(1, math.ceil(item_bytes / KB))
    return units * (2 if transactional else 1)


def read_units(read_bytes: int, consistent: bool = True, transactional: bool = False) -> float:
    """Read request units of one read (a GetItem's item, or a Query's items summed): 1 per 4 KB or
    part of one (at least 1) strongly consistent, half that eventually consistent, double in a
    transaction."""
    units = float(max(1, math.ceil(read_bytes / (4 * KB))))
    if transactional:
        return units * 2
    return units if consistent else units / 2


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB's typed form ({"S": ...}, {"N": ...}, {"M": ...})."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return number_size(str(inner))
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(one).encode()) for one in inner)
    if kind == "NS":
        return sum(number_size(str(one)) for one in inner)
    if kind == "BS":
        return sum(len(one) for one in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(one) for one in inner)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_size(one) for name, one in inner.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def number_size(text: str) -> int:
    """A number: 1 byte per 2 significant digits (leading and trailing zeros trimmed), plus 1."""
    digits = text.lstrip("-").replace(".", "").lstrip("0").split("e")[0].split("E")[0].rstrip("0")
    return math.ceil(max(len(digits), 1) / 2) + 1


def item_size(item: Mapping[str, Mapping[str, Any]] | None) -> int:
    """An item's size as DynamoDB bills it: every attribute's name and value."""
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


@dataclass(frozen=True)
class Index:
    """A secondary index as far as its writes go: its keys and what it projects."""

    name: str
    keys: tuple[str, ...]
    projected: tuple[str, ...] | None  # None: ALL
    local: bool = False


def index_entry(item: Mapping[str, Any] | None, index: Index, table_keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The index's copy of `item` (None when the item lacks one of the index's keys)."""
    if item is None or any(key not in item for key in index.keys):
        return None
    if index.projected is None:
        return dict(item)
    names = {*table_keys, *index.keys, *index.projected}
    return {name: value for name, value in item.items() if name in names}


def index_change(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, index: Index, table_keys: tuple[str, ...]
) -> tuple[str, list[int]]:
    """What an item write does to an index's copy, and the sizes of the index writes it costs:
    "put" (the item gains the index's keys), "delete" (loses them), "move" (its index key changed:
    a delete and a put), "update" (only what the index projects changed), "none"."""
    before, after = index_entry(old, index, table_keys), index_entry(new, index, table_keys)
    if before == after:
        return "none", []
    if before is None:
        return "put", [item_size(after)]
    if after is None:
        return "delete", [item_size(before)]
    if any(before[key] != after[key] for key in index.keys):
        return "move", [item_size(before), item_size(after)]
    return "update", [max(item_size(before), item_size(after))]


def record_write_units(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    indexes: Iterable[Index],
    table_keys: tuple[str, ...],
    transactional: bool,
) -> dict[str, int]:
    """Write units of one item write, from its old and new images (a stream record): the table
    bills the larger image; each index bills its writes (index_change). Index copies are billed like
    the table's write (doubled in a transaction): an upper bound for global indexes."""
    units = {"table": write_units(max(item_size(old), item_size(new)), transactional)}
    for index in indexes:
        _, sizes = index_change(old, new, index, table_keys)
        if sizes:
            units[index.name] = sum(write_units(size, transactional) for size in sizes)
    return units


def indexes_of(definition: Mapping[str, Any]) -> list[Index]:
    """The secondary indexes of a CreateTable definition."""
    found = []
    for kind, local in (("LocalSecondaryIndexes", True), ("GlobalSecondaryIndexes", False)):
        for index in definition.get(kind, []):
            projection = index["Projection"]
            projected: tuple[str, ...] | None = None
            if projection["ProjectionType"] == "KEYS_ONLY":
                projected = ()
            elif projection["ProjectionType"] == "INCLUDE":
                projected = tuple(projection["NonKeyAttributes"])
            keys = tuple(key["AttributeName"] for key in index["KeySchema"])
            found.append(Index(index["IndexName"], keys, projected, local))
    return found


def chunks_64kb(payload_bytes: int) -> int:
    """How many billed requests (SQS) or events (EventBridge) one payload is: 1 per 64 KB or part."""
    return max(1, math.ceil(payload_bytes / CHUNK_64KB))


def billed_ms(seconds: float) -> int:
    """Lambda bills each invocation's duration rounded up to the millisecond (at least 1 ms)."""
    return max(1, math.ceil(round(seconds * 1000, 6)))


def stream_invocations(records: int, batch_size: int, window_s: float, records_per_s: float) -> int:
    """Invocations of a table-stream handler for `records` arriving steadily at `records_per_s` on
    one shard: Lambda waits up to the batching window for a full batch, so a batch holds what one
    window brings (at least 1 record), at most `batch_size`."""
    if records <= 0:
        return 0
    per_batch = min(batch_size, max(1.0, records_per_s * window_s))
    return math.ceil(records / per_batch)


@dataclass
class Function:
    """One Lambda function's measured invocations."""

    memory_mb: int
    invocations: int = 0
    billed_ms: int = 0

    def add(self, seconds: float) -> None:
        self.invocations += 1
        self.billed_ms += billed_ms(seconds)

    def rebatch(self, invocations: int) -> None:
        """The same work in another number of invocations (the batches a steady rate makes): the
        billed time stays what was measured, the requests follow."""
        self.invocations = invocations

    @property
    def gb_seconds(self) -> float:
        return self.memory_mb / 1024 * self.billed_ms / 1000


@dataclass
class Usage:
    """What a workload used, in the units AWS bills."""

    api_requests: int = 0
    functions: dict[str, Function] = field(default_factory=dict)
    read_units: float = 0.0
    write_units: float = 0.0
    events: int = 0  # EventBridge entries, in 64 KB chunks
    sqs_requests: int = 0  # in 64 KB chunks
    s3_puts: int = 0
    s3_gets: int = 0
    log_bytes: int = 0

    def function(self, name: str, memory_mb: int) -> Function:
        return self.functions.setdefault(name, Function(memory_mb))


def dollars(usage: Usage, http_api: bool = False) -> dict[str, float]:
    """Dollars by service (SERVICES' order) for `usage`."""
    api_price = API_GATEWAY_HTTP_PER_REQUEST if http_api else API_GATEWAY_REST_PER_REQUEST
    return {
        "API Gateway": usage.api_requests * api_price,
        "Lambda requests": sum(f.invocations for f in usage.functions.values()) * LAMBDA_PER_REQUEST,
        "Lambda GB-s": sum(f.gb_seconds for f in usage.functions.values()) * LAMBDA_PER_GB_SECOND_ARM,
        "DynamoDB writes": usage.write_units * DYNAMODB_PER_WRU,
        "DynamoDB reads": usage.read_units * DYNAMODB_PER_RRU,
        "EventBridge": usage.events * EVENTBRIDGE_PER_EVENT,
        "SQS": usage.sqs_requests * SQS_PER_REQUEST,
        "S3": usage.s3_puts * S3_PER_PUT + usage.s3_gets * S3_PER_GET,
        "CloudWatch Logs": usage.log_bytes / KB**3 * LOGS_PER_GB,
    }


def per_million(cost: Mapping[str, float], units: int) -> dict[str, float]:
    """Dollars per million units of work (earns, file rows) from the dollars of `units` of them."""
    return {service: value * MILLION / units for service, value in cost.items()}


def table(columns: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Lines of a dollars table: one row per service (blank cells for zero), then the total."""
    width = max(len(s) for s in (*SERVICES, "total")) + 2
    lines = [" " * width + "".join(f"{label:>20}" for label in columns)]
    for service in SERVICES:
        if any(column.get(service, 0.0) for column in columns.values()):
            cells = "".join(_cell(column.get(service, 0.0)) for column in columns.values())
            lines.append(f"{service:<{width}}{cells}")
    lines.append(f"{'total':<{width}}" + "".join(_cell(sum(column.values())) for column in columns.values()))
    return lines


def _cell(value: float) -> str:
    return f"{'' if value == 0 else f'{value:,.4f}':>20}"
