"""The transactional outbox: a change's domain events are written in the change's own transaction,
on one of its items, and the table's stream brings them to the publisher (services/outbox.py).
No event can be lost between the commit and the bus, and none is sent for a write that failed.

Where the events of a change are kept (store/members.py and store/file_runs.py write them, in the
attribute OUTBOX):
- on the change's first new ledger entry: published when the entry is inserted; event ids
  `<member_id>/<entry_id>/<n>`;
- on the member's profile when the change made no ledger entry (a job's notice, a dormancy): ids
  `<member_id>/v<version>/<n>`, published when the profile's version moves with an outbox on it.
  Every versioned profile write sets or removes it, so an outbox is never read twice;
- on a sales file's run item when its status becomes completed or failed: ids
  `file/<file_id>/<status>/<n>`, published when the outbox first appears.

The stored form is a JSON string `{"segment": name, "events": [[detail_type, detail], ...]}`; a
member event's detail leaves out `member_id` (the item's key has it) and the segment is stored once.
Each published detail carries `event_id` (and the member's `segment`): the stream delivers at least
once, so a consumer drops an event id it has seen.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from chalicelib.domain import segments
from chalicelib.domain.model import DomainEvent, Member, MemberChange
from chalicelib.program import Program

OUTBOX = "outbox"  # the attribute that holds an item's events
ENTRY, PROFILE, FILE = "entry", "profile", "file"


@dataclass(frozen=True)
class Published:
    """One event for the bus: its id is in its detail too."""

    event_id: str
    detail_type: str
    detail: dict[str, Any]


def segment_name(program: Program, member: Member, today: date) -> str | None:
    """The member's segment after the change, for marketing's bus rules (`{"detail": {"segment":
    ["at_risk"]}}`). A segment that cannot be computed leaves the events without one: a notification
    detail never fails the write it belongs to."""
    try:
        return segments.segment(program, member, today).name
    except Exception:  # see above
        return None


def member_outbox(program: Program, change: MemberChange, today: date) -> dict[str, Any] | None:
    """What a member change stores for its events (None when it has none). Details are as emitted
    (Decimals, dates): the store makes them JSON."""
    if not change.events:
        return None
    member_id = change.after.member_id
    events = [[event.detail_type, _without_member(event, member_id)] for event in change.events]
    return {"segment": segment_name(program, change.after, today), "events": events}


def file_outbox(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    """What a sales file's run item stores when its status becomes final."""
    return {"segment": None, "events": [[detail_type, detail]]}


def _without_member(event: DomainEvent, member_id: str) -> dict[str, Any]:
    if event.detail.get("member_id") == member_id:
        return {name: value for name, value in event.detail.items() if name != "member_id"}
    return dict(event.detail)


def decode(source: str, stored: str, member_id: str | None) -> list[Published]:
    """The events of one stored outbox; `source` is the id prefix of its item."""
    outbox = json.loads(stored)
    segment = outbox.get("segment")
    found = []
    for n, (detail_type, detail) in enumerate(outbox["events"]):
        event_id = f"{source}/{n}"
        full = {"member_id": member_id, **detail} if member_id is not None else dict(detail)
        if segment is not None:
            full["segment"] = segment
        found.append(Published(event_id, detail_type, {**full, "event_id": event_id}))
    return found


def events_of(kind: str, item_id: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[Published]:
    """The events one stream record brings (images deserialised), none if it brings none:
    `kind` ENTRY (a ledger entry; item_id `<member_id>/<entry_id>`), PROFILE (item_id the member
    id) or FILE (item_id the file id)."""
    if new is None or OUTBOX not in new:
        return []
    if kind == ENTRY:
        if old is not None:  # a later change of the entry (a return's totals): published at insert
            return []
        return decode(item_id, new[OUTBOX], item_id.split("/", 1)[0])
    if kind == PROFILE:
        if old is not None and old.get("version") == new.get("version"):
            return []  # a write that does not version the profile (the audience job) left it there
        return decode(f"{item_id}/v{int(new['version'])}", new[OUTBOX], item_id)
    if kind == FILE:
        if old is not None and OUTBOX in old:
            return []
        return decode(f"file/{item_id}/{new.get('status')}", new[OUTBOX], None)
    return []
