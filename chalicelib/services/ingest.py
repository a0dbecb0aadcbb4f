"""Store sales files (docs/sales-files.md): S3 `incoming/` → SQS → plan → chunks → report.

A file message plans the file (one streaming pass) and fans its rows out in chunks; a chunk applies
its rows through the points engine's own use cases (`record_purchase`, `record_return`) with
bounded parallelism and commits its counts once; the last chunk (decided by a conditional counter)
starts the next phase or writes the report.

Two phases: every chunk applies its sales first, then the chunks that hold returns apply them, so a
return finds its sale wherever the two are in the file. Receipt idempotency: a store receipt id is
claimed once (RECEIPT#<store>#<receipt>), a member sale's order id is `<store>/<receipt>` (an id
the API refuses, so storefront orders never collide with receipts), so a row delivered twice, a
chunk retried after a crash, or a file uploaded again changes no balance twice.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from chalicelib import aws, clock, events
from chalicelib.config import settings
from chalicelib.domain.calendar import local_date
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
from chalicelib.domain.model import DomainEvent
from chalicelib.ingest import names, objects, parallel, reader, records
from chalicelib.ingest.reader import FileProblem, Parsed
from chalicelib.ingest.rows import BAD_ROW, RETURN, SALE, Rejection, SalesRow, parse_header
from chalicelib.ingest.tally import APPLIED, DUPLICATE, REJECTED, Outcome, Tally, report
from chalicelib.observability import logger, metrics
from chalicelib.program import Program, load_program
from chalicelib.services import points
from chalicelib.services.writes import check_occurred_at
from chalicelib.store import keys

ROWS_PER_CHUNK = 5_000  # ~2-10 s of DynamoDB work: well inside the Lambda and visibility timeouts
CHUNK_BYTES = 4 * 1024 * 1024
MAX_FILE_BYTES = 1024 * 1024 * 1024  # decoded; a million rows is ~100 MB
ROW_WORKERS = 16  # parallel rows per chunk (boto3's pool has 64 connections)
CLAIM_BATCH = 100  # receipt ids claimed per transaction (DynamoDB's limit: 100 items)
RETURN_TRIES = 8
MARKER_DAYS = 30  # longer than SQS keeps a message (14 days): a redelivery always finds its marker
FILE_DAYS = 400
CHUNK_MESSAGE = "chunk"
CENT = Decimal("0.01")
FILE_REPLACED = "file_replaced"


# --- queue messages ----------------------------------------------------------------------------


def handle_messages(messages: list[tuple[str, str]]) -> list[str]:
    """Handle (message id, body) pairs from the ingest queue; returns the ids to retry."""
    failed = []
    for message_id, body in messages:
        try:
            handle_message(body)
        except Exception:
            logger.exception("ingest message failed; it will be retried", extra={"message_id": message_id})
            failed.append(message_id)
    return failed


def handle_message(body: str) -> None:
    try:
        message = json.loads(body)
    except ValueError:
        logger.warning("ignored a queue message that is not JSON")
        return
    if message.get("ingest") == CHUNK_MESSAGE:
        run_chunk(ChunkTask.from_message(message))
        return
    for record in message.get("Records", []):  # an S3 notification (s3:TestEvent has none)
        if str(record.get("eventName", "")).startswith("ObjectCreated"):
            start_file(record)


@dataclass(frozen=True)
class ChunkTask:
    file_id: str
    phase: str
    chunk: int
    start: int
    end: int
    first_record: int

    def message(self) -> str:
        return json.dumps({"ingest": CHUNK_MESSAGE, **self.__dict__})

    @staticmethod
    def from_message(message: dict[str, Any]) -> ChunkTask:
        return ChunkTask(
            str(message["file_id"]),
            str(message["phase"]),
            int(message["chunk"]),
            int(message["start"]),
            int(message["end"]),
            int(message["first_record"]),
        )


def _enqueue(tasks: list[ChunkTask]) -> None:
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=settings().ingest_queue_name)["QueueUrl"]  # once per phase of a file
    for start in range(0, len(tasks), 10):
        entries = [{"Id": str(i), "MessageBody": task.message()} for i, task in enumerate(tasks[start : start + 10])]
        answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        if answer.get("Failed"):
            raise RuntimeError(f"{len(answer['Failed'])} chunk messages were not queued")


# --- a file ------------------------------------------------------------------------------------


def _file_id(bucket: str, key: str, record: dict[str, Any]) -> str:
    """Stable for one S3 event (a redelivery is the same run), new for every upload: the event's
    sequencer orders writes to a key (moto has none: the ETag and event time stand in)."""
    s3 = record.get("s3", {})
    version = s3.get("object", {}).get("sequencer") or f"{s3.get('object', {}).get('eTag')}@{record.get('eventTime')}"
    return hashlib.sha256(f"{bucket}\n{key}\n{version}".encode()).hexdigest()[:24]


def _epoch(moment: datetime, days: int) -> int:
    return int((moment + timedelta(days=days)).timestamp())


def start_file(record: dict[str, Any]) -> None:
    bucket = record["s3"]["bucket"]["name"]
    key = unquote_plus(record["s3"]["object"]["key"])
    if not names.is_incoming(key):
        return
    head = objects.head(bucket, key)
    if head is None:
        logger.warning("sales file gone before it was read", extra={"key": key})
        return
    now = clock.now()
    file_key = names.parse_key(key)
    file_id = _file_id(bucket, key, record)
    report_key, rejects_key = file_key.outputs(file_id)  # a bad key's are named by the file id
    run = records.create_file(
        {
            "file_id": file_id,
            "key": key,
            "bucket": bucket,
            "store_id": file_key.store_id,
            "file_date": file_key.file_date or local_date(now, load_program().tz).isoformat(),
            "started_at": now.isoformat(),
            "report_key": report_key,
            "rejects_key": rejects_key,
            "etag": head.etag,
            "size": head.size,
            "upload_id": head.upload_id,
            "expires_at": _epoch(now, FILE_DAYS),
        }
    )
    if run["status"] != records.RUNNING:
        return  # the same S3 event again, after its run ended
    logger.info("sales file received", extra={"file_id": run["file_id"], "key": key, "bytes": head.size})
    try:
        if not file_key.valid:
            raise FileProblem("bad_key", "the key must be incoming/<store_id>/<YYYY-MM-DD>[-<label>].csv[.gz]")
        _plan(run)
    except FileProblem as problem:
        _fail(run, problem.reason, problem.message)
    except objects.FileReplaced:
        _fail(run, FILE_REPLACED, "the file was replaced while it was read; the new upload has its own report")


def _plan(run: dict[str, Any]) -> None:
    size = int(run["size"])
    if size == 0:
        raise FileProblem("empty_file", "the file is empty")
    if size > MAX_FILE_BYTES:
        raise FileProblem("too_large", f"the file is larger than {MAX_FILE_BYTES} bytes")
    plan = reader.plan_file(
        objects.open_file(run["bucket"], run["key"], run["etag"]), ROWS_PER_CHUNK, CHUNK_BYTES, MAX_FILE_BYTES
    )
    chunks = [[chunk.start, chunk.end, chunk.first_record, int(chunk.has_returns)] for chunk in plan.chunks]
    totals = {
        "sales_total": len(chunks),
        "returns_total": sum(chunk[3] for chunk in chunks),
        "header": list(plan.header.names),
        "compressed": plan.compressed,
    }
    records.save_plan(run["file_id"], totals, chunks)
    logger.info("sales file planned", extra={"file_id": run["file_id"], "rows": plan.rows, "chunks": len(chunks)})
    run = {**run, **totals}
    if chunks:
        _dispatch(run, records.SALES, chunks)
    else:  # a header-only file: completed with 0 rows
        _next_phase(run, records.SALES, "file")


def _dispatch(run: dict[str, Any], phase: str, chunks: list[list[int]]) -> None:
    """Queue the phase's chunks; a single chunk is applied right here (no queue round trip)."""
    tasks = [
        ChunkTask(run["file_id"], phase, index, start, end, first)
        for index, (start, end, first, has_returns) in enumerate(chunks)
        if phase == records.SALES or has_returns
    ]
    if len(tasks) == 1:
        run_chunk(tasks[0])
    else:
        _enqueue(tasks)


