"""What the rows of one file share (the program, the store, the moment the file arrived), and a
valid row of the phase being applied."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chalicelib.domain.calendar import local_date
from chalicelib.domain.commands import CENT, check_currency
from chalicelib.domain.errors import InvalidRequest
from chalicelib.ingest.reader import Parsed
from chalicelib.ingest.rows import FIELD_REASONS, RETURN, SALE, Rejection, SalesRow
from chalicelib.ingest.tally import Tally
from chalicelib.program import Program, load_program
from chalicelib.services.writes import check_occurred_at
from chalicelib.store import file_runs, keys


@dataclass(frozen=True, slots=True)
class Row:
    """A valid row of the phase being applied."""

    number: int
    fields: list[str]
    data: SalesRow
    kind: str  # SALE | RETURN
    amount: Decimal

    @property
    def affinity(self) -> str:
        """Rows that touch the same member or receipt are applied one after the other."""
        return self.data.member_id or (self.data.original_receipt_id if self.kind == RETURN else self.data.receipt_id)


class FileRun:
    """What the rows of one file share: the program, the store, the moment the file arrived."""

    def __init__(self, run: file_runs.FileRunRecord, phase: str) -> None:
        self.program: Program = load_program()
        self.file_id: str = run.file_id
        self.store_id: str = run.store_id
        self.phase = phase
        # Time checks use the arrival time, not the clock: both phases and every retry of a chunk
        # then judge a row the same way, so each row is counted exactly once.
        self.arrived = run.started_at

    def check(self, row: SalesRow, kind: str) -> Rejection | None:
        """The per-row rules beyond the model (docs/sales-files.md), the same in both phases."""
        if row.store_id != self.store_id:
            return Rejection("store_mismatch", f"store_id {row.store_id!r} is not the file's store")
        try:  # the API's own checks, so both doors refuse the same values
            check_currency(self.program.currency, row.currency)
            check_occurred_at(self.program, row.occurred_at, self.arrived)
        except InvalidRequest as error:
            return Rejection(FIELD_REASONS[error.details[0]["field"]], error.message)
        if kind == RETURN and not row.original_receipt_id:
            return Rejection("missing_field", "original_receipt_id is required for a RETURN")
        return None

    def rows(self, parsed: Iterable[Parsed], tally: Tally) -> Iterator[Row]:
        """The valid rows of this phase; the sales phase counts every row and rejects the bad ones."""
        counting = self.phase == file_runs.SALES
        for number, fields, data, rejection in parsed:
            if counting:
                tally.rows += 1
            kind = data.type.upper() if data is not None else ""
            problem = rejection if data is None else self.check(data, kind)
            if problem is not None:
                if counting:
                    tally.reject(number, problem.reason, problem.message, fields)
            elif data is not None and (kind == SALE) == counting:
                yield Row(number, fields, data, kind, Decimal(data.amount).quantize(CENT))  # as the API: cents

    def order_id(self, receipt_id: str) -> str:
        """The ledger client id of a receipt claimed now."""
        return keys.store_receipt_ref(self.store_id, receipt_id)

    def ledger_ref(self, receipt_id: str, receipt: dict[str, Any] | None) -> str:
        """The ledger client id of a receipt: the one its item recorded (None: claimed now). Items
        claimed before `ledger_ref` existed used the legacy id: their entries keep it."""
        if receipt is None:
            return self.order_id(receipt_id)
        return str(receipt.get("ledger_ref") or keys.legacy_store_receipt_ref(self.store_id, receipt_id))

    def day(self, row: Row) -> str:
        return local_date(row.data.occurred_at, self.program.tz).isoformat()
