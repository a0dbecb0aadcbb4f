"""`loyalty cards backfill`: a card number for every member enrolled before cards, once, through the
audit index (never a Scan). Safe to run again: a member with a card, or erased, is left alone.

The same pass re-keys contact claims made under an earlier phone normalisation (a phone typed
without '+' was hashed without it; store/contacts.normalise now adds it), so that every member is
found by phone, and a phone stays unique, however it is typed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from chalicelib import clock
from chalicelib.domain.errors import Busy, Conflict
from chalicelib.domain.model import ERASED
from chalicelib.services import cards
from chalicelib.services.members import CONTACT_KINDS, load
from chalicelib.store import contacts, members, retry


@dataclass
class Backfill:
    members: int = 0
    cards_issued: int = 0
    contacts_rekeyed: int = 0
    # Members whose contact, normalised now, is another member's: left as they were, for ops to
    # settle (ids only: no contact data in the output).
    contact_conflicts: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _ContactTaken(Conflict):
    def __init__(self, kind: str) -> None:
        super().__init__(f"the {kind} is another member's", [{"field": kind, "message": "another member's"}])
        self.kind = kind


def run() -> Backfill:
    result = Backfill()
    for member_id in members.member_ids():
        result.members += 1
        _member(member_id, result)
    return result


def _rekeys(member_id: str, profile: dict[str, Any], skip: set[str]) -> tuple[dict[str, Any], list[members.Extra]]:
    """The contact hashes to move: a contact whose claim was made under another normalisation."""
    sets: dict[str, Any] = {}
    extras: list[members.Extra] = []
    for kind in CONTACT_KINDS:
        value, old = profile.get(kind), profile.get(f"{kind}_hash")
        if not value or kind in skip or contacts.contact_hash(kind, value) == old:
            continue
        sets[f"{kind}_hash"] = contacts.contact_hash(kind, value)
        extras.append(members.Extra(contacts.claim_op(sets[f"{kind}_hash"], member_id), _ContactTaken(kind)))
        if old:
            extras.append(members.Extra(contacts.release_op(old)))
    return sets, extras


def _member(member_id: str, result: Backfill) -> None:
    """One member, in one version-guarded write; a lost race or a taken card number tries again."""
    skip: set[str] = set()
    for _ in retry.attempts(retry.MEMBER_RACE):
        member, profile = load(member_id)
        if member.status == ERASED:
            return
        sets, extras = _rekeys(member_id, profile, skip)
        if member.card_number is None:
            sets["card_number"] = cards.new_card_number()
            extras.append(cards.claim(sets["card_number"], member_id))
        if not sets:
            return
        try:
            members.write_profile(member, sets, extras, clock.now())
        except (members.VersionConflict, cards.CardNumberTaken):
            continue
        except _ContactTaken as taken:
            skip.add(taken.kind)
            result.contact_conflicts.append(member_id)
            continue
        result.cards_issued += int("card_number" in sets)
        result.contacts_rekeyed += sum(1 for name in sets if name.endswith("_hash"))
        return
    raise Busy(f"member {member_id} kept changing during the backfill")
