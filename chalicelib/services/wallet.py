"""Coupons in the member's wallet, the ledger history, and the rewards catalog."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib import clock
from chalicelib.domain.commands import UseCoupon
from chalicelib.domain.errors import CouponExpired, CouponUsed, MemberNotFound, NotFound
from chalicelib.program import load_program
from chalicelib.services import cursors
from chalicelib.store import codec, dynamo, keys, wallet


def _require_member(member_id: str) -> None:
    if dynamo.get(keys.profile_key(member_id)) is None:
        raise MemberNotFound(f"member {member_id} not found")


def list_coupons(member_id: str, status: str | None) -> dict[str, Any]:
    now = clock.now()
    items = dynamo.query_all(keys.member_pk(member_id), keys.COUPON_PREFIX)
    if not items:
        _require_member(member_id)
    coupons = [codec.coupon_view(item, now) for item in items]
    if status:
        coupons = [c for c in coupons if c["status"] == status]
    return {"member_id": member_id, "coupons": sorted(coupons, key=lambda c: c["expires_at"])}


def use_coupon(command: UseCoupon) -> dict[str, Any]:
    """A coupon is used once; using it again for the same order answers the same (idempotent)."""
    member_id, code, order_id = command.member_id, command.code, command.order_id
    now = clock.now()
    key = keys.coupon_key(member_id, code)
    try:
        wallet.use_coupon(member_id, code, order_id, now)
    except wallet.ConditionFailed:
        return _explain_refusal(member_id, key, order_id, now)
    item = dynamo.get(key)
    assert item is not None
    if item.get("campaign_id"):  # a campaign's coupon: its results count the use (this first use only)
        from chalicelib.services import campaigns

        campaigns.coupon_used(item["campaign_id"], member_id)
    return {"coupon": codec.coupon_view(item, now)}


def _explain_refusal(member_id: str, key: dict[str, str], order_id: str, now: datetime) -> dict[str, Any]:
    item = dynamo.get(key)
    if item is None:
        _require_member(member_id)
        raise NotFound("no such coupon in this wallet", [{"field": "code", "message": "unknown coupon"}])
    if item["coupon_status"] == "used":
        if item.get("used_order_id") == order_id:
            return {"coupon": codec.coupon_view(item, now)}
        raise CouponUsed("this coupon was already used")
    raise CouponExpired("this coupon has expired")


def encode_cursor(member_id: str, last_key: dict[str, Any]) -> str:
    """Opaque and signed: it names the member, so a cursor of another member is refused too."""
    return cursors.encode({"m": member_id}, last_key)


def decode_cursor(member_id: str, cursor: str) -> dict[str, Any]:
    return cursors.decode({"m": member_id}, cursor)


def ledger(member_id: str, limit: int, cursor: str | None) -> dict[str, Any]:
    start = decode_cursor(member_id, cursor) if cursor else None
    items, last = dynamo.query(
        keys.member_pk(member_id), "", consistent=True, limit=limit, index=keys.LEDGER_INDEX, forward=False, start=start
    )
    if not items and start is None:
        _require_member(member_id)
    return {
        "member_id": member_id,
        "entries": [codec.entry_view(item) for item in items],
        "next_cursor": encode_cursor(member_id, last) if last else None,
    }


def rewards() -> dict[str, Any]:
    program = load_program()
    stocked = [r for r in program.rewards if r.stock is not None]
    left = wallet.stock_left([r.reward_id for r in stocked])
    return codec.jsonable(
        {
            "rewards": [
                {
                    **r.model_dump(exclude={"stock"}),
                    "stock_left": (left.get(r.reward_id, r.stock) if r.stock is not None else None),
                }
                for r in program.rewards
            ]
        }
    )
