"""GET /files and GET /files/{file_id} (ops), the `loyalty ingest` helpers, and the events."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from chalicelib import events
from chalicelib.store import aws
from loyalty_tools import upload
from tests.integration.conftest import TABLE
from tests.integration.test_ingest_files import (  # the shared harness
    BUCKET,
    Harness,
    csv_file,
    enrol,
    ingest,  # noqa: F401  (fixture)
    sale,
)
from tests.support import Api, Outbox, as_emitted


def test_ops_lists_a_days_files_and_reads_one(api: Api, ingest: Harness) -> None:  # noqa: F811
    enrol("m1")
    first = ingest.run(csv_file(sale("r1", "10.00", "m1")))
    ingest.run(b"\x00\x01binary", "2026-11-21-b.csv")
    ingest.run(csv_file(sale("r1", "10.00", store="s2")), store="s2")

    status, listed = api.get("/files?date=2026-11-21&store_id=s1", role="ops")
    assert status == 200, listed
    assert sorted(f["status"] for f in listed["files"]) == ["completed", "failed"]
    assert {f["store_id"] for f in listed["files"]} == {"s1"}
    status, every_store = api.get("/files?date=2026-11-21", role="ops")
    assert status == 200 and len(every_store["files"]) == 3

    status, one = api.get(f"/files/{first['file_id']}", role="ops")
    assert status == 200
    assert one == first  # the same document as reports/<key>.json


@pytest.mark.parametrize(
    ("path", "role", "status", "code"),
    [
        ("/files?date=2026-11-21", "storefront", 403, "forbidden"),
        ("/files?date=2026-11-21", None, 401, None),  # no key: the authorizer's own 401
        ("/files/nope", "ops", 404, "not_found"),
        ("/files?date=21-11-2026", "ops", 400, "invalid_request"),
        ("/files?limit=5", "ops", 400, "invalid_request"),  # neither a day nor a store
        ("/files?date=2026-11-21&store_id=a%23b", "ops", 400, "invalid_request"),
    ],
)
def test_files_routes_refuse_what_they_should(
    api: Api,
    ingest: Harness,  # noqa: F811
    path: str,
    role: str | None,
    status: int,
    code: str | None,
) -> None:
    answer_status, answer = api.get(path, role=role)
    assert answer_status == status
    if code is not None:
        assert answer["error"]["code"] == code


def test_completed_and_failed_files_publish_their_events(
    ingest: Harness,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    published: list[tuple[str, dict[str, Any]]] = []

    def record(items: Any) -> set[int]:
        published.extend(as_emitted(event) for event in items)
        return set()

    monkeypatch.setattr(events, "publish", record)
    outbox = Outbox(TABLE)  # the file's event is written with its final status; the stream publishes it
    ingest.run(csv_file(sale("r1", "10.00")))
    ingest.run(b"", "2026-11-21-empty.csv")
    assert not published
    outbox.deliver()
    kinds = dict(published)
    assert kinds["file.completed"]["applied"] == 1 and kinds["file.completed"]["non_member"] == 1
    assert kinds["file.failed"]["reason"] == "empty_file"
    assert all("member_id" not in detail for _, detail in published)


def test_submit_and_wait_for_this_uploads_report(ingest: Harness, tmp_path: Path) -> None:  # noqa: F811
    plain = tmp_path / "2026-11-21-eve.csv"
    plain.write_text(csv_file(sale("r1", "10.00")))
    key, upload_id = upload.submit_file(plain, "s1")
    assert key == "incoming/s1/2026-11-21-eve.csv"
    assert upload.wait_for_report(key, upload_id, timeout=0) is None  # not delivered yet
    ingest.deliver()
    report = upload.wait_for_report(key, upload_id, timeout=0)
    assert report is not None and report["upload_id"] == upload_id and report["applied"] == 1

    # Any other name gets today's date (program time) and the name as label; gzip keeps .gz.
    other = tmp_path / "Till 3 export.csv"
    other.write_bytes(gzip.compress(csv_file(sale("r2", "1.00")).encode()))
    key, _ = upload.submit_file(other, "s1")
    assert key == "incoming/s1/2026-11-22-Till-3-export.csv.gz"
    head = aws.client("s3").head_object(Bucket=BUCKET, Key=key)
    assert head["Metadata"]["upload-id"]