def _next_phase(run: dict[str, Any], phase: str, me: str) -> None:
    """Only the chunk that completes a phase passes this (the conditional counter in advance())."""
    target = records.RETURNS if phase == records.SALES and int(run["returns_total"]) else records.FINALIZING
    if not records.advance(run["file_id"], phase, target, me):
        return
    if target == records.RETURNS:
        _dispatch(run, records.RETURNS, records.plan_chunks(run["file_id"]))
    else:
        _finalize(run["file_id"])


def _final_parts(parts: list[str]) -> list[str]:
    """Per chunk, the returns phase's part (it includes the sales phase's rejects) or else the sales one."""
    chosen: dict[str, str] = {}
    for part in parts:  # sorted: "<chunk>-returns.csv" comes before "<chunk>-sales.csv"
        chosen.setdefault(part.rsplit("/", 1)[-1].split("-", 1)[0], part)
    return [chosen[chunk] for chunk in sorted(chosen)]


def _finalize(file_id: str) -> None:
    run = records.get_file(file_id)
    if run is None or run["status"] != records.RUNNING or run["phase"] != records.FINALIZING:
        return
    bucket = run["bucket"]
    finished = clock.now()
    objects.put_rejects(
        bucket, run["rejects_key"], run.get("header") or [], _final_parts(objects.work_parts(bucket, file_id))
    )
    fields = {"status": records.COMPLETED, "finished_at": finished.isoformat()}
    summary = report({**run, **fields})
    objects.put_json(bucket, run["report_key"], summary)
    if records.finish(file_id, fields, expect_phase=records.FINALIZING):
        events.publish([DomainEvent("file.completed", _event_detail(summary))])
        duration = (finished - datetime.fromisoformat(run["started_at"])).total_seconds()
        metrics.add_metric(name="IngestFileDuration", unit="Seconds", value=duration)
        metrics.add_metric(name="IngestFilesCompleted", unit="Count", value=1)
        logger.info(
            "sales file completed",
            extra={k: summary[k] for k in ("file_id", "rows", "applied", "duplicates", "rejected")},
        )
    objects.delete_prefix(bucket, names.work_prefix(file_id))


