"""Stores upload without AWS credentials, through `loyalty dev`: a store key (from `loyalty keys
create --role store`) gets a presigned URL, a plain HTTP PUT of the file (urllib, no AWS SDK) starts
the normal ingestion (S3 notification → queue → pump), the store reads its report; the key reaches
nothing else; `loyalty ingest --key` does the same from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_dev_server import PROJECT_ROOT, DevStack, loyalty, running_dev

pytestmark = pytest.mark.e2e

HEADER = "store_id,receipt_id,occurred_at,type,amount,currency,member_id"
REPORT_TIMEOUT_SECONDS = 60


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_dev(tmp_path_factory.mktemp("dev")) as stack:
        yield stack


def run_loyalty(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        loyalty(*args), cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=REPORT_TIMEOUT_SECONDS + 60
    )


@pytest.fixture(scope="module")
def keys(dev: DevStack) -> dict[str, str]:
    """Store keys of S001 and S002 and an ops key, made with `loyalty keys create` as an operator would."""
    found = {"ops": dev.create_key("ops", "stores-ops")}
    for store in ("S001", "S002"):
        created = run_loyalty(
            dev.env(), "keys", "create", "--role", "store", "--store", store, "--name", f"till-{store}"
        )
        assert created.returncode == 0, created.stderr
        fields = dict(line.split(": ", 1) for line in created.stdout.splitlines())
        assert (fields["role"], fields["store"]) == ("store", store)
        found[store] = fields["key"]
    return found


def call(url: str, key: str, body: dict[str, Any] | None = None, method: str | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method or ("POST" if body is not None else "GET"))
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def sales_file(store: str, receipt: str) -> bytes:
    occurred_at = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0).isoformat()
    return f"{HEADER}\n{store},{receipt},{occurred_at},SALE,12.50,CNY,\n".encode()


def wait_for_report(dev: DevStack, key: str, store: str, object_key: str) -> dict[str, Any]:
    deadline = time.monotonic() + REPORT_TIMEOUT_SECONDS
    while True:
        status, page = call(f"{dev.api}/stores/{store}/files", key)
        assert status == 200, page
        done = [f for f in page["files"] if f["key"] == object_key and f["status"] != "running"]
        if done:
            return done[0]
        assert time.monotonic() < deadline, f"no report of {object_key} within {REPORT_TIMEOUT_SECONDS} s"
        time.sleep(0.3)


def test_keys_list_shows_the_store_of_a_store_key(dev: DevStack, keys: dict[str, str]) -> None:
    listed = run_loyalty(dev.env(), "keys", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert "store_id" in rows[0]
    column = rows[0].index("store_id")
    assert {row[column] for row in rows[1:] if "store" in row} == {"S001", "S002"}
    assert keys["S001"] not in listed.stdout


def test_a_plain_http_put_to_the_upload_url_is_ingested(dev: DevStack, keys: dict[str, str]) -> None:
    # Given: an upload URL for the store's file
    status, upload = call(f"{dev.api}/stores/S001/uploads", keys["S001"], {"file_name": "2026-11-21-put.csv"})
    assert status == 201, upload
    assert upload["upload_url"].startswith(dev.lines["AWS_ENDPOINT_URL"] + "/")  # the local moto S3

    # When: the store PUTs the file with plain HTTP, no AWS SDK and no AWS credentials
    request = urllib.request.Request(upload["upload_url"], data=sales_file("S001", "put-1"), method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200

    # Then: the normal ingestion writes the report, which the store reads
    report = wait_for_report(dev, keys["S001"], "S001", "incoming/S001/2026-11-21-put.csv")
    assert report["status"] == "completed", json.dumps(report)
    assert (report["rows"], report["applied"], report["non_member"]) == (1, 1, 1)


def test_another_stores_key_is_refused(dev: DevStack, keys: dict[str, str]) -> None:
    status, answer = call(f"{dev.api}/stores/S001/uploads", keys["S002"], {"file_name": "2026-11-21.csv"})
    assert (status, answer["error"]["code"]) == (403, "forbidden")
    status, answer = call(f"{dev.api}/stores/S001/files", keys["S002"])
    assert (status, answer["error"]["code"]) == (403, "forbidden")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/program", None),
        ("GET", "/members/x", None),
        ("GET", "/files?date=2026-11-21", None),
        ("POST", "/members", {"member_id": "from-a-till"}),
        ("GET", "/kpis?from=2026-11-01&to=2026-11-21", None),
    ],
)
def test_a_store_key_reaches_nothing_else(
    dev: DevStack, keys: dict[str, str], method: str, path: str, body: dict[str, Any] | None
) -> None:
    status, answer = call(f"{dev.api}{path}", keys["S001"], body, method)
    assert status == 403, answer
    assert set(answer) == {"error"} and answer["error"]["code"] == "forbidden"
    if body is not None:  # and nothing was written
        assert call(f"{dev.api}/members/from-a-till", keys["ops"])[0] == 404


def _without_aws(env: dict[str, str]) -> dict[str, str]:
    """No AWS endpoint, credentials or profile: only the API and the key."""
    return {name: value for name, value in env.items() if not name.startswith("AWS_")}


def test_loyalty_ingest_with_a_store_key(dev: DevStack, keys: dict[str, str], tmp_path: Path) -> None:
    day = tmp_path / "2026-11-21-cli.csv"
    day.write_bytes(sales_file("S002", "cli-1"))

    # When: the command gets the key as an option, then from LOYALTY_KEY
    by_option = run_loyalty(
        _without_aws(dict(os.environ)), "ingest", str(day), "--store", "S002", "--key", keys["S002"], "--api", dev.api
    )
    env = _without_aws(dict(os.environ)) | {"LOYALTY_KEY": keys["S002"], "LOYALTY_API_URL": dev.api}
    by_env = run_loyalty(env, "ingest", str(day), "--store", "S002", "--timeout", str(REPORT_TIMEOUT_SECONDS))

    # Then: each run prints its own upload's report; the second finds the receipt already applied
    assert by_option.returncode == 0, by_option.stderr
    first, second = json.loads(by_option.stdout), json.loads(by_env.stdout)
    assert by_env.returncode == 0, by_env.stderr
    assert first["key"] == second["key"] == "incoming/S002/2026-11-21-cli.csv"
    assert first["file_id"] != second["file_id"]
    assert (first["applied"], second["duplicates"]) == (1, 1)


def test_loyalty_ingest_with_another_stores_key_fails_clearly(
    dev: DevStack, keys: dict[str, str], tmp_path: Path
) -> None:
    day = tmp_path / "2026-11-21.csv"
    day.write_bytes(sales_file("S002", "cli-2"))
    refused = run_loyalty(
        _without_aws(dict(os.environ)), "ingest", str(day), "--store", "S002", "--key", keys["S001"], "--api", dev.api
    )
    assert refused.returncode == 1
    assert "403 forbidden" in refused.stderr
