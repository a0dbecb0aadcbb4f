"""A file's life: planned in one streaming pass, its sales then its returns applied chunk by chunk,
the phase moved on by the chunk that completes it (a conditional counter), the report written."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.metrics import EphemeralMetrics

from chalicelib import clock
from chalicelib.domain import outbox
from chalicelib.domain.calendar import local_date
from chalicelib.ingest import names, reader
from chalicelib.ingest.reader import FileProblem
from chalicelib.ingest.tally import Tally, report
from chalicelib.observability import SERVICE, logger, metrics
from chalicelib.program import load_program
from chalicelib.services.sales_files import limits, tasks
from chalicelib.services.sales_files.chunks import apply_chunk
from chalicelib.services.sales_files.limits import FILE_REPLACED, epoch
from chalicelib.services.sales_files.tasks import ChunkTask
from chalicelib.store import codec, file_runs, objects


def run_id(bucket: str, key: str, record: dict[str, Any]) -> str:
    """Stable for one S3 event (a redelivery is the same run), new for every upload: the event's
    sequencer orders writes to a key (moto has none: the ETag and event time stand in)."""
    s3 = record.get("s3", {})
    version = s3.get("object", {}).get("sequencer") or f"{s3.get('object', {}).get('eTag')}@{record.get('eventTime')}"
    return hashlib.sha256(f"{bucket}\n{key}\n{version}".encode()).hexdigest()[:24]


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
    file_id = run_id(bucket, key, record)
    report_key, rejects_key = file_key.outputs(file_id)  # a bad key's are named by the file id
    run = file_runs.create_file(
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
            "expires_at": epoch(now, limits.FILE_DAYS),
        }
    )
    if not run.running:
        return  # the same S3 event again, after its run ended
    logger.info("sales file received", extra={"file_id": run.file_id, "key": key, "bytes": head.size})
    try:
        if not file_key.valid:
            raise FileProblem("bad_key", "the key must be incoming/<store_id>/<YYYY-MM-DD>[-<label>].csv[.gz]")
        _plan(run)
    except FileProblem as problem:
        fail_run(run, problem.reason, problem.message)
    except objects.FileReplaced:
        fail_run(run, FILE_REPLACED, "the file was replaced while it was read; the new upload has its own report")


def _plan(run: file_runs.FileRunRecord) -> None:
    size = run.size
    if size == 0:
        raise FileProblem("empty_file", "the file is empty")
    if size > limits.MAX_FILE_BYTES:
        raise FileProblem("too_large", f"the file is larger than {limits.MAX_FILE_BYTES} bytes")
    plan = reader.plan_file(
        objects.open_file(run.bucket, run.key, run.etag),
        limits.ROWS_PER_CHUNK,
        limits.CHUNK_BYTES,
        limits.MAX_FILE_BYTES,
    )
    chunks = [[chunk.start, chunk.end, chunk.first_record, int(chunk.has_returns)] for chunk in plan.chunks]
    totals = {
        "sales_total": len(chunks),
        "returns_total": sum(chunk[3] for chunk in chunks),
        "header": list(plan.header.names),
        "compressed": plan.compressed,
    }
    file_runs.save_plan(run.file_id, totals, chunks)
    logger.info("sales file planned", extra={"file_id": run.file_id, "rows": plan.rows, "chunks": len(chunks)})
    run = run.with_fields(totals)
    if chunks:
        _dispatch(run, file_runs.SALES, chunks)
    else:  # a header-only file: completed with 0 rows
        _next_phase(run, file_runs.SALES, "file")


def _dispatch(run: file_runs.FileRunRecord, phase: str, chunks: list[list[int]]) -> None:
    """Queue the phase's chunks; a single chunk is applied right here (no queue round trip)."""
    chunk_tasks = [
        ChunkTask(run.file_id, phase, index, start, end, first)
        for index, (start, end, first, has_returns) in enumerate(chunks)
        if phase == file_runs.SALES or has_returns
    ]
    if len(chunk_tasks) == 1:
        run_chunk(chunk_tasks[0])
    else:
        tasks.enqueue(chunk_tasks)


def _next_phase(run: file_runs.FileRunRecord, phase: str, me: str) -> None:
    """Only the chunk that completes a phase passes this (the conditional counter in advance())."""
    target = file_runs.RETURNS if phase == file_runs.SALES and run.returns_total else file_runs.FINALIZING
    if not file_runs.advance(run.file_id, phase, target, me):
        return
    if target == file_runs.RETURNS:
        _dispatch(run, file_runs.RETURNS, file_runs.plan_chunks(run.file_id))
    else:
        _finalize(run.file_id)


