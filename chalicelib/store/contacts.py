"""Phone/email uniqueness items, keyed by a keyed hash so the key never holds the contact."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from chalicelib.config import settings
from chalicelib.store import dynamo, keys


def normalise(kind: str, value: str) -> str:
    if kind == "phone":
        return re.sub(r"[\s\-().]", "", value)
    return value.strip().lower()


def contact_hash(kind: str, value: str) -> str:
    message = f"{kind}:{normalise(kind, value)}".encode()
    return hmac.new(settings().signing_secret.encode(), message, hashlib.sha256).hexdigest()


def claim_op(contact: str, member_id: str) -> dict[str, Any]:
    return dynamo.put({**keys.contact_key(contact), "member_id": member_id}, condition="attribute_not_exists(pk)")


def release_op(contact: str) -> dict[str, Any]:
    return dynamo.delete(keys.contact_key(contact))