def _fail(run: dict[str, Any], reason: str, message: str) -> None:
    fields = {"status": records.FAILED, "reason": reason, "message": message, "finished_at": clock.now().isoformat()}
    summary = report({**run, **fields})
    if reason != FILE_REPLACED:  # reports/<key> belongs to the upload that replaced this one
        objects.put_json(run["bucket"], run["report_key"], summary)
    if records.finish(run["file_id"], fields):
        events.publish([DomainEvent("file.failed", _event_detail(summary))])
        metrics.add_metric(name="IngestFilesFailed", unit="Count", value=1)
        logger.warning("sales file failed", extra={"file_id": run["file_id"], "reason": reason})


def _event_detail(summary: dict[str, Any]) -> dict[str, Any]:
    wanted = (
        "file_id",
        "key",
        "store_id",
        "status",
        "rows",
        "applied",
        "duplicates",
        "rejected",
        "non_member",
        "member_sales",
        "non_member_sales",
        "reason",
    )
    return {name: summary[name] for name in wanted if name in summary}


# --- a chunk -----------------------------------------------------------------------------------


def run_chunk(task: ChunkTask) -> None:
    run = records.get_file(task.file_id)
    if run is None or run["status"] != records.RUNNING:
        return
    if not records.chunk_committed(task.file_id, task.phase, task.chunk):
        try:
            tally = _apply_chunk(run, task)
        except objects.FileReplaced:
            _fail(run, FILE_REPLACED, "the file was replaced while it was read; the new upload has its own report")
            return
        _save_rejects(run, task, tally)
        if records.commit_chunk(
            task.file_id, task.phase, task.chunk, run["store_id"], tally, _epoch(clock.now(), MARKER_DAYS)
        ):
            metrics.add_metric(name="IngestRowsApplied", unit="Count", value=tally.applied)
            metrics.add_metric(name="IngestRowsRejected", unit="Count", value=tally.rejected)
            metrics.add_metric(name="IngestRowsDuplicate", unit="Count", value=tally.duplicates)
    # Also after a redelivery of a committed chunk: its first delivery may have stopped right here.
    _next_phase(run, task.phase, f"{task.phase}#{task.chunk}")


