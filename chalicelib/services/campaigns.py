"""Campaigns: ops create, list, read, pause them and read their results; purchases, enrolments and
activities apply the active ones, read through a 30-second in-process cache, with their budget
charges and result counters (sharded items, campaign_budget.py) in the write's own transaction, so
an earn stays one Query + one transaction (docs/campaigns.md)."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, TypeVar

from chalicelib import clock
from chalicelib.domain import campaigns as domain
from chalicelib.domain.campaigns import Campaign, Outcome
from chalicelib.domain.errors import Conflict, InvalidRequest, NotFound
from chalicelib.domain.model import Member, MemberChange
from chalicelib.program import Program
from chalicelib.services import campaign_budget
from chalicelib.services.writes import new_coupon_code
from chalicelib.store import campaigns as store
from chalicelib.store import codec, dynamo
from chalicelib.store.members import Extra

T = TypeVar("T")
MAX_SALES_ITEMS = 20  # participants'-sales counters one purchase may add (after the campaigns it applied)
CACHE_TTL = timedelta(seconds=30)  # a new, paused or extended campaign takes effect within this
# table -> (loaded at, the active campaigns, every campaign by id: a return finds an ended one's budget)
_cache: dict[str, tuple[datetime, list[Campaign], dict[str, Campaign]]] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _cache.clear()
    campaign_budget.clear()


def _cached() -> tuple[datetime, list[Campaign], dict[str, Campaign]]:
    """The campaigns, from the cache while it is younger than CACHE_TTL, else one Query."""
    now, table = clock.now(), dynamo.table()
    with _lock:
        cached = _cache.get(table)
    if cached is not None and timedelta(0) <= now - cached[0] < CACHE_TTL:
        return cached
    every = {c.campaign_id: c for c in map(_campaign, store.all_campaigns())}
    loaded = (now, [c for c in every.values() if c.status == "active"], every)
    with _lock:
        _cache[table] = loaded
    return loaded


def active() -> list[Campaign]:
    """The active campaigns, from the cache while it is younger than CACHE_TTL, else one Query."""
    return _cached()[1]


def _campaign(item: dict[str, Any]) -> Campaign:
    """The definition as created, with what PATCH may change since (status, ends_at)."""
    created = Campaign.model_validate_json(item["definition"])
    return created.model_copy(update={"status": item["status"], "ends_at": datetime.fromisoformat(item["ends_at"])})


def _definition(campaign: Campaign) -> str:
    return json.dumps(campaign.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def shares(campaign: Campaign) -> list[int]:
    """A budget split over the campaign's shards (the first ones take the remainder); none without a budget."""
    budget, count = campaign.limits.budget_points, campaign.limits.shard_count()
    if budget is None:
        return []
    return [budget // count + (1 if shard < budget % count else 0) for shard in range(count)]


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
    existing = store.create(item, shares(campaign))
    if existing is not None and existing.get("definition") != definition:
        raise Conflict(
            f"campaign {campaign.campaign_id} exists with another definition",
            [{"field": "campaign_id", "message": "already used with another body"}],
        )
    clear_cache()  # this process sees its own change at once; others within CACHE_TTL
    return view(existing or item)


def view(item: dict[str, Any], totals: dict[str, Any] | None = None) -> dict[str, Any]:
    campaign = _campaign(item)
    answer: dict[str, Any] = campaign.model_dump(mode="json")
    if totals is not None:  # summed over the campaign's counter shards
        budget = campaign.limits.budget_points
        answer["granted_points"] = int(totals.get("granted", 0))
        answer["budget_left"] = None if budget is None else int(totals.get(store.LEFT, 0))
    return answer


def _found(campaign_id: str) -> dict[str, Any]:
    item = store.get(campaign_id)
    if item is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return item


def totals(campaign: Campaign) -> dict[str, Any]:
    """The campaign's counters summed over its shards (one consistent BatchGetItem: exact as of now)."""
    summed: dict[str, Any] = {}
    for shard in store.shards(campaign.campaign_id, campaign.limits.shard_count()):
        for name in (*store.COUNTERS, store.LEFT):
            summed[name] = summed.get(name, 0) + shard.get(name, 0)
    return summed


def get(campaign_id: str) -> dict[str, Any]:
    item = _found(campaign_id)
    return view(item, totals(_campaign(item)))


def results(campaign_id: str) -> dict[str, Any]:
    """GET /campaigns/{id}/results: what the campaign did, exact as of the read (docs/campaigns.md)."""
    item = _found(campaign_id)
    campaign = _campaign(item)
    found = totals(campaign)
    budget = campaign.limits.budget_points
    return codec.jsonable(
        {
            "campaign_id": campaign_id,
            "status": campaign.status,
            "participants": int(found.get("participants", 0)),
            "applied": int(found.get("applied", 0)),
            "points_granted": int(found.get("granted", 0)),
            "coupons_issued": int(found.get("coupons_issued", 0)),
            "coupons_used": int(found.get("coupons_used", 0)),
            "budget_points": budget,
            "budget_left": None if budget is None else int(found.get(store.LEFT, 0)),
            "participant_orders": int(found.get("orders", 0)),
            "participant_sales": Decimal(found.get("sales", 0)).quantize(Decimal("0.01")),
        }
    )


def listing(status: str | None) -> dict[str, Any]:
    items = [view(item) for item in store.all_campaigns()]
    return {"campaigns": [c for c in items if status is None or c["status"] == status]}


def patch(
    campaign_id: str, status: Literal["active", "paused", "ended"] | None, ends_at: datetime | None
) -> dict[str, Any]:
    """Only the status or a later end: the effect of a campaign never changes once created."""
    item = _found(campaign_id)
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
    program: Program,
    member: Member,
    facts: domain.PurchaseFacts,
    change: MemberChange,
    exhausted: frozenset[str],
    lot_month: str | None = None,
) -> list[Extra]:
    """Credit the campaign points and coupons of a purchase, enrolment or activity just decided;
    the budget charges and result counters are extra items of the same transaction. A home-shard
    charge that fails names its campaign (BudgetExhausted): the caller decides again with it in
    `exhausted`, which takes the fallback path (campaign_budget.choose)."""
    running = active()
    if not running:
        return []
    by_id = {c.campaign_id: c for c in running}
    refused: set[str] = set()
    while True:  # a skipped budget: decide again without it (another multiplier may then apply)
        outcome = domain.evaluate(program, running, member, facts, frozenset(refused))
        charges = _charges(by_id, member.member_id, outcome, exhausted, refused)
        if charges is not None:
            break
    uses = dict(member.campaign_uses)  # before: an enrolment passes the member its change credits
    credited = domain.credit(change, outcome, program, new_coupon_code, lot_month, clock.now())
    return _tallies(running, member.member_id, uses, facts, credited, charges)


