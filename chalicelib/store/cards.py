"""Card number claims (`CARD#<number>`): one member per card number, and the till's lookup of a card."""

from __future__ import annotations

from typing import Any

from chalicelib.store import dynamo, keys


def claim_op(card_number: str, member_id: str) -> dict[str, Any]:
    """In the transaction that gives the member the card: fails when the number is taken."""
    return dynamo.put({**keys.card_key(card_number), "member_id": member_id}, condition="attribute_not_exists(pk)")


def release_op(card_number: str) -> dict[str, Any]:
    return dynamo.delete(keys.card_key(card_number))


def holder(card_number: str) -> str | None:
    """The member who holds this card number (one GetItem), or None."""
    item = dynamo.get(keys.card_key(card_number))
    return str(item["member_id"]) if item else None
