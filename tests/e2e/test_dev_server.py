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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import pytest

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 90


class DevStack:
    def __init__(
        self,
        process: subprocess.Popen[str],
        lines: dict[str, str],
        output: queue.Queue[str] | None = None,
        stderr: Path | None = None,
    ) -> None:
        self.process = process
        self.lines = lines
        self.output = output or queue.Queue()  # what it printed after `ready` (the JSON log lines)
        self.stderr = stderr

    @property
    def api(self) -> str:
        return self.lines["API"]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["AWS_ENDPOINT_URL"] = self.lines["AWS_ENDPOINT_URL"]
        env["AWS_ENDPOINT_URL_DYNAMODB"] = self.lines["AWS_ENDPOINT_URL_DYNAMODB"]
        return env

    def create_key(self, role: str, name: str) -> str:
        """`loyalty keys create` from another process, as an operator would; the key it prints."""
        created = subprocess.run(
            loyalty("keys", "create", "--role", role, "--name", name),
            cwd=PROJECT_ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return dict(line.split(": ", 1) for line in created.stdout.splitlines())["key"]


def loyalty(*args: str) -> list[str]:
    return [sys.executable, "-m", "loyalty_tools.cli", *args]


def _read_lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))


def wait_until_ready(process: subprocess.Popen[str], lines: queue.Queue[str] | None = None) -> dict[str, str]:
    """The `name: value` / `NAME=value` lines printed before `ready` (the later ones go on into `lines`)."""
    assert process.stdout is not None
    lines = queue.Queue() if lines is None else lines
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
        output: queue.Queue[str] = queue.Queue()
        lines = wait_until_ready(process, output)
        yield DevStack(process, lines, output, log_dir / "dev.stderr")
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


def _call(url: str, key: str, body: dict[str, object] | None = None) -> tuple[int, dict[str, object]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_the_kpis_follow_writes_through_the_table_stream(dev_stack: DevStack) -> None:
    keys = {role: dev_stack.create_key(role, f"kpi-{role}") for role in ("ops", "storefront")}

    # When: a member enrols and buys through the HTTP API
    assert _call(f"{dev_stack.api}/members", keys["storefront"], {"member_id": "kpi-e2e"})[0] == 201
    purchase = {"order_id": "kpi-o1", "amount": "88.00", "currency": "CNY"}
    assert _call(f"{dev_stack.api}/members/kpi-e2e/purchases", keys["storefront"], purchase)[0] == 201

    # Then: the stream pump rolls the writes up, and /kpis shows them within seconds
    today = datetime.now(UTC).date()  # ± a day: the program's time zone may be on another date
    url = f"{dev_stack.api}/kpis?from={today - timedelta(days=1)}&to={today + timedelta(days=1)}"
    deadline = time.monotonic() + 30
    while True:
        status, report = _call(url, keys["ops"])
        total = report["total"]
        assert status == 200 and isinstance(total, dict)
        if total["member_orders"] == 1:
            break
        assert time.monotonic() < deadline, f"the KPIs did not catch up within 30 s: {total}"
        time.sleep(0.5)
    assert total["enrolments"] == 1 and total["active_30d"] == 1
    assert total["points_outstanding"] == total["points_earned"] > 0
