"""The ingest queue's dead letters: a file or chunk message that failed every delivery. Its file
can never finish on its own (its phase counter waits for that chunk), so it is failed here with a
reason, through the same path as any failed file (report written, `file.failed` emitted)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from chalicelib.ingest import names
from chalicelib.observability import logger
from chalicelib.services.sales_files import phases, queue
from chalicelib.store import file_runs

CHUNK_FAILED, PROCESSING_FAILED = "chunk_failed", "processing_failed"


def handle_dead_letters(messages: list[tuple[str, str]]) -> list[str]:
    """Handle (message id, body) pairs from the DLQ; returns the ids to retry (a store error)."""
    return queue.each_message(messages, handle_dead_letter, "dead letter")


def handle_dead_letter(body: str) -> None:
    task, records = queue.read_message(body)
    if task is not None:
        fail_file(task.file_id, CHUNK_FAILED, f"chunk {task.chunk} of the {task.phase} phase failed every delivery")
    for record in records:
        _fail_notified_file(record)


def _fail_notified_file(record: dict[str, Any]) -> None:
    key = unquote_plus(record["s3"]["object"]["key"])
    if not names.is_incoming(key):
        return
    file_id = phases.run_id(record["s3"]["bucket"]["name"], key, record)  # the id its run was given
    fail_file(file_id, PROCESSING_FAILED, "the file's message failed every delivery")


def fail_file(file_id: str, reason: str, message: str) -> bool:
    """Fail a run that is still running; a completed or failed one stays as it is (finish() is
    conditional on `running` too). False: there was nothing to fail."""
    run = file_runs.get_file(file_id)
    if run is None:  # its first delivery failed before the run was recorded: nothing to report on
        logger.warning("dead letter of a file without a run", extra={"file_id": file_id, "reason": reason})
        return False
    if not run.running:
        return False
    last_error = run.last_error
    # phases' own failure path: the one way a run fails (report, event, metric).
    phases.fail_run(run, reason, f"{message}: {last_error}" if last_error else message)
    return True
