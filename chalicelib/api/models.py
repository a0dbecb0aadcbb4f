"""Request bodies, validated by pydantic (unknown fields refused, money exact, times with offsets).
Field rules shared with the sales files come from domain/commands.py; `command()` turns a body into
the typed command the services take."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from chalicelib.domain import attribution, cards, commands
from chalicelib.domain.errors import InvalidRequest
from chalicelib.ingest.names import STORE_ID_PATTERN

ClientId = Annotated[str, Field(min_length=1, max_length=commands.CLIENT_ID_MAX, pattern=commands.CLIENT_ID_PATTERN)]


def _text_only(value: object) -> object:
    """Dates come as JSON strings (ISO 8601); a bare number is not a timestamp."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("expected an ISO 8601 string")
    return value


# Documented as the string clients should send; a JSON number is read the same way.
Amount = Annotated[
    Decimal,
    BeforeValidator(commands.parse_amount),
    WithJsonSchema({"type": "string", "pattern": commands.AMOUNT_PATTERN, "examples": ["12.50"]}),
]
Moment = Annotated[AwareDatetime, BeforeValidator(_text_only)]
Day = Annotated[date, BeforeValidator(_text_only)]
Phone = Annotated[str, Field(min_length=5, max_length=20, pattern=r"^\+?[0-9][0-9 \-]{3,18}[0-9]$")]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Reason = Annotated[str, Field(min_length=1, max_length=200)]
PreferenceName = Annotated[str, Field(min_length=1, max_length=40)]  # DynamoDB refuses empty map keys
Points = Annotated[int, Field(ge=-1_000_000, le=1_000_000, strict=True)]  # strict: `true` is not 1 point
StoreId = Annotated[str, Field(pattern=f"^{STORE_ID_PATTERN}$", examples=["s001"])]  # the sales files' rule
Channel = Annotated[
    str, Field(pattern=f"^({'|'.join(attribution.CHANNELS)})$", json_schema_extra={"enum": list(attribution.CHANNELS)})
]


def _luhn(value: str) -> str:
    if not cards.luhn_valid(value):
        raise ValueError("not a card number: the check digit is wrong (a digit mistyped?)")
    return value


CardNumber = Annotated[str, Field(pattern=cards.CARD_PATTERN, examples=["9000000000000001"]), AfterValidator(_luhn)]
CardToken = Annotated[str, Field(max_length=200, pattern=cards.TOKEN_PATTERN)]


class Body(BaseModel):
    # defer_build: a model's validator is built on its first use, not at import (cold starts build only
    # the models their requests need).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    def client_fields(self) -> dict[str, Any]:
        """What the client actually sent (idempotency fingerprints ignore filled-in defaults)."""
        return self.model_dump(exclude_unset=True)


def _past_birthday(value: date | None) -> date | None:
    if value is not None and not date(1900, 1, 1) <= value <= date.today():
        raise ValueError("birthday must be a past date after 1900")
    return value


class EnrolRequest(Body):
    member_id: ClientId | None = None
    phone: Phone | None = None
    email: Email | None = None
    name: Name | None = None
    birthday: Day | None = None
    referrer_id: ClientId | None = None
    store_id: StoreId | None = None  # who recruited the member: the store, the clerk, the channel
    staff_id: ClientId | None = None
    channel: Channel | None = None

    @model_validator(mode="after")
    def _birthday(self) -> EnrolRequest:
        _past_birthday(self.birthday)
        return self

    def command(self) -> commands.Enrol:
        return commands.Enrol(
            self.member_id,
            self.phone,
            self.email,
            self.name,
            self.birthday,
            self.referrer_id,
            self.store_id,
            self.staff_id,
            self.channel,
        )


class PatchMemberRequest(Body):
    phone: Phone | None = None
    email: Email | None = None
    name: Name | None = None
    birthday: Day | None = None
    preferences: dict[PreferenceName, bool | Annotated[str, Field(max_length=100)]] | None = Field(
        default=None, max_length=20
    )

    @model_validator(mode="after")
    def _birthday(self) -> PatchMemberRequest:
        _past_birthday(self.birthday)
        return self


class PurchaseLine(Body):
    sku: Annotated[str, Field(min_length=1, max_length=64)]
    category: Annotated[str, Field(max_length=commands.CATEGORY_MAX)] | None = None
    amount: Amount


