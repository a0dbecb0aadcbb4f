"""`loyalty dev` as a user runs it: a subprocess that prints its endpoints and `ready`, serves HTTP,
answers the other `loyalty` commands, and stops cleanly on SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pytest

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 90


class DevStack:
    def __init__(self, process: subprocess.Popen[str], lines: dict[str, str]) -> None:
        self.process = process
        self.lines = lines

    @property
    def api(self) -> str:
        return self.lines["API"]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["AWS_ENDPOINT_URL"] = self.lines["AWS_ENDPOINT_URL"]
        env["AWS_ENDPOINT_URL_DYNAMODB"] = self.lines["AWS_ENDPOINT_URL_DYNAMODB"]
        return env


def loyalty(*args: str) -> list[str]:
    return [sys.executable, "-m", "chalicelib.cli", *args]


def _read_lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))


def wait_until_ready(process: subprocess.Popen[str]) -> dict[str, str]:
    """The `name: value` / `NAME=value` lines printed before `ready`."""
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    printed: dict[str, str] = {}
    while True:
        try:
            line = lines.get(timeout=READY_TIMEOUT_SECONDS)
        except queue.Empty:
            pytest.fail(f"`loyalty dev` printed no `ready` within {READY_TIMEOUT_SECONDS} s")
        if line == "ready":
            return printed
        separator = "=" if line.startswith("AWS_") else ": "
        name, _, value = line.partition(separator)
        printed[name] = value


@contextlib.contextmanager
def running_dev(log_dir: Path) -> Iterator[DevStack]:
    stderr = (log_dir / "dev.stderr").open("w")
    # Port 0 everywhere: `loyalty dev` picks free ports and prints them.
    command = loyalty("dev", "--port", "0", "--emulator-port", "0", "--dynamodb-port", "0")
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        lines = wait_until_ready(process)
        yield DevStack(process, lines)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
            stderr.close()


@pytest.fixture
def own_dev_stack(tmp_path: Path) -> Iterator[DevStack]:
    """A `loyalty dev` for a test that stops it."""
    with running_dev(tmp_path) as stack:
        yield stack


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """One `loyalty dev` shared by the tests that only use it (a start takes seconds)."""
    with running_dev(tmp_path_factory.mktemp("dev")) as stack:
        yield stack


def test_dev_serves_health_and_stops_cleanly(own_dev_stack: DevStack) -> None:
    # Then: it said where everything is
    assert own_dev_stack.api.startswith("http://127.0.0.1:")
    assert own_dev_stack.lines["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert own_dev_stack.lines["AWS_ENDPOINT_URL_DYNAMODB"].startswith("http://127.0.0.1:")
    assert {"table", "bucket", "queue", "event bus"} <= set(own_dev_stack.lines)

    # When: a client asks for /health
    with urllib.request.urlopen(f"{own_dev_stack.api}/health", timeout=10) as response:
        status, content_type, body = response.status, response.headers["Content-Type"], response.read()

    # Then
    assert status == 200
    assert content_type.startswith("application/json")
    assert isinstance(json.loads(body), dict)

    # When: it is asked to stop
    own_dev_stack.process.send_signal(signal.SIGTERM)

    # Then: it exits by itself, successfully
    assert own_dev_stack.process.wait(timeout=30) == 0


def test_other_commands_find_the_running_stack(dev_stack: DevStack) -> None:
    # When: a key is created from another process that knows only the two endpoint variables
    created = subprocess.run(
        loyalty("keys", "create", "--role", "ops", "--name", "e2e"),
        cwd=PROJECT_ROOT,
        env=dev_stack.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Then: the key is printed once, and listed without it
    assert created.returncode == 0, created.stderr
    fields = dict(line.split(": ", 1) for line in created.stdout.splitlines())
    assert fields["role"] == "ops"
    listed = subprocess.run(
        loyalty("keys", "list"), cwd=PROJECT_ROOT, env=dev_stack.env(), capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    assert fields["key_id"] in listed.stdout
    assert fields["key"] not in listed.stdout


def test_a_sales_file_uploaded_to_the_bucket_gets_a_report(dev_stack: DevStack) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=dev_stack.lines["AWS_ENDPOINT_URL"], region_name="us-east-1")
    bucket = dev_stack.lines["bucket"].split()[0]
    rows = "store_id,receipt_id,occurred_at,type,amount,currency,member_id\ns1,r1,{at},SALE,12.50,CNY,\n"
    occurred_at = datetime.now(UTC).replace(microsecond=0).isoformat()

    # When: a store uploads a file as any S3 client would
    s3.put_object(Bucket=bucket, Key="incoming/s1/2026-11-21.csv", Body=rows.format(at=occurred_at).encode())

    # Then: the pump delivers it to the app's ingestion, which writes the report
    deadline = time.monotonic() + 30
    while True:
        try:
            report = json.loads(s3.get_object(Bucket=bucket, Key="reports/s1/2026-11-21.json")["Body"].read())
            break
        except s3.exceptions.NoSuchKey:
            assert time.monotonic() < deadline, "no report within 30 s"
            time.sleep(0.2)
    assert report["status"] == "completed"
    assert (report["rows"], report["applied"], report["non_member"]) == (1, 1, 1)
