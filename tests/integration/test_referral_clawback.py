"""The referral bonus is taken back from the referrer when the purchase that paid it is fully
returned (program setting `referral_clawback`, default true), once, in the return's transaction."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import events
from chalicelib.program import load_program
from chalicelib.services import check, points
from tests.integration.conftest import TABLE
from tests.integration.test_api_endpoints import available, buy, enrol, ledger
from tests.support import Api, Outbox, as_emitted, ok


def give_back(api: Api, member_id: str, return_id: str, order_id: str, amount: str) -> dict[str, Any]:
    body = {"return_id": return_id, "order_id": order_id, "amount": amount}
    return ok(api.post(f"/members/{member_id}/returns", body), 201)


def clawbacks(api: Api, member_id: str) -> list[dict[str, Any]]:
    return [e for e in ledger(api, member_id) if e["kind"] == "referral_clawback"]


def books_balance(*member_ids: str) -> None:
    for member_id in member_ids:
        assert check.check_member(member_id) == []


@pytest.fixture
def referred(api: Api) -> Api:
    enrol(api, "ref")
    enrol(api, "new", referrer_id="ref")
    buy(api, "new", "o1", "50.00")
    assert available(api, "ref") == 100 + 200
    return api


def test_a_full_return_of_the_first_purchase_claws_the_bonus_back_once(
    referred: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(events, "publish", lambda items: published.extend(map(as_emitted, items)) or set())
    outbox = Outbox(TABLE)  # the table's stream, handed to the handler that publishes the events
    buy(referred, "new", "o2", "30.00")
    give_back(referred, "new", "r1", "o1", "20.00")
    assert available(referred, "ref") == 300  # partly returned: the bonus stays
    assert clawbacks(referred, "ref") == []

    give_back(referred, "new", "r2", "o1", "30.00")  # o1 now fully returned (cumulative)
    assert available(referred, "ref") == 100
    (entry,) = clawbacks(referred, "ref")
    assert (entry["ref"], entry["points"]) == ("new", -200)
    outbox.deliver()
    assert (
        "referral.clawed_back",
        {"member_id": "ref", "points": 200, "referred_member_id": "new", "order_id": "o1"},
    ) in published

    give_back(referred, "new", "r2", "o1", "30.00")  # the same return replayed
    give_back(referred, "new", "r3", "o2", "30.00")  # a full return of a later purchase
    assert available(referred, "ref") == 100 and len(clawbacks(referred, "ref")) == 1
    books_balance("ref", "new")


def test_a_partial_return_keeps_the_bonus(referred: Api) -> None:
    give_back(referred, "new", "r1", "o1", "49.99")
    assert available(referred, "ref") == 300 and clawbacks(referred, "ref") == []
    books_balance("ref", "new")


def test_the_program_can_keep_referral_bonuses(referred: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    keeping = load_program().model_copy(update={"referral_clawback": False})
    monkeypatch.setattr(points, "load_program", lambda: keeping)
    give_back(referred, "new", "r1", "o1", "50.00")
    assert available(referred, "ref") == 300 and clawbacks(referred, "ref") == []
    books_balance("ref", "new")


def test_a_spent_bonus_becomes_a_debt(referred: Api) -> None:
    ok(referred.post("/members/ref/redemptions", {"redemption_id": "x1", "points": 300, "reason": "gift"}), 201)
    give_back(referred, "new", "r1", "o1", "50.00")
    assert available(referred, "ref") == -200  # settled by the referrer's next earnings
    books_balance("ref", "new")
