"""The wallet's items outside a member's transaction: using a coupon, and the rewards' stock left."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.store import dynamo, keys

ConditionFailed = dynamo.ConditionFailed


def use_coupon(member_id: str, code: str, order_id: str, now: datetime) -> None:
    """Mark a coupon used for an order; ConditionFailed when it is missing, used or expired."""
    dynamo.update_item(
        keys.coupon_key(member_id, code),
        "SET coupon_status = :used, used_at = :now, used_order_id = :order",
        {":used": "used", ":available": "available", ":now": now.isoformat(), ":order": order_id},
        condition="coupon_status = :available AND expires_at > :now",
    )


def stock_left(reward_ids: list[str]) -> dict[str, int]:
    """The stock left of rewards whose stock has been touched (the others still have the program's)."""
    if not reward_ids:
        return {}
    request = {"Keys": [dynamo.to_item(keys.reward_stock_key(r)) for r in reward_ids], "ConsistentRead": True}
    answer = dynamo.call("batch_get_item", RequestItems={dynamo.table(): request})
    left: dict[str, int] = {}
    for raw in answer.get("Responses", {}).get(dynamo.table(), []):
        item: dict[str, Any] = dynamo.from_item(raw)
        left[item[keys.PK].split("#", 1)[1]] = int(item["remaining"])
    return left
