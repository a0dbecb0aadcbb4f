"""Membership cards: numbers for members (at enrolment, on an older member's next write, or by the
backfill) and the card tokens an app shows as a QR code for 60 s.

A card number is claimed (`CARD#<number>`) in the same transaction that gives it to the member, so
two members never share one; a taken number fails that transaction, and the write is tried again
with another number. Card numbers stay out of logs, like contacts."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib import clock
from chalicelib.config import settings
from chalicelib.domain import cards
from chalicelib.domain.errors import Conflict, MemberNotFound
from chalicelib.domain.model import ERASED, MemberChange
from chalicelib.store import cards as card_claims
from chalicelib.store import members

CARD_TRIES = 5  # a random 14-digit number is taken with odds of (members / 10^14): more is never needed


class CardNumberTaken(Conflict):
    """The new card number was already claimed: try again with another (never shown to a client)."""


def new_card_number() -> str:
    return cards.card_number("".join(secrets.choice("0123456789") for _ in range(cards.RANDOM_DIGITS)))


def claim(card_number: str, member_id: str) -> members.Extra:
    """The claim item of a card number, for the transaction that gives it to the member."""
    return members.Extra(card_claims.claim_op(card_number, member_id), CardNumberTaken("card number taken"))


def release(card_number: str) -> members.Extra:
    return members.Extra(card_claims.release_op(card_number))


def missing(changes: Sequence[MemberChange]) -> list[members.Extra]:
    """Members written before they had a card get one in the same write: the number goes on the
    change's new state, its claim into the transaction (CardNumberTaken: retry the write)."""
    extras = []
    for change in changes:
        member = change.after
        if change.before is not None and member.card_number is None and member.status != ERASED:
            member.card_number = new_card_number()
            extras.append(claim(member.card_number, member.member_id))
    return extras


def holder(card_number: str) -> str | None:
    return card_claims.holder(card_number)


def _secret() -> bytes:
    return settings().signing_secret.encode()


def issue_token(member_id: str) -> dict[str, Any]:
    """POST /members/{id}/card-token: a token valid 60 s, for the app's QR code (one Query)."""
    member = members.load_member(member_id)
    if member is None or member.status == ERASED:
        raise MemberNotFound(f"member {member_id} not found")
    expires = cards.token_expiry(clock.now().timestamp())
    return {
        "member_id": member_id,
        "card_token": cards.card_token(_secret(), member_id, expires),
        "expires_at": datetime.fromtimestamp(expires, UTC).isoformat(),
    }


def token_member(token: str) -> str:
    """The member of a valid token (no read); InvalidRequest when altered, foreign or expired."""
    return cards.token_member(_secret(), token, clock.now().timestamp())
