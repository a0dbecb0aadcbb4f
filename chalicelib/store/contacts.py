"""Phone/email uniqueness items, keyed by a keyed hash so the key never holds the contact."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from chalicelib.config import settings
from chalicelib.store import dynamo, keys


def normalise(kind: str, value: str) -> str:
    """The one form a contact is compared in, at enrolment, PATCH and lookup. A phone is its digits
    with one leading '+', whether or not it was typed (and a '+' in a URL query often arrives as a
    space): `+86 138-0000-0001` and `8613800000001` are one phone. The '+' is kept rather than
    dropped so that contacts written with it keep the hash they were claimed under."""
    if kind == "phone":
        return "+" + re.sub(r"[\s\-().+]", "", value)
    return value.strip().lower()


def contact_hash(kind: str, value: str) -> str:
    message = f"{kind}:{normalise(kind, value)}".encode()
    return hmac.new(settings().signing_secret.encode(), message, hashlib.sha256).hexdigest()


def claim_op(contact: str, member_id: str) -> dict[str, Any]:
    return dynamo.put({**keys.contact_key(contact), "member_id": member_id}, condition="attribute_not_exists(pk)")


def release_op(contact: str) -> dict[str, Any]:
    return dynamo.delete(keys.contact_key(contact))


def holder(contact: str) -> str | None:
    """The member who holds this contact hash (one GetItem), or None."""
    item = dynamo.get(keys.contact_key(contact))
    return str(item["member_id"]) if item else None
