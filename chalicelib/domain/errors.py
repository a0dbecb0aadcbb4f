"""Business errors, each with the stable code clients see. The API maps codes to HTTP once."""

from __future__ import annotations

from typing import Any


class LoyaltyError(Exception):
    code = "error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class InvalidRequest(LoyaltyError):
    code = "invalid_request"


class NotFound(LoyaltyError):
    code = "not_found"


class MemberNotFound(NotFound):
    code = "member_not_found"


class Conflict(LoyaltyError):
    """Same client id with a different body, or a duplicate phone/email."""

    code = "conflict"


class Busy(LoyaltyError):
    """The store stayed contended or throttled after retries; safe to retry later."""

    code = "busy"


class BusinessRule(LoyaltyError):
    """A well-formed request the program's rules refuse (HTTP 422)."""


class InsufficientPointsError(BusinessRule):
    code = "insufficient_points"


class RewardOutOfStock(BusinessRule):
    code = "reward_out_of_stock"


class TierTooLow(BusinessRule):
    code = "tier_too_low"


class ReturnExceedsPurchase(BusinessRule):
    code = "return_exceeds_purchase"


class ActivityLimitReached(BusinessRule):
    code = "activity_limit_reached"


class CouponUsed(BusinessRule):
    code = "coupon_used"


class CouponExpired(BusinessRule):
    code = "coupon_expired"


class MemberErased(BusinessRule):
    code = "member_erased"
