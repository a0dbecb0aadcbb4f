"""Load test over loopback HTTP: concurrent clients mixing enrolments, purchases, redemptions and
member views against `loyalty dev`, then `loyalty check` over every member's books.

Starts its own `loyalty dev` on free ports, or drives the one at --url (keys are then created with
`loyalty keys create`, which finds that stack by AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_DYNAMODB or
the default ports). Connections: one persistent HTTP/1.1 connection per client thread (keep-alive,
the default), or a new connection per request with `Connection: close` (--connection close).

    python -m bench.load [--url URL] [--threads 8] [--seconds 20] [--requests N] [--connection keep-alive|close]

Prints throughput, p50/p99 latency overall and per operation, answers by status, and the result of
`loyalty check`. Exits 1 on any 5xx, transport error or a `loyalty check` problem.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_SECONDS = 120
MIX = (("purchase", 50), ("view", 25), ("redeem", 15), ("enrol", 10))  # percent of requests
EXPECTED_REFUSALS = {("redeem", 422)}  # insufficient_points: the rules at work, not an error


def loyalty(*args: str) -> list[str]:
    return [sys.executable, "-m", "loyalty_tools.cli", *args]


# --- the stack ------------------------------------------------------------------------------------


@dataclass
class Stack:
    url: str
    env: dict[str, str]
    started: bool


@contextmanager
def dev_stack(url: str | None) -> Iterator[Stack]:
    if url:
        yield Stack(url.rstrip("/"), dict(os.environ), started=False)
        return
    command = loyalty("dev", "--port", "0", "--emulator-port", "0", "--dynamodb-port", "0")
    stderr = open(os.devnull, "w")  # noqa: SIM115 (closed in finally, after the process)
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        printed = read_until_ready(process)
        env = dict(os.environ)
        env["AWS_ENDPOINT_URL"] = printed["AWS_ENDPOINT_URL"]
        env["AWS_ENDPOINT_URL_DYNAMODB"] = printed["AWS_ENDPOINT_URL_DYNAMODB"]
        yield Stack(printed["API"], env, started=True)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        stderr.close()


def read_until_ready(process: subprocess.Popen[str]) -> dict[str, str]:
    """The `name: value` lines printed before `ready`. A thread keeps reading stdout afterwards: the
    app logs every write there, and a full pipe would stall the server."""
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def drain(stream: IO[str]) -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=drain, args=(process.stdout,), name="dev-stdout", daemon=True).start()
    printed: dict[str, str] = {}
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        if line == "ready":
            threading.Thread(target=_discard, args=(lines,), daemon=True).start()
            return printed
        separator = "=" if line.startswith("AWS_") else ": "
        name, _, value = line.partition(separator)
        printed[name] = value
    raise SystemExit(f"`loyalty dev` did not print `ready` (exit code {process.poll()})")


def _discard(lines: queue.Queue[str | None]) -> None:
    while lines.get() is not None:
        pass


def create_key(stack: Stack, role: str) -> str:
    created = subprocess.run(
        loyalty("keys", "create", "--role", role, "--name", f"bench-load-{role}"),
        cwd=PROJECT_ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if created.returncode != 0:
        raise SystemExit(f"loyalty keys create failed: {created.stderr.strip()}")
    return dict(line.split(": ", 1) for line in created.stdout.splitlines())["key"]


# --- the clients -----------------------------------------------------------------------------------


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    error_times: list[float] = field(default_factory=list)  # seconds into the run when each request was sent
    members: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client:
    """One simulated storefront: its own connection (persistent unless `Connection: close`)."""

    def __init__(self, url: str, key: str, keep_alive: bool, number: int, seed: int) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        if not keep_alive:
            self.headers["Connection"] = "close"
        self.keep_alive = keep_alive
        self.number = number
        self.rng = random.Random(seed)
        self.connection: http.client.HTTPConnection | None = None
        self.sent = 0

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        data = json.dumps(body).encode() if body is not None else None
        try:
            self.connection.request(method, path, body=data, headers=self.headers)
            response = self.connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if not self.keep_alive or response.will_close:
            self.close()
        return response.status, payload

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def next_operation(self, members: list[str]) -> tuple[str, str, str, dict[str, Any] | None]:
        """(operation, method, path, body) drawn from MIX."""
        self.sent += 1
        roll = self.rng.randrange(100)
        operation = MIX[-1][0]
        for name, share in MIX:
            if roll < share:
                operation = name
                break
            roll -= share
        if operation == "enrol" or not members:
            return "enrol", "POST", "/members", {"member_id": f"load-{self.number}-{self.sent}"}
        member = self.rng.choice(members)
        if operation == "purchase":
            amount = f"{self.rng.randint(1, 800)}.{self.rng.randint(0, 99):02d}"
            body = {"order_id": f"o-{self.number}-{self.sent}", "amount": amount, "currency": "CNY"}
            return "purchase", "POST", f"/members/{member}/purchases", body
        if operation == "redeem":
            body = {
                "redemption_id": f"d-{self.number}-{self.sent}",
                "points": self.rng.randint(10, 300),
                "reason": "load",
            }
            return "redeem", "POST", f"/members/{member}/redemptions", body
        return "view", "GET", f"/members/{member}", None


def run_clients(args: argparse.Namespace, url: str, key: str, seed_members: list[str]) -> tuple[Results, float]:
    results = Results(members=set(seed_members))
    stop_at = time.monotonic() + args.seconds
    run_started = time.perf_counter()
    budget = threading.Semaphore(args.requests) if args.requests else None
    keep_alive = args.connection == "keep-alive"

    def work(number: int) -> None:
        client = Client(url, key, keep_alive, number, seed=number)
        try:
            while time.monotonic() < stop_at:
                if budget is not None and not budget.acquire(blocking=False):
                    return
                with results.lock:
                    members = list(results.members)
                operation, method, path, body = client.next_operation(members)
                started = time.perf_counter()
                try:
                    status, _ = client.request(method, path, body)
                except (OSError, http.client.HTTPException) as error:
                    with results.lock:
                        results.transport_errors[type(error).__name__] += 1
                        results.error_times.append(round(started - run_started, 1))
                    continue
                elapsed = time.perf_counter() - started
                with results.lock:
                    results.latencies[operation].append(elapsed)
                    results.statuses[(operation, status)] += 1
                    if operation == "enrol" and status == 201 and body is not None:
                        results.members.add(body["member_id"])
        finally:
            client.close()

    threads = [threading.Thread(target=work, args=(n,), name=f"client-{n}") for n in range(args.threads)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.monotonic() - started


def enrol_seed_members(url: str, key: str, count: int) -> list[str]:
    client = Client(url, key, keep_alive=True, number=0, seed=0)
    ids = []
    for n in range(count):
        status, payload = client.request("POST", "/members", {"member_id": f"seed-{n}"})
        if status not in (201, 409):
            raise SystemExit(f"seeding member {n} failed: {status} {payload[:200]!r}")
        ids.append(f"seed-{n}")
    client.close()
    return ids


# --- the report ------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def report(args: argparse.Namespace, results: Results, seconds: float) -> int:
    every = [latency for values in results.latencies.values() for latency in values]
    total = len(every)
    how = "one persistent connection per client" if args.connection == "keep-alive" else "Connection: close"
    print(f"connections: {args.connection} ({how})")
    print(f"clients: {args.threads} threads, {seconds:.1f} s, {total} requests answered")
    print(f"throughput: {total / seconds:.1f} requests/s")
    print(f"latency: p50 {percentile(every, 0.50) * 1000:.1f} ms, p99 {percentile(every, 0.99) * 1000:.1f} ms")
    for operation, values in sorted(results.latencies.items()):
        print(
            f"  {operation:<9} {len(values):>6}  p50 {percentile(values, 0.5) * 1000:7.1f} ms"
            f"  p99 {percentile(values, 0.99) * 1000:7.1f} ms"
        )
    by_status = Counter[int]()
    for (_, status), count in results.statuses.items():
        by_status[status] += count
    print("answers by status: " + ", ".join(f"{status}: {count}" for status, count in sorted(by_status.items())))
    unexpected = {
        f"{operation} {status}": count
        for (operation, status), count in sorted(results.statuses.items())
        if status >= 400 and (operation, status) not in EXPECTED_REFUSALS
    }
    print(f"errors: {sum(unexpected.values())} {unexpected or ''}".rstrip())
    refused = sum(count for key, count in results.statuses.items() if key in EXPECTED_REFUSALS)
    print(f"refusals by the rules (redeem 422 insufficient_points): {refused}")
    if results.transport_errors:
        print(f"transport errors: {dict(results.transport_errors)}, sent at +{results.error_times} s")
    return 1 if results.transport_errors or any(status >= 500 for status in by_status) else 0


def loyalty_check(stack: Stack) -> int:
    started = time.monotonic()
    checked = subprocess.run(
        loyalty("check"), cwd=PROJECT_ROOT, env=stack.env, capture_output=True, text=True, timeout=600
    )
    output = (checked.stdout + checked.stderr).strip().splitlines()
    print(
        f"loyalty check ({time.monotonic() - started:.1f} s, exit {checked.returncode}): "
        + (output[-1] if output else "")
    )
    for line in output[:-1][:20]:
        print(f"  {line}")
    return checked.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running `loyalty dev` (default: start one on free ports)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--requests", type=int, default=0, help="stop after this many requests (0: no limit)")
    parser.add_argument("--members", type=int, default=50, help="members enrolled before the clock starts")
    parser.add_argument("--connection", choices=["keep-alive", "close"], default="keep-alive")
    args = parser.parse_args()

    with dev_stack(args.url) as stack:
        print(f"stack: {stack.url} ({'started by this run' if stack.started else 'given by --url'})")
        key = create_key(stack, "storefront")
        seed = enrol_seed_members(stack.url, key, args.members)
        results, seconds = run_clients(args, stack.url, key, seed)
        status = report(args, results, seconds)
        return max(status, 1 if loyalty_check(stack) else 0)


if __name__ == "__main__":
    sys.exit(main())
