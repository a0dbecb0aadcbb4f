"""The typed commands a points write travels as, whichever door it came in by (the storefront API or
a store's sales file), and the field rules both doors check, written once.

The API's request models (api/models.py) and the sales-row model (ingest/rows.py) take their
patterns and limits from here, so an amount, an id or a currency is accepted or refused the same way
through both doors; the services take these commands, never a dict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from chalicelib.domain.attribution import Attribution
from chalicelib.domain.earning import Line
from chalicelib.domain.errors import InvalidRequest

CENT = Decimal("0.01")
AMOUNT_MAX = Decimal("9999999.99")
# More than 0, at most AMOUNT_MAX, at most 2 decimals, ASCII digits only: no sign, exponent,
# thousands separator, or digits of other scripts ("١٠٠" and "１０" are not amounts). `[0-9]`, not
# `\d`: Python's `\d` and Decimal() both accept every script's digits.
AMOUNT_PATTERN = r"^(?:0*[1-9][0-9]{0,6}(?:\.[0-9]{1,2})?|0*\.(?:0[1-9]|[1-9][0-9]?))$"
AMOUNT_HINT = "more than 0, at most 9999999.99, at most 2 decimals, ASCII digits only (like 12.50)"
# Client ids (order, return, redemption ... ids, member ids, store receipt ids): what a till or a web
# shop can print and type. ASCII only, so ids that look alike are the same bytes.
CLIENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"
CLIENT_ID_MAX = 64
CLIENT_ID_HINT = "1 to 64 letters, digits or . _ : - (starting with a letter or digit)"
CURRENCY_PATTERN = r"^[A-Z]{3}$"  # ISO 4217; the program's currency is then required (check_currency)
CATEGORY_MAX = 40
CHANNEL_MAX = 32

_AMOUNT = re.compile(AMOUNT_PATTERN)


def parse_amount(value: object) -> Decimal:
    """An amount as the API receives it (a JSON string, or a number) -> Decimal in cents; ValueError
    for anything else. The sales files check the same AMOUNT_PATTERN in their row model."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("expected an amount like 12.50")
    text = value.strip() if isinstance(value, str) else str(value)
    if not _AMOUNT.fullmatch(text):
        raise ValueError(f"expected an amount: {AMOUNT_HINT}")
    return Decimal(text).quantize(CENT)


def check_currency(program_currency: str, currency: str) -> None:
    if currency != program_currency:
        raise InvalidRequest(
            f"currency must be {program_currency}", [{"field": "currency", "message": f"expected {program_currency}"}]
        )


def _sent(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that identify a request for idempotency: what is set, not what defaulted to None."""
    return {name: value for name, value in fields.items() if value is not None and value != ()}


@dataclass(frozen=True)
class PurchaseLine:
    amount: Decimal
    category: str | None = None
    sku: str | None = None  # the API's lines carry one; a sales-file row is one line without


@dataclass(frozen=True)
class RecordPurchase:
    """A purchase: `order_id` is the storefront's order id, or the ledger id of a store receipt."""

    member_id: str
    order_id: str
    amount: Decimal
    currency: str
    occurred_at: datetime | None = None  # None: now
    channel: str | None = None
    store_id: str | None = None
    lines: tuple[PurchaseLine, ...] = ()
    staff_id: str | None = None  # the clerk who served it
    points_payment: int | None = None  # points paying part of the amount (API only)

    def earning_lines(self) -> tuple[Line, ...]:
        return tuple(Line(line.category, line.amount) for line in self.lines)

    def attribution(self) -> Attribution:
        return Attribution(self.store_id, self.staff_id)

    def identity(self) -> dict[str, Any]:
        """What a replay of this purchase must repeat. A store receipt's order id (`<store>/<receipt>`,
        which the API refuses) already names its store: the store is left out there, so the
        fingerprints of receipts applied before `store_id` was part of it are still recognised."""
        lines = [_sent({"sku": line.sku, "category": line.category, "amount": line.amount}) for line in self.lines]
        receipt = self.store_id is not None and self.order_id.startswith(f"{self.store_id}/")
        return _sent(
            {
                "order_id": self.order_id,
                "amount": self.amount,
                "currency": self.currency,
                "occurred_at": self.occurred_at,
                "channel": self.channel,
                "store_id": None if receipt else self.store_id,
                "staff_id": self.staff_id,
                "lines": lines or None,
                "points_payment": self.points_payment,
            }
        )


@dataclass(frozen=True)
class RecordReturn:
    """A return of (part of) an earlier purchase of the same member."""

    member_id: str
    return_id: str
    order_id: str
    amount: Decimal
    occurred_at: datetime | None = None

    def identity(self) -> dict[str, Any]:
        return _sent(
            {
                "return_id": self.return_id,
                "order_id": self.order_id,
                "amount": self.amount,
                "occurred_at": self.occurred_at,
            }
        )


@dataclass(frozen=True)
class Enrol:
    """An enrolment; `member_id` None: the engine picks one. Contact data stays out of logs."""

    member_id: str | None = None
    phone: str | None = None
    email: str | None = None
    name: str | None = None
    birthday: date | None = None
    referrer_id: str | None = None
    store_id: str | None = None  # who recruited the member (domain/attribution.py)
    staff_id: str | None = None
    channel: str | None = None

    def identity(self) -> dict[str, Any]:
        """Keyed before it is stored (services/writes.fingerprint): it holds contact data."""
        return _sent(
            {
                "member_id": self.member_id,
                "phone": self.phone,
                "email": self.email,
                "name": self.name,
                "birthday": self.birthday,
                "referrer_id": self.referrer_id,
                "store_id": self.store_id,
                "staff_id": self.staff_id,
                "channel": self.channel,
            }
        )

    def attribution(self) -> Attribution:
        return Attribution(self.store_id, self.staff_id, self.channel)

    def contacts(self) -> dict[str, str]:
        return _sent({"phone": self.phone, "email": self.email})


@dataclass(frozen=True)
class Redeem:
    """A redemption of a reward (`reward_id`), or of a number of points with a reason."""

    member_id: str
    redemption_id: str
    reward_id: str | None = None
    points: int | None = None
    reason: str | None = None

    def identity(self) -> dict[str, Any]:
        return _sent(
            {
                "redemption_id": self.redemption_id,
                "reward_id": self.reward_id,
                "points": self.points,
                "reason": self.reason,
            }
        )


@dataclass(frozen=True)
class RecordActivity:
    member_id: str
    activity_id: str
    type: str

    def identity(self) -> dict[str, Any]:
        return {"activity_id": self.activity_id, "type": self.type}


@dataclass(frozen=True)
class Adjust:
    """A correction by ops: points may be negative."""

    member_id: str
    adjustment_id: str
    points: int
    reason: str

    def identity(self) -> dict[str, Any]:
        return {"adjustment_id": self.adjustment_id, "points": self.points, "reason": self.reason}


@dataclass(frozen=True)
class UseCoupon:
    """A coupon of the member's wallet used for an order: once; the same order again is a replay."""

    member_id: str
    code: str
    order_id: str
