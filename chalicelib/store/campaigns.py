"""Campaign items: the definitions (one partition, one Query lists them) and each campaign's
counter shards (budget left, points granted and the results' counts; docs/campaigns.md)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from chalicelib.store import dynamo, keys

LEFT = "left"  # a budgeted shard's points still grantable; the charge's condition reads it
COUNTERS = ("granted", "applied", "participants", "coupons_issued", "coupons_used", "orders", "sales")


def create(values: dict[str, Any], shares: list[int]) -> dict[str, Any] | None:
    """Put a new campaign and, for a budget, its shards holding `shares` of it, in one transaction;
    if the id exists, answer the stored item instead (None: created)."""
    item = {**keys.campaign_key(values["campaign_id"]), **values}
    ops = [dynamo.put(item, condition="attribute_not_exists(pk)")]
    for shard, share in enumerate(shares):
        ops.append(dynamo.put({**keys.campaign_shard_key(values["campaign_id"], shard), LEFT: share}))
    try:
        dynamo.transact(ops)
    except dynamo.Cancelled as cancelled:
        if not cancelled.condition_failed(0):
            raise dynamo.StoreError(str(cancelled.reasons)) from cancelled
        return get(values["campaign_id"]) or {}
    return None


def get(campaign_id: str) -> dict[str, Any] | None:
    item = dynamo.get(keys.campaign_key(campaign_id))
    return _plain(item) if item else None


def all_campaigns() -> list[dict[str, Any]]:
    """Every campaign (one Query while they fit in a page, then its pages)."""
    return [_plain(item) for item in dynamo.query_all(keys.CAMPAIGNS_PK, keys.CAMPAIGN_PREFIX)]


def update(campaign_id: str, changes: dict[str, Any], version: int) -> bool:
    """Change status / ends_at, guarded by the version read (False: someone changed it first)."""
    op = dynamo.set_and_remove(
        keys.campaign_key(campaign_id),
        changes,
        ["#version = :next"],
        {":v": version, ":next": version + 1},
        {"#version": "version"},
        "#version = :v",
    )
    try:
        dynamo.transact([op])
    except dynamo.Cancelled:
        return False
    return True


def shards(campaign_id: str, count: int) -> list[dict[str, Any]]:
    """Every shard's counters, in shard order (one consistent BatchGetItem; a shard never written: {})."""
    wanted = [dynamo.to_item(keys.campaign_shard_key(campaign_id, shard)) for shard in range(count)]
    found: dict[str, dict[str, Any]] = {}
    request: dict[str, Any] = {dynamo.table(): {"Keys": wanted, "ConsistentRead": True}}
    while request:
        answer = dynamo.call("batch_get_item", RequestItems=request)
        for raw in answer.get("Responses", {}).get(dynamo.table(), []):
            item = dynamo.from_item(raw)
            found[item[keys.PK]] = _plain(item)
        request = answer.get("UnprocessedKeys") or {}
    return [found.get(keys.campaign_shard_key(campaign_id, shard)[keys.PK], {}) for shard in range(count)]


def tally_op(campaign_id: str, shard: int, counts: Mapping[str, int | Decimal], charge: int = 0) -> dict[str, Any]:
    """Add `counts` to one shard in the write's own transaction. A budget `charge` moves points from
    `left` to granted with the condition that the shard has them: it never goes below zero."""
    adds, values, names = [], {}, {}
    for index, (name, value) in enumerate(sorted(counts.items())):
        adds.append(f"#c{index} :c{index}")
        values[f":c{index}"], names[f"#c{index}"] = value, name
    condition = None
    if charge:
        adds.append("#left :neg")
        values[":neg"], values[":charge"], names["#left"] = -charge, charge, LEFT
        condition = "#left >= :charge"
    return dynamo.update(
        keys.campaign_shard_key(campaign_id, shard), "ADD " + ", ".join(adds), values, names, condition
    )


def give_back_op(campaign_id: str, shard: int, points: int, budgeted: bool) -> dict[str, Any]:
    """A return's share of the campaign points: no longer granted, and back in the budget."""
    counts: dict[str, int] = {"granted": -points, **({LEFT: points} if budgeted else {})}
    return tally_op(campaign_id, shard, counts)


def count_coupon_use(campaign_id: str, shard: int) -> None:
    dynamo.update_item(keys.campaign_shard_key(campaign_id, shard), "ADD coupons_used :one", {":one": 1})


def move_left(campaign_id: str, seen: list[int], target: int) -> bool:
    """Move every shard's budget left (as `seen`) to the `target` shard, in one transaction that
    holds only if none of them changed since; False: one did (read again)."""
    ops = [
        dynamo.update(
            keys.campaign_shard_key(campaign_id, shard),
            "ADD #left :neg",
            {":neg": -left, ":seen": left},
            {"#left": LEFT},
            "#left = :seen",
        )
        for shard, left in enumerate(seen)
        if shard != target and left > 0
    ]
    if not ops:
        return True
    moved = sum(left for shard, left in enumerate(seen) if shard != target)
    ops.append(
        dynamo.update(
            keys.campaign_shard_key(campaign_id, target),
            "ADD #left :moved",
            {":moved": moved, ":seen": seen[target]},
            {"#left": LEFT},
            "#left = :seen",
        )
    )
    try:
        dynamo.transact(ops)
    except dynamo.Cancelled:
        return False
    return True


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in item.items() if name not in (keys.PK, keys.SK)}
