"""API keys: created once and shown once, stored only as a SHA-256 hash, with a role (and, for a
store key, the one store it may upload for)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib import clock
from chalicelib.config import settings
from chalicelib.ingest.names import valid_store_id
from chalicelib.store import api_keys

STORE = "store"  # a store's till or back office: uploads and reads its own sales files, nothing else
ROLES = ("storefront", "ops", STORE)
LAST_USED_RESOLUTION = timedelta(hours=1)  # write "last used" at most hourly, not on every request


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    key_id: str
    role: str
    store_id: str | None = None  # store keys only


def create_key(role: str, name: str | None = None, store_id: str | None = None) -> tuple[dict[str, Any], str]:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    if (role == STORE) != (store_id is not None):
        raise ValueError("a store key needs a store id, and only a store key has one")
    if store_id is not None and not valid_store_id(store_id):
        raise ValueError("store id: 1 to 64 letters, digits or . _ - (as in incoming/<store_id>/)")
    key_id = secrets.token_hex(6)
    plain = f"lk_{key_id}_{secrets.token_urlsafe(32)}"
    record = {"key_id": key_id, "name": name or key_id, "role": role, "created_at": clock.now().isoformat()}
    if store_id is not None:
        record["store_id"] = store_id
    api_keys.put_new({**record, "hash": _digest(plain)})
    return record, plain


def _public(item: dict[str, Any]) -> dict[str, Any]:
    fields = ("key_id", "name", "role", "store_id", "created_at", "last_used_at", "revoked_at")
    return {name: item.get(name) for name in fields}


def list_keys() -> list[dict[str, Any]]:
    return [_public(item) for item in api_keys.every_key()]


def revoke_key(key_id: str) -> bool:
    if api_keys.get(key_id) is None:
        return False
    api_keys.set_time(key_id, "revoked_at", clock.now().isoformat())
    return True


_recent: dict[str, tuple[float, Caller | None]] = {}


def role_for(plain: str) -> tuple[str, str] | None:
    """(key id, role) of a valid, unrevoked key; None for anything else."""
    found = caller_for(plain)
    return (found.key_id, found.role) if found else None


def caller_for(plain: str) -> Caller | None:
    """Who a valid, unrevoked key is; None for anything else. Answers are reused for
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


def _lookup(plain: str) -> Caller | None:
    parts = plain.removeprefix("Bearer ").strip().split("_", 2)
    if len(parts) != 3 or parts[0] != "lk" or not parts[1].isalnum() or len(parts[1]) > 32:
        return None
    item = api_keys.get(parts[1])
    if item is None or item.get("revoked_at"):
        return None
    if not hmac.compare_digest(item["hash"], _digest(plain.removeprefix("Bearer ").strip())):
        return None
    _touch(item)
    return Caller(item["key_id"], item["role"], item.get("store_id"))


def _touch(item: dict[str, Any]) -> None:
    now = clock.now()
    last = item.get("last_used_at")
    if last and now - _parse(last) < LAST_USED_RESOLUTION:
        return
    # Bookkeeping only: never refuse a valid key because "last used" could not be written.
    with contextlib.suppress(Exception):
        api_keys.set_time(item["key_id"], "last_used_at", now.isoformat())


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)
