"""The transactional outbox: what a change stores for its events, and the events a stream record
brings back (ids, segment, member id), as the stream handler publishes them."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from chalicelib.domain import outbox, rules
from chalicelib.domain.model import MemberChange
from chalicelib.domain.outbox import ENTRY, FILE, OUTBOX, PROFILE
from chalicelib.store import codec, dynamo, stream_filter
from chalicelib.store.schema import LEDGER_PAGE_ATTRIBUTES
from tests.unit._support import PROGRAM, at, new_member, purchase

NOW = at(2026, 7, 1)


def earn() -> MemberChange:
    member = new_member(at(2026, 6, 1))
    change, _ = rules.record_purchase(PROGRAM, member, purchase("o1", "268.50", NOW), NOW)
    return change


def stored(change: MemberChange) -> str:
    found = outbox.member_outbox(PROGRAM, change, NOW.date())
    assert found is not None
    return codec.json_text(found)


def test_an_earn_stores_its_events_without_the_member_id_and_the_segment_once() -> None:
    change = earn()
    value = json.loads(stored(change))
    assert value["segment"] == "new"  # enrolled a month ago, one purchase day
    assert [kind for kind, _ in value["events"]] == [e.detail_type for e in change.events]
    assert all("member_id" not in detail and "segment" not in detail for _, detail in value["events"])


def test_an_inserted_entry_gives_back_the_events_as_emitted_with_their_ids_and_segment() -> None:
    change = earn()
    new = {"member_id": "m-1", OUTBOX: stored(change)}
    found = outbox.events_of(ENTRY, "m-1/purchase#o1", None, new)
    assert [e.event_id for e in found] == [f"m-1/purchase#o1/{n}" for n in range(len(change.events))]
    for event, emitted in zip(found, change.events, strict=True):
        assert event.detail_type == emitted.detail_type
        assert event.detail == {
            **json.loads(codec.json_text(emitted.detail)),
            "segment": "new",
            "event_id": event.event_id,
        }
    earned = next(e for e in found if e.detail_type == "points.earned")
    assert earned.detail["member_id"] == "m-1" and earned.detail["points"] > 0


def test_a_redelivered_record_gives_the_same_ids() -> None:
    new = {OUTBOX: stored(earn())}
    first = outbox.events_of(ENTRY, "m-1/purchase#o1", None, new)
    assert first == outbox.events_of(ENTRY, "m-1/purchase#o1", None, new)


def test_a_later_change_of_an_entry_publishes_nothing_again() -> None:
    new = {OUTBOX: stored(earn()), "returned_amount": Decimal("10")}
    assert outbox.events_of(ENTRY, "m-1/purchase#o1", {OUTBOX: new[OUTBOX]}, new) == []


def test_a_profile_outbox_is_published_when_its_version_moves_only() -> None:
    value = codec.json_text({"segment": "at_risk", "events": [["member.dormant", {"inactive_days": 181}]]})
    old, new = {"version": Decimal(4)}, {"version": Decimal(5), OUTBOX: value}
    (event,) = outbox.events_of(PROFILE, "m-9", old, new)
    assert event.event_id == "m-9/v5/0"
    assert event.detail == {"member_id": "m-9", "inactive_days": 181, "segment": "at_risk", "event_id": "m-9/v5/0"}
    # A write that does not version the profile (the audience job) leaves the outbox as it was.
    assert outbox.events_of(PROFILE, "m-9", new, {**new, "segment": "lost"}) == []
    # A profile without an outbox (every versioned write removes an earlier one) brings nothing.
    assert outbox.events_of(PROFILE, "m-9", new, {"version": Decimal(6)}) == []


def test_a_file_event_comes_once_when_the_status_becomes_final() -> None:
    value = codec.json_text(outbox.file_outbox("file.completed", {"file_id": "f1", "status": "completed", "rows": 3}))
    new = {"status": "completed", OUTBOX: value}
    (event,) = outbox.events_of(FILE, "f1", {"status": "running"}, new)
    assert event.event_id == "file/f1/completed/0"
    assert event.detail == {"file_id": "f1", "status": "completed", "rows": 3, "event_id": "file/f1/completed/0"}
    assert outbox.events_of(FILE, "f1", new, {**new, "finished_at": "x"}) == []


def test_a_change_without_events_stores_nothing() -> None:
    change = earn()
    change.events.clear()
    assert outbox.member_outbox(PROGRAM, change, date(2026, 7, 1)) is None


def test_the_outbox_is_not_copied_to_the_ledger_index() -> None:
    """The ledger page's local index projects named attributes only: the outbox costs the entry item."""
    assert OUTBOX not in LEDGER_PAGE_ATTRIBUTES


def stream_record(event_name: str, new: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
    image = dynamo.to_item(new)
    stream = {"Keys": {"pk": image["pk"], "sk": image["sk"]}, "NewImage": image}
    if old is not None:
        stream["OldImage"] = dynamo.to_item(old)
    return {"eventName": event_name, "dynamodb": stream}


def test_the_outbox_filter_passes_the_records_that_carry_events_and_drops_the_rest() -> None:
    patterns = stream_filter.PATTERNS_BY_HANDLER["event_outbox"]
    entry = {"pk": "MEMBER#m-1", "sk": "TX#purchase#o1", OUTBOX: "{}"}
    profile = {"pk": "MEMBER#m-1", "sk": "MEMBER", "version": 2, OUTBOX: "{}"}
    file_run = {"pk": "FILE#f1", "sk": "FILE", "status": "failed", OUTBOX: "{}"}
    assert stream_filter.passes(stream_record("INSERT", entry), patterns)
    assert stream_filter.passes(stream_record("MODIFY", profile), patterns)
    assert stream_filter.passes(stream_record("MODIFY", file_run), patterns)
    assert not stream_filter.passes(stream_record("MODIFY", entry), patterns)  # a return's totals
    for without in (entry, profile, file_run):
        bare = {k: v for k, v in without.items() if k != OUTBOX}
        assert not stream_filter.passes(stream_record("INSERT", bare), patterns)
    lot = {"pk": "MEMBER#m-1", "sk": "MEMBER#LOT#2026-07", "remaining": 5}
    assert not stream_filter.passes(stream_record("INSERT", lot), patterns)
