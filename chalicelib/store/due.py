"""Attributes that put a member on the sparse indexes of due work (scheduled jobs), and the reads
the jobs make: a page of due members from one shard of an index, a member with its job marks, and
the cursor of a date-keyed job. Never a Scan."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

from chalicelib.domain import jobs
from chalicelib.domain.model import Member
from chalicelib.program import load_program
from chalicelib.store import codec, dynamo, keys

PAGE_SIZE = 100


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def due_attributes(member: Member) -> dict[str, Any]:
    """Index attributes written with every profile update; None removes the attribute.

    A member loaded by the jobs (a ScheduledMember) also writes its marks; any other write leaves
    the stored marks alone and, not knowing them, computes the notice dates at their earliest (it
    writes them only when that earliest value changes: members.commit sets changed attributes only).
    For a StoredMember (the `before` of a job's change) the answer is what its profile holds.
    """
    if isinstance(member, StoredMember):
        return dict(member.stored_due)
    program = load_program()
    values: dict[str, Any] = {
        keys.DUE_EXPIRY.attribute: _iso(jobs.expiry_due_on(program, member)),
        keys.DUE_TIER_REVIEW.attribute: _iso(jobs.tier_review_due_on(program, member)),
        keys.DUE_DORMANT.attribute: _iso(jobs.dormant_due_on(program, member)),
        keys.DUE_BIRTHDAY.attribute: jobs.birthday_key(member),
        keys.DUE_PENDING.attribute: _iso(jobs.pending_due_on(member)),
    }
    if isinstance(member, jobs.ScheduledMember):
        values[keys.JOB_MARKS] = member.marks.as_item()
    return values


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


@dataclass
class StoredMember(jobs.ScheduledMember):
    """A member as a job reads it, with the due attributes (and marks) its profile holds now.

    members.commit writes the profile attributes that differ from those of `change.before`; with a
    StoredMember as `before` they are compared with what is stored, so a job's write also corrects
    the dates another write left early (or an erasure left behind).
    """

    stored_due: dict[str, Any] = field(default_factory=dict)


def load_for_job(member_id: str) -> StoredMember | None:
    """The member's state (one consistent Query, as the API's writes read it) with its job marks."""
    items = dynamo.query_all(keys.member_pk(member_id), keys.STATE_PREFIX)
    member = codec.member_from_items(items)
    if member is None:
        return None
    profile = next(item for item in items if item[keys.SK] == keys.STATE_PREFIX)
    scheduled = jobs.as_scheduled(member, jobs.JobMarks.from_item(profile.get(keys.JOB_MARKS)))
    stored = {name: profile.get(name) for name in due_attributes(scheduled)}
    values = {f.name: getattr(scheduled, f.name) for f in fields(jobs.ScheduledMember)}
    return StoredMember(**values, stored_due=stored)


def needs_refresh(member: StoredMember) -> bool:
    """True when the stored due attributes are not those of the member's state: the job writes them."""
    return member.stored_due != due_attributes(jobs.as_scheduled(member))


def job_cursor(job: str) -> date | None:
    item = dynamo.get(keys.job_cursor_key(job))
    return date.fromisoformat(item["done_through"]) if item else None


def advance_job_cursor(job: str, done_through: date) -> None:
    """Record that `job` completed every day up to `done_through` (never moves back)."""
    from botocore.exceptions import ClientError

    try:
        dynamo.call(
            "put_item",
            TableName=dynamo.table(),
            Item=dynamo.to_item({**keys.job_cursor_key(job), "done_through": done_through.isoformat()}),
            ConditionExpression="attribute_not_exists(done_through) OR done_through < :day",
            ExpressionAttributeValues={":day": {"S": done_through.isoformat()}},
        )
    except ClientError as exc:  # a later run already went further: keep its cursor
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
