"""Domain events to the EventBridge bus, after the write committed, in batches of 10."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from typing import Any

from chalicelib import clock
from chalicelib.config import settings
from chalicelib.domain import segments
from chalicelib.domain.calendar import local_date
from chalicelib.domain.model import DomainEvent
from chalicelib.observability import logger, metrics
from chalicelib.program import Program, load_program
from chalicelib.store import aws
from chalicelib.store.codec import jsonable

BATCH = 10


def _segment_name(program: Program, event: DomainEvent, today: date) -> str | None:
    if event.subject is None:
        return None
    try:
        return segments.segment(program, event.subject, today).name
    except Exception:  # a notification detail must never fail the committed write's answer
        logger.exception("segment failed", extra={"member_id": event.detail.get("member_id")})
        return None


def _details(program: Program, events: Iterable[DomainEvent], today: date) -> list[tuple[str, dict[str, Any]]]:
    """Each event's detail; an event about a member also carries the member's segment after the
    change, so marketing's bus rules can filter on it (`{"detail": {"segment": ["at_risk"]}}`).
    Every member event passes here (API writes, enrolment, jobs): this is the one place that adds it."""
    names: dict[int, str | None] = {}  # one segment per member object, however many events it has
    found = []
    for event in events:
        detail = event.detail
        if event.subject is not None:
            key = id(event.subject)
            if key not in names:
                names[key] = _segment_name(program, event, today)
            if names[key] is not None:
                detail = {**detail, "segment": names[key]}
        found.append((event.detail_type, detail))
    return found


def publish(events: Iterable[DomainEvent]) -> int:
    """Put events on the bus; returns how many failed. A failure never undoes the committed write:
    it is logged and counted (metric EventsFailed) for the alarm. Segments are as of today in program
    time: publication follows the commit at once, and marketing acts on the event when it arrives."""
    program = load_program()
    today = local_date(clock.now(), program.tz)
    pending = [
        {
            "Source": program.app_name,
            "DetailType": detail_type,
            "Detail": json.dumps(jsonable(detail), separators=(",", ":")),
            "EventBusName": settings().event_bus_name,
        }
        for detail_type, detail in _details(program, events, today)
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
