"""DynamoDB items of store receipts: a receipt id claimed once per store (the idempotency of a
sales-file row), given back when its row is rejected, and a non-member sale's returns."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chalicelib.store import dynamo, keys, retry


class StaleReceipt(Exception):
    """The original receipt changed (another return of it) since it was read: read it again."""


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a receipt id: `item` is what the store held before (None: ours now)."""

    item: dict[str, Any] | None

    def mine(self, file_id: str, row: int) -> bool:
        return self.item is None or (self.item.get("file_id") == file_id and int(self.item.get("file_row", 0)) == row)


def claim_receipts(store_id: str, receipts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
    """Claim receipt ids (at most 100, each once) in one transaction. Returns, per receipt id, the
    item that already held it, or None when it is ours now. A taken id cancels the transaction,
    whose reasons name every taken one with its item: the others are claimed again."""
    holders: dict[str, dict[str, Any] | None] = {}
    pending = dict(receipts)
    for _ in retry.attempts(retry.SHARED_ITEMS):
        if not pending:
            break
        ids = list(pending)
        try:
            dynamo.transact(
                [
                    dynamo.put(
                        {**keys.receipt_key(store_id, receipt_id), **pending[receipt_id]},
                        condition="attribute_not_exists(pk)",
                        old_on_fail=True,
                    )
                    for receipt_id in ids
                ]
            )
        except dynamo.Cancelled as cancelled:
            taken = [i for i in range(len(ids)) if cancelled.condition_failed(i)]
            if not taken and not cancelled.conflict:
                raise
            for index in taken:
                holder = cancelled.old_item(index) or get_receipt(store_id, ids[index])
                if holder is not None:  # else it was given back meanwhile: claim it again
                    holders[ids[index]] = holder
                    del pending[ids[index]]
            continue  # a taken id is known at once; a conflict waits (retry.attempts)
        holders.update(dict.fromkeys(ids))
        return holders
    if pending:
        raise dynamo.StoreError("receipt claims kept conflicting")  # the chunk is retried
    return holders


def claim_receipt(store_id: str, receipt_id: str, values: dict[str, Any]) -> Claim:
    return Claim(claim_receipts(store_id, {receipt_id: values})[receipt_id])


def release_receipt(store_id: str, receipt_id: str, file_id: str, row: int) -> None:
    """Give the receipt id back after its row was rejected, so that a corrected file can use it."""
    # Never a recorded return (`applied`): a twin delivery of the chunk may have recorded it.
    condition = "file_id = :file AND file_row = :row AND attribute_not_exists(applied)"
    with contextlib.suppress(dynamo.ConditionFailed):
        dynamo.delete_item(keys.receipt_key(store_id, receipt_id), condition, {":file": file_id, ":row": row})


def get_receipt(store_id: str, receipt_id: str) -> dict[str, Any] | None:
    return dynamo.get(keys.receipt_key(store_id, receipt_id))


def apply_non_member_return(
    store_id: str, sale: dict[str, Any], returned_after: Decimal, return_id: str, file_id: str, row: int
) -> None:
    """Record a return of a non-member sale: the sale's returned amount and the return's `applied`
    flag move together. Returns when the return is recorded (now, or before by a retried or twin
    delivery of its chunk); raises StaleReceipt when the sale moved since it was read."""
    before = Decimal(sale.get("returned_amount", 0))
    items = [
        dynamo.update(
            keys.receipt_key(store_id, sale["receipt_id"]),
            "SET returned_amount = :after",
            {":after": returned_after, ":before": before},
            condition="returned_amount = :before",
        ),
        dynamo.update(
            keys.receipt_key(store_id, return_id),
            "SET applied = :yes",
            {":yes": True, ":file": file_id, ":row": row},
            condition="file_id = :file AND file_row = :row AND attribute_not_exists(applied)",
        ),
    ]
    try:
        dynamo.transact_retrying_conflicts(items)
    except dynamo.Cancelled as cancelled:
        if cancelled.condition_failed(1):
            return
        if cancelled.condition_failed(0):
            raise StaleReceipt(sale["receipt_id"]) from cancelled
        raise