class Cart(Body):
    """What a purchase and its quote share."""

    amount: Amount
    currency: Annotated[str, Field(pattern=commands.CURRENCY_PATTERN)]
    occurred_at: Moment | None = None
    channel: Annotated[str, Field(max_length=commands.CHANNEL_MAX)] | None = None
    lines: list[PurchaseLine] | None = Field(default=None, max_length=500)
    store_id: StoreId | None = None  # the store and the clerk the purchase is credited to
    staff_id: ClientId | None = None
    points_payment: Annotated[int, Field(gt=0, le=100_000_000, strict=True)] | None = None  # points paying

    def purchase(self, member_id: str, order_id: str) -> commands.RecordPurchase:
        lines = tuple(commands.PurchaseLine(line.amount, line.category, line.sku) for line in self.lines or ())
        return commands.RecordPurchase(
            member_id,
            order_id,
            self.amount,
            self.currency,
            self.occurred_at,
            self.channel,
            self.store_id,
            lines,
            self.staff_id,
            self.points_payment,
        )


class PurchaseRequest(Cart):
    order_id: ClientId

    def command(self, member_id: str) -> commands.RecordPurchase:
        return self.purchase(member_id, self.order_id)


class QuoteRequest(Cart):
    """A purchase's body (its order_id optional) and the coupons the customer would use."""

    order_id: ClientId | None = None
    coupon_codes: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(default=None, max_length=20)

    def command(self, member_id: str) -> commands.RecordPurchase:
        return self.purchase(member_id, self.order_id or "quote")


class ReturnRequest(Body):
    return_id: ClientId
    order_id: ClientId
    amount: Amount
    occurred_at: Moment | None = None

    def command(self, member_id: str) -> commands.RecordReturn:
        return commands.RecordReturn(member_id, self.return_id, self.order_id, self.amount, self.occurred_at)


class RedemptionRequest(Body):
    redemption_id: ClientId
    reward_id: ClientId | None = None
    points: Annotated[int, Field(gt=0, le=1_000_000, strict=True)] | None = None
    reason: Reason | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> RedemptionRequest:
        if (self.reward_id is None) == (self.points is None):
            raise ValueError("give either reward_id, or points with a reason")
        if self.points is not None and self.reason is None:
            raise ValueError("a points redemption needs a reason")
        return self

    def command(self, member_id: str) -> commands.Redeem:
        return commands.Redeem(member_id, self.redemption_id, self.reward_id, self.points, self.reason)


class ActivityRequest(Body):
    activity_id: ClientId
    type: Annotated[str, Field(min_length=1, max_length=40)]

    def command(self, member_id: str) -> commands.RecordActivity:
        return commands.RecordActivity(member_id, self.activity_id, self.type)


class AdjustmentRequest(Body):
    adjustment_id: ClientId
    points: Points
    reason: Reason

    @model_validator(mode="after")
    def _non_zero(self) -> AdjustmentRequest:
        if self.points == 0:
            raise ValueError("points must not be 0")
        return self

    def command(self, member_id: str) -> commands.Adjust:
        return commands.Adjust(member_id, self.adjustment_id, self.points, self.reason)


class CouponUseRequest(Body):
    order_id: ClientId

    def command(self, member_id: str, code: str) -> commands.UseCoupon:
        return commands.UseCoupon(member_id, code, self.order_id)


class LedgerQuery(Body):
    limit: Annotated[int, Field(ge=1, le=100)] = 25
    cursor: Annotated[str, Field(max_length=2000)] | None = None


class CouponQuery(Body):
    status: Annotated[str, Field(pattern=r"^(available|used|expired)$")] | None = None


class MemberLookupQuery(Body):
    """Exactly one key; contacts are compared as at enrolment (store/contacts.normalise)."""

    phone: Phone | None = None
    email: Email | None = None
    card: CardNumber | None = None
    card_token: CardToken | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> MemberLookupQuery:
        self.key()
        return self

    def key(self) -> tuple[str, str]:
        """(which key, its value); 400 unless exactly one was given."""
        given = self.model_dump(exclude_none=True)
        if len(given) == 1:
            ((kind, value),) = given.items()
            return kind, value
        names = sorted(given) or ["phone", "email", "card", "card_token"]
        message = "exactly one of phone, email, card, card_token"
        raise InvalidRequest(f"give {message}", [{"field": name, "message": message} for name in names])
