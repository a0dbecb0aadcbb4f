"""`loyalty ingest` with AWS credentials: upload a sales file to the bucket and wait for its report."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

from chalicelib import clock
from chalicelib.config import settings
from chalicelib.domain.calendar import local_date
from chalicelib.domain.errors import InvalidRequest
from chalicelib.ingest import names, reader
from chalicelib.program import load_program
from chalicelib.store import objects


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
