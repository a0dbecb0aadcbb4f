"""The ingest queue's messages: S3 notifications of new files, and chunks of files being applied."""

from __future__ import annotations

import json

from chalicelib.observability import logger
from chalicelib.services.sales_files import phases
from chalicelib.services.sales_files.tasks import CHUNK_MESSAGE, ChunkTask
from chalicelib.store import file_runs


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
        task = ChunkTask.from_message(message)
        try:
            phases.run_chunk(task)
        except Exception as error:
            # Kept on the run, so that the dead-letter handler can say why the file failed.
            file_runs.note_error(task.file_id, f"{type(error).__name__}: {error}"[:500])
            raise
        return
    for record in message.get("Records", []):  # an S3 notification (s3:TestEvent has none)
        if str(record.get("eventName", "")).startswith("ObjectCreated"):
            phases.start_file(record)
