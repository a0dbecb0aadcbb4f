"""API key records: one item per key under one partition (the key's hash, never the key)."""

from __future__ import annotations

from typing import Any

from chalicelib.store import dynamo, keys


def put_new(record: dict[str, Any]) -> None:
    """Store a new key's record; key ids are random, so an existing one is a bug, not a race."""
    dynamo.put_item({**keys.api_key_key(record["key_id"]), **record}, condition="attribute_not_exists(pk)")


def get(key_id: str) -> dict[str, Any] | None:
    return dynamo.get(keys.api_key_key(key_id))


def every_key() -> list[dict[str, Any]]:
    return dynamo.query_all(keys.API_KEYS_PK, "KEY#")


def set_time(key_id: str, attribute: str, moment: str) -> None:
    """`revoked_at` or `last_used_at`."""
    dynamo.update_item(keys.api_key_key(key_id), f"SET {attribute} = :now", {":now": moment})
