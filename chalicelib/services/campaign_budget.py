"""Which budget shard a campaign grant charges, and the fallback when that shard ran dry.

A budget is split over N shard items (each its own partition). A grant charges the member's home
shard (a hash of the member id) inside the write's one transaction, with the condition that the
shard still holds the points. When it refuses, the write is decided again on the fallback path:
one consistent read of every shard, then the home shard if it has the points again, else the
fullest shard, else (the points are there only in pieces) the pieces are moved onto the fullest
shard in one transaction guarded by what was read, and the write charges it. Only when the whole
budget left is less than the grant is the campaign skipped (budget_exhausted). docs/campaigns.md.
"""

from __future__ import annotations

import threading
import zlib
from datetime import datetime, timedelta

from chalicelib import clock
from chalicelib.domain.campaigns import Campaign
from chalicelib.store import campaigns as store
from chalicelib.store import dynamo

MEMO_TTL = timedelta(seconds=30)  # as the campaign cache: a budget seen spent is trusted this long
MOVE_TRIES = 5
_memo: dict[tuple[str, str], tuple[datetime, list[int]]] = {}  # (table, campaign) -> (read at, left by shard)
_lock = threading.Lock()


def clear() -> None:
    with _lock:
        _memo.clear()


def home(member_id: str, count: int) -> int:
    """The member's shard: stable, and spread evenly over the shards by the member ids."""
    return zlib.crc32(member_id.encode()) % count


def _remembered(campaign_id: str) -> list[int] | None:
    with _lock:
        seen = _memo.get((dynamo.table(), campaign_id))
    if seen is None or not timedelta(0) <= clock.now() - seen[0] < MEMO_TTL:
        return None
    return seen[1]


def _read(campaign: Campaign) -> list[int]:
    count = campaign.limits.shard_count()
    left = [int(shard.get(store.LEFT, 0)) for shard in store.shards(campaign.campaign_id, count)]
    with _lock:
        _memo[(dynamo.table(), campaign.campaign_id)] = (clock.now(), left)
    return left


def choose(campaign: Campaign, member_id: str, points: int, refused: bool) -> tuple[int, bool] | None:
    """(shard, final) for a grant of `points`, or None: the budget left is less than them.
    `final`: a refusal of this charge means budget_exhausted; otherwise the write is decided again
    (its charge raced with others'). `refused`: this write's home charge was refused already."""
    shard = home(member_id, campaign.limits.shard_count())
    seen = _remembered(campaign.campaign_id)
    if seen is not None and sum(seen) < points:
        return None  # read spent within MEMO_TTL: no write, no read
    if not refused:  # no I/O here (a quote runs this too): the last read, if any, may point elsewhere
        if seen is not None and seen[shard] < points and max(seen) >= points:
            shard = max(range(len(seen)), key=lambda n: (seen[n], -n))
        return shard, True
    for _ in range(MOVE_TRIES):
        left = _read(campaign)
        if sum(left) < points:
            return None
        if left[shard] >= points:
            return shard, False
        fullest = max(range(len(left)), key=lambda n: (left[n], -n))
        if left[fullest] >= points or store.move_left(campaign.campaign_id, left, fullest):
            return fullest, False
    return shard, False  # still moving under contention: the write's retry reads again
