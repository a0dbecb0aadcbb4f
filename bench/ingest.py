"""Sales-file benchmark.

1. Parse + validate: files of 1 k, 100 k and 1 M rows (fixed seed) are each measured in their own
   subprocess: a bare `csv.reader` pass over the file, our chunk reader (`reader.read_rows`: csv,
   blank/encoding checks, column picking, the pydantic row model) and our planning pass
   (`reader.plan_file`: the byte-exact chunk cutting), best of a few runs, plus the process's peak
   RSS. Targets: read_rows >= 0.2x bare; the 1 M file's peak RSS < the 1 k file's + 50 MB.
2. End to end on the local stack (DynamoDB Local + moto's S3/SQS, as `loyalty dev`): a 10 k-row
   file uploaded to incoming/, delivered to the app's queue handler, until its report exists;
   DynamoDB calls per row counted. Next to it, on the same DynamoDB Local with the same number of
   threads (ROW_WORKERS), the ceiling: the earn transaction alone (TransactWriteItems, prepared
   beforehand by our own code), and the earn's two calls (Query + transaction). Target >= 0.7x.
   Domain events are not sent (as bench/earn.py): this measures the table, not the bus.

    python -m bench.ingest [--sizes 1000,100000,1000000] [--e2e-rows 10000] [--skip-e2e]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import queue
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = [
    "store_id",
    "receipt_id",
    "occurred_at",
    "type",
    "amount",
    "currency",
    "member_id",
    "original_receipt_id",
    "category",
    "till",
    "note",
]
ROUNDS = 3


def write_file(
    path: Path, rows: int, store: str = "s1", members: int = 1000, seed: int = 42, day: datetime | None = None
) -> None:
    """A day of receipts: 70 % members, 30 % non-members, 5 % returns of an earlier sale, categories,
    a quoted free-text column, CRLF line ends (as csv.writer writes)."""
    rnd = random.Random(seed)
    start = day or datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            at = (start + timedelta(seconds=i * 40_000 // max(rows, 1))).isoformat()
            member = f"m{rnd.randrange(members)}" if rnd.random() < 0.7 else ""
            if i > 10 and rnd.random() < 0.05:
                original = rnd.randrange(i)
                writer.writerow([store, f"x{i}", at, "RETURN", "1.00", "CNY", "", f"r{original}", "", "", ""])
                continue
            amount = f"{rnd.randint(100, 30000) / 100:.2f}"
            category = rnd.choice(["", "", "fresh", "household"])
            note = rnd.choice(["", "", "gift, wrapped", "paid by card"])
            writer.writerow(
                [store, f"r{i}", at, "SALE", amount, "CNY", member, "", category, str(rnd.randrange(9)), note]
            )


# --- 1. parse + validate, one size per subprocess --------------------------------------------


def _best(run: Any) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        count = run()
        times.append(time.perf_counter() - started)
    return min(times), count


def measure(path: Path) -> dict[str, Any]:
    from chalicelib.ingest import reader

    def bare() -> int:
        with path.open(newline="", encoding="utf-8") as handle:
            return sum(1 for _ in csv.reader(handle)) - 1

    def plan() -> int:
        with path.open("rb") as handle:
            return reader.plan_file(handle, 10**12, 10**15, 10**15).rows

    with path.open("rb") as handle:
        whole = reader.plan_file(handle, 10**12, 10**15, 10**15)

    def ours() -> int:
        valid = 0
        with path.open("rb") as handle:
            chunk = whole.chunks[0]
            for _, _, row, _ in reader.read_rows(
                reader.window(handle, chunk.start, chunk.end - chunk.start), whole.header, chunk.first_record
            ):
                valid += row is not None
        return valid

    bare_s, rows = _best(bare)
    ours_s, valid = _best(ours)
    plan_s, _ = _best(plan)
    assert valid == rows, (valid, rows)  # every generated row is valid
    return {
        "rows": rows,
        "mb": round(path.stat().st_size / 1e6, 1),
        "bare_rows_per_s": round(rows / bare_s),
        "read_rows_per_s": round(rows / ours_s),
        "plan_rows_per_s": round(rows / plan_s),
        "read_vs_bare": round(bare_s / ours_s, 3),
        "plan_vs_bare": round(bare_s / plan_s, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def parse_bench(sizes: list[int], directory: Path) -> list[dict[str, Any]]:
    results = []
    for size in sizes:
        path = directory / f"sales-{size}.csv"
        write_file(path, size)
        answer = subprocess.run(
            [sys.executable, "-m", "bench.ingest", "--measure", str(path)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(answer.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
        path.unlink()
    return results


# --- 2. end to end on DynamoDB Local ---------------------------------------------------------


class CallCounter:
    """DynamoDB round trips of this process, by operation (a botocore hook on the shared client)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.counts[model.name] += 1


