"""The ingest queue's messages: S3 notifications of new files, and chunks of files being applied."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.observability import logger
from chalicelib.services.sales_files import phases
from chalicelib.services.sales_files.tasks import CHUNK_MESSAGE, ChunkTask
from chalicelib.store import file_runs


def handle_messages(messages: list[tuple[str, str]]) -> list[str]:
    """Handle (message id, body) pairs from the ingest queue; returns the ids to retry."""
    return each_message(messages, handle_message, "ingest message")


def each_message(messages: list[tuple[str, str]], handle: Callable[[str], None], what: str) -> list[str]:
    """Handle each (message id, body) on its own; the ids whose handling raised, for the queue to
    deliver again (ReportBatchItemFailures). Shared by the queue and its dead letters."""
    failed = []
    for message_id, body in messages:
        try:
            handle(body)
        except Exception:
            logger.exception(f"{what} failed; it will be retried", extra={"message_id": message_id})
            failed.append(message_id)
    return failed


def read_message(body: str) -> tuple[ChunkTask | None, list[dict[str, Any]]]:
    """A chunk of a file to apply, or the S3 records of new objects; (None, []) for anything else
    (not JSON, S3's test event)."""
    try:
        message = json.loads(body)
    except ValueError:
        logger.warning("ignored a queue message that is not JSON")
        return None, []
    if not isinstance(message, dict):
        return None, []
    if message.get("ingest") == CHUNK_MESSAGE:
        return ChunkTask.from_message(message), []
    records = message.get("Records") or []
    return None, [r for r in records if str(r.get("eventName", "")).startswith("ObjectCreated")]


def handle_message(body: str) -> None:
    task, records = read_message(body)
    if task is not None:
        try:
            phases.run_chunk(task)
        except Exception as error:
            # Kept on the run, so that the dead-letter handler can say why the file failed.
            file_runs.note_error(task.file_id, f"{type(error).__name__}: {error}"[:500])
            raise
    for record in records:
        phases.start_file(record)
