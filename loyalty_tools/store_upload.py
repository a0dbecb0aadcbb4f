"""`loyalty ingest --key`: a store's upload through the API alone, as a till would do it: ask for an
upload URL, PUT the file with plain HTTP (no AWS SDK, no AWS credentials), then read the store's
file reports until this upload's is there."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

HTTP_TIMEOUT_SECONDS = 30
PAGE = 100


class UploadError(Exception):
    """The API or the bucket refused a step; the message says which and why."""


def _json(request: urllib.request.Request) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as error:
        try:
            body = json.loads(error.read()).get("error") or {}
        except ValueError:
            body = {}
        detail = "; ".join(f"{d.get('field')}: {d.get('message')}" for d in body.get("details") or [])
        text = f"{error.code} {body.get('code', error.reason)}: {body.get('message', '')}"
        raise UploadError(
            f"{request.get_method()} {request.full_url} → {text}" + (f" ({detail})" if detail else "")
        ) from error
    except urllib.error.URLError as error:
        raise UploadError(f"cannot reach {request.full_url}: {error.reason} (is the API running? see --api)") from error


class StoreClient:
    def __init__(self, api: str, key: str, store_id: str) -> None:
        self.base = f"{api.rstrip('/')}/stores/{quote(store_id, safe='')}"
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def upload_url(self, file_name: str) -> dict[str, Any]:
        body = json.dumps({"file_name": file_name}).encode()
        return _json(urllib.request.Request(f"{self.base}/uploads", body, self.headers, method="POST"))

    def newest_files(self) -> list[dict[str, Any]]:
        page = _json(urllib.request.Request(f"{self.base}/files?limit={PAGE}", headers=self.headers))
        files: list[dict[str, Any]] = page["files"]
        return files


def put_file(url: str, path: Path) -> None:
    """A plain HTTP PUT with its Content-Length (S3 refuses chunked uploads to a presigned URL)."""
    with path.open("rb") as handle:
        headers = {"Content-Length": str(path.stat().st_size), "Content-Type": "application/octet-stream"}
        request = urllib.request.Request(url, handle, headers, method="PUT")
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
                response.read()
        except urllib.error.HTTPError as error:
            raise UploadError(f"the bucket refused the upload: {error.code} {error.read()[:300]!r}") from error


def upload(client: StoreClient, path: Path, file_name: str) -> tuple[str, set[str]]:
    """PUT the file to a fresh upload URL; (its key, the ids of that key's reports listed before)."""
    answer = client.upload_url(file_name)
    key = str(answer["key"])
    earlier = {report["file_id"] for report in client.newest_files() if report["key"] == key}
    put_file(str(answer["upload_url"]), path)
    return key, earlier


def wait_for_report(
    client: StoreClient, key: str, earlier: set[str], timeout: float, poll: float = 0.5
) -> dict[str, Any] | None:
    """The newest finished report of `key` that was not listed before the PUT; None after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        for report in client.newest_files():
            if report["key"] == key and report["file_id"] not in earlier and report["status"] != "running":
                return report
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll)
