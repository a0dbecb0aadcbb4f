"""Concurrency on DynamoDB Local (moto's transactions are not atomic under threads)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from chalicelib.domain.errors import LoyaltyError
from chalicelib.services import check, members, points, wallet
from tests.support import enrol_command, purchase_command, redeem_command

pytestmark = pytest.mark.ddb_local


@pytest.fixture
def quiet_events(monkeypatch):
    """Collect domain events instead of sending them (no bus in these tests)."""
    sent: list = []
    monkeypatch.setattr("chalicelib.events.publish", lambda events: sent.extend(events) or 0)
    return sent


def _outcome(call) -> str:
    try:
        call()
        return "ok"
    except LoyaltyError as exc:
        return exc.code


def test_fifty_concurrent_redemptions_never_overspend(ddb_local_table, quiet_events):
    # Given a member with exactly 100 points (the welcome bonus)
    members.enrol(enrol_command({"member_id": "c1"}))
    # When 50 clients redeem 30 points each at the same time
    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(
            pool.map(
                lambda i: _outcome(
                    lambda: points.redeem(redeem_command("c1", {"redemption_id": f"r{i}", "points": 30, "reason": "t"}))
                ),
                range(50),
            )
        )
    # Then exactly 3 succeed, the others are refused for insufficient points, 10 are left
    assert outcomes.count("ok") == 3, outcomes
    assert outcomes.count("insufficient_points") == 47, outcomes
    assert members.view("c1")["points"]["available"] == 10
    assert check.check_member("c1") == []


def test_same_purchase_posted_three_times_in_parallel_credits_once(ddb_local_table, quiet_events):
    members.enrol(enrol_command({"member_id": "c2"}))
    body = {"order_id": "o-1", "amount": Decimal("88.00"), "currency": "CNY"}
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(lambda _: points.record_purchase(purchase_command("c2", dict(body))), range(3)))
    assert answers[0] == answers[1] == answers[2]
    assert members.view("c2")["points"]["available"] == 188
    entries = wallet.ledger("c2", 100, None)["entries"]
    assert [e["kind"] for e in entries].count("purchase") == 1
    assert check.check_member("c2") == []


def test_concurrent_purchases_and_redemptions_keep_the_books_balanced(ddb_local_table, quiet_events):
    members.enrol(enrol_command({"member_id": "c3"}))

    def work(i: int) -> str:
        if i % 2:
            return _outcome(
                lambda: points.record_purchase(
                    purchase_command("c3", {"order_id": f"o{i}", "amount": Decimal("10.00"), "currency": "CNY"})
                )
            )
        return _outcome(
            lambda: points.redeem(redeem_command("c3", {"redemption_id": f"r{i}", "points": 15, "reason": "t"}))
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(work, range(40)))
    # A lost race may end as "busy" (the client retries); nothing else, and nothing half-done
    assert set(outcomes) <= {"ok", "insufficient_points", "busy"}, outcomes
    assert outcomes.count("busy") <= 2, outcomes
    redeemed = sum(1 for i, o in enumerate(outcomes) if i % 2 == 0 and o == "ok")
    earned = sum(10 for i, o in enumerate(outcomes) if i % 2 == 1 and o == "ok")
    assert members.view("c3")["points"]["available"] == 100 + earned - 15 * redeemed
    assert check.check_member("c3") == []


def test_fifty_concurrent_enrolments_get_fifty_different_valid_cards(ddb_local_table, quiet_events):
    from chalicelib.domain.cards import valid_card_number
    from chalicelib.store import dynamo, keys

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda i: members.enrol(enrol_command({"member_id": f"e{i:02d}"})), range(50)))
    assert len(answers) == 50
    cards = {f"e{i:02d}": members.view(f"e{i:02d}")["card_number"] for i in range(50)}
    assert len(set(cards.values())) == 50 and all(valid_card_number(card) for card in cards.values())
    for member_id, card in cards.items():  # each number claimed, by its own member
        assert dynamo.get(keys.card_key(card))["member_id"] == member_id


def test_concurrent_enrolments_drawing_the_same_numbers_still_end_unique(ddb_local_table, quiet_events, monkeypatch):
    """Collisions forced: 50 enrolments draw from only 60 numbers; the claims make every taken
    number fail its transaction, and the enrolment draws again."""
    import random
    import threading

    from chalicelib.domain.cards import card_number
    from chalicelib.services import cards as card_service

    pool_of_numbers = [card_number(f"{n:014d}") for n in range(60)]
    lock, rng = threading.Lock(), random.Random(3)

    def draw() -> str:
        with lock:
            return rng.choice(pool_of_numbers)

    monkeypatch.setattr(card_service, "new_card_number", draw)
    monkeypatch.setattr(card_service, "CARD_TRIES", 200)
    with ThreadPoolExecutor(max_workers=50) as pool:
        list(pool.map(lambda i: members.enrol(enrol_command({"member_id": f"f{i:02d}"})), range(50)))
    cards = [members.view(f"f{i:02d}")["card_number"] for i in range(50)]
    assert len(set(cards)) == 50 and set(cards) <= set(pool_of_numbers)
