"""Earn benchmark: purchases/s through our whole path (in-process Chalice test client: auth,
validation, rules, one Query + one transaction) next to a bare boto3 loop that sends exactly the
same Query and transaction (prepared beforehand by our own code), on the same DynamoDB Local, in
one run; at 0 and at 50 k items in the table. Key lookups are cached as API Gateway does (300 s).

    python -m bench.earn [--requests 300] [--filler 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from decimal import Decimal
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
    purchase transaction (same items, conditions and attributes), for members bare0..bareN."""
    from chalicelib import clock
    from chalicelib.domain import rules
    from chalicelib.program import load_program
    from chalicelib.services.writes import Plan, answer_for, fingerprint
    from chalicelib.store import members

    program, now = load_program(), clock.now()
    state = {i: members.load_member(f"bare{i}") for i in range(MEMBERS)}
    calls = []
    for i in range(requests):
        member = state[i % MEMBERS]
        assert member is not None
        body = {"order_id": f"{run}-{i}", "amount": Decimal("25.00"), "currency": "CNY"}
        purchase = rules.Purchase(order_id=body["order_id"], amount=body["amount"], occurred_at=now)
        change, _ = rules.record_purchase(program, member, purchase, now)
        plan = Plan([change])
        items, _ = members.transaction_items(
            members.Commit(plan.changes, fingerprint(body), answer_for(plan, now)), now
        )
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
        results["flatness_ours"] = round(results[labels[1]]["ours_per_s"] / results[labels[0]]["ours_per_s"], 2)
        print(json.dumps(results, indent=2))
        print(
            f"our path at {labels[1]} items runs at {results['flatness_ours']}x its empty-table rate; "
            f"bare calls are {results[labels[0]]['bare_over_ours']}x faster than our path (target <= 1.3)"
        )


if __name__ == "__main__":
    main()
