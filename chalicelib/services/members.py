"""Enrol, view, update and erase members."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from chalicelib import clock
from chalicelib.domain import attribution, rules, segments, tiers
from chalicelib.domain.calendar import expiry_month, local_date
from chalicelib.domain.campaigns import BudgetExhausted, PurchaseFacts
from chalicelib.domain.commands import Enrol
from chalicelib.domain.errors import Busy, Conflict, InvalidRequest, MemberNotFound
from chalicelib.domain.model import ERASED, Member, MemberChange
from chalicelib.program import Program, load_program
from chalicelib.services import campaigns, cards, jobs
from chalicelib.services.writes import Plan, _replayed, answer_for, fingerprint, new_coupon_code
from chalicelib.store import codec, contacts, dynamo, keys, members
from chalicelib.store.due import audience_attributes, due_attributes
from chalicelib.store.dynamo import StoreError

CENT = Decimal("0.01")
CONTACT_KINDS = ("phone", "email")
PERSONAL_FIELDS = ("phone", "email", "name", "preferences")


def _contact_conflict(kind: str) -> Conflict:
    return Conflict(f"a member with this {kind} is already enrolled", [{"field": kind, "message": "already enrolled"}])


def enrol(command: Enrol) -> dict[str, Any]:
    attribution.check_enrolment(command.attribution(), command.referrer_id)
    program = load_program()
    now = clock.now()
    member_id = command.member_id or f"m{uuid.uuid4().hex[:20]}"
    referrer_id = command.referrer_id
    if referrer_id is not None and (referrer_id == member_id or members.load_member(referrer_id) is None):
        raise InvalidRequest("unknown referrer", [{"field": "referrer_id", "message": "no such member"}])
    digest = fingerprint(command.identity())
    exhausted: set[str] = set()
    for _ in range(cards.CARD_TRIES):
        change = rules.enrol(
            program, member_id, now, new_coupon_code(), command.birthday, referrer_id,
            cards.new_card_number(), command.attribution(),
        )  # fmt: skip
        offers = _enrolment_campaigns(program, command, change, now, frozenset(exhausted))
        try:
            answer = _commit_enrolment(command, change, digest, now, offers)
        except (cards.CardNumberTaken, _BudgetRaced):
            continue  # another member holds that number, or a campaign budget moved: decide again
        except BudgetExhausted as refused:
            exhausted.add(refused.campaign_id)  # its budget's fallback path next time
            continue
        except members.Replay as replay:
            return _replayed(replay.item or members.get_entry(member_id, f"enrol#{member_id}") or {}, digest)
        jobs.grant_missed_birthday(member_id, command.birthday)  # enrolled after today's birthday run
        return answer
    raise Busy("could not find a free card number, retry shortly")


class _BudgetRaced(Exception):
    """An enrolment campaign's fallback budget charge lost a race with other writes."""


def _enrolment_campaigns(
    program: Program, command: Enrol, change: MemberChange, now: datetime, exhausted: frozenset[str]
) -> list[members.Extra]:
    """Enrolment campaigns: their bonus points (this month's lot) and coupons, in the same transaction."""
    facts = PurchaseFacts(Decimal(0), now, channel=command.channel, store_id=command.store_id, trigger="enrolment")
    lot = expiry_month(local_date(now, program.tz), program.expiry_months)
    return campaigns.apply(program, change.after, facts, change, exhausted, lot)


def _commit_enrolment(
    command: Enrol, change: MemberChange, digest: str, now: datetime, offers: list[members.Extra]
) -> dict[str, Any]:
    """The enrolment's transaction: member, ledger entry, coupons, the contact and card claims, and
    the enrolment campaigns' counters."""
    member_id = change.after.member_id
    new_profile: dict[str, Any] = {"phone": command.phone, "email": command.email, "name": command.name}
    new_profile["preferences"] = None
    extras = []
    for kind, contact in command.contacts().items():
        digest_of_contact = contacts.contact_hash(kind, contact)
        new_profile[f"{kind}_hash"] = digest_of_contact
        extras.append(members.Extra(contacts.claim_op(digest_of_contact, member_id), _contact_conflict(kind)))
    assert change.after.card_number is not None
    extras.append(cards.claim(change.after.card_number, member_id))
    extras.extend(offers)
    coupons = [codec.coupon_view(codec.coupon_item(member_id, c), now) for c in change.coupons]
    plan = Plan([change], extras, {"member_id": member_id, "coupons": coupons})
    answer = answer_for(plan, now)
    try:
        members.commit(members.Commit(plan.changes, digest, answer, extras, new_profile), now)
    except members.VersionConflict as exc:
        if offers and members.load_member(member_id) is None:
            raise _BudgetRaced() from exc  # not the member: a budget charge of the fallback path
        raise Conflict(f"member {member_id} already exists") from exc
    except StoreError as exc:
        raise Busy("the points store is busy, retry shortly") from exc
    return answer


