"""Which budget shard a grant charges (services/campaign_budget.py), with the shards faked: the
home shard, the memo of a spent budget (no I/O), the fullest shard, and the remainders moved
together before a campaign is skipped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.domain.campaigns import Campaign
from chalicelib.services import campaign_budget
from chalicelib.store import campaigns as store
from chalicelib.store import dynamo
from tests.support import FixedClock

NOW = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)


class Shards:
    """Four shards' `left`, read and moved as the store would."""

    def __init__(self, left: list[int]) -> None:
        self.left, self.reads, self.moves = list(left), 0, 0

    def shards(self, campaign_id: str, count: int) -> list[dict[str, Any]]:
        self.reads += 1
        return [{store.LEFT: n} for n in self.left]

    def move_left(self, campaign_id: str, seen: list[int], target: int) -> bool:
        self.moves += 1
        if seen != self.left:
            return False
        self.left = [sum(seen) if n == target else 0 for n in range(len(seen))]
        return True


@pytest.fixture
def shards(monkeypatch: pytest.MonkeyPatch) -> Iterator[Shards]:
    fake = Shards([40, 40, 40, 40])
    monkeypatch.setattr(store, "shards", fake.shards)
    monkeypatch.setattr(store, "move_left", fake.move_left)
    monkeypatch.setattr(dynamo, "table", lambda: "t")
    monkeypatch.setattr(clock, "now", FixedClock(NOW))
    campaign_budget.clear()
    yield fake
    campaign_budget.clear()


def flash() -> Campaign:
    return Campaign.model_validate(
        {
            "campaign_id": "flash",
            "name": "flash",
            "starts_at": "2026-11-11T00:00:00+08:00",
            "ends_at": "2026-11-12T00:00:00+08:00",
            "effect": {"bonus_points": 10},
            "limits": {"budget_points": 160, "shards": 4},
        }
    )


def test_a_grant_charges_the_members_home_shard_without_reading(shards: Shards) -> None:
    home = campaign_budget.home("m1", 4)
    assert campaign_budget.choose(flash(), "m1", 10, refused=False) == (home, True)
    assert shards.reads == 0
    assert {campaign_budget.home(f"m{n}", 4) for n in range(40)} == {0, 1, 2, 3}  # members spread


def test_a_refused_home_charge_falls_back_to_the_fullest_shard(shards: Shards) -> None:
    home = campaign_budget.home("m1", 4)
    shards.left = [0, 0, 0, 0]
    shards.left[(home + 1) % 4] = 25
    assert campaign_budget.choose(flash(), "m1", 10, refused=True) == ((home + 1) % 4, False)
    assert (shards.reads, shards.moves) == (1, 0)


def test_remainders_are_moved_together_when_no_shard_alone_has_the_points(shards: Shards) -> None:
    shards.left = [9, 9, 9, 8]
    shard, final = campaign_budget.choose(flash(), "m1", 10, refused=True) or (None, None)
    assert shards.left[shard] == 35 and sum(shards.left) == 35 and final is False  # nothing lost or made
    assert shards.moves == 1


def test_a_budget_short_of_the_grant_is_skipped_and_remembered_for_30_seconds(
    shards: Shards, monkeypatch: pytest.MonkeyPatch
) -> None:
    shards.left = [2, 2, 2, 3]
    assert campaign_budget.choose(flash(), "m1", 10, refused=True) is None
    assert campaign_budget.choose(flash(), "m2", 10, refused=False) is None  # the memo: no read
    assert campaign_budget.choose(flash(), "m2", 5, refused=False) is not None  # 9 left: a smaller grant fits
    assert shards.reads == 1
    monkeypatch.setattr(clock, "now", FixedClock(NOW + timedelta(seconds=30)))
    assert campaign_budget.choose(flash(), "m2", 10, refused=False) == (campaign_budget.home("m2", 4), True)
