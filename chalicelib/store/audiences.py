"""Reads of the audience index (keys.AUDIENCE_INDEX): a page of a segment's shard, and its count.

The filters the sort-key prefix fixes (tier, then status, then store) are key conditions; the rest
are filter expressions on projected attributes, so they read the members of the segment (and tier)
they narrow, never the table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.store import dynamo, keys


@dataclass(frozen=True)
class Filters:
    segment: str
    tier: str | None = None
    status: str | None = None
    store_id: str | None = None


@dataclass(frozen=True)
class Row:
    member_id: str
    segment: str
    tier: str
    status: str
    store_id: str | None
    last_purchase_day: str | None


def _query(filters: Filters, partition: str) -> dict[str, Any]:
    prefix = keys.audience_sort_prefix(filters.tier, filters.status, filters.store_id)
    names = {"#k": keys.AUDIENCE_KEY}
    values: dict[str, Any] = {":k": {"S": partition}}
    condition = "#k = :k"
    if prefix:
        names["#s"], values[":p"] = keys.AUDIENCE_SORT, {"S": prefix}
        condition += " AND begins_with(#s, :p)"
    fixed = prefix.count("#")  # tier, status, store in that order: the first `fixed` are in the key
    wanted = (filters.tier, filters.status, filters.store_id)
    checks = []
    for n, (name, value) in enumerate(zip(keys.AUDIENCE_FILTERS, wanted, strict=True)):
        if n >= fixed and value is not None:
            names[f"#f{n}"], values[f":f{n}"] = name, {"S": value}
            checks.append(f"#f{n} = :f{n}")
    kwargs: dict[str, Any] = {"TableName": dynamo.table(), "IndexName": keys.AUDIENCE_INDEX}
    kwargs.update({"KeyConditionExpression": condition, "ExpressionAttributeNames": names})
    kwargs["ExpressionAttributeValues"] = values
    if checks:
        kwargs["FilterExpression"] = " AND ".join(checks)
    return kwargs


def _row(item: dict[str, Any]) -> Row:
    segment = str(item[keys.AUDIENCE_KEY]["S"]).split("#", 1)[0]
    tier, status, store_id, day = keys.audience_sort_parts(item[keys.AUDIENCE_SORT]["S"])
    member_id = str(item[keys.PK]["S"]).split("#", 1)[1]
    return Row(member_id, segment, tier, status, store_id, day)


def page(
    filters: Filters, shard: int, limit: int, start: dict[str, Any] | None = None
) -> tuple[list[Row], dict[str, Any] | None]:
    """Up to `limit` members of one shard of the segment (fewer when a filter drops some), and
    where the shard continues (None: done). The index is eventually consistent."""
    kwargs = {**_query(filters, keys.audience_partitions(filters.segment)[shard]), "Limit": limit}
    if start:
        kwargs["ExclusiveStartKey"] = start
    answer = dynamo.call("query", **kwargs)
    return [_row(item) for item in answer.get("Items", [])], answer.get("LastEvaluatedKey")


def count(filters: Filters) -> int:
    """How many members match: Select=COUNT on every shard (the index entries are read, not returned)."""
    total = 0
    for partition in keys.audience_partitions(filters.segment):
        kwargs: dict[str, Any] = {**_query(filters, partition), "Select": "COUNT"}
        while True:
            answer = dynamo.call("query", **kwargs)
            total += int(answer.get("Count", 0))
            if not answer.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    return total


SHARDS = keys.MEMBER_SHARDS
