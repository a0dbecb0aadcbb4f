"""`loyalty check`: every member's books balance (available + pending = lots = ledger)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib.store import codec, dynamo, keys, members


def member_ids() -> Iterator[str]:
    """All members, from the audit index (never a Scan)."""
    return members.member_ids()


def check_member(member_id: str) -> list[dict[str, Any]]:
    items = dynamo.query_all(keys.member_pk(member_id), "")
    member = codec.member_from_items(items)
    if member is None:
        return [{"member_id": member_id, "problem": "profile missing"}]
    profile = next(i for i in items if i[keys.SK] == keys.STATE_PREFIX)
    lots = sum(int(i["remaining"]) for i in items if i[keys.SK].startswith(keys.LOT_PREFIX))
    pending = sum(int(i["points"]) for i in items if i[keys.SK].startswith(keys.PENDING_PREFIX))
    ledger = sum(int(i["points"]) for i in items if i[keys.SK].startswith(keys.ENTRY_PREFIX))
    available, stored_pending = int(profile["available"]), int(profile["pending"])
    problems = []
    if available + stored_pending != lots + pending - member.wallet.debt:
        problems.append(f"balance {available}+{stored_pending} != lots {lots}+{pending}-debt {member.wallet.debt}")
    if available + stored_pending != ledger:
        problems.append(f"balance {available}+{stored_pending} != ledger {ledger}")
    if member.wallet.debt and lots:
        problems.append(f"debt {member.wallet.debt} while lots hold {lots}")
    if available < 0 and not member.wallet.debt:
        problems.append("negative balance without a debt")
    return [{"member_id": member_id, "problem": p} for p in problems]


def check_all() -> list[dict[str, Any]]:
    return [problem for member_id in member_ids() for problem in check_member(member_id)]
