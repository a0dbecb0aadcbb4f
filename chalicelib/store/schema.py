"""The table's definition, shared by the local stack, the tests and the CDK stack."""

from __future__ import annotations

from typing import Any

from chalicelib.store.keys import (
    ALL_DUE_INDEXES,
    AUDIENCE_FILTERS,
    AUDIENCE_INDEX,
    AUDIENCE_KEY,
    AUDIENCE_SORT,
    LEDGER_INDEX,
    LEDGER_SORT,
    MEMBERS_INDEX,
    MEMBERS_SHARD,
    PK,
    SK,
)

STREAM_VIEW = "NEW_AND_OLD_IMAGES"

# What the ledger page (GET /members/{id}/ledger: services/wallet.ledger → codec.entry_view) reads
# from the local index `by_time`, besides the keys. The index holds a copy of every ledger entry and
# each entry write pays for that copy: ALL projected the entry's stored response and fingerprint too
# (half of an earn's write units); the page shows neither. A local index cannot change once the table
# exists, so an attribute the page needs later means a new index (or a read of the table).
LEDGER_PAGE_ATTRIBUTES: tuple[str, ...] = (
    "entry_id",
    "kind",
    "ref",
    "points",
    "occurred_at",
    "recorded_at",
    "details",
    "balances_after",
)

# Sparse GSIs for due work (scheduled jobs): only members with something due carry the attributes.
DUE_INDEXES: tuple[str, ...] = tuple(index.name for index in ALL_DUE_INDEXES)


def due_index_definitions() -> list[dict[str, Any]]:
    """The due GSIs (keys only: a job reads the member's state itself, consistently, before acting)."""
    return [
        {
            "IndexName": index.name,
            "KeySchema": [
                {"AttributeName": MEMBERS_SHARD, "KeyType": "HASH"},
                {"AttributeName": index.attribute, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
        for index in ALL_DUE_INDEXES
    ]


def audience_index_definition() -> dict[str, Any]:
    """The members of each segment (services/audiences.py): what a listing shows is in the keys
    (member id, segment, tier, last purchase day), the filters beyond the key prefix are projected,
    so a listing and its count never read the table."""
    return {
        "IndexName": AUDIENCE_INDEX,
        "KeySchema": [
            {"AttributeName": AUDIENCE_KEY, "KeyType": "HASH"},
            {"AttributeName": AUDIENCE_SORT, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(AUDIENCE_FILTERS)},
    }


def table_definition(table_name: str) -> dict[str, Any]:
    """`CreateTable` arguments (on-demand); infra/ builds the same keys and indexes in CDK."""
    attributes = [
        {"AttributeName": PK, "AttributeType": "S"},
        {"AttributeName": SK, "AttributeType": "S"},
        {"AttributeName": LEDGER_SORT, "AttributeType": "S"},
        {"AttributeName": MEMBERS_SHARD, "AttributeType": "S"},
        *({"AttributeName": index.attribute, "AttributeType": "S"} for index in ALL_DUE_INDEXES),
        {"AttributeName": AUDIENCE_KEY, "AttributeType": "S"},
        {"AttributeName": AUDIENCE_SORT, "AttributeType": "S"},
    ]
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        # The KPI roll-up reads the stream: a profile's old and new image give tier, status, balance
        # and purchase-day changes; a ledger entry's new image gives the flows (services/kpis.py).
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": STREAM_VIEW},
        "AttributeDefinitions": attributes,
        "KeySchema": [
            {"AttributeName": PK, "KeyType": "HASH"},
            {"AttributeName": SK, "KeyType": "RANGE"},
        ],
        "LocalSecondaryIndexes": [
            {
                "IndexName": LEDGER_INDEX,
                "KeySchema": [
                    {"AttributeName": PK, "KeyType": "HASH"},
                    {"AttributeName": LEDGER_SORT, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(LEDGER_PAGE_ATTRIBUTES)},
            }
        ],
        "GlobalSecondaryIndexes": [
            {
                # Every member profile, spread over a few shards: for whole-program audits
                # (`loyalty check`) without a Scan.
                "IndexName": MEMBERS_INDEX,
                "KeySchema": [
                    {"AttributeName": MEMBERS_SHARD, "KeyType": "HASH"},
                    {"AttributeName": SK, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            *due_index_definitions(),
            audience_index_definition(),
        ],
    }
