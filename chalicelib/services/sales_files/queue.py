"""The ingest queue's messages: S3 notifications of new files, and chunks of files being applied."""

from __future__ import annotations

import json

from chalicelib.observability import logger
from chalicelib.services.sales_files import phases
from chalicelib.services.sales_files.tasks import CHUNK_MESSAGE, ChunkTask


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
        phases.run_chunk(ChunkTask.from_message(message))
        return
    for record in message.get("Records", []):  # an S3 notification (s3:TestEvent has none)
        if str(record.get("eventName", "")).startswith("ObjectCreated"):
            phases.start_file(record)
