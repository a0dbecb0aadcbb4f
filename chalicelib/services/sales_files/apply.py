"""Applying one row of a sales file: its receipt id claimed once per store, then a member's purchase or
return through the same commands as the API, or a non-member sale or return kept on the receipt."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from chalicelib.domain.commands import PurchaseLine, RecordPurchase, RecordReturn
from chalicelib.domain.errors import (
    Busy,
    Conflict,
    InvalidRequest,
    LoyaltyError,
    MemberNotFound,
    NotFound,
    ReturnExceedsPurchase,
)
from chalicelib.ingest.rows import BAD_ROW, SALE
from chalicelib.ingest.tally import APPLIED, DUPLICATE, REJECTED, Outcome
from chalicelib.services import points
from chalicelib.services.sales_files import limits
from chalicelib.services.sales_files.file_run import FileRun, Row
from chalicelib.services.sales_files.limits import epoch
from chalicelib.store import receipts


def _fingerprint(row: Row) -> str:
    """What makes two rows with the same receipt id the same receipt (trailing spaces and amount
    spelling aside)."""
    data = row.data
    text = "|".join(
        [
            row.kind,
            f"{row.amount:.2f}",
            data.currency,
            data.occurred_at.isoformat(),
            data.member_id,
            data.original_receipt_id,
            data.category,
            # only when given: receipts claimed before the column existed keep their fingerprint
            *([data.staff_id] if data.staff_id else []),
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def receipt(file: FileRun, row: Row) -> dict[str, Any]:
    data = row.data
    values: dict[str, Any] = {
        "store_id": file.store_id,
        "receipt_id": data.receipt_id,
        "type": row.kind,
        "amount": row.amount,
        "member_id": data.member_id or None,
        "original_receipt_id": data.original_receipt_id or None,
        "occurred_at": data.occurred_at.isoformat(),
        "fingerprint": _fingerprint(row),
        "ledger_ref": file.order_id(data.receipt_id),
        "file_id": file.file_id,
        "file_row": row.number,
        # No row older than max_backdate_days is accepted, so the receipt cannot be needed after.
        "expires_at": epoch(data.occurred_at, file.program.max_backdate_days + 30),
    }
    if row.kind == SALE:
        values["returned_amount"] = Decimal(0)
    return values


def _purchase(file: FileRun, row: Row, member_id: str, order_id: str) -> RecordPurchase:
    """The command a member's sale row becomes: the same for the same row, so a replay is recognised."""
    data = row.data
    lines = (PurchaseLine(row.amount, data.category),) if data.category else ()
    return RecordPurchase(
        member_id,
        order_id,
        row.amount,
        data.currency,
        data.occurred_at,
        "store",
        file.store_id,
        lines,
        data.staff_id or None,
    )


def _reason(error: LoyaltyError) -> str:
    if isinstance(error, MemberNotFound):
        return "unknown_member"
    if isinstance(error, NotFound):
        return "unknown_original_receipt"
    if isinstance(error, Conflict):
        return "receipt_conflict"
    if isinstance(error, InvalidRequest):
        field = str((error.details or [{}])[0].get("field"))
        return {"occurred_at": "bad_timestamp", "currency": "bad_currency", "amount": "bad_amount"}.get(field, BAD_ROW)
    return error.code


def _refused(file: FileRun, row: Row, reason: str, message: str) -> Outcome:
    """Reject a row whose receipt id this row had claimed: give the id back first."""
    receipts.release_receipt(file.store_id, row.data.receipt_id, file.file_id, row.number)
    return Outcome(REJECTED, reason, message)


def _seen(file: FileRun, row: Row, holder: dict[str, Any]) -> Outcome:
    """The receipt id is held by another row (this file or an earlier one)."""
    if holder.get("fingerprint") != _fingerprint(row):
        return Outcome(REJECTED, "receipt_conflict", "receipt_id was already used for a different sale or return")
    if row.kind == SALE and row.data.member_id:
        # Harmless when the sale was applied (a replay changes nothing); completes it when the run
        # that claimed it stopped before crediting the member.
        try:
            order_id = file.ledger_ref(row.data.receipt_id, holder)
            points.record_purchase(_purchase(file, row, row.data.member_id, order_id))
        except Busy:
            raise
        except LoyaltyError:
            pass
    return Outcome(DUPLICATE)


def apply_sale(file: FileRun, row: Row, claim: receipts.Claim) -> Outcome:
    if not claim.mine(file.file_id, row.number):
        return _seen(file, row, claim.item or {})
    if not row.data.member_id:
        return Outcome(APPLIED)  # the receipt item is the non-member sale's record
    order_id = file.ledger_ref(row.data.receipt_id, claim.item)
    try:
        points.record_purchase(_purchase(file, row, row.data.member_id, order_id))
    except Busy:
        raise  # the chunk is retried; its claims are this row's own and are found again
    except LoyaltyError as error:
        return _refused(file, row, _reason(error), error.message)
    return Outcome(APPLIED, member=True)


def apply_return(file: FileRun, row: Row, claim: receipts.Claim) -> Outcome:
    if not claim.mine(file.file_id, row.number):
        return _seen(file, row, claim.item or {})
    if claim.item is not None and claim.item.get("applied"):
        return Outcome(APPLIED)  # a retried chunk: this non-member return was recorded
    sale = receipts.get_receipt(file.store_id, row.data.original_receipt_id)
    if sale is None or sale.get("type") != SALE:
        return _refused(file, row, "unknown_original_receipt", "no sale with that receipt id in this store")
    member_id = sale.get("member_id")
    if row.data.member_id and row.data.member_id != member_id:
        return _refused(file, row, "member_mismatch", "the original sale belongs to another member (or none)")
    if not member_id:
        return _non_member_return(file, row, sale)
    command = RecordReturn(
        member_id,
        return_id=file.ledger_ref(row.data.receipt_id, claim.item),
        order_id=file.ledger_ref(sale["receipt_id"], sale),
        amount=row.amount,
        occurred_at=row.data.occurred_at,
    )
    try:
        points.record_return(command)
    except Busy:
        raise
    except LoyaltyError as error:
        return _refused(file, row, _reason(error), error.message)
    return Outcome(APPLIED, member=True)


def _non_member_return(file: FileRun, row: Row, sale: dict[str, Any]) -> Outcome:
    for _ in range(limits.RETURN_TRIES):
        returned = Decimal(sale.get("returned_amount", 0))
        left = Decimal(sale["amount"]) - returned
        if row.amount > left:  # as rules.record_return checks a member's purchase
            if _recorded(file, row):
                return Outcome(APPLIED)  # by a twin delivery of this chunk, which moved `left`
            error = ReturnExceedsPurchase(f"return of {row.amount} exceeds the {left} left of the sale")
            return _refused(file, row, error.code, error.message)
        try:
            receipts.apply_non_member_return(
                file.store_id, sale, returned + row.amount, row.data.receipt_id, file.file_id, row.number
            )
            return Outcome(APPLIED)
        except receipts.StaleReceipt:
            if _recorded(file, row):
                return Outcome(APPLIED)
        sale = receipts.get_receipt(file.store_id, sale["receipt_id"]) or sale
    raise Busy("the sale is being returned by other rows, retry shortly")


def _recorded(file: FileRun, row: Row) -> bool:
    """Whether this non-member return row is recorded (its receipt item carries `applied`)."""
    return bool((receipts.get_receipt(file.store_id, row.data.receipt_id) or {}).get("applied"))
