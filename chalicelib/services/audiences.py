"""Audiences (ops): the members of a segment, optionally of a tier, status and enrolment store.

`listing` pages them with the signed cursor (a scope of its own: the filters, so a cursor of one
audience is refused on another, and a ledger's or a store's on any) and answers `count`, the number
matching, counted on the first page (Select=COUNT on each shard: index entries read, none returned)
and carried by the cursor, so later pages cost only their own members. `export` writes the whole
audience to the bucket as CSV. Both read the audience index only (store/audiences.py): what matches,
never the table. Members are in shard order, then tier, status, store, last purchase day.
No contact data or name is on the index, so none can reach an answer or a file.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC
from typing import Any

from chalicelib import clock
from chalicelib.config import settings
from chalicelib.ingest import names
from chalicelib.observability import logger
from chalicelib.services import cursors
from chalicelib.store import audiences, objects
from chalicelib.store.audiences import SHARDS, Filters, Row

EXPORT_PREFIX = names.AUDIENCE_EXPORTS
EXPORT_COLUMNS = ("member_id", "segment", "tier", "last_purchase_day")
EXPORT_PAGE = 1000


def _scope(filters: Filters) -> dict[str, str]:
    return {
        "audience": "|".join(value or "" for value in (filters.segment, filters.tier, filters.status, filters.store_id))
    }


def view(row: Row) -> dict[str, Any]:
    return {
        "member_id": row.member_id,
        "segment": row.segment,
        "tier": row.tier,
        "last_purchase_day": row.last_purchase_day,
    }


def listing(filters: Filters, limit: int, cursor: str | None) -> dict[str, Any]:
    """A page of up to `limit` members (a page may hold fewer, even none, before the last)."""
    scope = _scope(filters)
    if cursor:
        position = cursors.decode(scope, cursor)
        shard, start, total = int(position["shard"]), position.get("start"), int(position["count"])
    else:
        shard, start, total = 0, None, audiences.count(filters)
    rows: list[Row] = []
    while shard < SHARDS and len(rows) < limit:
        found, start = audiences.page(filters, shard, limit - len(rows), start)
        rows += found
        if start is None:
            shard += 1
    more = shard < SHARDS
    return {
        "segment": filters.segment,
        "count": total,
        "members": [view(row) for row in rows],
        "next_cursor": cursors.encode(scope, {"shard": shard, "start": start, "count": total}) if more else None,
    }


def _all_rows(filters: Filters) -> Iterator[list[str]]:
    for shard in range(SHARDS):
        start: dict[str, Any] | None = None
        while True:
            found, start = audiences.page(filters, shard, EXPORT_PAGE, start)
            for row in found:
                yield [row.member_id, row.segment, row.tier, row.last_purchase_day or ""]
            if start is None:
                break


def export(filters: Filters) -> dict[str, Any]:
    """The whole audience as CSV under exports/audiences/<UTC timestamp>-<id>.csv: its key and rows."""
    stamp = clock.now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    key = f"{EXPORT_PREFIX}{stamp}-{uuid.uuid4().hex[:12]}.csv"
    rows = objects.put_csv(settings().bucket_name, key, EXPORT_COLUMNS, _all_rows(filters))
    logger.info("audience exported", extra={"key": key, "rows": rows, "segment": filters.segment})
    return {"key": key, "rows": rows}
