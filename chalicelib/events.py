"""Domain events to the EventBridge bus, in PutEvents calls of 10 entries, failed entries retried.

Only the outbox's stream handler (services/outbox.py) publishes: the request path and the jobs
write their events in their own transaction (domain/outbox.py) and never call the bus.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from chalicelib.config import settings
from chalicelib.domain.outbox import Published
from chalicelib.observability import logger
from chalicelib.program import load_program
from chalicelib.store import aws, retry

BATCH = 10  # PutEvents takes at most 10 entries
# A throttled bus or an entry's InternalFailure usually clears within a second; what still fails
# goes back to the stream (the handler reports its record), which retries the batch later.
PUBLISH = retry.Policy(attempts=4, first=0.1, cap=1.0)


def entry(event: Published) -> dict[str, Any]:
    return {
        "Source": load_program().app_name,
        "DetailType": event.detail_type,
        "Detail": json.dumps(event.detail, separators=(",", ":"), ensure_ascii=False),
        "EventBusName": settings().event_bus_name,
    }


def _put(batch: list[dict[str, Any]]) -> list[int]:
    """One PutEvents call; the positions of the entries that failed (all of them if the call did)."""
    try:
        answer = aws.client("events").put_events(Entries=batch)
    except Exception:  # throttled, or the bus unreachable: the whole call is retried
        logger.exception("event publication failed", extra={"events": len(batch)})
        return list(range(len(batch)))
    return [i for i, result in enumerate(answer.get("Entries", [])) if result.get("ErrorCode")]


def publish(events: Sequence[Published]) -> set[int]:
    """Put the events on the bus, 10 per call, retrying failed entries; returns the positions
    (in `events`) of those that failed every attempt."""
    pending = list(range(len(events)))
    for _ in retry.attempts(PUBLISH):
        failed: list[int] = []
        for start in range(0, len(pending), BATCH):
            positions = pending[start : start + BATCH]
            failed += [positions[i] for i in _put([entry(events[p]) for p in positions])]
        if not failed:
            return set()
        pending = failed
    return set(pending)
