"""The sizes and time spans of sales-file ingestion (tests shrink them to exercise fan-out)."""

from __future__ import annotations

from datetime import datetime, timedelta

ROWS_PER_CHUNK = 5_000  # ~2-10 s of DynamoDB work: well inside the Lambda and visibility timeouts
CHUNK_BYTES = 4 * 1024 * 1024
MAX_FILE_BYTES = 1024 * 1024 * 1024  # decoded; a million rows is ~100 MB
ROW_WORKERS = 16  # parallel rows per chunk (boto3's pool has 64 connections)
CLAIM_BATCH = 100  # receipt ids claimed per transaction (DynamoDB's limit: 100 items)
RETURN_TRIES = 8
MARKER_DAYS = 30  # longer than SQS keeps a message (14 days): a redelivery always finds its marker
FILE_DAYS = 400
FILE_REPLACED = "file_replaced"


def epoch(moment: datetime, days: int) -> int:
    """A TTL: `days` after `moment`, in epoch seconds."""
    return int((moment + timedelta(days=days)).timestamp())
