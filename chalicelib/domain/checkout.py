"""Points as payment (积分抵现): a purchase may pay part of its amount with points, spent oldest
first in the purchase's own change, and earns on the money part only; a return gives the paid
points back pro rata. Pure: no I/O, no clock reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from chalicelib.domain.calendar import month_key
from chalicelib.domain.earning import clawback_points
from chalicelib.domain.errors import InsufficientPointsError, InvalidRequest
from chalicelib.domain.model import LedgerEntry, Member, MemberChange
from chalicelib.program import Program

FIELD = "points_payment"


@dataclass(frozen=True)
class Payment:
    """The points a purchase paid with, what they were worth, and the lots they came from."""

    points: int
    value: Decimal
    lots: dict[str, int] = field(default_factory=dict)  # expiry month -> points taken

    def as_details(self) -> dict[str, object]:
        return {"points": self.points, "value": self.value, "lots": dict(self.lots)}

    @classmethod
    def from_details(cls, details: dict[str, object] | None) -> Payment | None:
        if not details:
            return None
        lots = details.get("lots") or {}
        assert isinstance(lots, dict)
        return cls(int(str(details["points"])), Decimal(str(details["value"])), {m: int(n) for m, n in lots.items()})


def _refuse(message: str) -> InvalidRequest:
    return InvalidRequest(message, [{"field": FIELD, "message": message}])


def payment_value(program: Program, amount: Decimal, points: int) -> Decimal:
    """What `points` pay of a purchase of `amount`, after the program's rules; refuses what breaks them."""
    rule = program.points_payment
    if rule is None:
        raise _refuse("this program does not take points as payment")
    if points < rule.min_points:
        raise _refuse(f"at least {rule.min_points} points")
    if points % rule.step(program.currency_places):
        raise _refuse(f"{points} points are not a whole amount of money at {rule.points_per_unit} points per unit")
    limit = rule.max_points(amount)
    if points > limit:
        raise _refuse(f"at most {limit} points ({rule.max_share} of the amount)")
    return rule.value(points, program.currency_places)


def money_share(amount: Decimal, paid: Decimal) -> Decimal:
    """The part of a purchase paid with money: what it earns points on."""
    return (amount - paid) / amount if paid else Decimal(1)


def take_payment(program: Program, member: Member, amount: Decimal, points: int | None) -> Payment | None:
    """Spend the points from `member` (the change's after-state), oldest lot first, before the
    purchase credits anything: its own points never pay for it."""
    if not points:
        return None
    value = payment_value(program, amount, points)
    if points > member.wallet.available:
        raise InsufficientPointsError(
            f"needs {points} points, {member.wallet.available} available",
            [{"field": FIELD, "message": f"{member.wallet.available} points available"}],
        )
    return Payment(points, value, member.wallet.spend(points))


def record_payment(change: MemberChange, order_id: str, payment: Payment, now: datetime) -> None:
    change.entries.append(
        LedgerEntry(FIELD, order_id, -payment.points, now, {"order_id": order_id, "value": payment.value})
    )
    change.emit("points.redeemed", points=payment.points, reason=FIELD, order_id=order_id, value=payment.value)


def refund_month(payment: Payment, today: date) -> str:
    """The lot the refunded points go into: the latest the payment took from, or this month's when
    that one has already ended, so they never expire before the points they restore would have."""
    return max([*payment.lots, month_key(today)])


def refund_payment(
    program: Program,
    change: MemberChange,
    order_id: str,
    return_id: str,
    payment: Payment,
    amounts: tuple[Decimal, Decimal, Decimal],
    today: date,
    occurred_at: datetime,
) -> None:
    """Give back the paid points pro rata to the amount returned (`amounts`: purchase amount,
    returned before, returning now); all of them once the whole purchase is returned."""
    amount, returned_before, returning = amounts
    points = clawback_points(payment.points, amount, returned_before, returning)
    if points <= 0:
        return
    change.after.wallet.credit(points, refund_month(payment, today))
    value = (payment.value * points / payment.points).quantize(Decimal(1).scaleb(-program.currency_places))
    refund = LedgerEntry(f"{FIELD}_refund", return_id, points, occurred_at, {"order_id": order_id, "value": value})
    change.entries.append(refund)
    change.emit("points.restored", points=points, reason=f"{FIELD}_refund", order_id=order_id, return_id=return_id)
