"""Mapping between domain objects and DynamoDB items (plain Python values; see dynamo.py)."""

from __future__ import annotations

import json
import zlib
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from chalicelib.domain.attribution import Attribution
from chalicelib.domain.lots import Wallet
from chalicelib.domain.model import Coupon, JobMarks, LedgerEntry, Member, PendingLot
from chalicelib.store import keys


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def marks_item(marks: JobMarks) -> dict[str, str] | None:
    """The stored form of the jobs' marks (None when there is nothing to remember)."""
    item = {}
    if marks.expiring_through is not None:
        item["expiring_through"] = marks.expiring_through
    if marks.at_risk_for is not None:
        item["at_risk_for"] = marks.at_risk_for.isoformat()
    return item or None


def marks_from_item(item: dict[str, Any] | None) -> JobMarks:
    item = item or {}
    return JobMarks(expiring_through=item.get("expiring_through"), at_risk_for=_date(item.get("at_risk_for")))


def profile_state(member: Member) -> dict[str, Any]:
    """The profile attributes a member write sets (personal data is written only by enrol/patch)."""
    return {
        "member_id": member.member_id,
        keys.MEMBERS_SHARD: keys.member_shard(member.member_id),
        "status": member.status,
        "tier": member.tier,
        "tier_since": member.tier_since.isoformat() if member.tier_since else None,
        "tier_floor": member.tier_floor,
        "review_at": member.review_at.isoformat() if member.review_at else None,
        "available": member.available,
        "pending": member.pending_points,
        "debt": member.wallet.debt,
        "lifetime_earned": member.lifetime_earned,
        "purchase_count": member.purchase_count,
        "spend_by_month": {month: amount for month, amount in member.spend_by_month.items()},
        "last_activity_at": member.last_activity_at.isoformat() if member.last_activity_at else None,
        "purchase_days": [day.isoformat() for day in member.purchase_days] or None,
        "category_spend": dict(member.category_spend) or None,
        "referrer_id": member.referrer_id,
        "birthday": member.birthday.isoformat() if member.birthday else None,
        "enrolled_at": member.enrolled_at.isoformat(),
        keys.JOB_MARKS: marks_item(member.marks),
        "card_number": member.card_number,
        # Who recruited the member: read by the KPI roll-up from the profile's stream images.
        "enrol_store_id": member.enrolment.store_id,
        "enrol_staff_id": member.enrolment.staff_id,
        "enrol_channel": member.enrolment.channel,
        "first_purchase_at": member.first_purchase_at.isoformat() if member.first_purchase_at else None,
        "campaign_uses": dict(member.campaign_uses) or None,
    }


def member_from_items(items: list[dict[str, Any]]) -> Member | None:
    """Rebuild a member from the items of one state Query (profile, lots, pending lots)."""
    profile = next((item for item in items if item[keys.SK] == keys.STATE_PREFIX), None)
    if profile is None:
        return None
    lots = {
        item[keys.SK][len(keys.LOT_PREFIX) :]: int(item["remaining"])
        for item in items
        if item[keys.SK].startswith(keys.LOT_PREFIX)
    }
    pending = [
        PendingLot(item["entry_id"], int(item["points"]), date.fromisoformat(item["release_on"]), item["month"])
        for item in items
        if item[keys.SK].startswith(keys.PENDING_PREFIX)
    ]
    return Member(
        member_id=profile["member_id"],
        enrolled_at=datetime.fromisoformat(profile["enrolled_at"]),
        status=profile["status"],
        version=int(profile["version"]),
        tier=profile["tier"],
        tier_since=_date(profile.get("tier_since")),
        tier_floor=profile.get("tier_floor") or profile["tier"],
        review_at=_date(profile.get("review_at")),
        wallet=Wallet(lots, int(profile.get("debt", 0))),
        pending=pending,
        lifetime_earned=int(profile.get("lifetime_earned", 0)),
        purchase_count=int(profile.get("purchase_count", 0)),
        spend_by_month={m: Decimal(v) for m, v in (profile.get("spend_by_month") or {}).items()},
        last_activity_at=_moment(profile.get("last_activity_at")),
        purchase_days=[date.fromisoformat(day) for day in profile.get("purchase_days") or []],
        category_spend={code: Decimal(v) for code, v in (profile.get("category_spend") or {}).items()},
        referrer_id=profile.get("referrer_id"),
        birthday=_date(profile.get("birthday")),
        marks=marks_from_item(profile.get(keys.JOB_MARKS)),
        card_number=profile.get("card_number"),
        enrolment=Attribution(*(profile.get(f"enrol_{name}") for name in ("store_id", "staff_id", "channel"))),
        first_purchase_at=_moment(profile.get("first_purchase_at")),
        campaign_uses={cid: int(n) for cid, n in (profile.get("campaign_uses") or {}).items()},
    )


