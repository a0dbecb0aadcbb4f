"""Attributes that put a member on the sparse indexes of due work (scheduled jobs), and the reads
the jobs make: a page of due members from one shard of an index, and the cursor of a date-keyed
job. Never a Scan."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date
from typing import Any

from chalicelib.domain import audiences, jobs
from chalicelib.domain.model import ERASED, Member
from chalicelib.program import load_program
from chalicelib.store import codec, dynamo, keys

PAGE_SIZE = 100


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def due_attributes(member: Member) -> dict[str, Any]:
    """The due index attributes of the member's state, written with every profile update (None
    removes the attribute: the member leaves that index). Exact for every write, the API's and the
    jobs': the notice memory (`member.marks`) is part of the state."""
    program = load_program()
    return {
        keys.DUE_EXPIRY.attribute: _iso(jobs.expiry_due_on(program, member)),
        keys.DUE_TIER_REVIEW.attribute: _iso(jobs.tier_review_due_on(program, member)),
        keys.DUE_DORMANT.attribute: _iso(jobs.dormant_due_on(program, member)),
        keys.DUE_BIRTHDAY.attribute: jobs.birthday_key(member),
        keys.DUE_PENDING.attribute: _iso(jobs.pending_due_on(member)),
    }


def audience_attributes(member: Member, day: date, before: Member | None = None) -> dict[str, Any]:
    """The audience index attributes as of `day` (program-local): the segment's partition, the sort
    key, `day` itself, and the next day the segment changes without a write (the audience job's due
    index).
    All None for an erased member: it leaves every audience. `before`: the state a member write
    read, whose due day is kept when the write only puts the next change off."""
    program = load_program()
    entry = audiences.audience(program, member, day)
    if entry is None:
        return {
            keys.AUDIENCE_KEY: None,
            keys.AUDIENCE_SORT: None,
            keys.AUDIENCE_DAY: None,
            keys.DUE_AUDIENCE.attribute: None,
        }
    last_day = _iso(entry.last_purchase_day)
    return {
        keys.AUDIENCE_KEY: keys.audience_partition(entry.segment, member.member_id),
        keys.AUDIENCE_SORT: keys.audience_sort(entry.tier, entry.status, entry.store_id, last_day),
        keys.AUDIENCE_DAY: day.isoformat(),
        keys.DUE_AUDIENCE.attribute: _iso(audiences.due_after_write(program, before, entry, day)),
    }


def refresh_audience(member: Member, day: date) -> None:
    """Re-store the member's audience attributes as of `day`, guarded by the version read (a write
    in between stored its own, as of its day). No version bump: the member's state is unchanged.
    Raises ConditionFailed (changed meanwhile) or TransactionConflict (a write in flight)."""
    changes = audience_attributes(member, day)
    names = {"#version": "version"}
    op = dynamo.set_and_remove(keys.profile_key(member.member_id), changes, [], {":v": member.version}, names)
    dynamo.call("update_item", **op["Update"], ConditionExpression="#version = :v")


def refresh_audience_if_due(member_id: str, day: date, *, when_missing: bool = False) -> bool:
    """The audience job's work for one member: read the profile (the segment needs nothing else)
    and, if its segment's due day has come, re-store it as of `day`. False: gone or not due (the
    index lags the table, or a write already moved it on). `when_missing` (the backfill): instead,
    every member not erased whose entry lacks its day (no entry yet, or one stored before the
    entry recorded `audience_day`, from which the KPI roll-up counts members by segment). Raises as
    `refresh_audience`."""
    item = dynamo.get(keys.profile_key(member_id))
    if item is None or item.get("status") == ERASED:
        return False
    due_on = item.get(keys.DUE_AUDIENCE.attribute)
    wanted = keys.AUDIENCE_DAY not in item if when_missing else due_on is not None and due_on <= day.isoformat()
    member = codec.member_from_items([item]) if wanted else None
    if member is None:
        return False
    refresh_audience(member, day)
    return True


@dataclass
class Page:
    member_ids: list[str]
    next_start: dict[str, Any] | None  # the index's LastEvaluatedKey: where the next page starts


def due_page(
    index: keys.DueIndex,
    shard: str,
    *,
    up_to: str | None = None,
    equal_to: str | None = None,
    start: dict[str, Any] | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """One page of the members on `shard` of a due index whose sort value is <= `up_to` (a date)
    or == `equal_to` (a birthday key). The index is eventually consistent: callers re-read the
    member before acting."""
    if (up_to is None) == (equal_to is None):
        raise ValueError("give exactly one of up_to and equal_to")
    operator, value = ("<=", up_to) if up_to is not None else ("=", equal_to)
    kwargs: dict[str, Any] = {
        "TableName": dynamo.table(),
        "IndexName": index.name,
        "KeyConditionExpression": f"#shard = :shard AND #due {operator} :value",
        "ExpressionAttributeNames": {"#shard": keys.MEMBERS_SHARD, "#due": index.attribute},
        "ExpressionAttributeValues": {":shard": {"S": shard}, ":value": {"S": value}},
        "Limit": limit,
    }
    if start:
        kwargs["ExclusiveStartKey"] = start
    answer = dynamo.call("query", **kwargs)
    ids = [item[keys.PK]["S"].split("#", 1)[1] for item in answer.get("Items", [])]
    return Page(ids, answer.get("LastEvaluatedKey"))


def job_cursor(job: str) -> date | None:
    item = dynamo.get(keys.job_cursor_key(job))
    return date.fromisoformat(item["done_through"]) if item else None


def advance_job_cursor(job: str, done_through: date) -> None:
    """Record that `job` completed every day up to `done_through` (never moves back)."""
    item = {**keys.job_cursor_key(job), "done_through": done_through.isoformat()}
    condition = "attribute_not_exists(done_through) OR done_through < :day"
    with contextlib.suppress(dynamo.ConditionFailed):  # a later run already went further: keep its cursor
        dynamo.put_item(item, condition, {":day": done_through.isoformat()})