def _charges(
    by_id: dict[str, Campaign], member_id: str, outcome: Outcome, exhausted: frozenset[str], refused: set[str]
) -> dict[str, tuple[int, bool]] | None:
    """(shard, final) of each budget the outcome charges; None after adding one out of budget to `refused`."""
    charges = {}
    for cid, points in outcome.granted:
        if by_id[cid].limits.budget_points is None or points == 0:
            continue
        choice = campaign_budget.choose(by_id[cid], member_id, points, cid in exhausted)
        if choice is None:
            refused.add(cid)
            return None
        charges[cid] = choice
    return charges


def _tallies(
    running: list[Campaign],
    member_id: str,
    used: dict[str, int],
    facts: domain.PurchaseFacts,
    credited: Outcome,
    charges: dict[str, tuple[int, bool]],
) -> list[Extra]:
    """One counter-shard update per campaign this write touches: the ones it applied (with their
    budget charge), and, for a purchase, those the member took part in before whose window it is in
    (participants' sales). Each on its own shard item: never a hot item (docs/campaigns.md)."""
    sale: dict[str, int | Decimal] = {"orders": 1, "sales": facts.amount} if facts.trigger == "purchase" else {}
    extras: list[Extra] = []
    granted = dict(credited.granted)
    for campaign in running:
        cid, count = campaign.campaign_id, campaign.limits.shard_count()
        shard, final = charges.get(cid, (campaign_budget.home(member_id, count), False))
        uses = used.get(cid, 0)
        if cid in granted:
            counts = {"applied": 1, "granted": granted[cid], "participants": int(uses == 0), **sale}
            counts["coupons_issued"] = int(campaign.effect.coupon is not None)
        elif sale and uses and campaign.starts_at <= facts.occurred_at < campaign.ends_at:
            if len(extras) >= MAX_SALES_ITEMS + len(granted):
                continue  # a transaction holds at most 100 items: participants' sales beyond these go uncounted
            counts = dict(sale)
        else:
            continue
        charge = granted[cid] if cid in charges else 0
        op = store.tally_op(cid, shard, {name: n for name, n in counts.items() if n}, charge)
        extras.append(Extra(op, domain.BudgetExhausted(cid) if charge and final else None))
    return extras


def definition(campaign_id: str) -> Campaign | None:
    """A campaign from the cache (active or not), else read (one created since the cache's load)."""
    found = _cached()[2].get(campaign_id)
    if found is None and (item := store.get(campaign_id)) is not None:
        found = _campaign(item)
    return found


def give_back(details: dict[str, Any], amount: Decimal, returned_before: Decimal, returning: Decimal) -> list[Extra]:
    """A return's pro-rata share of each campaign's points goes back to that campaign's budget, on
    a random shard (returns spread like purchases; a fallback read finds the points wherever)."""
    from chalicelib.domain.earning import clawback_points

    extras = []
    for granted in details.get("campaigns") or []:
        points = clawback_points(int(granted["points"]), amount, returned_before, returning)
        campaign = definition(granted["campaign_id"]) if points > 0 else None
        if campaign is not None:
            shard = secrets.randbelow(campaign.limits.shard_count())
            budgeted = campaign.limits.budget_points is not None
            extras.append(Extra(store.give_back_op(campaign.campaign_id, shard, points, budgeted)))
    return extras


def coupon_used(campaign_id: str, member_id: str) -> None:
    """Count a campaign coupon's use on the member's shard, right after the use is written."""
    campaign = definition(campaign_id)
    if campaign is not None:
        store.count_coupon_use(campaign_id, campaign_budget.home(member_id, campaign.limits.shard_count()))


def budget_retries(write: Callable[[frozenset[str]], T]) -> T:
    """Run a write whose campaign charges may be refused: once more with each refused campaign in
    `exhausted` (its fallback path, which skips it only if its whole budget is short)."""
    exhausted: set[str] = set()
    while True:
        try:
            return write(frozenset(exhausted))
        except domain.BudgetExhausted as refused:
            if refused.campaign_id in exhausted:
                raise
            exhausted.add(refused.campaign_id)
