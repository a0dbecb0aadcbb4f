"""Campaigns: ops create, list, read and pause them; purchases apply the active ones, read through a
30-second in-process cache so an earn stays one Query + one transaction (docs/campaigns.md)."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from chalicelib import clock
from chalicelib.domain import campaigns as domain
from chalicelib.domain.campaigns import Campaign, Outcome
from chalicelib.domain.errors import Conflict, InvalidRequest, NotFound
from chalicelib.domain.model import Member, MemberChange
from chalicelib.program import Program
from chalicelib.store import campaigns as store
from chalicelib.store import dynamo
from chalicelib.store.members import Extra

CACHE_TTL = timedelta(seconds=30)  # a new, paused or extended campaign takes effect within this
_cache: dict[str, tuple[datetime, list[Campaign]]] = {}  # table -> (loaded at, active campaigns)
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def active() -> list[Campaign]:
    """The active campaigns, from the cache while it is younger than CACHE_TTL, else one Query."""
    now, table = clock.now(), dynamo.table()
    with _lock:
        cached = _cache.get(table)
    if cached is not None and timedelta(0) <= now - cached[0] < CACHE_TTL:
        return cached[1]
    loaded = [c for c in map(_campaign, store.all_campaigns()) if c.status == "active"]
    with _lock:
        _cache[table] = (now, loaded)
    return loaded


def _campaign(item: dict[str, Any]) -> Campaign:
    """The definition as created, with what PATCH may change since (status, ends_at)."""
    created = Campaign.model_validate_json(item["definition"])
    return created.model_copy(update={"status": item["status"], "ends_at": datetime.fromisoformat(item["ends_at"])})


def _definition(campaign: Campaign) -> str:
    return json.dumps(campaign.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def create(campaign: Campaign) -> dict[str, Any]:
    """201 and the campaign; the same id with the same definition answers it again, another → 409."""
    definition = _definition(campaign)
    item = {
        "campaign_id": campaign.campaign_id,
        "definition": definition,
        "status": campaign.status,
        "ends_at": campaign.ends_at.isoformat(),
        "created_at": clock.now().isoformat(),
        "version": 1,
    }
    existing = store.create(item)
    if existing is not None and existing.get("definition") != definition:
        raise Conflict(
            f"campaign {campaign.campaign_id} exists with another definition",
            [{"field": "campaign_id", "message": "already used with another body"}],
        )
    clear_cache()  # this process sees its own change at once; others within CACHE_TTL
    return view(existing or item)


def view(item: dict[str, Any], granted: int | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = _campaign(item).model_dump(mode="json")
    if granted is not None:  # counted for budgeted campaigns only (their counter is in the purchase's transaction)
        budget = _campaign(item).limits.budget_points
        answer["granted_points"] = None if budget is None else granted
        answer["budget_left"] = None if budget is None else max(budget - granted, 0)
    return answer


def get(campaign_id: str) -> dict[str, Any]:
    item = store.get(campaign_id)
    if item is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return view(item, store.granted(campaign_id))


def listing(status: str | None) -> dict[str, Any]:
    items = [view(item) for item in store.all_campaigns()]
    return {"campaigns": [c for c in items if status is None or c["status"] == status]}


def patch(
    campaign_id: str, status: Literal["active", "paused", "ended"] | None, ends_at: datetime | None
) -> dict[str, Any]:
    """Only the status or a later end: the effect of a campaign never changes once created."""
    item = store.get(campaign_id)
    if item is None:
        raise NotFound(f"campaign {campaign_id} not found")
    current = _campaign(item)
    changes: dict[str, Any] = {}
    if status is not None:
        if current.status == "ended" and status != "ended":
            raise InvalidRequest("an ended campaign stays ended", [{"field": "status", "message": "campaign ended"}])
        changes["status"] = status
    if ends_at is not None:
        if ends_at <= current.ends_at:
            raise InvalidRequest(
                "ends_at can only move later", [{"field": "ends_at", "message": "not after the current end"}]
            )
        changes["ends_at"] = ends_at.isoformat()
    if not store.update(campaign_id, changes, int(item["version"])):
        raise Conflict(
            "the campaign was changed meanwhile, read it again", [{"field": "campaign_id", "message": "changed"}]
        )
    clear_cache()
    return get(campaign_id)


def apply(
    program: Program, member: Member, purchase: domain.PurchaseFacts, change: MemberChange, exhausted: frozenset[str]
) -> list[Extra]:
    """Credit the campaign points of a purchase just decided; the budget counters it charges are
    extra items of the same transaction (a failed one names its campaign: BudgetExhausted)."""
    running = active()
    if not running:
        return []
    outcome: Outcome = domain.credit(change, domain.evaluate(program, running, member, purchase, exhausted))
    budgets = {c.campaign_id: c.limits.budget_points for c in running}
    return [
        Extra(store.budget_op(cid, points, budget), domain.BudgetExhausted(cid))
        for cid, points in outcome.granted
        if (budget := budgets.get(cid)) is not None
    ]


def give_back(details: dict[str, Any], amount: Decimal, returned_before: Decimal, returning: Decimal) -> list[Extra]:
    """A return's pro-rata share of each campaign's points goes back to that campaign's budget."""
    from chalicelib.domain.earning import clawback_points

    extras = []
    for granted in details.get("campaigns") or []:
        points = clawback_points(int(granted["points"]), amount, returned_before, returning)
        if points > 0:
            extras.append(Extra(store.give_back_op(granted["campaign_id"], points)))
    return extras
