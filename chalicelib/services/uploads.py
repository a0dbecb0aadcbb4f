"""Stores without AWS credentials: a presigned S3 PUT of `incoming/<store>/<name>` (the normal
ingestion takes it from there), and the store's own file reports, newest first.

Why a presigned PUT and not a presigned POST: a POST policy could bound the size
(`content-length-range`), but the client would then need the policy fields and a multipart form; a
plain HTTP PUT (curl -T, any HTTP library) is the contract. S3 itself caps a PUT at 5 GB and the
ingestion refuses anything over its own limit as `failed` / `too_large`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chalicelib import clock
from chalicelib.config import settings
from chalicelib.domain.errors import InvalidRequest
from chalicelib.ingest import names
from chalicelib.ingest.tally import report
from chalicelib.services import cursors
from chalicelib.store import aws, file_runs

UPLOAD_SECONDS = 15 * 60  # long enough for a slow till connection, short enough to leak little


def check_store_id(store_id: str) -> None:
    if not names.valid_store_id(store_id):
        raise InvalidRequest(
            "invalid store id", [{"field": "store_id", "message": "1 to 64 letters, digits or . _ -, first not . _ -"}]
        )


def valid_upload_name(name: str) -> bool:
    """The sales-file naming rule, ASCII only and nothing around it (the rule's `$` would let a
    trailing newline through into the key)."""
    return name.isascii() and name == name.strip() and names.valid_file_name(name)


def create_upload(store_id: str, file_name: str) -> dict[str, Any]:
    """A URL the store PUTs the file to, valid UPLOAD_SECONDS; signed by this function's role."""
    check_store_id(store_id)
    if not valid_upload_name(file_name):
        raise InvalidRequest(
            "the file name does not follow the sales-file naming rule",
            [{"field": "file_name", "message": "expected <YYYY-MM-DD>[-<label>].csv or .csv.gz, a real date"}],
        )
    key = names.incoming_key(store_id, file_name)
    # Only the method, bucket and key are signed: no header the client would have to repeat.
    url = aws.client("s3").generate_presigned_url(
        "put_object",
        Params={"Bucket": settings().bucket_name, "Key": key},
        ExpiresIn=UPLOAD_SECONDS,
        HttpMethod="PUT",
    )
    expires_at = clock.now().replace(microsecond=0) + timedelta(seconds=UPLOAD_SECONDS)
    return {"upload_url": url, "key": key, "expires_at": expires_at.isoformat()}


def store_files(store_id: str, limit: int, cursor: str | None) -> dict[str, Any]:
    """A page of the store's file reports, newest first; `next_cursor` continues it."""
    check_store_id(store_id)
    scope = {"s": store_id}  # another store's cursor, or a ledger's, is refused
    start = cursors.decode(scope, cursor) if cursor else None
    runs, last = file_runs.files_of_store(store_id, limit, start)
    return {
        "store_id": store_id,
        "files": [report(run) for run in runs],
        "next_cursor": cursors.encode(scope, last) if last else None,
    }
