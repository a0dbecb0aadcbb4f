"""Earn benchmark: purchases/s through our whole path (in-process Chalice test client: auth,
validation, rules, one Query + one transaction) next to a bare boto3 loop that sends exactly the
same Query and transaction (prepared beforehand by our own code), on the same DynamoDB Local, in
one run; at 0 and at 50 k items in the table. Key lookups are cached as API Gateway does (300 s).
Then, at 50 k items, with 20 active campaigns (one budgeted, sharded): our path next to the bare
calls writing the same items (budget and result counters included), and next to our own path with
the campaigns switched off, in interleaved rounds.

    python -m bench.earn [--requests 300] [--filler 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib import config
from chalicelib.domain.commands import Enrol
from chalicelib.store import aws, dynamo, keys
from chalicelib.store.schema import table_definition
from loyalty_tools.local.ddb_local import DynamoDBLocal

MEMBERS = 50
ROUNDS = 5


def _setup(endpoint: str) -> None:
    os.environ.update(
        {
            "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "TABLE_NAME": "bench-earn",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    config.reset()
    aws.reset()
    aws.client("dynamodb").create_table(**table_definition("bench-earn"))


def _fill(count: int) -> None:
    """Unrelated members' items, written in batches, so the table is not empty."""
    client = aws.client("dynamodb")
    for start in range(0, count, 25):
        requests = [
            {
                "PutRequest": {
                    "Item": dynamo.to_item(
                        {**keys.lot_key(f"filler{i // 10}", f"2027-{i % 10 + 1:02d}"), "remaining": 5}
                    )
                }
            }
            for i in range(start, min(start + 25, count))
        ]
        pending: dict[str, Any] = {"bench-earn": requests}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def _ours(api: Any, run: str, requests: int) -> float:
    started = time.perf_counter()
    for i in range(requests):
        status, _ = api.post(
            f"/members/b{i % MEMBERS}/purchases", {"order_id": f"{run}-{i}", "amount": "25.00", "currency": "CNY"}
        )
        assert status == 201, status
    return requests / (time.perf_counter() - started)


