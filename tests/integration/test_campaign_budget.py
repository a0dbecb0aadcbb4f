"""A campaign budget under concurrency on DynamoDB Local (moto's transactions are not atomic under threads)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.campaigns import Campaign
from chalicelib.services import campaigns, check, members, points
from tests.support import enrol_command, purchase_command, return_command

pytestmark = pytest.mark.ddb_local
THREADS, BONUS, BUDGET = 30, 10, 155  # room for 15 bonuses and a half: never 16


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr("chalicelib.events.publish", lambda events: 0)  # no bus here
    campaigns.clear_cache()
    yield
    campaigns.clear_cache()


def test_thirty_buyers_at_once_never_pass_the_budget(ddb_local_table: str) -> None:
    now = datetime.now(UTC)
    campaigns.create(
        Campaign.model_validate(
            {
                "campaign_id": "flash",
                "name": "flash bonus",
                "starts_at": (now - timedelta(days=1)).isoformat(),
                "ends_at": (now + timedelta(days=1)).isoformat(),
                "effect": {"bonus_points": BONUS},
                "limits": {"budget_points": BUDGET},
            }
        )
    )
    for n in range(THREADS):
        members.enrol(enrol_command({"member_id": f"b{n}"}))

    def buy(n: int) -> dict[str, Any]:
        body = {"order_id": f"o{n}", "amount": "20.00", "currency": "CNY"}
        return points.record_purchase(purchase_command(f"b{n}", body))["entry"]

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
    assert (view["granted_points"], view["budget_left"]) == (150, 5)
    assert all(check.check_member(f"b{n}") == [] for n in range(THREADS))

    # A full return of a bonused purchase gives its campaign points back to the budget
    member_id = bonused[0]["ref"].replace("o", "b")
    back = {"order_id": bonused[0]["ref"], "return_id": "r1", "amount": "20.00"}
    points.record_return(return_command(member_id, back))
    assert campaigns.get("flash")["budget_left"] == 5 + BONUS
    assert check.check_member(member_id) == []
