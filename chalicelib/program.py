"""The loyalty program as data: a pydantic model of program.json, validated once on first use.

The program file is the only place tiers, multipliers, bonuses and rewards are defined; the
domain functions receive the loaded `Program` and never hard-code a number of it.
"""

from __future__ import annotations

import json
import os
from datetime import tzinfo
from decimal import ROUND_FLOOR, Decimal
from functools import cache
from itertools import pairwise
from math import gcd
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROGRAM_FILE = Path(__file__).with_name("program.json")

Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Multiplier = Annotated[Decimal, Field(gt=0, le=10, max_digits=4, decimal_places=2)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built when the file is read


class Benefits(_Strict):
    """What a till or web shop applies for the tier; the engine states them, it does not charge."""

    discount_percent: Decimal = Field(default=Decimal(0), ge=0, le=100, max_digits=5, decimal_places=2)
    shipping: Literal["none", "standard", "express"] = "none"
    priority_service: bool = False
    early_access: bool = False


class Tier(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    name: str
    threshold: Money
    multiplier: Multiplier
    birthday_coupon: Money
    benefits: Benefits = Field(default_factory=Benefits)
    benefit_labels: list[str] = []  # for display only; `benefits` is what applies

    @model_validator(mode="before")
    @classmethod
    def _labels_only(cls, data: Any) -> Any:
        """A program file written before benefits were structured lists labels under `benefits`."""
        if isinstance(data, dict) and isinstance(data.get("benefits"), list) and "benefit_labels" not in data:
            return {**data, "benefits": {}, "benefit_labels": data["benefits"]}
        return data


class PointsPayment(_Strict):
    """Points as part of a purchase's payment: `points_per_unit` points are worth 1.00 of money."""

    points_per_unit: int = Field(gt=0, le=1_000_000)
    max_share: Decimal = Field(gt=0, le=1, max_digits=4, decimal_places=3)  # of the purchase amount
    min_points: int = Field(default=1, ge=1, le=10_000_000)

    def value(self, points: int, places: int) -> Decimal:
        """The money `points` pay, rounded down to the currency's places (never more than they are worth)."""
        return (Decimal(points) / self.points_per_unit).quantize(Decimal(1).scaleb(-places), rounding=ROUND_FLOOR)

    def step(self, places: int) -> int:
        """The fewest points that pay a whole number of the currency's smallest coins: every payment
        is a multiple of it (100 points per unit, 2 places: 1; 1,000: 10; 3: 3)."""
        return self.points_per_unit // gcd(self.points_per_unit, 10**places)

    def max_points(self, amount: Decimal) -> int:
        """The most points one purchase of `amount` may pay with."""
        return int((amount * self.max_share * self.points_per_unit).to_integral_value(rounding=ROUND_FLOOR))


class Activity(_Strict):
    points: int = Field(gt=0, le=100_000)
    daily_limit: int = Field(gt=0, le=1000)


class CouponRule(_Strict):
    value: Money
    valid_days: int = Field(gt=0, le=3650)


class Reward(_Strict):
    reward_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str
    points_cost: int = Field(gt=0, le=10_000_000)
    min_tier: str
    coupon_value: Money
    coupon_valid_days: int = Field(gt=0, le=3650)
    stock: int | None = Field(default=None, ge=0)


class SegmentRules(_Strict):
    """RFM scoring of members (domain/segments.py). Each measure has four strictly ascending
    boundaries that cut it into scores 1-5, 5 the best:

    - recency_days: days since the last purchase day; <= b1 -> R5, <= b2 -> R4, ... > b4 -> R1
    - frequency_days: distinct purchase days in the last 365 days; >= b4 -> F5, ... < b1 -> F1
    - monetary: rolling 12-month net spend (the tiers' qualifying spend); >= b4 -> M5, ... < b1 -> M1
    """

    recency_days: tuple[int, int, int, int] = (14, 45, 90, 180)
    frequency_days: tuple[int, int, int, int] = (2, 4, 12, 24)
    monetary: tuple[Money, Money, Money, Money] = (Decimal(500), Decimal(1500), Decimal(4000), Decimal(10000))
    top_categories: int = Field(default=3, ge=1, le=10)

    @model_validator(mode="after")
    def _ascending(self) -> SegmentRules:
        for name, low in (("recency_days", 0), ("frequency_days", 1), ("monetary", 0)):
            values = getattr(self, name)
            if values[0] < low or any(b <= a for a, b in pairwise(values)):
                raise ValueError(f"segments.{name}: four boundaries, strictly ascending, from {low} up")
        if self.frequency_days[-1] > 365:
            raise ValueError("segments.frequency_days: at most 365 (purchase days in 365 days)")
        return self


class Program(_Strict):
    name: str
    app_name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    currency_places: int = Field(ge=0, le=4)
    timezone: str
    pending_days: int = Field(ge=0, le=90)
    max_backdate_days: int = Field(ge=0, le=3650)
    expiry_months: int = Field(ge=1, le=120)
    expiring_notice_days: int = Field(ge=0, le=365)
    welcome_points: int = Field(ge=0)
    referral_points: int = Field(ge=0)
    # A full return of the purchase that paid a referral takes the bonus back from the referrer.
    referral_clawback: bool = True
    reactivation_points: int = Field(ge=0)
    dormant_after_days: int = Field(gt=0)
    tier_at_risk_notice_days: int = Field(ge=0, le=365)
    first_purchase_coupon: CouponRule
    welcome_back_coupon: CouponRule
    tiers: list[Tier] = Field(min_length=1)
    categories: dict[str, Multiplier] = {}
    activities: dict[str, Activity] = {}
    rewards: list[Reward] = []
    segments: SegmentRules = Field(default_factory=SegmentRules)  # a factory: no model is built at import
    points_payment: PointsPayment | None = None  # absent: purchases cannot be paid with points

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Program:
        codes = [t.code for t in self.tiers]
        if len(set(codes)) != len(codes):
            raise ValueError("tiers: tier codes must be unique")
        if self.tiers[0].threshold != 0:
            raise ValueError("tiers: the first tier must have threshold 0")
        thresholds = [t.threshold for t in self.tiers]
        if thresholds != sorted(thresholds) or len(set(thresholds)) != len(thresholds):
            raise ValueError("tiers: thresholds must strictly increase")
        reward_ids = [r.reward_id for r in self.rewards]
        if len(set(reward_ids)) != len(reward_ids):
            raise ValueError("rewards: reward ids must be unique")
        for reward in self.rewards:
            if reward.min_tier not in codes:
                raise ValueError(f"rewards: {reward.reward_id} names unknown tier {reward.min_tier!r}")
        return self

    @property
    def tz(self) -> tzinfo:
        # Not cached on the instance: a model_copy(update={"timezone": ...}) must not keep the old zone.
        # ZoneInfo keeps its own cache, so this stays cheap.
        return ZoneInfo(self.timezone)

    def tier(self, code: str) -> Tier:
        for tier in self.tiers:
            if tier.code == code:
                return tier
        raise KeyError(code)

    def tier_rank(self, code: str) -> int:
        return [t.code for t in self.tiers].index(code)

    def reward(self, reward_id: str) -> Reward | None:
        return next((r for r in self.rewards if r.reward_id == reward_id), None)


class ProgramFileError(RuntimeError):
    """The program file is broken; the message names the file and every bad field."""


def parse_program(text: str, source: str = "program.json") -> Program:
    try:
        return Program.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise ProgramFileError(f"{source}: not valid JSON: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
        )
        raise ProgramFileError(f"{source}: invalid program: {problems}") from exc


PROGRAM_FILE_ENV = "PROGRAM_FILE"


@cache
def load_program(path: str | None = None) -> Program:
    """Load and validate the program file once per process (fails fast, naming the bad field).
    The file is the packaged program.json unless the environment's PROGRAM_FILE names another (read
    here, not through config.settings(): the domain reads the program, and settings may reach AWS)."""
    chosen = path or os.environ.get(PROGRAM_FILE_ENV)
    file = Path(chosen) if chosen else PROGRAM_FILE
    return parse_program(file.read_text(encoding="utf-8"), source=str(file.name))
