"""The wallet of point lots: FIFO spending, clawback order, debt, expiry."""

from __future__ import annotations

import pytest

from chalicelib.domain.lots import InsufficientPoints, Wallet


def wallet(**lots: int) -> Wallet:
    """Lots keyed like m2026_03=... -> "2026-03"."""
    return Wallet({key[1:].replace("_", "-"): points for key, points in lots.items()})


def test_credit_fills_the_lot_of_the_month() -> None:
    w = Wallet()

    w.credit(100, "2027-03")
    w.credit(20, "2027-03")
    w.credit(5, "2027-04")

    assert w.lots == {"2027-03": 120, "2027-04": 5}
    assert w.available == 125


def test_credit_of_zero_creates_no_lot() -> None:
    w = Wallet()

    w.credit(0, "2027-03")

    assert w.lots == {}


def test_negative_credit_or_spend_is_refused() -> None:
    w = wallet(m2027_03=10)

    with pytest.raises(ValueError):
        w.credit(-1, "2027-03")
    with pytest.raises(ValueError):
        w.spend(-1)
    assert w.lots == {"2027-03": 10}


def test_spend_takes_the_oldest_lot_first() -> None:
    w = wallet(m2027_05=50, m2027_03=30, m2027_04=40)

    taken = w.spend(60)

    assert taken == {"2027-03": 30, "2027-04": 30}
    assert w.lots == {"2027-04": 10, "2027-05": 50}
    assert w.available == 60


def test_spending_exactly_everything_empties_the_wallet() -> None:
    w = wallet(m2027_03=30, m2027_04=40)

    assert w.spend(70) == {"2027-03": 30, "2027-04": 40}
    assert w.lots == {}
    assert w.available == 0


def test_insufficient_points_are_refused_and_nothing_changes() -> None:
    w = wallet(m2027_03=30, m2027_04=40)

    with pytest.raises(InsufficientPoints) as caught:
        w.spend(71)

    assert (caught.value.needed, caught.value.available) == (71, 70)
    assert w.lots == {"2027-03": 30, "2027-04": 40}
    assert w.debt == 0


def test_spending_is_refused_while_in_debt() -> None:
    w = Wallet(debt=15)

    with pytest.raises(InsufficientPoints):
        w.spend(1)
    assert w.debt == 15


def test_claw_back_takes_the_purchase_lot_first_then_the_oldest() -> None:
    w = wallet(m2027_03=30, m2027_04=40, m2027_05=50)

    taken = w.claw_back(70, preferred_month="2027-05")

    assert taken == {"2027-05": 50, "2027-03": 20}
    assert w.lots == {"2027-03": 10, "2027-04": 40}
    assert w.debt == 0


def test_claw_back_without_the_purchase_lot_goes_oldest_first() -> None:
    w = wallet(m2027_03=30, m2027_04=40)

    taken = w.claw_back(35, preferred_month="2027-09")

    assert taken == {"2027-03": 30, "2027-04": 5}
    assert w.lots == {"2027-04": 35}


def test_claw_back_beyond_the_lots_becomes_debt() -> None:
    w = wallet(m2027_03=30, m2027_04=10)

    taken = w.claw_back(100, preferred_month="2027-04")

    assert taken == {"2027-04": 10, "2027-03": 30}
    assert w.lots == {}
    assert w.debt == 60
    assert w.available == -60


def test_claw_back_while_in_debt_adds_to_the_debt() -> None:
    w = Wallet(debt=10)

    assert w.claw_back(25) == {}
    assert w.debt == 35


def test_later_credits_settle_the_debt_before_filling_a_lot() -> None:
    w = Wallet(debt=60)

    w.credit(50, "2027-06")
    assert (w.lots, w.debt, w.available) == ({}, 10, -10)

    w.credit(25, "2027-06")
    assert (w.lots, w.debt, w.available) == ({"2027-06": 15}, 0, 15)


def test_expire_removes_only_that_lot() -> None:
    w = wallet(m2027_03=30, m2027_04=40)

    assert w.expire("2027-03") == 30
    assert w.lots == {"2027-04": 40}
    assert w.expire("2027-03") == 0
    assert w.available == 40


def test_copy_is_independent() -> None:
    w = wallet(m2027_03=30)
    other = w.copy()

    other.spend(10)
    other.claw_back(50)

    assert w.lots == {"2027-03": 30}
    assert w.debt == 0
    assert other.debt == 30
