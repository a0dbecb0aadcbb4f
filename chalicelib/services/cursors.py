"""Opaque, signed page cursors: the one signer for every paged listing (the ledger, a store's files).

A cursor carries the listing's scope (e.g. {"m": member id}) and DynamoDB's LastEvaluatedKey, signed
with the stage's secret: a client cannot alter it, nor use one listing's cursor on another (a
member's on another member, a ledger's on a store's files)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from chalicelib.config import settings
from chalicelib.domain.errors import InvalidRequest

KEY = "k"  # the LastEvaluatedKey in the payload; every other field is scope


def _sign(payload: bytes) -> str:
    return hmac.new(settings().signing_secret.encode(), payload, hashlib.sha256).hexdigest()[:32]


def encode(scope: dict[str, str], last_key: dict[str, Any]) -> str:
    payload = json.dumps({**scope, KEY: last_key}, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + _sign(payload)


def decode(scope: dict[str, str], cursor: str) -> dict[str, Any]:
    """The LastEvaluatedKey of a cursor made by `encode` with exactly this scope; else 400."""
    bad = InvalidRequest("invalid cursor", [{"field": "cursor", "message": "altered, foreign or malformed"}])
    try:
        encoded, signature = cursor.rsplit(".", 1)
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (ValueError, TypeError) as exc:
        raise bad from exc
    # Check the signature before parsing anything (compare_digest refuses non-ASCII str).
    if not signature.isascii() or not hmac.compare_digest(signature, _sign(payload)):
        raise bad
    data = json.loads(payload)
    key = data.pop(KEY, None)
    if data != scope or not isinstance(key, dict):
        raise bad
    return key
