"""Member persistence: read a member's state in one Query, write a use case in one transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib.domain import outbox
from chalicelib.domain.calendar import local_date
from chalicelib.domain.errors import LoyaltyError
from chalicelib.domain.model import Member, MemberChange
from chalicelib.program import load_program
from chalicelib.store import codec, dynamo, keys
from chalicelib.store.due import audience_attributes, due_attributes


class VersionConflict(Exception):
    """Someone else changed the member between our read and our write: read again and retry."""


class Replay(Exception):
    """The client's id was already applied: `item` is the stored ledger entry."""

    def __init__(self, item: dict[str, Any]) -> None:
        super().__init__(item.get("entry_id"))
        self.item = item


@dataclass
class Extra:
    """One more item in the transaction (stock, counter, purchase record) and the error its
    failed condition means."""

    op: dict[str, Any]
    on_fail: LoyaltyError | None = None


@dataclass
class Commit:
    changes: Sequence[MemberChange]
    fingerprint: str
    response: dict[str, Any]
    extras: Sequence[Extra] = ()
    new_profile: dict[str, Any] = field(default_factory=dict)  # personal data of a new member


def load_member(member_id: str) -> Member | None:
    return codec.member_from_items(dynamo.query_all(keys.member_pk(member_id), keys.STATE_PREFIX))


def load_member_and_coupons(member_id: str) -> tuple[Member | None, dict[str, dict[str, Any]]]:
    """The balance state and the coupon wallet in one Query: `COUPON#` sorts just before `MEMBER`,
    so the range between them holds nothing else (the ledger's `TX#` sorts after)."""
    items = dynamo.query_between(keys.member_pk(member_id), keys.COUPON_PREFIX, f"{keys.STATE_PREFIX}#\uffff", True)
    coupons = {item["code"]: item for item in items if item[keys.SK].startswith(keys.COUPON_PREFIX)}
    return codec.member_from_items([i for i in items if not i[keys.SK].startswith(keys.COUPON_PREFIX)]), coupons


def get_entry(member_id: str, entry_id: str) -> dict[str, Any] | None:
    return dynamo.get(keys.entry_key(member_id, entry_id))


def _outbox(change: MemberChange, now: datetime) -> str | None:
    """The change's events, stored in its own transaction (domain/outbox.py): the stream publishes them."""
    program = load_program()
    found = outbox.member_outbox(program, change, local_date(now, program.tz))
    return None if found is None else codec.json_text(found)


def _profile_op(
    change: MemberChange, new_profile: dict[str, Any], now: datetime, events: str | None = None
) -> dict[str, Any]:
    """`events`: the change's outbox when it has no ledger entry to carry it; otherwise the
    profile's outbox is removed, so the next write of the profile never publishes it again."""
    member = change.after
    state = {**codec.profile_state(member), **due_attributes(member)}
    # `changed_at`: the time of the write, by the engine's clock; the KPI roll-up dates a profile's
    # tier, status and balance changes by it (not by when it reads the stream).
    changed_at = now.isoformat()
    audience = audience_attributes(member, local_date(now, load_program().tz), change.before)
    if change.before is None:
        item = {**keys.profile_key(member.member_id), **state, **audience, **new_profile, "version": 1}
        item = {**item, "changed_at": changed_at, outbox.OUTBOX: events}  # a None value is not stored
        return dynamo.put(item, condition="attribute_not_exists(pk)")
    before = {**codec.profile_state(change.before), **due_attributes(change.before)}
    changed = {name: value for name, value in state.items() if before.get(name) != value}
    # Always: the stored segment may be days old (it drifts without writes), not as of the state read.
    changes = {**changed, **audience, outbox.OUTBOX: events}
    return _versioned_update(member.member_id, change.before.version, changed_at, changes)


def _versioned_update(member_id: str, version: int, changed_at: str, changes: dict[str, Any]) -> dict[str, Any]:
    """The profile's update: the changed attributes, guarded by the version read, which it bumps."""
    values = {":v": version, ":next": version + 1, ":changed_at": changed_at}
    names = {"#version": "version", "#changed_at": "changed_at"}
    sets = ["#version = :next", "#changed_at = :changed_at"]
    return dynamo.set_and_remove(keys.profile_key(member_id), changes, sets, values, names, "#version = :v")


def _lot_ops(change: MemberChange) -> list[dict[str, Any]]:
    member_id = change.after.member_id
    before = change.before.wallet.lots if change.before else {}
    after = change.after.wallet.lots
    ops = []
    for month in sorted(set(before) | set(after)):
        if month in after and after[month] != before.get(month):
            values = {
                **keys.lot_key(member_id, month),
                "member_id": member_id,
                "month": month,
                "remaining": after[month],
            }
            ops.append(dynamo.put(values))
        elif month not in after:
            ops.append(dynamo.delete(keys.lot_key(member_id, month)))
    return ops


def _pending_ops(change: MemberChange) -> list[dict[str, Any]]:
    member_id = change.after.member_id
    before = {p.entry_id: p for p in change.before.pending} if change.before else {}
    after = {p.entry_id: p for p in change.after.pending}
    ops = []
    for entry_id in sorted(set(before) | set(after)):
        lot = after.get(entry_id)
        if lot is not None and lot != before.get(entry_id):
            values = {
                **keys.pending_key(member_id, entry_id),
                "member_id": member_id,
                "entry_id": entry_id,
                "points": lot.points,
                "release_on": lot.release_on.isoformat(),
                "month": lot.month,
            }
            ops.append(dynamo.put(values))
        elif lot is None:
            ops.append(dynamo.delete(keys.pending_key(member_id, entry_id)))
    return ops


