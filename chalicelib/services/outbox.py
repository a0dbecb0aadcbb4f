"""The outbox's stream handler: the events committed with each change (domain/outbox.py), read from
the table's stream and put on the bus in PutEvents calls of 10.

Delivery is at least once: Lambda hands a batch again after a failure, and the local stream pump
after a restart, so a consumer drops an `event_id` it has already seen. A batch whose events still
fail after the publisher's retries reports its first failing record (ReportBatchItemFailures):
Lambda retries from that record, and after its retries sends the range to the mapping's on-failure
queue (infra/), which is alarmed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from chalicelib import events
from chalicelib.domain import outbox
from chalicelib.domain.outbox import Published
from chalicelib.observability import logger, metrics
from chalicelib.store import dynamo, keys


@dataclass
class Outcome:
    records: int = 0
    events: int = 0
    failed: int = 0  # events that failed every attempt (their records come again)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _image(stream: dict[str, Any], side: str) -> dict[str, Any] | None:
    image = stream.get(side)
    return None if image is None else dynamo.from_item(image)


def record_events(record: dict[str, Any]) -> list[Published]:
    """The events of one stream record (Lambda's DynamoDB event format)."""
    stream = record["dynamodb"]
    partition, sort_key = stream["Keys"][keys.PK]["S"], stream["Keys"][keys.SK]["S"]
    file_id = partition.removeprefix(keys.FILE_PREFIX)
    member_id = partition.split("#", 1)[-1]
    if {keys.PK: partition, keys.SK: sort_key} == keys.file_key(file_id):
        kind, item_id = outbox.FILE, file_id
    elif {keys.PK: partition, keys.SK: sort_key} == keys.profile_key(member_id):
        kind, item_id = outbox.PROFILE, member_id
    elif partition == keys.member_pk(member_id) and sort_key.startswith(keys.ENTRY_PREFIX):
        kind, item_id = outbox.ENTRY, f"{member_id}/{sort_key.removeprefix(keys.ENTRY_PREFIX)}"
    else:
        return []
    return outbox.events_of(kind, item_id, _image(stream, "OldImage"), _image(stream, "NewImage"))


def publish_records(records: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    """Publish a batch's events; the answer names the first record whose events failed (none: all
    were put on the bus)."""
    found: list[Published] = []
    record_of: list[int] = []  # the record each event came from
    for index, record in enumerate(records):
        for event in record_events(record):
            found.append(event)
            record_of.append(index)
    failed = events.publish(found)
    if not failed:
        logger.info("outbox published", extra=Outcome(len(records), len(found)).as_dict())
        return {"batchItemFailures": []}
    outcome = Outcome(len(records), len(found), len(failed))
    metrics.add_metric(name="EventsFailed", unit="Count", value=len(failed))
    first = records[min(record_of[position] for position in failed)]
    logger.error("outbox events not published", extra=outcome.as_dict())
    return {"batchItemFailures": [{"itemIdentifier": first["dynamodb"]["SequenceNumber"]}]}
