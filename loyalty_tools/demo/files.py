"""The stores' daily sales files (docs/sales-files.md): written from the plan's till rows, uploaded to the
stack's bucket under `incoming/<store>/`, and ingested in this process under the simulated clock.

Why the bucket's notification is paused during an upload: `loyalty dev` would otherwise receive
the S3 event from the queue and ingest the same object again, in real time. Ingestion names a run
after the S3 event (moto's has no sequencer: ETag + event time), so that second run would be a new
run of the same key: every row a `duplicate`, and the report at `reports/<key>.json` rewritten
with `applied: 0`. Worse, it can start before ours and apply rows at the real time. So the demo
uploads with the notification off, puts it back at once, and hands ingestion the S3 event itself
(`services.sales_files.queue.handle_message`, what the queue handler calls), dated in simulated time.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from datetime import time as day_time
from typing import Any
from urllib.parse import quote_plus

from chalicelib.ingest import names
from chalicelib.ingest.rows import COLUMNS
from chalicelib.store import aws, objects
from loyalty_tools.demo.model import Plan, StoreRow

ATTEMPTS = 3


def _styles(position: int) -> dict[str, Any]:
    """Each store's till software writes its files a little differently (all valid: docs/sales-files.md)."""
    styles: list[dict[str, Any]] = [
        {"header": list(COLUMNS), "newline": "\n"},
        {"header": [c.title() for c in COLUMNS], "newline": "\r\n", "bom": True},
        {"header": [*COLUMNS[::-1]], "newline": "\n", "gzip": True},
        {"header": [c.upper() for c in COLUMNS] + ["CASHIER"], "newline": "\r\n", "extra": True},
    ]
    return styles[position % 4]


def _occurred_at(plan: Plan, row: StoreRow, tz: tzinfo, second: int) -> str:
    moment = datetime.combine(plan.date_of(row.day), day_time(row.minute // 60, row.minute % 60, second), tz)
    return moment.isoformat(timespec="seconds")


def render(plan: Plan, store: str, rows: list[StoreRow], tz: tzinfo, currency: str) -> tuple[str, bytes]:
    """(file name suffix, body) of one store's file."""
    style = _styles(plan.stores.index(store))
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator=style["newline"])
    writer.writerow(style["header"])
    normal = [name.lower() for name in style["header"]]
    for number, row in enumerate(rows):
        values = {
            "store_id": store,
            "receipt_id": row.receipt_id,
            "occurred_at": _occurred_at(plan, row, tz, (number * 7) % 60),
            "type": row.kind,
            "amount": f"{row.amount:.2f}",
            "currency": currency,
            "member_id": row.member_id,
            "original_receipt_id": row.original.receipt_id if row.original else "",
            "category": row.category,
            "cashier": f"c{(number % 3) + 1}",
            "staff_id": f"{store}-clerk{(number % 4) + 1}" if row.member_id and row.kind == "SALE" else "",
        }
        writer.writerow([values[name] for name in normal])
    body = (("\ufeff" if style.get("bom") else "") + text.getvalue()).encode()
    if style.get("gzip"):
        return ".csv.gz", gzip.compress(body, mtime=0)
    return ".csv", body


@contextmanager
def notifications_paused(bucket: str) -> Iterator[None]:
    """The bucket's event notifications off for the block, then exactly as they were."""
    s3 = aws.client("s3")
    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    current.pop("ResponseMetadata", None)
    if not any(current.values()):
        yield
        return
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    try:
        yield
    finally:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=current)


def upload(bucket: str, key: str, body: bytes, upload_id: str) -> dict[str, Any]:
    """Put the object (its notification paused by the caller); the S3 event ingestion gets."""
    answer = aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, Metadata={objects.UPLOAD_ID: upload_id})
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": bucket},
            "object": {"key": quote_plus(key), "size": len(body), "eTag": answer["ETag"].strip('"')},
        },
    }


def ingest(bucket: str, key: str, event: dict[str, Any], moment: datetime, upload_id: str) -> dict[str, Any]:
    """Ingest one uploaded file in this process (as the queue handler would) and return its report.
    A failure is retried as SQS would redeliver it: the same event is the same run."""
    from chalicelib.services.sales_files import queue as ingestion

    body = json.dumps({"Records": [{**event, "eventTime": moment.astimezone(UTC).isoformat()}]})
    for attempt in range(ATTEMPTS):
        try:
            ingestion.handle_message(body)
            break
        except Exception:
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    report = objects.get_json(bucket, names.parse_key(key).report_key)
    if report is None or report.get("upload_id") != upload_id:
        raise RuntimeError(f"no report for {key} after ingesting it")
    return report


def file_key(plan: Plan, store: str, day: int, suffix: str) -> str:
    return names.incoming_key(store, f"{plan.date_of(day).isoformat()}-demo{plan.seed}{suffix}")
