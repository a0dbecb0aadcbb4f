"""The referral bonus taken back when the purchase that paid it is fully returned (the program's
`referral_clawback`): a ledger entry of the referrer, once per referred member."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.calendar import expiry_month, local_date
from chalicelib.domain.model import ERASED, LedgerEntry, Member, MemberChange
from chalicelib.program import Program

CLAWBACK = "referral_clawback"


@dataclass(frozen=True)
class PaidReferral:
    """The referrer's `referral#<referred member>` entry."""

    points: int
    paid_at: datetime
    order_id: str | None  # the purchase that paid it; None for referrals paid before it was recorded


def triggered_by(referral: PaidReferral, order_id: str, first_order: bool) -> bool:
    """The returned order is the one that paid the referral (older referrals: the member's first order)."""
    return referral.order_id == order_id if referral.order_id is not None else first_order


def claw_back(
    program: Program,
    referrer: Member | None,
    referral: PaidReferral | None,
    referred_member_id: str,
    order_id: str,
    now: datetime,
) -> MemberChange | None:
    """Take the bonus back from the referrer (its own lot first, then oldest, then a debt, as a
    return does); None when there is nothing to take or the program keeps referral bonuses."""
    if not program.referral_clawback or referral is None or referral.points <= 0:
        return None
    if referrer is None or referrer.status == ERASED:
        return None
    change = MemberChange(before=referrer, after=referrer.clone())
    paid_month = expiry_month(local_date(referral.paid_at, program.tz), program.expiry_months)
    change.after.wallet.claw_back(referral.points, paid_month)
    change.after.lifetime_earned -= referral.points
    details = {"referred_member_id": referred_member_id, "order_id": order_id}
    change.entries.append(LedgerEntry(CLAWBACK, referred_member_id, -referral.points, now, details))
    change.emit("referral.clawed_back", points=referral.points, **details)
    return change