def _save_rejects(run: dict[str, Any], task: ChunkTask, tally: Tally) -> None:
    if not tally.rejects:
        return
    key = names.rejects_part_key(task.file_id, task.chunk, task.phase)
    earlier = names.rejects_part_key(task.file_id, task.chunk, records.SALES) if task.phase == records.RETURNS else None
    objects.put_rejects_part(run["bucket"], key, tally.rejects, merge_with=earlier)


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

    def __init__(self, run: dict[str, Any], phase: str) -> None:
        self.program: Program = load_program()
        self.file_id: str = run["file_id"]
        self.store_id: str = run["store_id"]
        self.phase = phase
        # Time checks use the arrival time, not the clock: both phases and every retry of a chunk
        # then judge a row the same way, so each row is counted exactly once.
        self.arrived = datetime.fromisoformat(run["started_at"])

    def check(self, row: SalesRow, kind: str) -> Rejection | None:
        """The per-row rules beyond the model (docs/sales-files.md), the same in both phases."""
        if row.store_id != self.store_id:
            return Rejection("store_mismatch", f"store_id {row.store_id!r} is not the file's store")
        if row.currency != self.program.currency:
            return Rejection("bad_currency", f"currency must be {self.program.currency}")
        try:
            check_occurred_at(self.program, row.occurred_at, self.arrived)
        except InvalidRequest as error:
            return Rejection("bad_timestamp", error.message)
        if kind == RETURN and not row.original_receipt_id:
            return Rejection("missing_field", "original_receipt_id is required for a RETURN")
        return None

    def rows(self, parsed: Iterable[Parsed], tally: Tally) -> Iterator[Row]:
        """The valid rows of this phase; the sales phase counts every row and rejects the bad ones."""
        counting = self.phase == records.SALES
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


Claimed = tuple[Row, "records.Claim | None"]  # None: claim it when applying (see _claim_batches)


def _apply_chunk(run: dict[str, Any], task: ChunkTask) -> Tally:
    file = FileRun(run, task.phase)
    stream = objects.open_chunk(
        run["bucket"], run["key"], run["etag"], bool(run.get("compressed")), task.start, task.end
    )
    parsed = reader.read_rows(stream, parse_header(run["header"]), task.first_record)
    inline = Tally()

    def apply(claimed: Claimed, tally: Tally) -> None:
        row, claim = claimed
        claim = claim or records.claim_receipt(file.store_id, row.data.receipt_id, _receipt(file, row))
        outcome = _apply_sale(file, row, claim) if row.kind == SALE else _apply_return(file, row, claim)
        tally.count(outcome, row.number, row.fields)
        if outcome.status == APPLIED:
            tally.sold(file.day(row), outcome.member, row.kind, row.amount)

    claimed = _claim_batches(file, file.rows(parsed, inline))
    states = parallel.run_keyed(claimed, lambda item: item[0].affinity, apply, ROW_WORKERS, Tally)
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
        if len(batch) == CLAIM_BATCH:
            yield from _claim_batch(file, batch)
            batch = []
    yield from _claim_batch(file, batch)


def _claim_batch(file: FileRun, batch: list[Row]) -> Iterator[Claimed]:
    first: dict[str, Row] = {}
    for row in batch:
        first.setdefault(row.data.receipt_id, row)
    holders = records.claim_receipts(
        file.store_id, {receipt_id: _receipt(file, row) for receipt_id, row in first.items()}
    )
    for row in batch:
        yield row, records.Claim(holders[row.data.receipt_id]) if first[row.data.receipt_id] is row else None


# --- a row -------------------------------------------------------------------------------------


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
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _receipt(file: FileRun, row: Row) -> dict[str, Any]:
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
        "expires_at": _epoch(data.occurred_at, file.program.max_backdate_days + 30),
    }
    if row.kind == SALE:
        values["returned_amount"] = Decimal(0)
    return values


