"""KPI benchmark on DynamoDB Local, two questions, each answered side by side in one run:

1. Roll-up: stream records per second through `services.kpis.roll_up` (batches, a marker per
   record, one transaction per ≤ 100 items) vs the bare way to keep the same counters: one
   `UpdateItem ADD` per record on the day row (what a hot counter on the request path would do,
   without any protection against a second delivery).
2. GET /kpis reads: items read and seconds for 30 days vs 360 days of a year of rows with 5 stores.
   Reads should grow with the days asked for (ratio ≈ (360 + 90) / (30 + 90) plus the stores),
   not with the members or the ledger.

    python -m bench.kpis [--purchases 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.local import Reads, count_reads, use_local_aws, use_table
from chalicelib.domain.kpi_rollup import Deltas
from chalicelib.store import dynamo

DAY0 = date(2026, 1, 1)
STORES = [f"s{n}" for n in range(5)]


def purchase_records(purchases: int) -> list[dict[str, Any]]:
    """Stream records as Lambda passes them: per purchase, the ledger entry and the profile change."""
    records = []
    for n in range(purchases):
        member_id, day = f"m{n % 500:04d}", DAY0 + timedelta(days=n % 360)
        at = datetime(day.year, day.month, day.day, 4, tzinfo=UTC).isoformat()
        entry = {
            "pk": member_id,
            "sk": f"TX#purchase#o{n}",
            "kind": "purchase",
            "points": 120,
            "occurred_at": at,
            "details": {"store_id": STORES[n % 5], "order_number": 1 + n // 500},
        }
        available = 100 * (n // 500)
        before = {"status": "active", "tier": "member", "available": available, "pending": 0}
        old = {**before, "purchase_days": [(day - timedelta(days=40)).isoformat()], "changed_at": at}
        new = {**before, "available": available + 120, "purchase_days": [day.isoformat()], "changed_at": at}
        records.append(_record(f"e{n}", "INSERT", entry, None))
        records.append(_record(f"p{n}", "MODIFY", {"pk": member_id, "sk": "MEMBER", **new}, old))
    return records


def _record(event_id: str, name: str, new: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    stream: dict[str, Any] = {
        "Keys": {"pk": {"S": new["pk"]}, "sk": {"S": new["sk"]}},
        "NewImage": dynamo.to_item(new),
        "ApproximateCreationDateTime": 0,
    }
    if old is not None:
        stream["OldImage"] = dynamo.to_item(old)
    return {"eventID": event_id, "eventName": name, "dynamodb": stream}


def bench_roll_up(records: list[dict[str, Any]]) -> tuple[float, float, Reads]:
    from chalicelib.services import kpis
    from chalicelib.store import kpis as rows

    with count_reads() as calls:
        started = time.perf_counter()
        for start in range(0, len(records), 500):  # the Lambda batch size
            kpis.roll_up(records[start : start + 500])
        ours = time.perf_counter() - started

    started = time.perf_counter()
    for record in records:  # the same rows, one UpdateItem each, no markers
        deltas = kpis.record_deltas(record)
        for update in rows.row_updates(deltas) if deltas else []:
            dynamo.call("update_item", **update["Update"])
    bare = time.perf_counter() - started
    return ours, bare, calls


def fill_year() -> None:
    from chalicelib.store import kpis as rows

    for offset in range(365):
        day = DAY0 + timedelta(days=offset)
        deltas = Deltas()
        deltas.add_day(day, points_earned=100, member_orders=3, a30_30=1, a90_90=1)
        deltas.add_stock(day, Counter({"tier_member": 1, "status_active": 1, "outstanding": 100}))
        for store in STORES:
            deltas.add_store(day, store, points_earned=20, member_orders=1)
        rows.apply([f"fill-{offset}"], deltas, expires_at=0)


def bench_report(days: int) -> tuple[Reads, float]:
    from chalicelib.services import kpis

    end = date(2026, 12, 31)
    with count_reads() as read:
        started = time.perf_counter()
        kpis.report(end - timedelta(days=days - 1), end)
        seconds = time.perf_counter() - started
    assert read.calls["Scan"] == 0
    return read, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--purchases", type=int, default=2000)
    args = parser.parse_args()
    from loyalty_tools.local.ddb_local import DynamoDBLocal

    use_local_aws()
    import logging

    logging.getLogger("loyalty").setLevel(logging.WARNING)
    with DynamoDBLocal() as ddb:
        use_table(ddb.endpoint, "bench-kpis-warm-up")  # the JVM's JIT: the first calls are slow
        bench_roll_up(purchase_records(200))
        use_table(ddb.endpoint, "bench-kpis-rollup")
        records = purchase_records(args.purchases)
        ours, bare, calls = bench_roll_up(records)
        use_table(ddb.endpoint, "bench-kpis-report")
        fill_year()
        bench_report(30)  # warm-up
        short, long = bench_report(30), bench_report(360)

    n = len(records)
    print(f"roll-up of {n} stream records ({args.purchases} purchases: ledger entry + profile change)")
    print(f"  ours (batches of 500, marker per record): {n / ours:8.0f} records/s, calls {dict(calls.calls)}")
    print(f"  bare (an UpdateItem ADD per row of each record, no dedup): {n / bare:8.0f} records/s")
    print(f"  ours / bare throughput: {bare / ours:.2f}x")
    print("GET /kpis on a year of rows, 5 stores:")
    for label, (read, seconds) in (("30 days", short), ("360 days", long)):
        print(f"  {label:<9} {read.items:5d} items in {read.calls['Query']} Queries, {seconds * 1000:.0f} ms")
    print(f"  items ratio 360/30: {long[0].items / short[0].items:.2f} (days ratio 12)")


if __name__ == "__main__":
    main()