def _prepare_bare(run: str, requests: int) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Build, outside the timed loop, exactly the calls our path makes: the state Query and the
    purchase transaction (same items, conditions and attributes, campaign counters included), for
    members bare0..bareN."""
    from chalicelib import clock
    from chalicelib.program import load_program
    from chalicelib.services.points import purchase_change
    from chalicelib.services.writes import answer_for, fingerprint
    from chalicelib.store import members
    from tests.support import purchase_command

    program, now = load_program(), clock.now()
    state = {i: members.load_member(f"bare{i}") for i in range(MEMBERS)}
    calls = []
    for i in range(requests):
        member = state[i % MEMBERS]
        assert member is not None
        body = {"order_id": f"{run}-{i}", "amount": "25.00", "currency": "CNY"}
        command = purchase_command(member.member_id, body)
        plan, change = purchase_change(program, command, member, now, None, frozenset())
        commit = members.Commit(plan.changes, fingerprint(command.identity()), answer_for(plan, now), plan.extras)
        items, _ = members.transaction_items(commit, now)
        query = {
            "TableName": "bench-earn",
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.member_pk(member.member_id)},
                ":prefix": {"S": keys.STATE_PREFIX},
            },
            "ConsistentRead": True,
        }
        calls.append((query, items))
        change.after.version += 1
        state[i % MEMBERS] = change.after
    return calls


def _bare(calls: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> float:
    client = aws.client("dynamodb")
    started = time.perf_counter()
    for query, items in calls:
        client.query(**query)
        client.transact_write_items(TransactItems=items)
    return len(calls) / (time.perf_counter() - started)


CAMPAIGN_SHAPES: list[dict[str, Any]] = [
    {"effect": {"bonus_points": 5}, "limits": {"budget_points": 1_000_000_000, "shards": 16}},  # every purchase
    {"effect": {"multiplier": "2"}},  # every purchase, every day
    *({"effect": {"multiplier": "3"}, "audience": {"tiers": [tier]}} for tier in ("silver", "gold", "platinum")),
    *({"effect": {"bonus_points": 50}, "audience": {"segments": [name]}} for name in ("at_risk", "champions")),
    *({"effect": {"multiplier": "2"}, "audience": {"stores": [f"s9{n}"]}} for n in range(4)),
    *({"effect": {"multiplier": "3"}, "conditions": {"categories": [name]}} for name in ("fresh", "household")),
    *({"effect": {"bonus_points": 10}, "audience": {"channels": [name]}} for name in ("app", "web", "store")),
    *({"effect": {"bonus_points": 20}, "conditions": {"min_amount": amount}} for amount in ("500", "1000")),
    {"effect": {"bonus_points": 30}, "days": {"dates": ["2020-01-01"]}},
    {"effect": {"bonus_points": 40}, "audience": {"enrolled_within_days": 1}, "limits": {"per_member": 1}},
]


def _create_campaigns() -> None:
    from datetime import UTC, datetime, timedelta

    from chalicelib.domain.campaigns import Campaign
    from chalicelib.services import campaigns

    now = datetime.now(UTC)
    for n, shape in enumerate(CAMPAIGN_SHAPES):
        window = {"starts_at": (now - timedelta(days=30)).isoformat(), "ends_at": (now + timedelta(days=9)).isoformat()}
        campaigns.create(Campaign.model_validate({"campaign_id": f"c{n:02d}", "name": f"c{n:02d}", **window, **shape}))
    assert len(campaigns.active()) == 20


def _with_campaigns(api: Any, requests: int) -> dict[str, Any]:
    """Interleaved rounds: ours with the 20 campaigns, the bare calls writing the same items, and
    ours with the campaigns switched off (the same process, table and members)."""
    from chalicelib.services import campaigns

    _create_campaigns()
    running = campaigns.active

    def switched_off() -> list[Any]:
        return []

    rates: dict[str, list[float]] = {"ours": [], "bare": [], "ours_off": [], "bare_off": []}
    for round_no in range(ROUNDS + 1):  # the first round warms the campaign path
        bare_calls = _prepare_bare(f"camp{round_no}", requests // ROUNDS)
        measured = {"ours": _ours(api, f"camp{round_no}", requests // ROUNDS), "bare": _bare(bare_calls)}
        campaigns.active = switched_off  # type: ignore[assignment]
        bare_calls = _prepare_bare(f"off{round_no}", requests // ROUNDS)
        measured["ours_off"] = _ours(api, f"off{round_no}", requests // ROUNDS)
        measured["bare_off"] = _bare(bare_calls)
        campaigns.active = running  # type: ignore[assignment]
        for name, rate in measured.items():
            if round_no:
                rates[name].append(rate)
    ours, bare, off, bare_off = (statistics.median(rates[name]) for name in ("ours", "bare", "ours_off", "bare_off"))
    return {
        "ours_per_s": round(ours, 1),
        "bare_per_s": round(bare, 1),
        "ours_without_campaigns_per_s": round(off, 1),
        "bare_without_campaigns_per_s": round(bare_off, 1),
        "bare_over_ours": round(bare / ours, 2),
        "without_over_with": round(off / ours, 2),
        "bare_without_over_bare_with": round(bare_off / bare, 2),  # what the extra items cost alone
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--filler", type=int, default=50_000)
    args = parser.parse_args()
    from chalice.test import Client

    from app import app
    from chalicelib.services import keys as api_keys
    from chalicelib.services import members
    from tests.support import Api

    with DynamoDBLocal().start() as ddb:
        _setup(ddb.endpoint)
        import chalicelib.events

        chalicelib.events.publish = lambda events: 0  # measure the store path, not the bus
        os.environ["AUTH_CACHE_SECONDS"] = "300"  # as API Gateway caches the authorizer on AWS
        config.reset()
        _, storefront = api_keys.create_key("storefront")
        _, ops = api_keys.create_key("ops")
        for i in range(MEMBERS):
            members.enrol(Enrol(f"b{i}"))
            members.enrol(Enrol(f"bare{i}"))
        results: dict[str, Any] = {}
        with Client(app) as client:
            api = Api(client, storefront, ops)
            for _ in range(3):  # warm the JVM of DynamoDB Local and our process alike
                _ours(api, f"warm{_}", 100)
                _bare(_prepare_bare(f"warm{_}", 100))
            for label, filler in (("empty", 0), (f"{args.filler // 1000}k", args.filler)):
                _fill(filler)
                # Interleave rounds so that drift (JVM warm-up, other load) hits both paths alike.
                ours_rates, bare_rates = [], []
                for round_no in range(ROUNDS):
                    bare_calls = _prepare_bare(f"{label}{round_no}", args.requests // ROUNDS)
                    ours_rates.append(_ours(api, f"{label}{round_no}", args.requests // ROUNDS))
                    bare_rates.append(_bare(bare_calls))
                ours, bare = statistics.median(ours_rates), statistics.median(bare_rates)
                results[label] = {
                    "ours_per_s": round(ours, 1),
                    "bare_per_s": round(bare, 1),
                    "bare_over_ours": round(bare / ours, 2),
                }
            labels = list(results)
            results["20_campaigns"] = _with_campaigns(api, args.requests)
        results["flatness_ours"] = round(results[labels[1]]["ours_per_s"] / results[labels[0]]["ours_per_s"], 2)
        print(json.dumps(results, indent=2))
        print(
            f"our path at {labels[1]} items runs at {results['flatness_ours']}x its empty-table rate; "
            f"bare calls are {results[labels[0]]['bare_over_ours']}x faster than our path (target <= 1.3)"
        )
        camp = results["20_campaigns"]
        print(
            f"with 20 active campaigns (one budgeted) at {labels[1]} items: bare calls writing the same items are "
            f"{camp['bare_over_ours']}x faster than our path (target <= 1.3); our path without campaigns is "
            f"{camp['without_over_with']}x our rate with them (target <= 1.1); the bare calls alone lose "
            f"{camp['bare_without_over_bare_with']}x to the campaign items (budget shard, results shard)"
        )


if __name__ == "__main__":
    main()
