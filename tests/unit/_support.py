"""Shared helpers for the pure domain tests: the shipped program, moments and members."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from chalicelib.domain import checkout, rules
from chalicelib.domain.model import LedgerEntry, Member
from chalicelib.program import PROGRAM_FILE, Program, parse_program

SHANGHAI = ZoneInfo("Asia/Shanghai")
PROGRAM: Program = parse_program(PROGRAM_FILE.read_text(encoding="utf-8"))


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """A moment in program time (Asia/Shanghai)."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def new_member(now: datetime, member_id: str = "m-1", program: Program = PROGRAM, **kwargs: object) -> Member:
    """A freshly enrolled member (welcome bonus in its lot, first-purchase coupon issued)."""
    return rules.enrol(program, member_id, now, "WELCOME-1", **kwargs).after  # type: ignore[arg-type]


def purchase(order_id: str, amount: str, occurred_at: datetime, lines: tuple = ()) -> rules.Purchase:
    return rules.Purchase(order_id=order_id, amount=Decimal(amount), occurred_at=occurred_at, lines=lines)


def record_from_entry(entry: LedgerEntry, returned: str | Decimal = "0", clawed: int = 0) -> rules.PurchaseRecord:
    """What the store reads back from a purchase's ledger entry for a return (as services/points.py does)."""
    return rules.PurchaseRecord(
        order_id=entry.ref,
        amount=Decimal(entry.details["amount"]),
        points=entry.points,
        returned_amount=Decimal(returned),
        clawed_points=clawed,
        lot_month=entry.details["lot_month"],
        spend_month=entry.details["spend_month"],
        payment=checkout.Payment.from_details(entry.details.get(checkout.FIELD)),
    )
