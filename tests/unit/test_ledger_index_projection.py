"""The ledger page reads its entries from the local index `by_time`, which projects only
LEDGER_PAGE_ATTRIBUTES (and the keys): the page must show the same from that copy as from the full
entry, and the copy must leave out what makes entries large (the stored response)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from chalicelib.domain.model import LedgerEntry
from chalicelib.store import codec, keys
from chalicelib.store.schema import LEDGER_PAGE_ATTRIBUTES, table_definition


def ledger_index() -> dict:
    (index,) = table_definition("t")["LocalSecondaryIndexes"]
    assert index["IndexName"] == keys.LEDGER_INDEX
    return index


def projected(item: dict, index: dict) -> dict:
    """What a Query on the index returns of an item (DynamoDB's ALL_PROJECTED_ATTRIBUTES)."""
    table_keys = {k["AttributeName"] for k in table_definition("t")["KeySchema"]}
    index_keys = {k["AttributeName"] for k in index["KeySchema"]}
    wanted = table_keys | index_keys | set(index["Projection"].get("NonKeyAttributes", []))
    return {name: value for name, value in item.items() if name in wanted}


def test_the_ledger_page_shows_the_same_from_the_index_as_from_the_entry() -> None:
    at = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    entry = LedgerEntry(
        kind="purchase",
        ref="web-1001",
        points=268,
        occurred_at=at,
        details={"amount": Decimal("268.50"), "store_id": "s001", "order_number": 3, "tier": "silver"},
    )
    response = {"member": {"member_id": "m-1", "available": 1200}, "entry": {"points": 268}, "lines": ["x" * 500]}
    item = codec.entry_item("m-1", entry, at, {"available": 1200, "pending": 0}, "f" * 64, response)
    # As read back from DynamoDB: numbers are Decimals.
    item = {k: Decimal(v) if isinstance(v, int) else v for k, v in item.items()}
    item["balances_after"] = {k: Decimal(v) for k, v in item["balances_after"].items()}
    index = ledger_index()
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    copy = projected(item, index)
    assert codec.entry_view(copy) == codec.entry_view(item)
    assert "response" not in copy and "fingerprint" not in copy


def test_the_projection_is_exactly_what_the_page_reads() -> None:
    """Each projected attribute is one entry_view reads (an unread one costs every entry write)."""
    at = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    entry = LedgerEntry(kind="redemption", ref="r1", points=-100, occurred_at=at, details={"reward_id": "cash-5"})
    item = codec.entry_item("m-1", entry, at, {"available": 0, "pending": 0}, None, None)
    for name in LEDGER_PAGE_ATTRIBUTES:
        without = {k: v for k, v in item.items() if k != name}
        try:
            view = codec.entry_view(without)
        except KeyError:
            continue  # the page needs it
        assert view != codec.entry_view(item), f"{name} is projected but the ledger page does not read it"