def _final_parts(parts: list[str]) -> list[str]:
    """Per chunk, the returns phase's part (it includes the sales phase's rejects) or else the sales one."""
    chosen: dict[str, str] = {}
    for part in parts:  # sorted: "<chunk>-returns.csv" comes before "<chunk>-sales.csv"
        chosen.setdefault(part.rsplit("/", 1)[-1].split("-", 1)[0], part)
    return [chosen[chunk] for chunk in sorted(chosen)]


def _finalize(file_id: str) -> None:
    run = file_runs.get_file(file_id)
    if run is None or not run.running or run.phase != file_runs.FINALIZING:
        return
    bucket = run.bucket
    finished = clock.now()
    objects.put_rejects(bucket, run.rejects_key, run.header, _final_parts(objects.work_parts(bucket, file_id)))
    fields = {"status": file_runs.COMPLETED, "finished_at": finished.isoformat()}
    summary = report({**run.item, **fields})
    objects.put_json(bucket, run.report_key, summary)
    if file_runs.finish(file_id, {**fields, **_outbox("file.completed", summary)}, expect_phase=file_runs.FINALIZING):
        duration = (finished - run.started_at).total_seconds()
        metrics.add_metric(name="IngestFileDuration", unit="Seconds", value=duration)
        metrics.add_metric(name="IngestFilesCompleted", unit="Count", value=1)
        # Per store too (dimensions service, store_id): what the StoreSilent alarm watches (infra/store_watch).
        per_store = EphemeralMetrics(namespace=metrics.namespace, service=SERVICE)
        per_store.add_dimension(name="store_id", value=run.store_id)
        per_store.add_metric(name="IngestStoreFiles", unit="Count", value=1)
        per_store.flush_metrics()
        logger.info(
            "sales file completed",
            extra={k: summary[k] for k in ("file_id", "rows", "applied", "duplicates", "rejected")},
        )
    objects.delete_prefix(bucket, names.work_prefix(file_id))


def fail_run(run: file_runs.FileRunRecord, reason: str, message: str) -> None:
    fields = {"status": file_runs.FAILED, "reason": reason, "message": message, "finished_at": clock.now().isoformat()}
    summary = report({**run.item, **fields})
    if reason != FILE_REPLACED:  # reports/<key> belongs to the upload that replaced this one
        objects.put_json(run.bucket, run.report_key, summary)
    if file_runs.finish(run.file_id, {**fields, **_outbox("file.failed", summary)}):
        metrics.add_metric(name="IngestFilesFailed", unit="Count", value=1)
        logger.warning("sales file failed", extra={"file_id": run.file_id, "reason": reason})


def _outbox(detail_type: str, summary: dict[str, Any]) -> dict[str, str]:
    """The file's event, written with its final status: the table's stream publishes it (domain/outbox.py)."""
    return {outbox.OUTBOX: codec.json_text(outbox.file_outbox(detail_type, _event_detail(summary)))}


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


def run_chunk(task: ChunkTask) -> None:
    run = file_runs.get_file(task.file_id)
    if run is None or not run.running:
        return
    if not file_runs.chunk_committed(task.file_id, task.phase, task.chunk):
        try:
            tally = apply_chunk(run, task)
        except objects.FileReplaced:
            fail_run(run, FILE_REPLACED, "the file was replaced while it was read; the new upload has its own report")
            return
        _save_rejects(run, task, tally)
        if file_runs.commit_chunk(
            task.file_id, task.phase, task.chunk, run.store_id, tally, epoch(clock.now(), limits.MARKER_DAYS)
        ):
            metrics.add_metric(name="IngestRowsApplied", unit="Count", value=tally.applied)
            metrics.add_metric(name="IngestRowsRejected", unit="Count", value=tally.rejected)
            metrics.add_metric(name="IngestRowsDuplicate", unit="Count", value=tally.duplicates)
    # Also after a redelivery of a committed chunk: its first delivery may have stopped right here.
    _next_phase(run, task.phase, f"{task.phase}#{task.chunk}")


def _save_rejects(run: file_runs.FileRunRecord, task: ChunkTask, tally: Tally) -> None:
    if not tally.rejects:
        return
    key = names.rejects_part_key(task.file_id, task.chunk, task.phase)
    earlier = (
        names.rejects_part_key(task.file_id, task.chunk, file_runs.SALES) if task.phase == file_runs.RETURNS else None
    )
    objects.put_rejects_part(run.bucket, key, tally.rejects, merge_with=earlier)
