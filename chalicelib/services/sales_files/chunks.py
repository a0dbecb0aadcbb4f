"""A chunk's rows: read from the file's byte range, their receipt ids claimed a hundred at a time,
applied in parallel (rows of one member or receipt one after the other), counted in a Tally."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from chalicelib.ingest import parallel, reader
from chalicelib.ingest.rows import SALE, parse_header
from chalicelib.ingest.tally import APPLIED, Tally
from chalicelib.services.sales_files import apply, limits
from chalicelib.services.sales_files.file_run import FileRun, Row
from chalicelib.services.sales_files.tasks import ChunkTask
from chalicelib.store import file_runs, objects, receipts

Claimed = tuple[Row, "receipts.Claim | None"]  # None: claim it when applying (see _claim_batches)


def apply_chunk(run: file_runs.FileRunRecord, task: ChunkTask) -> Tally:
    file = FileRun(run, task.phase)
    stream = objects.open_chunk(run.bucket, run.key, run.etag, run.compressed, task.start, task.end)
    parsed = reader.read_rows(stream, parse_header(run.header), task.first_record)
    inline = Tally()

    def apply_row(claimed: Claimed, tally: Tally) -> None:
        row, claim = claimed
        claim = claim or receipts.claim_receipt(file.store_id, row.data.receipt_id, apply.receipt(file, row))
        outcome = apply.apply_sale(file, row, claim) if row.kind == SALE else apply.apply_return(file, row, claim)
        tally.count(outcome, row.number, row.fields)
        if outcome.status == APPLIED:
            tally.sold(file.day(row), outcome.member, row.kind, row.amount)

    claimed = _claim_batches(file, file.rows(parsed, inline))
    states = parallel.run_keyed(claimed, lambda item: item[0].affinity, apply_row, limits.ROW_WORKERS, Tally)
    for state in states:
        inline.merge(state)
    return inline


def _claim_batches(file: FileRun, rows: Iterable[Row]) -> Iterator[Claimed]:
    """Claim the rows' receipt ids CLAIM_BATCH at a time, in one transaction each, instead of one
    PutItem per row: a member sale then costs its 2 calls (read + transaction), a non-member sale
    almost none. A receipt id repeated within a batch is claimed by its first row only; the later
    ones claim theirs when they are applied (after the first: same member or receipt, same worker)."""
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == limits.CLAIM_BATCH:
            yield from _claim_batch(file, batch)
            batch = []
    yield from _claim_batch(file, batch)


def _claim_batch(file: FileRun, batch: list[Row]) -> Iterator[Claimed]:
    first: dict[str, Row] = {}
    for row in batch:
        first.setdefault(row.data.receipt_id, row)
    holders = receipts.claim_receipts(
        file.store_id, {receipt_id: apply.receipt(file, row) for receipt_id, row in first.items()}
    )
    for row in batch:
        yield row, receipts.Claim(holders[row.data.receipt_id]) if first[row.data.receipt_id] is row else None