def jsonable(value: Any) -> Any:
    """Plain JSON types for API answers and stored responses (money stays an exact decimal string)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def json_text(value: Any) -> str:
    """Compact JSON of plain and domain values, as stored in an attribute (an item's bytes are its cost)."""
    return json.dumps(jsonable(value), separators=(",", ":"), ensure_ascii=False)


def entry_item(
    member_id: str,
    entry: LedgerEntry,
    recorded_at: datetime,
    balances: dict[str, int],
    fingerprint: str | None,
    response: dict[str, Any] | None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        **keys.entry_key(member_id, entry.entry_id),
        keys.LEDGER_SORT: f"{recorded_at.isoformat()}#{entry.entry_id}",
        "member_id": member_id,
        "entry_id": entry.entry_id,
        "kind": entry.kind,
        "ref": entry.ref,
        "points": entry.points,
        "occurred_at": entry.occurred_at.isoformat(),
        "recorded_at": recorded_at.isoformat(),
        # Money as exact strings: DynamoDB would normalise the number 100.00 to 100.
        "details": {k: str(v) if isinstance(v, Decimal) else v for k, v in entry.details.items() if v is not None},
        "balances_after": balances,
    }
    if fingerprint is not None:
        item["fingerprint"] = fingerprint
    if response is not None:
        item["response"] = pack_response(response)
    return item


# The stored answer to a client's id is most of an entry's bytes, and an entry over 1 KB costs
# twice the write units (4 instead of 2 in a transaction). Deflate with a preset dictionary of the
# answers' own keys and fragments packs a purchase's 575-byte answer into about 100 bytes (291 with
# plain zlib). NEVER edit RESPONSE_DICTIONARY: stored answers decompress with it. A better one needs
# a new format byte, with this one kept for the entries written before.
RESPONSE_FORMAT = b"\x01"
RESPONSE_DICTIONARY = (
    b'"coupon":{"code":"","value":"","expires_at":"","reward_id":"'
    b'"campaigns":[{"campaign_id":"","points":}],"campaigns_skipped":[{"campaign_id":"","reason":"budget_exhausted"}],'
    b'"points_payment":{"points":,"value":"","lots":{"'
    b'"channel":"","store_id":"","staff_id":"",'
    b',"related_entries":[{"entry_id":"reactivation#","kind":"points_payment","ref":"'
    b'"lines":[{"amount":"","category":"fresh"},{"amount":"","category":"household"}]},'
    b'"pending":false,"lapsed_points":0,"tier":"member","order_number":1,'
    b'"details":{"amount":"","lot_month":"2027-","spend_month":"2026-",'
    b'+00:00","recorded_at":"2026-12-06T'
    b'{"entry":{"entry_id":"purchase#","kind":"purchase","ref":"","points":,"occurred_at":"2026-12-06T'
    b'"balances_after":{"available":,"pending":0,"lifetime_earned":}},"related_entries":[],'
    b'"balances":{"available":,"pending":0,"lifetime_earned":}}'
)


def pack_response(response: dict[str, Any]) -> bytes:
    text = json.dumps(response, separators=(",", ":"), ensure_ascii=False).encode()
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, RESPONSE_DICTIONARY)
    return RESPONSE_FORMAT + packer.compress(text) + packer.flush()


def response_from_item(item: dict[str, Any]) -> dict[str, Any]:
    """The answer stored with a client's id: packed bytes, or the JSON text of older entries."""
    stored = item["response"]
    if not isinstance(stored, str):
        packed = bytes(getattr(stored, "value", stored))  # boto3 reads binary attributes as Binary
        if packed[:1] != RESPONSE_FORMAT:
            raise ValueError(f"stored answer of unknown format {packed[:1]!r}")
        stored = zlib.decompressobj(-15, RESPONSE_DICTIONARY).decompress(packed[1:]).decode()
    answer: dict[str, Any] = json.loads(stored)
    return answer


def entry_view(item: dict[str, Any]) -> dict[str, Any]:
    """A ledger entry as the API shows it."""
    return jsonable(
        {
            "entry_id": item["entry_id"],
            "kind": item["kind"],
            "ref": item["ref"],
            "points": int(item["points"]),
            "occurred_at": item["occurred_at"],
            "recorded_at": item["recorded_at"],
            "details": {k: int(v) if isinstance(v, Decimal) else v for k, v in (item.get("details") or {}).items()},
            "balances_after": {k: int(v) for k, v in (item.get("balances_after") or {}).items()},
        }
    )


def coupon_item(member_id: str, coupon: Coupon) -> dict[str, Any]:
    return {
        **keys.coupon_key(member_id, coupon.code),
        "code": coupon.code,
        "kind": coupon.kind,
        "value": coupon.value,
        "issued_at": coupon.issued_at.isoformat(),
        "expires_at": coupon.expires_at.isoformat(),
        "reward_id": coupon.reward_id,
        "coupon_status": "available",
        **({"campaign_id": coupon.campaign_id} if coupon.campaign_id else {}),
        keys.COUPON_COUNTED: True,
    }


def coupon_view(item: dict[str, Any], now: datetime) -> dict[str, Any]:
    status = item["coupon_status"]
    if status == "available" and datetime.fromisoformat(item["expires_at"]) <= now:
        status = "expired"
    return jsonable(
        {
            "code": item["code"],
            "kind": item["kind"],
            "value": Decimal(item["value"]),
            "status": status,
            "issued_at": item["issued_at"],
            "expires_at": item["expires_at"],
            "reward_id": item.get("reward_id"),
            "used_at": item.get("used_at"),
            "used_order_id": item.get("used_order_id"),
        }
    )
