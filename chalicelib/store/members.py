"""Member persistence: read a member's state in one Query, write a use case in one transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.domain.errors import LoyaltyError
from chalicelib.domain.model import Member, MemberChange
from chalicelib.store import codec, dynamo, keys
from chalicelib.store.due import due_attributes


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


def get_entry(member_id: str, entry_id: str) -> dict[str, Any] | None:
    return dynamo.get(keys.entry_key(member_id, entry_id))


def _profile_op(change: MemberChange, new_profile: dict[str, Any], now: datetime) -> dict[str, Any]:
    member = change.after
    state = {**codec.profile_state(member), **due_attributes(member)}
    # `changed_at`: the time of the write, by the engine's clock; the KPI roll-up dates a profile's
    # tier, status and balance changes by it (not by when it reads the stream).
    changed_at = now.isoformat()
    if change.before is None:
        item = {**keys.profile_key(member.member_id), **state, **new_profile, "version": 1, "changed_at": changed_at}
        return dynamo.put(item, condition="attribute_not_exists(pk)")
    names: dict[str, str] = {"#version": "version", "#changed_at": "changed_at"}
    values: dict[str, Any] = {
        ":v": change.before.version,
        ":next": change.before.version + 1,
        ":changed_at": changed_at,
    }
    sets, removes = ["#version = :next", "#changed_at = :changed_at"], []
    before = {**codec.profile_state(change.before), **due_attributes(change.before)}
    changed = {name: value for name, value in state.items() if before.get(name) != value}
    for index, (name, value) in enumerate(sorted(changed.items())):
        names[f"#a{index}"] = name
        if value is None:
            removes.append(f"#a{index}")
        else:
            sets.append(f"#a{index} = :a{index}")
            values[f":a{index}"] = value
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    return dynamo.update(keys.profile_key(member.member_id), expression, values, names, "#version = :v")


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
            items.append(dynamo.put(item, condition="attribute_not_exists(pk)", old_on_fail=primary))
            roles.append("primary" if primary else "entry")
        items.append(_profile_op(change, commit.new_profile if change_index == 0 else {}, now))
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
    answer: dict[str, Any] = json.loads(item["response"])
    return answer