def _in_threads(calls_by_member: dict[str, list[Any]], run: Any, threads: int) -> float:
    """Run every member's calls in order, members spread over `threads` threads (as ROW_WORKERS
    spreads rows by member); returns calls/s."""
    lanes: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in range(threads)]
    total = 0
    for member_id, calls in calls_by_member.items():
        lane = lanes[zlib.crc32(member_id.encode()) % threads]
        for call in calls:
            lane.put(call)
            total += 1

    def work(lane: queue.SimpleQueue[Any]) -> None:
        while not lane.empty():
            run(lane.get())

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, lanes))
    return total / (time.perf_counter() - started)


def _prepare_earns(member_ids: list[str], rows: int, run: str) -> dict[str, list[tuple[dict[str, Any], list[Any]]]]:
    """Exactly the calls record_purchase makes for `rows` purchases (state Query + transaction),
    built outside the timed loop by our own rules and store code (as bench/earn.py)."""
    from chalicelib import clock
    from chalicelib.domain import rules
    from chalicelib.program import load_program
    from chalicelib.services.writes import Plan, answer_for, fingerprint
    from chalicelib.store import dynamo, keys, members

    program, now = load_program(), clock.now()
    state = {member_id: members.load_member(member_id) for member_id in member_ids}
    rnd = random.Random(7)
    calls: dict[str, list[tuple[dict[str, Any], list[Any]]]] = {}
    for i in range(rows):
        member_id = member_ids[rnd.randrange(len(member_ids))]
        member = state[member_id]
        assert member is not None
        amount = Decimal("25.00")
        body = {"order_id": f"{run}{i}", "amount": amount, "currency": "CNY"}
        change, _ = rules.record_purchase(program, member, rules.Purchase(f"{run}{i}", amount, now), now)
        plan = Plan([change])
        items, _ = members.transaction_items(
            members.Commit(plan.changes, fingerprint(body), answer_for(plan, now)), now
        )
        query = {
            "TableName": dynamo.table(),
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": keys.member_pk(member_id)}, ":prefix": {"S": keys.STATE_PREFIX}},
            "ConsistentRead": True,
        }
        calls.setdefault(member_id, []).append((query, items))
        change.after.version += 1
        state[member_id] = change.after
    return calls