def load(member_id: str) -> tuple[Member, dict[str, Any]]:
    """The member and its profile item (personal data, claims' hashes), in one Query."""
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
            "benefits": {**tier.benefits.model_dump(), "birthday_coupon": tier.birthday_coupon},
            "benefit_labels": tier.benefit_labels,
            "card_number": member.card_number,
            "enrolment": member.enrolment.as_dict(),
            "profile": {name: profile.get(name) for name in (*PERSONAL_FIELDS, "birthday")},
            **extra,
        }
    )


def view(member_id: str, include_segment: bool = False) -> dict[str, Any]:
    program = load_program()
    member, profile = load(member_id)
    return member_view(program, member, profile, clock.now().astimezone(program.tz).date(), include_segment)


def find(kind: str, value: str, include_segment: bool = False) -> dict[str, Any]:
    """GET /members?phone=|email=|card=|card_token=: the view of the one member the key names. One
    GetItem of the contact or card claim (a card token names its member itself), then the member's
    Query; an erased member is not found (its claims were released). The value is never logged."""
    label = kind.replace("_", " ")
    not_found = MemberNotFound(f"no member with this {label}", [{"field": kind, "message": "no member"}])
    if kind == "card_token":
        member_id: str | None = cards.token_member(value)
    elif kind == "card":
        member_id = cards.holder(value)
    else:
        member_id = contacts.holder(contacts.contact_hash(kind, value))
    if member_id is None:
        raise not_found
    try:
        member, profile = load(member_id)
    except MemberNotFound as exc:
        raise not_found from exc
    # The claim and the profile are written in one transaction: this guards old data, not a race.
    holds = member.card_number == value if kind == "card" else True
    if kind in CONTACT_KINDS:
        holds = profile.get(f"{kind}_hash") == contacts.contact_hash(kind, value)
    if member.status == ERASED or not holds:
        raise not_found
    program = load_program()
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


def _write_with_card(member: Member, sets: dict[str, Any], extras: list[members.Extra]) -> None:
    """A profile write; a member enrolled before cards gets one with it (another number if taken)."""
    for _ in range(cards.CARD_TRIES):
        card: list[members.Extra] = []
        if member.card_number is None:
            sets["card_number"] = cards.new_card_number()
            card = [cards.claim(sets["card_number"], member.member_id)]
        try:
            _write_profile(member, sets, [*extras, *card])
            return
        except cards.CardNumberTaken:
            continue
    raise Busy("could not find a free card number, retry shortly")


def update(member_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """PATCH: contact, name, preferences; the birthday can be set once (it drives a yearly gift)."""
    member, profile = load(member_id)
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
        _write_with_card(member, sets, extras)
    if birthday is not None and member.birthday is None:
        jobs.grant_missed_birthday(member_id, birthday)  # given after today's birthday run
    return view(member_id)


def erase(member_id: str) -> dict[str, Any]:
    """Erase personal data; the anonymised ledger and balances stay for the books."""
    member, profile = load(member_id)
    if member.status == ERASED:
        return {"member_id": member_id, "status": ERASED}
    extras = [
        members.Extra(contacts.release_op(profile[f"{kind}_hash"]))
        for kind in CONTACT_KINDS
        if profile.get(f"{kind}_hash")
    ]
    if member.card_number:  # the old card finds nobody, like the old phone
        extras.append(cards.release(member.card_number))
    erased_fields = (*PERSONAL_FIELDS, "birthday", "phone_hash", "email_hash", "card_number")
    sets: dict[str, Any] = {name: None for name in erased_fields}
    sets["status"] = ERASED
    sets["erased_at"] = clock.now().isoformat()
    erased = member.clone()
    erased.status, erased.birthday = ERASED, None
    sets.update(due_attributes(erased))  # all None: the erased member leaves every due index at once
    sets.update(audience_attributes(erased, today_in_program()))  # and every audience
    _write_profile(member, sets, extras)
    return {"member_id": member_id, "status": ERASED}


def today_in_program(now: datetime | None = None) -> date:
    program = load_program()
    return (now or clock.now()).astimezone(program.tz).date()
