"""Referral use cases beyond the purchase that pays them: the bonus taken back on a full return
(domain/referrals.py decides; the return's transaction carries the referrer's change)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib.domain import referrals as rules_referrals
from chalicelib.domain.model import Member, MemberChange
from chalicelib.program import Program
from chalicelib.store import members


def clawback_on_return(
    program: Program, member: Member, item: dict[str, Any], returned: Decimal, now: datetime
) -> MemberChange | None:
    """The referrer's bonus taken back when this return completes a full return of the purchase
    that paid it (reads the referrer's entries only then)."""
    details = item.get("details") or {}
    if not program.referral_clawback or not member.referrer_id or returned < Decimal(details["amount"]):
        return None
    referrer_id, order_id = member.referrer_id, item["ref"]
    paid = members.get_entry(referrer_id, f"referral#{member.member_id}")
    if paid is None or members.get_entry(referrer_id, f"{rules_referrals.CLAWBACK}#{member.member_id}") is not None:
        return None  # never paid (an erased referrer), or already taken back
    referral = rules_referrals.PaidReferral(
        int(paid["points"]), datetime.fromisoformat(paid["occurred_at"]), (paid.get("details") or {}).get("order_id")
    )
    if not rules_referrals.triggered_by(referral, order_id, int(details.get("order_number", 0)) == 1):
        return None
    referrer = members.load_member(referrer_id)
    return rules_referrals.claw_back(program, referrer, referral, member.member_id, order_id, now)
