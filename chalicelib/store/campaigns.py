"""Campaign items: the definitions (one partition, one Query lists them) and each budget's counter."""

from __future__ import annotations

from typing import Any

from chalicelib.store import dynamo, keys


def create(values: dict[str, Any]) -> dict[str, Any] | None:
    """Put a new campaign; if the id exists, answer the stored item instead (None: created)."""
    item = {**keys.campaign_key(values["campaign_id"]), **values}
    try:
        dynamo.put_item(item, condition="attribute_not_exists(pk)")
    except dynamo.ConditionFailed:
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


def granted(campaign_id: str) -> int:
    item = dynamo.get(keys.campaign_budget_key(campaign_id))
    return int(item["granted"]) if item else 0


def budget_op(campaign_id: str, points: int, budget: int) -> dict[str, Any]:
    """Count `points` granted against the budget in the purchase's own transaction: the condition
    fails (and the purchase is retried without the campaign) if they would pass it."""
    return dynamo.update(
        keys.campaign_budget_key(campaign_id),
        "ADD granted :n",
        {":n": points, ":most": budget - points},
        condition="attribute_not_exists(granted) OR granted <= :most",
    )


def give_back_op(campaign_id: str, points: int) -> dict[str, Any]:
    """A return's share of the campaign points goes back to its budget."""
    return dynamo.update(keys.campaign_budget_key(campaign_id), "ADD granted :n", {":n": -points})


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in item.items() if name not in (keys.PK, keys.SK)}
