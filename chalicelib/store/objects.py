"""S3: the uploaded sales file, its chunks' byte ranges, reports and rejects; CSV exports."""

from __future__ import annotations

import csv
import heapq
import io
import json
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from chalicelib.csv_safe import neutralise_row
from chalicelib.ingest import names, reader
from chalicelib.ingest.tally import Rejected
from chalicelib.store import aws

UPLOAD_ID = "upload-id"  # object metadata set by `loyalty ingest`, echoed in the report
REJECTS_COLUMNS = ("row", "reason", "message")
SPOOL_BYTES = 8 * 1024 * 1024


class FileReplaced(Exception):
    """The object changed after it was planned: its byte ranges no longer hold the same rows."""


@dataclass(frozen=True)
class Head:
    size: int
    etag: str
    upload_id: str | None


def _s3() -> Any:
    return aws.client("s3")


def _is_precondition_failure(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code") in ("PreconditionFailed", "412")


def _missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound")


def head(bucket: str, key: str) -> Head | None:
    """Size, version and upload id of the object; None when it is gone (deleted since the event)."""
    from botocore.exceptions import ClientError

    try:
        answer = _s3().head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    return Head(int(answer["ContentLength"]), answer["ETag"], (answer.get("Metadata") or {}).get(UPLOAD_ID))


def _body(bucket: str, key: str, etag: str, byte_range: str | None = None) -> Any:
    """The object's body, only if it is still the version that was planned (If-Match)."""
    from botocore.exceptions import ClientError

    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "IfMatch": etag}
    if byte_range:
        kwargs["Range"] = byte_range
    try:
        return _s3().get_object(**kwargs)["Body"]
    except ClientError as exc:
        if _is_precondition_failure(exc):
            raise FileReplaced(key) from exc
        raise


def open_file(bucket: str, key: str, etag: str) -> Any:
    return _body(bucket, key, etag)


def open_chunk(bucket: str, key: str, etag: str, compressed: bool, start: int, end: int) -> IO[bytes]:
    """The decoded bytes [start, end) of the file: a ranged GET, or for gzip (which cannot be
    entered mid-stream) a decompression that skips the first `start` bytes."""
    if compressed:
        return reader.window(reader.gunzip(_body(bucket, key, etag)), start, end - start)
    return reader.buffered(_body(bucket, key, etag, f"bytes={start}-{end - 1}"), end - start)


def put_json(bucket: str, key: str, document: dict[str, Any]) -> None:
    body = json.dumps(document, ensure_ascii=False, indent=2).encode()
    _s3().put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def get_json(bucket: str, key: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        body = _s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    document: dict[str, Any] = json.loads(body)
    return document


def _readable(field: str) -> str:
    # A bad_encoding row holds its undecodable bytes as surrogates: show them as U+FFFD.
    return field.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _reject_lines(rejects: Iterable[Rejected]) -> Iterator[list[str]]:
    # Every cell neutralised: ops open this file in a spreadsheet, and the fields are the store's.
    for reject in rejects:
        fields = (_readable(field) for field in reject.fields)
        yield neutralise_row([str(reject.row), reject.reason, reject.message, *fields])


def _read_part(bucket: str, key: str) -> list[list[str]]:
    from botocore.exceptions import ClientError

    try:
        body = _s3().get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    except ClientError as exc:
        if _missing(exc):
            return []  # the earlier phase rejected nothing in this chunk
        raise
    return list(csv.reader(io.StringIO(body, newline="")))


def put_rejects_part(bucket: str, key: str, rejects: list[Rejected], merge_with: str | None = None) -> None:
    """A chunk's rejected rows, sorted by row; `merge_with` is the part of an earlier phase of the
    same chunk (bounded by the chunk's size), merged in so that parts stay sorted."""
    ordered: Iterable[list[str]] = _reject_lines(sorted(rejects, key=lambda reject: reject.row))
    if merge_with is not None:
        ordered = heapq.merge(_read_part(bucket, merge_with), ordered, key=lambda line: int(line[0]))
    text = io.StringIO(newline="")
    csv.writer(text, lineterminator="\r\n").writerows(ordered)
    _s3().put_object(Bucket=bucket, Key=key, Body=text.getvalue().encode(), ContentType="text/csv")


def list_keys(bucket: str, prefix: str) -> list[str]:
    """Keys under a prefix, in key order (a run's work parts: at most a few per chunk)."""
    found: list[str] = []
    for page in _s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(found)


def put_rejects(bucket: str, key: str, header: Iterable[str], parts: list[str]) -> None:
    """The rejects file: a header, then the parts one after the other (their cells were neutralised
    when they were written), streamed through a spooled temporary file (memory stays bounded
    however many rows were rejected)."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        first = io.StringIO(newline="")
        csv.writer(first, lineterminator="\r\n").writerow(neutralise_row([*REJECTS_COLUMNS, *header]))
        spool.write(first.getvalue().encode())
        for part in parts:
            body = _s3().get_object(Bucket=bucket, Key=part)["Body"]
            while block := body.read(1024 * 1024):
                spool.write(block)
        spool.seek(0)
        _s3().upload_fileobj(spool, bucket, key, ExtraArgs={"ContentType": "text/csv"})


def delete_prefix(bucket: str, prefix: str) -> None:
    keys = list_keys(bucket, prefix)
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        _s3().delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def upload(bucket: str, key: str, path: str, upload_id: str) -> None:
    _s3().upload_file(path, bucket, key, ExtraArgs={"Metadata": {UPLOAD_ID: upload_id}})


def work_parts(bucket: str, file_id: str) -> list[str]:
    return list_keys(bucket, names.work_prefix(file_id))


def put_csv(bucket: str, key: str, header: Iterable[str], rows: Iterable[Iterable[str]]) -> int:
    """A CSV written from rows as they come (an export: audiences), every cell neutralised, through
    a spooled temporary file so memory stays bounded however many rows. Returns the rows written."""
    written = 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        line = io.StringIO(newline="")
        out = csv.writer(line, lineterminator="\r\n")
        for cells in _with_header(header, rows):
            line.seek(0)
            line.truncate()
            out.writerow(neutralise_row(cells))
            spool.write(line.getvalue().encode())
            written += 1
        spool.seek(0)
        _s3().upload_fileobj(spool, bucket, key, ExtraArgs={"ContentType": "text/csv"})
    return written - 1  # the header is no row


def _with_header(header: Iterable[str], rows: Iterable[Iterable[str]]) -> Iterator[Iterable[str]]:
    yield header
    yield from rows