def transaction_items(commit: Commit, now: datetime) -> tuple[list[dict[str, Any]], list[str]]:
    """The transaction for a commit, and the role of each item (to read cancellation reasons)."""
    items: list[dict[str, Any]] = []
    roles: list[str] = []
    for change_index, change in enumerate(commit.changes):
        member_id = change.after.member_id
        balances = change.after.balances()
        events = _outbox(change, now)
        for entry_index, entry in enumerate(change.entries):
            primary = change_index == 0 and entry_index == 0
            item = codec.entry_item(
                member_id,
                entry,
                now,
                balances,
                commit.fingerprint if primary else None,
                commit.response if primary else None,
            )
            if entry_index == 0 and events is not None:
                item[outbox.OUTBOX] = events  # not projected to the ledger index: costs this item only
            items.append(dynamo.put(item, condition="attribute_not_exists(pk)", old_on_fail=primary))
            roles.append("primary" if primary else "entry")
        on_profile = None if change.entries else events
        items.append(_profile_op(change, commit.new_profile if change_index == 0 else {}, now, on_profile))
        roles.append("profile")
        for op in _lot_ops(change) + _pending_ops(change):
            items.append(op)
            roles.append("lot")
        for coupon in change.coupons:
            items.append(dynamo.put(codec.coupon_item(member_id, coupon), condition="attribute_not_exists(pk)"))
            roles.append("coupon")
    for index, extra in enumerate(commit.extras):
        items.append(extra.op)
        roles.append(f"extra:{index}")
    return items, roles


def commit(commit: Commit, now: datetime) -> None:
    """Write a use case atomically. Raises Replay, VersionConflict, an extra's error or StoreError."""
    items, roles = transaction_items(commit, now)
    try:
        dynamo.transact(items)
    except dynamo.Cancelled as cancelled:
        if cancelled.failed is None:
            if cancelled.conflict:
                raise VersionConflict() from cancelled
            raise dynamo.StoreError(str(cancelled.reasons)) from cancelled
        role = roles[cancelled.failed]
        if role == "primary":
            old = cancelled.old_item(cancelled.failed) or {}
            raise Replay(old) from cancelled
        if role.startswith("extra:"):
            error = commit.extras[int(role.split(":")[1])].on_fail
            if error is not None:
                raise error from cancelled
        raise VersionConflict() from cancelled


def stored_response(item: dict[str, Any]) -> dict[str, Any]:
    return codec.response_from_item(item)


def write_profile(member: Member, changes: dict[str, Any], extras: Sequence[Extra], now: datetime) -> None:
    """A profile change outside the points rules (contact, name, preferences, erasure), with the
    extra items it needs (contact claims), in one transaction guarded by the member's version."""
    # The version moves: an outbox left by an earlier write must not be read as this write's.
    update = _versioned_update(member.member_id, member.version, now.isoformat(), {**changes, outbox.OUTBOX: None})
    try:
        dynamo.transact([update, *(extra.op for extra in extras)])
    except dynamo.Cancelled as cancelled:
        if cancelled.failed and extras[cancelled.failed - 1].on_fail:
            raise extras[cancelled.failed - 1].on_fail from cancelled  # type: ignore[misc]
        raise VersionConflict(member.member_id) from cancelled


# --- the extra items of a use case's transaction ------------------------------------------------


def returned_purchase_op(
    member_id: str, order_id: str, returned_before: Decimal, returned_after: Decimal, clawed: int
) -> dict[str, Any]:
    """The purchase's running totals of returns, guarded by the amount read, so two returns of one
    order can never both pass."""
    return dynamo.update(
        keys.entry_key(member_id, f"purchase#{order_id}"),
        "SET returned_amount = :after, clawed_points = :clawed",
        {":after": returned_after, ":clawed": clawed, ":before": returned_before, ":zero": Decimal(0)},
        condition="(attribute_not_exists(returned_amount) AND :before = :zero) OR returned_amount = :before",
    )


def reward_stock_op(reward_id: str, initial: int) -> dict[str, Any]:
    """Take one of a reward's stock, initialised from the program on first use; fails at 0."""
    return dynamo.update(
        keys.reward_stock_key(reward_id),
        "SET remaining = if_not_exists(remaining, :initial) - :one",
        {":initial": initial, ":one": 1},
        condition="(attribute_not_exists(remaining) AND :initial >= :one) OR remaining >= :one",
    )


def activity_counter_op(member_id: str, day: str, activity_type: str, limit: int, expires_at: int) -> dict[str, Any]:
    """Count one activity of a day; fails once the day's limit is reached."""
    return dynamo.update(
        keys.activity_counter_key(member_id, day, activity_type),
        "ADD n :one SET expires_at = :ttl",
        {":one": 1, ":limit": limit, ":ttl": expires_at},
        condition="attribute_not_exists(n) OR n < :limit",
    )


def member_ids() -> Iterator[str]:
    """All members, by querying each shard of the audit index (never a Scan)."""
    for shard in keys.member_shards():
        query: dict[str, Any] = {
            "TableName": dynamo.table(),
            "IndexName": keys.MEMBERS_INDEX,
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": keys.MEMBERS_SHARD},
            "ExpressionAttributeValues": {":s": dynamo.to_value(shard)},
        }
        while True:
            answer = dynamo.call("query", **query)
            for item in answer.get("Items", []):
                yield dynamo.from_item(item)[keys.PK].split("#", 1)[1]
            if not answer.get("LastEvaluatedKey"):
                break
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
