"""Delivers the table's stream to a Lambda handler locally, as the DynamoDB event source mapping does.

`loyalty dev` polls DynamoDB Local's stream (every shard, from the oldest record kept) and calls
the very function Lambda calls (`@app.on_dynamodb_record`'s handler) with Lambda's event format. A
batch whose handler raised is delivered again on the next poll, as Lambda retries; the roll-up
counts each record once, so a restart that reads the stream from the start again is harmless.
The handler gets only the records its event filter passes (chalicelib/store/stream_filter.py, the
same patterns as the event source mapping on AWS). Each handler has its own pump, as each has its own
event source mapping on AWS (the KPI roll-up, the outbox that publishes the domain events); a batch
whose handler answers `batchItemFailures` is delivered again, as Lambda retries it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.store import aws
from chalicelib.store.stream_filter import PATTERNS_BY_HANDLER, passes
from loyalty_tools.local import lambda_runtime
from loyalty_tools.local.worker import Worker

if TYPE_CHECKING:
    from chalice import Chalice

log = logging.getLogger(__name__)

StreamHandler = Callable[[dict[str, Any], Any], Any]
# A batch not yet full goes to the handler once its oldest record waited this long, or as soon as
# the shard has nothing newer (Lambda's batching window; 1 s here whatever the app's, so that
# `loyalty dev` shows writes' effects at once).
BATCH_WINDOW_SECONDS = 1.0


def stream_handlers(app: Chalice) -> list[tuple[str, StreamHandler, int]]:
    """(name, Lambda entry point, batch size) of each of the app's DynamoDB stream handlers."""
    from chalice.app import DynamoDBEventConfig

    sources = [source for source in app.event_sources if isinstance(source, DynamoDBEventConfig)]
    return [(source.name, app.handler_map[source.name], source.batch_size) for source in sources]


def streams_client() -> Any:
    """The stream API of the same DynamoDB the table is on (not moto, which serves the rest)."""
    import boto3

    endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    return boto3.session.Session().client("dynamodbstreams", endpoint_url=endpoint)


@dataclass
class _Shard:
    iterator: str | None  # None: the shard is closed and read to its end
    pending: list[dict[str, Any]] = field(default_factory=list)  # passed the filter, not yet handed over
    pending_since: float = 0.0  # monotonic time of the oldest pending record
    checkpoint: str | None = None  # the sequence number of the last record handed over


class StreamPump(Worker):
    def __init__(
        self,
        table_name: str,
        handler: StreamHandler,
        function_name: str = "kpi_rollup",
        batch_size: int = 500,
        interval_seconds: float = 1.0,
    ) -> None:
        super().__init__("stream-pump")
        self.table_name = table_name
        self.handler = handler
        self.function_name = function_name
        self.patterns = PATTERNS_BY_HANDLER.get(function_name)  # None: every record
        self.batch_size = batch_size
        self.interval_seconds = interval_seconds
        self._client: Any = None
        self._shards: dict[str, _Shard] = {}
        self._stream_arn: str | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delivered = self.poll_once()
            except Exception:
                log.exception("stream pump: reading the stream failed")
                delivered = 0
            if not delivered:
                self._stop.wait(self.interval_seconds)

    def drain(self, max_polls: int = 1000) -> int:
        """Deliver until a poll finds nothing new; returns how many records were delivered."""
        total = 0
        for _ in range(max_polls):
            delivered = self.poll_once()
            total += delivered
            if not delivered:
                return total
        return total

    def poll_once(self) -> int:
        """One GetRecords (a page of up to 1,000) per open shard. The records the handler's filter
        passes wait until they fill a batch, the shard has nothing newer, or BATCH_WINDOW_SECONDS
        passed (as Lambda fills a batch within its batching window); returns how many records were
        read or handed over."""
        client = self._client = self._client or streams_client()
        self._discover(client)
        moved = 0
        for shard_id, shard in self._shards.items():
            records: list[dict[str, Any]] = []
            if shard.iterator is not None:
                answer = client.get_records(ShardIterator=shard.iterator, Limit=1000)
                records = answer.get("Records", [])
                shard.iterator = answer.get("NextShardIterator")
                converted = [lambda_record(record, self._stream_arn or "") for record in records]
                wanted = [record for record in converted if passes(record, self.patterns)]
                if wanted and not shard.pending:
                    shard.pending_since = time.monotonic()
                shard.pending += wanted
                moved += len(records)
            while shard.pending and (len(shard.pending) >= self.batch_size or not records or self._waited(shard)):
                batch = shard.pending[: self.batch_size]
                if not self._deliver(batch):
                    self._rewind(client, shard_id, shard)  # the same records come again next poll
                    break
                shard.checkpoint = batch[-1]["dynamodb"]["SequenceNumber"]
                shard.pending = shard.pending[len(batch) :]
                shard.pending_since = time.monotonic()
                moved += len(batch)
                log.debug("stream pump: shard %s delivered %d", shard_id, len(batch))
        return moved

    def _waited(self, shard: _Shard) -> bool:
        return time.monotonic() - shard.pending_since >= BATCH_WINDOW_SECONDS

    def _rewind(self, client: Any, shard_id: str, shard: _Shard) -> None:
        """Back to just after the last record handed over successfully (Lambda's checkpoint)."""
        where: dict[str, Any] = {"ShardIteratorType": "TRIM_HORIZON"}
        if shard.checkpoint is not None:
            where = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": shard.checkpoint}
        shard.iterator = client.get_shard_iterator(StreamArn=self._stream_arn, ShardId=shard_id, **where)[
            "ShardIterator"
        ]
        shard.pending = []

    def _discover(self, client: Any) -> None:
        if self._stream_arn is None:
            table = aws.client("dynamodb").describe_table(TableName=self.table_name)["Table"]
            self._stream_arn = table.get("LatestStreamArn")
            if self._stream_arn is None:
                raise RuntimeError(f"table {self.table_name} has no stream")
        description = client.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id not in self._shards:
                iterator = client.get_shard_iterator(
                    StreamArn=self._stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
                self._shards[shard_id] = _Shard(iterator)

    def _deliver(self, batch: list[dict[str, Any]]) -> bool:
        try:
            answer = self.handler({"Records": batch}, lambda_runtime.context(self.function_name))
        except Exception:
            log.exception("stream pump: the handler raised; the batch comes again")
            return False
        if isinstance(answer, dict) and answer.get("batchItemFailures"):
            log.warning("stream pump: %s reported failed records; the batch comes again", self.function_name)
            return False
        return True


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """GetRecords' record in the shape Lambda passes (epoch seconds, the source ARN)."""
    stream = dict(record["dynamodb"])
    for side in ("NewImage", "OldImage", "Keys"):
        if side in stream:
            stream[side] = {name: _attribute(value) for name, value in stream[side].items()}
    created = stream.get("ApproximateCreationDateTime")
    if created is not None and hasattr(created, "timestamp"):
        stream["ApproximateCreationDateTime"] = created.timestamp()
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", "us-east-1"),
        "dynamodb": stream,
        "eventSourceARN": stream_arn,
    }


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    """botocore parses an empty map attribute as `{}`; Lambda's event carries `{"M": {}}`."""
    if not value:
        return {"M": {}}
    if "M" in value:
        return {"M": {name: _attribute(inner) for name, inner in value["M"].items()}}
    if "L" in value:
        return {"L": [_attribute(inner) for inner in value["L"]]}
    return value
