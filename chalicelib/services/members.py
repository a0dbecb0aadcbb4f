"""Enrol, view, update and erase members."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from chalicelib import clock, events
from chalicelib.domain import rules, segments, tiers
from chalicelib.domain.commands import Enrol
from chalicelib.domain.errors import Busy, Conflict, InvalidRequest, MemberNotFound
from chalicelib.domain.model import ERASED, Member
from chalicelib.program import Program, load_program
from chalicelib.services.writes import Plan, _replayed, answer_for, fingerprint, new_coupon_code
from chalicelib.store import codec, contacts, dynamo, keys, members
from chalicelib.store.due import due_attributes
from chalicelib.store.dynamo import StoreError

CENT = Decimal("0.01")
CONTACT_KINDS = ("phone", "email")
PERSONAL_FIELDS = ("phone", "email", "name", "preferences")


def _contact_conflict(kind: str) -> Conflict:
    return Conflict(f"a member with this {kind} is already enrolled", [{"field": kind, "message": "already enrolled"}])


def enrol(command: Enrol) -> dict[str, Any]:
    program = load_program()
    now = clock.now()
    member_id = command.member_id or f"m{uuid.uuid4().hex[:20]}"
    referrer_id = command.referrer_id
    if referrer_id is not None and (referrer_id == member_id or members.load_member(referrer_id) is None):
        raise InvalidRequest("unknown referrer", [{"field": "referrer_id", "message": "no such member"}])
    change = rules.enrol(program, member_id, now, new_coupon_code(), command.birthday, referrer_id)
    new_profile: dict[str, Any] = {
        "phone": command.phone,
        "email": command.email,
        "name": command.name,
        "preferences": None,
    }
    extras = []
    for kind, contact in command.contacts().items():
        digest = contacts.contact_hash(kind, contact)
        new_profile[f"{kind}_hash"] = digest
        extras.append(members.Extra(contacts.claim_op(digest, member_id), _contact_conflict(kind)))
    plan = Plan(
        [change],
        extras,
        {
            "member_id": member_id,
            "coupons": [codec.coupon_view(codec.coupon_item(member_id, c), now) for c in change.coupons],
        },
    )
    answer = answer_for(plan, now)
    digest = fingerprint(command.identity())
    try:
        members.commit(members.Commit(plan.changes, digest, answer, extras, new_profile), now)
    except members.Replay as replay:
        return _replayed(replay.item or members.get_entry(member_id, f"enrol#{member_id}") or {}, digest)
    except members.VersionConflict as exc:
        raise Conflict(f"member {member_id} already exists") from exc
    except StoreError as exc:
        raise Busy("the points store is busy, retry shortly") from exc
    events.publish(change.events)
    return answer


def _load(member_id: str) -> tuple[Member, dict[str, Any]]:
    items = dynamo.query_all(keys.member_pk(member_id), keys.STATE_PREFIX)
    member = codec.member_from_items(items)
    if member is None:
        raise MemberNotFound(f"member {member_id} not found")
    profile = next(item for item in items if item[keys.SK] == keys.STATE_PREFIX)
    return member, profile


def member_view(
    program: Program, member: Member, profile: dict[str, Any], today: date, include_segment: bool = False
) -> dict[str, Any]:
    """The member view; `include_segment` (ops callers only) adds the marketing segment: the RFM
    scores and top categories as of `today`, computed from the state read, never stored stale."""
    tier = program.tier(member.tier)
    progress = tiers.progress(program, member.tier, tiers.rolling_spend(member.spend_by_month, today))
    extra: dict[str, Any] = {}
    if include_segment:
        found = segments.segment(program, member, today)
        extra["segment"] = {**found.as_dict(), "spend_12m": found.spend_12m.quantize(CENT), "as_of": today}
    return codec.jsonable(
        {
            "member_id": member.member_id,
            "status": member.status,
            "enrolled_at": member.enrolled_at,
            "tier": {"code": tier.code, "name": tier.name, "since": member.tier_since, "review_at": member.review_at},
            "points": {
                **member.balances(),
                "expiring": rules.expiring(program, member),
            },
            "progress": {
                "qualifying_spend": progress.qualifying_spend.quantize(CENT),
                "next_tier": progress.next_tier,
                "spend_to_next_tier": progress.spend_to_next_tier.quantize(CENT),
                "percent": progress.percent,
                "spend_to_keep_tier": progress.spend_to_keep_tier.quantize(CENT),
            },
            "benefits": tier.benefits,
            "profile": {name: profile.get(name) for name in (*PERSONAL_FIELDS, "birthday")},
            **extra,
        }
    )


def view(member_id: str, include_segment: bool = False) -> dict[str, Any]:
    program = load_program()
    member, profile = _load(member_id)
    return member_view(program, member, profile, clock.now().astimezone(program.tz).date(), include_segment)


def _contact_swaps(
    member_id: str,
    profile: dict[str, Any],
    body: dict[str, Any],
) -> tuple[list[members.Extra], dict[str, Any]]:
    extras: list[members.Extra] = []
    sets: dict[str, Any] = {}
    for kind in CONTACT_KINDS:
        if kind not in body:
            continue
        old_hash = profile.get(f"{kind}_hash")
        new_hash = contacts.contact_hash(kind, body[kind]) if body[kind] else None
        if new_hash == old_hash:
            continue
        if new_hash:
            extras.append(members.Extra(contacts.claim_op(new_hash, member_id), _contact_conflict(kind)))
        if old_hash:
            extras.append(members.Extra(contacts.release_op(old_hash)))
        sets[f"{kind}_hash"] = new_hash
    return extras, sets


def _write_profile(member: Member, sets: dict[str, Any], extras: list[members.Extra]) -> None:
    try:
        members.write_profile(member, sets, extras, clock.now())
    except members.VersionConflict as exc:
        raise Conflict("the member changed meanwhile, retry") from exc
    except StoreError as exc:
        raise Busy("the points store is busy, retry shortly") from exc


def update(member_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """PATCH: contact, name, preferences; the birthday can be set once (it drives a yearly gift)."""
    member, profile = _load(member_id)
    if member.status == ERASED:
        raise MemberNotFound(f"member {member_id} not found")
    birthday = body.get("birthday")
    if birthday is not None and member.birthday is not None and birthday != member.birthday:
        raise Conflict(
            "the birthday is already set and cannot be changed", [{"field": "birthday", "message": "set once"}]
        )
    extras, sets = _contact_swaps(member_id, profile, body)
    for name in PERSONAL_FIELDS:
        if name in body:
            sets[name] = body[name]
    if birthday is not None and member.birthday is None:
        member_after = member.clone()
        member_after.birthday = birthday
        sets["birthday"] = birthday.isoformat()
        sets.update(due_attributes(member_after))
    if sets:
        _write_profile(member, sets, extras)
    return view(member_id)


def erase(member_id: str) -> dict[str, Any]:
    """Erase personal data; the anonymised ledger and balances stay for the books."""
    member, profile = _load(member_id)
    if member.status == ERASED:
        return {"member_id": member_id, "status": ERASED}
    extras = [
        members.Extra(contacts.release_op(profile[f"{kind}_hash"]))
        for kind in CONTACT_KINDS
        if profile.get(f"{kind}_hash")
    ]
    sets: dict[str, Any] = {name: None for name in (*PERSONAL_FIELDS, "birthday", "phone_hash", "email_hash")}
    sets["status"] = ERASED
    sets["erased_at"] = clock.now().isoformat()
    erased = member.clone()
    erased.status, erased.birthday = ERASED, None
    sets.update(due_attributes(erased))  # all None: the erased member leaves every due index at once
    _write_profile(member, sets, extras)
    return {"member_id": member_id, "status": ERASED}


def today_in_program(now: datetime | None = None) -> date:
    program = load_program()
    return (now or clock.now()).astimezone(program.tz).date()
