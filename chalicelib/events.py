"""Domain events to the EventBridge bus, after the write committed, in batches of 10."""

from __future__ import annotations

import json
from collections.abc import Iterable

from chalicelib import aws
from chalicelib.config import settings
from chalicelib.domain.model import DomainEvent
from chalicelib.observability import logger, metrics
from chalicelib.program import load_program
from chalicelib.store.codec import jsonable

BATCH = 10


def publish(events: Iterable[DomainEvent]) -> int:
    """Put events on the bus; returns how many failed. A failure never undoes the committed write:
    it is logged and counted (metric EventsFailed) for the alarm."""
    pending = [
        {
            "Source": load_program().app_name,
            "DetailType": event.detail_type,
            "Detail": json.dumps(jsonable(event.detail), separators=(",", ":")),
            "EventBusName": settings().event_bus_name,
        }
        for event in events
    ]
    failed = 0
    for start in range(0, len(pending), BATCH):
        batch = pending[start : start + BATCH]
        try:
            answer = aws.client("events").put_events(Entries=batch)
            failed += int(answer.get("FailedEntryCount", 0))
        except Exception:  # the write is committed; never fail the request for its notification
            logger.exception("event publication failed", extra={"events": len(batch)})
            failed += len(batch)
    if failed:
        metrics.add_metric(name="EventsFailed", unit="Count", value=failed)
    return failed