def _purchase(file: FileRun, row: Row, member_id: str, order_id: str) -> RecordPurchase:
    """The command a member's sale row becomes: the same for the same row, so a replay is recognised."""
    data = row.data
    lines = (PurchaseLine(row.amount, data.category),) if data.category else ()
    return RecordPurchase(
        member_id, order_id, row.amount, data.currency, data.occurred_at, "store", file.store_id, lines
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
    records.release_receipt(file.store_id, row.data.receipt_id, file.file_id, row.number)
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


def _apply_sale(file: FileRun, row: Row, claim: records.Claim) -> Outcome:
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


def _apply_return(file: FileRun, row: Row, claim: records.Claim) -> Outcome:
    if not claim.mine(file.file_id, row.number):
        return _seen(file, row, claim.item or {})
    if claim.item is not None and claim.item.get("applied"):
        return Outcome(APPLIED)  # a retried chunk: this non-member return was recorded
    sale = records.get_receipt(file.store_id, row.data.original_receipt_id)
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
    for _ in range(RETURN_TRIES):
        returned = Decimal(sale.get("returned_amount", 0))
        left = Decimal(sale["amount"]) - returned
        if row.amount > left:  # as rules.record_return checks a member's purchase
            if _recorded(file, row):
                return Outcome(APPLIED)  # by a twin delivery of this chunk, which moved `left`
            error = ReturnExceedsPurchase(f"return of {row.amount} exceeds the {left} left of the sale")
            return _refused(file, row, error.code, error.message)
        try:
            records.apply_non_member_return(
                file.store_id, sale, returned + row.amount, row.data.receipt_id, file.file_id, row.number
            )
            return Outcome(APPLIED)
        except records.StaleReceipt:
            if _recorded(file, row):
                return Outcome(APPLIED)
        sale = records.get_receipt(file.store_id, sale["receipt_id"]) or sale
    raise Busy("the sale is being returned by other rows, retry shortly")


def _recorded(file: FileRun, row: Row) -> bool:
    """Whether this non-member return row is recorded (its receipt item carries `applied`)."""
    return bool((records.get_receipt(file.store_id, row.data.receipt_id) or {}).get("applied"))


# --- views (GET /files) and the CLI (`loyalty ingest`) -----------------------------------------


def file_report(file_id: str) -> dict[str, Any]:
    item = records.get_file(file_id)
    if item is None:
        raise NotFound(f"file {file_id} not found")
    return report(item)


def file_reports(file_date: str, store_id: str | None = None, limit: int = 100) -> dict[str, Any]:
    files = [report(item) for item in records.files_of_day(file_date, store_id, limit)]
    return {"date": file_date, "store_id": store_id, "files": files}


def upload_name(path: Path, today: str) -> str:
    """The file's own name when it follows `<YYYY-MM-DD>[-<label>].csv[.gz]`, else today's date with
    the name as label."""
    if names.valid_file_name(path.name):
        return path.name
    with path.open("rb") as handle:
        gzipped = handle.read(2) == reader.GZIP_MAGIC
    stem = path.name.removesuffix(".gz").removesuffix(".csv")
    label = re.sub(r"[^A-Za-z0-9._\-]+", "-", stem).strip("-.")[:64] or "upload"
    return f"{today}-{label}.csv{'.gz' if gzipped else ''}"


def submit_file(path: Path, store_id: str) -> tuple[str, str]:
    """Upload a sales file to the bucket's incoming/ prefix; returns (key, upload id)."""
    if not names.valid_store_id(store_id):
        raise InvalidRequest("store id: 1 to 64 letters, digits or . _ -")
    today = local_date(clock.now(), load_program().tz).isoformat()
    key = names.incoming_key(store_id, upload_name(path, today))
    upload_id = uuid.uuid4().hex
    objects.upload(settings().bucket_name, key, str(path), upload_id)
    return key, upload_id


def wait_for_report(key: str, upload_id: str, timeout: float, poll: float = 0.5) -> dict[str, Any] | None:
    """The report of this very upload (an older report of the same key does not count)."""
    report_key = names.parse_key(key).report_key
    deadline = time.monotonic() + timeout
    while True:
        found = objects.get_json(settings().bucket_name, report_key)
        if found is not None and found.get("upload_id") == upload_id:
            return found
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll)