def e2e_bench(rows: int, members: int, directory: Path) -> dict[str, Any]:
    from app import app
    from chalicelib import events as bus
    from chalicelib.domain.commands import Enrol
    from chalicelib.domain.model import DomainEvent
    from chalicelib.ingest import names
    from chalicelib.services import members as member_service
    from chalicelib.services.sales_files import limits
    from chalicelib.store import aws, objects
    from loyalty_tools.local.ddb_local import DynamoDBLocal
    from loyalty_tools.local.emulators import MotoServer
    from loyalty_tools.local.pump import SqsPump
    from loyalty_tools.local.stack import create_resources, use_endpoints

    published = Counter[str]()

    def count_events(events: Iterable[DomainEvent]) -> int:
        published.update(event.detail_type for event in events)
        return 0

    bus.publish = count_events
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    with DynamoDBLocal() as dynamodb, MotoServer(port=0) as moto:
        use_endpoints(moto.endpoint, dynamodb.endpoint)
        resources = create_resources()
        ids = [f"m{i}" for i in range(members)]
        ceiling_ids = [f"c{i}" for i in range(members)]
        with ThreadPoolExecutor(limits.ROW_WORKERS) as pool:
            list(pool.map(lambda member_id: member_service.enrol(Enrol(member_id)), ids + ceiling_ids))

        # Warm the JVM and this process with a small file first.
        path = directory / "2026-11-20.csv"
        write_file(path, 2000, members=members, seed=1, day=datetime(2026, 11, 20, 9, tzinfo=UTC))
        pump = SqsPump(resources.queue_url, app.handler_map["ingest_queue_consumer"], wait_seconds=1).start()
        try:
            _upload_and_wait(objects, names, resources.bucket_name, "incoming/w1/2026-11-20.csv", path)
            path = directory / "2026-11-21.csv"
            write_file(path, rows, members=members)
            counter = CallCounter()
            aws.client("dynamodb").meta.events.register("before-call.dynamodb", counter)
            elapsed, report = _upload_and_wait(
                objects, names, resources.bucket_name, "incoming/s1/2026-11-21.csv", path
            )
            aws.client("dynamodb").meta.events.unregister("before-call.dynamodb", counter)
        finally:
            pump.stop()
        client = aws.client("dynamodb")
        print(f"end to end: {rows / elapsed:.1f} rows/s; measuring the ceilings", file=sys.stderr, flush=True)
        earns = _prepare_earns(ceiling_ids, rows, "t")
        transactions_per_s = _in_threads(
            {m: [c[1] for c in calls] for m, calls in earns.items()},
            lambda items: client.transact_write_items(TransactItems=items),
            limits.ROW_WORKERS,
        )
        earns = _prepare_earns(ceiling_ids, rows, "e")  # the members' versions moved on: prepare again

        def earn(call: tuple[dict[str, Any], list[Any]]) -> None:
            client.query(**call[0])
            client.transact_write_items(TransactItems=call[1])

        earns_per_s = _in_threads(earns, earn, limits.ROW_WORKERS)

    rows_per_s = rows / elapsed
    calls = sum(counter.counts.values())
    return {
        "rows": rows,
        "members": members,
        "threads": limits.ROW_WORKERS,
        "report": {k: report[k] for k in ("status", "applied", "duplicates", "rejected", "non_member")},
        "seconds": round(elapsed, 2),
        "e2e_rows_per_s": round(rows_per_s, 1),
        "dynamodb_calls_per_row": round(calls / rows, 2),
        "dynamodb_calls": dict(counter.counts.most_common()),
        "events_not_sent": sum(published.values()),
        "ceiling_transactions_per_s": round(transactions_per_s, 1),
        "ceiling_earns_per_s": round(earns_per_s, 1),
        "e2e_vs_transactions": round(rows_per_s / transactions_per_s, 3),
        "e2e_vs_earns": round(rows_per_s / earns_per_s, 3),
    }


def _upload_and_wait(objects: Any, names: Any, bucket: str, key: str, path: Path) -> tuple[float, dict[str, Any]]:
    report_key = names.parse_key(key).report_key
    started = time.perf_counter()
    objects._s3().put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    while True:
        report = objects.get_json(bucket, report_key)
        if report is not None:
            return time.perf_counter() - started, report
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--e2e-rows", type=int, default=10_000)
    parser.add_argument("--e2e-members", type=int, default=1_000)
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--skip-parse", action="store_true")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the subprocess of one size
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    with tempfile.TemporaryDirectory() as directory:
        if not args.skip_parse:
            sizes = [int(size) for size in args.sizes.split(",")]
            results = parse_bench(sizes, Path(directory))
            small, large = results[0], results[-1]
            worst = min(result["read_vs_bare"] for result in results)
            print(
                f"parse+validate: worst {worst}x a bare csv.reader pass (target >= 0.2); peak RSS "
                f"{large['peak_rss_mb']} MB at {large['rows']} rows vs {small['peak_rss_mb']} MB at {small['rows']} "
                f"(+{round(large['peak_rss_mb'] - small['peak_rss_mb'], 1)} MB, target < 50)"
            )
        if not args.skip_e2e:
            result = e2e_bench(args.e2e_rows, args.e2e_members, Path(directory))
            print(json.dumps(result, indent=2))
            print(
                f"end to end: {result['e2e_rows_per_s']} rows/s = {result['e2e_vs_transactions']}x the bare earn "
                f"transaction rate and {result['e2e_vs_earns']}x the earn's Query + transaction, "
                f"{result['threads']} threads each (target >= 0.7)"
            )


if __name__ == "__main__":
    main()
