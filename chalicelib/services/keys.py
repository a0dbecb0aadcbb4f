"""API keys: created once and shown once, stored only as a SHA-256 hash, with a role."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

from chalicelib import clock
from chalicelib.config import settings
from chalicelib.store import dynamo, keys

ROLES = ("storefront", "ops")
LAST_USED_RESOLUTION = timedelta(hours=1)  # write "last used" at most hourly, not on every request


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(role: str, name: str | None = None) -> tuple[dict[str, Any], str]:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    key_id = secrets.token_hex(6)
    plain = f"lk_{key_id}_{secrets.token_urlsafe(32)}"
    record = {"key_id": key_id, "name": name or key_id, "role": role, "created_at": clock.now().isoformat()}
    dynamo.call(
        "put_item",
        TableName=dynamo.table(),
        Item=dynamo.to_item({**keys.api_key_key(key_id), **record, "hash": _digest(plain)}),
        ConditionExpression="attribute_not_exists(pk)",
    )
    return record, plain


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {name: item.get(name) for name in ("key_id", "name", "role", "created_at", "last_used_at", "revoked_at")}


def list_keys() -> list[dict[str, Any]]:
    return [_public(item) for item in dynamo.query_all(keys.API_KEYS_PK, "KEY#")]


def revoke_key(key_id: str) -> bool:
    if dynamo.get(keys.api_key_key(key_id)) is None:
        return False
    dynamo.call(
        "update_item",
        TableName=dynamo.table(),
        Key=dynamo.to_item(keys.api_key_key(key_id)),
        UpdateExpression="SET revoked_at = :now",
        ExpressionAttributeValues={":now": {"S": clock.now().isoformat()}},
    )
    return True


_recent: dict[str, tuple[float, tuple[str, str] | None]] = {}


def role_for(plain: str) -> tuple[str, str] | None:
    """(key id, role) of a valid, unrevoked key; None for anything else. Answers are reused for
    `auth_cache_seconds` (the same trade-off as API Gateway's authorizer cache)."""
    ttl = settings().auth_cache_seconds
    if ttl:
        cached = _recent.get(plain)
        if cached and time.monotonic() - cached[0] < ttl:
            return cached[1]
    found = _lookup(plain)
    if ttl:
        if len(_recent) > 10_000:
            _recent.clear()
        _recent[plain] = (time.monotonic(), found)
    return found


def _lookup(plain: str) -> tuple[str, str] | None:
    parts = plain.removeprefix("Bearer ").strip().split("_", 2)
    if len(parts) != 3 or parts[0] != "lk" or not parts[1].isalnum() or len(parts[1]) > 32:
        return None
    item = dynamo.get(keys.api_key_key(parts[1]))
    if item is None or item.get("revoked_at"):
        return None
    if not hmac.compare_digest(item["hash"], _digest(plain.removeprefix("Bearer ").strip())):
        return None
    _touch(item)
    return item["key_id"], item["role"]


def _touch(item: dict[str, Any]) -> None:
    now = clock.now()
    last = item.get("last_used_at")
    if last and now - _parse(last) < LAST_USED_RESOLUTION:
        return
    # Bookkeeping only: never refuse a valid key because "last used" could not be written.
    with contextlib.suppress(Exception):
        dynamo.call(
            "update_item",
            TableName=dynamo.table(),
            Key=dynamo.to_item(keys.api_key_key(item["key_id"])),
            UpdateExpression="SET last_used_at = :now",
            ExpressionAttributeValues={":now": {"S": now.isoformat()}},
        )


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)
