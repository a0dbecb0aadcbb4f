"""A campaign budget under concurrency on DynamoDB Local (moto's transactions are not atomic under threads)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.campaigns import Campaign
from chalicelib.services import campaigns, check, members, points
from chalicelib.store import campaigns as campaign_store
from tests.support import enrol_command, purchase_command, return_command

pytestmark = pytest.mark.ddb_local
THREADS, BONUS, BUDGET = 30, 10, 155  # room for 15 bonuses and a half: never 16


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr("chalicelib.events.publish", lambda events: 0)  # no bus here
    campaigns.clear_cache()
    yield
    campaigns.clear_cache()


def create_flash(shards: int | None) -> None:
    now = datetime.now(UTC)
    campaigns.create(
        Campaign.model_validate(
            {
                "campaign_id": "flash",
                "name": "flash bonus",
                "starts_at": (now - timedelta(days=1)).isoformat(),
                "ends_at": (now + timedelta(days=1)).isoformat(),
                "effect": {"bonus_points": BONUS},
                "limits": {"budget_points": BUDGET, "shards": shards},
            }
        )
    )


def buy(n: int) -> dict[str, Any]:
    body = {"order_id": f"o{n}", "amount": "20.00", "currency": "CNY"}
    return points.record_purchase(purchase_command(f"b{n}", body))["entry"]


# 1 shard; 4 shards of 39, 39, 39 and 38 points: each gives 3 bonuses, and the fourth bonus of
# every shard needs the remainders (9 + 9 + 9 + 8) moved onto one shard first.
@pytest.mark.parametrize("shards", [1, 4])
def test_thirty_buyers_at_once_never_pass_the_budget(
    ddb_local_table: str, shards: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    moves: list[int] = []
    move_left = campaign_store.move_left
    monkeypatch.setattr(campaign_store, "move_left", lambda *a: moves.append(1) or move_left(*a))
    create_flash(shards)
    for n in range(THREADS):
        members.enrol(enrol_command({"member_id": f"b{n}"}))

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        entries = list(pool.map(buy, range(THREADS)))
    bonused = [e for e in entries if e["details"]["campaigns"]]
    skipped = [e for e in entries if e["details"]["campaigns_skipped"]]
    assert len(bonused) == BUDGET // BONUS, entries  # 15: the budget ran out mid-way and was never passed
    assert all(e["points"] == 20 + BONUS for e in bonused)
    assert len(skipped) == THREADS - len(bonused)
    assert all(e["points"] == 20 for e in skipped)  # base points still earned
    assert {s["reason"] for e in skipped for s in e["details"]["campaigns_skipped"]} == {"budget_exhausted"}
    view = campaigns.get("flash")
    assert (view["granted_points"], view["budget_left"]) == (150, 5)  # short by less than one bonus
    assert all(check.check_member(f"b{n}") == [] for n in range(THREADS))

    # A full return of a bonused purchase gives its campaign points back to the budget
    member_id = bonused[0]["ref"].replace("o", "b")
    back = {"order_id": bonused[0]["ref"], "return_id": "r1", "amount": "20.00"}
    points.record_return(return_command(member_id, back))
    assert campaigns.get("flash")["budget_left"] == 5 + BONUS
    assert check.check_member(member_id) == []
    assert campaigns.results("flash")["participants"] == len(bonused)
    assert bool(moves) == (shards > 1)  # the remainders were moved together (one shard has none to move)


def test_a_return_during_the_run_gives_its_points_back_to_the_sharded_budget(ddb_local_table: str) -> None:
    create_flash(4)
    for n in range(THREADS + 1):
        members.enrol(enrol_command({"member_id": f"b{n}"}))
    assert buy(THREADS)["details"]["campaigns"]  # bonused before the run, returned during it

    def act(n: int) -> dict[str, Any] | None:
        if n == THREADS:
            back = {"order_id": f"o{THREADS}", "return_id": "r1", "amount": "20.00"}
            points.record_return(return_command(f"b{THREADS}", back))
            return None
        return buy(n)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        entries = [e for e in pool.map(act, range(THREADS + 1)) if e is not None]
    bonused = [e for e in entries if e["details"]["campaigns"]]
    view = campaigns.get("flash")
    assert view["granted_points"] == BONUS * len(bonused) <= BUDGET  # the returned bonus is no longer granted
    assert view["granted_points"] + view["budget_left"] == BUDGET
    assert len(bonused) >= BUDGET // BONUS - 1  # at most the returned bonus still waiting in a process's memo
    assert all(check.check_member(f"b{n}") == [] for n in range(THREADS + 1))
