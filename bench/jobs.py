"""Jobs benchmark: DynamoDB items read and seconds per scheduled job, for 1 k and 10 k members of
which the same 100 are due, on DynamoDB Local; next to a naive job that Scans the table to find
the due members and then does the same work for each. The due-indexed jobs should read the same
at 1 k and 10 k members (ratio ≈ 1.0); the Scan reads grow with the table (ratio ≈ 10).

    python -m bench.jobs [--sizes 1000,10000] [--due 100]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.local import Reads, count_reads, use_local_aws, use_table
from chalicelib.domain.lots import Wallet
from chalicelib.domain.model import Member, PendingLot
from chalicelib.program import load_program
from chalicelib.store import aws, codec, dynamo, keys
from chalicelib.store.due import due_attributes

AS_OF = date(2027, 4, 1)
JOB_ORDER = ("expiry", "tier-review", "dormant", "birthday", "pending")


def _moment(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=load_program().tz)


def due_member(member_id: str) -> Member:
    """Due for every job on AS_OF: a lot that ended in March, a gold review on 15 March, inactive
    for a year, pending points released on 30 March, and a birthday on 1 April."""
    return Member(
        member_id=member_id,
        enrolled_at=_moment(date(2026, 3, 14)),
        version=1,
        tier="gold",
        tier_since=date(2026, 3, 15),
        tier_floor="member",
        review_at=date(2027, 3, 15),
        wallet=Wallet({"2027-03": 250}),
        pending=[PendingLot("purchase#p1", 40, date(2027, 3, 30), "2028-03")],
        lifetime_earned=290,
        purchase_count=1,
        spend_by_month={"2026-03": Decimal(8000)},
        last_activity_at=_moment(date(2026, 3, 15)),
        birthday=date(1990, 4, 1),
    )


def idle_member(member_id: str) -> Member:
    """Due for nothing on AS_OF: recent activity, a lot of December, base tier, birthday in June."""
    return Member(
        member_id=member_id,
        enrolled_at=_moment(date(2026, 12, 1)),
        version=1,
        tier="member",
        tier_since=date(2026, 12, 1),
        wallet=Wallet({"2027-12": 120}),
        lifetime_earned=120,
        purchase_count=1,
        spend_by_month={"2026-12": Decimal(120)},
        last_activity_at=_moment(date(2027, 3, 20)),
        birthday=date(1985, 6, 15),
    )


def member_items(member: Member) -> list[dict[str, Any]]:
    """The items the store keeps for a member's state, as members.commit would have written them."""
    member_id = member.member_id
    profile = {
        **keys.profile_key(member_id),
        **codec.profile_state(member),
        **due_attributes(member),
        "version": member.version,
    }
    lots = [
        {**keys.lot_key(member_id, month), "member_id": member_id, "month": month, "remaining": points}
        for month, points in member.wallet.lots.items()
    ]
    pending = [
        {
            **keys.pending_key(member_id, lot.entry_id),
            "member_id": member_id,
            "entry_id": lot.entry_id,
            "points": lot.points,
            "release_on": lot.release_on.isoformat(),
            "month": lot.month,
        }
        for lot in member.pending
    ]
    return [profile, *lots, *pending]


