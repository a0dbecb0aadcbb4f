"""Points as payment, the pure rules: what points pay, what they may not, oldest lots first, the
money share that earns, and where a return puts them back."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from chalicelib.domain import checkout, rules
from chalicelib.domain.errors import InsufficientPointsError, InvalidRequest
from chalicelib.domain.lots import Wallet
from chalicelib.program import PointsPayment, Program

from ._support import PROGRAM, at, new_member, purchase, record_from_entry

D = Decimal


def program_paying(points_per_unit: int, max_share: str = "0.5", min_points: int = 1) -> Program:
    rule = PointsPayment(points_per_unit=points_per_unit, max_share=D(max_share), min_points=min_points)
    return PROGRAM.model_copy(update={"points_payment": rule})


@pytest.mark.parametrize(
    ("per_unit", "points", "value"),
    [(100, 1000, "10.00"), (100, 1, "0.01"), (1000, 10, "0.01"), (3, 300, "100.00"), (1, 7, "7.00")],
)
def test_points_pay_their_exact_value(per_unit: int, points: int, value: str) -> None:
    assert checkout.payment_value(program_paying(per_unit), D("1000.00"), points) == D(value)


@pytest.mark.parametrize(
    ("program", "points", "message"),
    [
        (program_paying(1000), 15, "not a whole amount of money"),  # 0.015
        (program_paying(3), 100, "not a whole amount of money"),  # 33.333...
        (program_paying(100, min_points=100), 99, "at least 100 points"),
        (program_paying(100, max_share="0.5"), 5001, "at most 5000 points"),  # half of 100.00
        (PROGRAM.model_copy(update={"points_payment": None}), 100, "does not take points"),
    ],
)
def test_payments_the_rules_refuse_name_the_field(program: Program, points: int, message: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        checkout.payment_value(program, D("100.00"), points)
    assert refused.value.details[0]["field"] == "points_payment"
    assert message in refused.value.details[0]["message"]


def test_the_payment_takes_the_oldest_lots_and_refuses_more_than_there_is() -> None:
    member = new_member(at(2026, 1, 1))
    member.wallet = Wallet({"2026-03": 300, "2026-01": 200, "2026-09": 900})
    paid = checkout.take_payment(program_paying(100), member, D("100.00"), 400)
    assert paid is not None and paid.lots == {"2026-01": 200, "2026-03": 200}
    assert member.wallet.lots == {"2026-03": 100, "2026-09": 900}
    with pytest.raises(InsufficientPointsError):
        checkout.take_payment(program_paying(100, max_share="1"), member, D("100.00"), 1001)
    assert checkout.take_payment(program_paying(100), member, D("100.00"), None) is None


def test_a_purchase_earns_on_its_money_part_and_its_own_points_never_pay_for_it() -> None:
    now = at(2026, 5, 10)
    member = new_member(now)
    member.wallet = Wallet({"2026-06": 1000})
    bought = purchase("o1", "100.00", now, ())
    paying = rules.Purchase(bought.order_id, bought.amount, bought.occurred_at, points_payment=1000)
    change, _ = rules.record_purchase(program_paying(100), member, paying, now)
    assert change.entries[0].points == 90  # 90.00 paid with money
    assert [(e.kind, e.points) for e in change.entries] == [("purchase", 90), ("points_payment", -1000)]
    assert change.after.available == 90
    member.wallet = Wallet({"2026-06": 999})  # one short: the purchase's own 90 points do not help
    with pytest.raises(InsufficientPointsError):
        rules.record_purchase(program_paying(100), member, paying, now)


def test_a_return_refunds_pro_rata_into_a_lot_that_ends_no_sooner() -> None:
    now = at(2026, 5, 10)
    member = new_member(now)
    member.wallet = Wallet({"2026-04": 500, "2026-08": 500})
    program = program_paying(100, max_share="1")
    paying = rules.Purchase("o1", D("30.00"), now, points_payment=700)  # 7.00: 500 of April, 200 of August
    change, _ = rules.record_purchase(program, member, paying, now)
    record = record_from_entry(change.entries[0])
    assert record.payment is not None and record.payment.lots == {"2026-04": 500, "2026-08": 200}
    third = rules.record_return(program, change.after, record, "r1", D("10.00"), now, now)
    refund = third.entries[-1]
    assert (refund.kind, refund.points, refund.details["value"]) == ("points_payment_refund", 233, D("2.33"))
    assert third.after.wallet.lots["2026-08"] == 300 + 233  # the latest lot the payment took from
    later = at(2026, 10, 3)  # August has ended: this month's lot instead
    assert checkout.refund_month(record.payment, date(2026, 10, 3)) == "2026-10"
    assert checkout.refund_month(record.payment, later.date()) == "2026-10"