def _write(batch: list[dict[str, Any]]) -> None:
    client, table = aws.client("dynamodb"), dynamo.table()
    pending: dict[str, Any] = {table: [{"PutRequest": {"Item": dynamo.to_item(item)}} for item in batch]}
    while pending:
        pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def populate(total: int, due: int) -> list[str]:
    """`total` members, `due` of them (spread over the id range) due for every job; batch writes.
    Returns the ids of the due members."""
    step = max(total // max(due, 1), 1)
    due_ids = [f"m{n:06d}" for n in range(0, step * due, step)][:due]
    chosen = set(due_ids)
    items = [
        item
        for n in range(total)
        for item in member_items(due_member(f"m{n:06d}") if f"m{n:06d}" in chosen else idle_member(f"m{n:06d}"))
    ]
    batches = [items[start : start + 25] for start in range(0, len(items), 25)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(_write, batches))
    return due_ids


def quiet_events() -> None:
    """No event bus here: count nothing, send nothing (the reads are what this measures)."""
    from chalicelib import events

    def publish(batch: Any) -> int:
        list(batch)
        return 0

    events.publish = publish  # type: ignore[assignment]


def run_indexed(name: str) -> tuple[Reads, float, int]:
    from chalicelib.services import jobs

    started = time.perf_counter()
    with count_reads() as reads:
        result = jobs.run(name, AS_OF)
    return reads, time.perf_counter() - started, result.members_changed


def run_scan_baseline(name: str) -> tuple[Reads, float, int]:
    """The naive job: Scan every item, rebuild each member, keep those the rule would change, then
    the same per-member work (state Query + transaction) as the indexed job."""
    from chalicelib.services import jobs

    program = load_program()
    index, rule = jobs.RULES[name]
    started = time.perf_counter()
    with count_reads() as reads:
        by_member: dict[str, list[dict[str, Any]]] = {}
        start: dict[str, Any] | None = None
        while True:
            answer = dynamo.call("scan", TableName=dynamo.table(), **({"ExclusiveStartKey": start} if start else {}))
            for raw in answer.get("Items", []):
                item = dynamo.from_item(raw)
                if str(item[keys.SK]).startswith(keys.STATE_PREFIX):
                    by_member.setdefault(item[keys.PK], []).append(item)
            start = answer.get("LastEvaluatedKey")
            if not start:
                break
        due_ids = []
        for items in by_member.values():
            member = codec.member_from_items(items)
            if member is not None and rule(program, member, AS_OF, _moment(AS_OF)) is not None:
                due_ids.append(member.member_id)
        job = jobs._Run(name, rule, index, program, _moment(AS_OF), jobs.JobResult(name, AS_OF), None)
        for member_id in due_ids:
            job.member(member_id, AS_OF)
    return reads, time.perf_counter() - started, job.result.members_changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--due", type=int, default=100)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    from loyalty_tools.local.ddb_local import DynamoDBLocal

    use_local_aws()
    quiet_events()
    import logging

    logging.getLogger("loyalty").setLevel(logging.WARNING)
    results: dict[tuple[str, str, int], tuple[int, float, int]] = {}
    with DynamoDBLocal() as ddb:
        use_table(ddb.endpoint, "bench-jobs-warm-up")  # the JVM's JIT: the first calls are slow
        populate(200, 20)
        for name in JOB_ORDER:
            run_indexed(name)
        for size in sizes:
            for mode, runner in (("index", run_indexed), ("scan", run_scan_baseline)):
                use_table(ddb.endpoint, f"bench-jobs-{mode}-{size}")
                started = time.perf_counter()
                populate(size, args.due)
                print(
                    f"loaded {size} members ({args.due} due) for {mode} in {time.perf_counter() - started:.1f} s",
                    file=sys.stderr,
                )
                for name in JOB_ORDER:
                    reads, seconds, changed = runner(name)
                    assert reads.calls["Scan"] == 0 or mode == "scan", "an indexed job called Scan"
                    results[(mode, name, size)] = (reads.items, seconds, changed)
    _report(results, sizes, args.due)


def _report(results: dict[tuple[str, str, int], tuple[int, float, int]], sizes: list[int], due: int) -> None:
    small, large = sizes[0], sizes[-1]
    print(f"as of {AS_OF}, {due} members due; per job: items read (seconds), members changed")
    print(f"{'job':<12} {'mode':<6}" + "".join(f"{f'{size} members':>26}" for size in sizes) + f"{'reads ratio':>14}")
    for name in JOB_ORDER:
        for mode in ("index", "scan"):
            cells = []
            for size in sizes:
                items, seconds, changed = results[(mode, name, size)]
                cells.append(f"{f'{items} ({seconds:.2f} s), {changed}':>26}")
            ratio = results[(mode, name, large)][0] / max(results[(mode, name, small)][0], 1)
            print(f"{name:<12} {mode:<6}{''.join(cells)}{ratio:>14.2f}")


if __name__ == "__main__":
    main()
