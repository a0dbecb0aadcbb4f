"""Write units of one earn, per table and index: DynamoDB Local's ReturnConsumedCapacity=INDEXES on
the earn's transaction, through the whole API path (in-process Chalice test client: auth,
validation, rules, one Query + one TransactWriteItems), on a table created from
chalicelib/store/schema.py exactly as deployed.

    python -m bench.write_units [--earns 20]

Every index a write touches is billed for its own copy of the item: the ledger's local index
`by_time` pays for whatever its projection holds. DynamoDB bills a transactional write 2 units per
1 KB of item (rounded up), per table and per index copy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.local import use_local_aws, use_table
from chalicelib import config
from chalicelib.store import aws
from chalicelib.store.schema import table_definition
from loyalty_tools.local.ddb_local import DynamoDBLocal

TABLE = "bench-write-units"


@contextmanager
def consumed_writes() -> Iterator[list[dict[str, float]]]:
    """Every TransactWriteItems asks for ReturnConsumedCapacity=INDEXES; each answer becomes
    {"table": units, "<index>": units, "total": units}."""
    answers: list[dict[str, float]] = []
    events = aws.client("dynamodb").meta.events

    def ask(params: dict[str, Any], **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "INDEXES"

    def keep(parsed: dict[str, Any], **_: Any) -> None:
        units: dict[str, float] = defaultdict(float)
        for consumed in parsed.get("ConsumedCapacity", []):
            units["total"] += consumed.get("CapacityUnits", 0.0)
            units["table"] += consumed.get("Table", {}).get("CapacityUnits", 0.0)
            for kind in ("LocalSecondaryIndexes", "GlobalSecondaryIndexes"):
                for name, index in consumed.get(kind, {}).items():
                    units[name] += index.get("CapacityUnits", 0.0)
        answers.append(dict(units))

    events.register("before-parameter-build.dynamodb.TransactWriteItems", ask)
    events.register("after-call.dynamodb.TransactWriteItems", keep)
    try:
        yield answers
    finally:
        events.unregister("before-parameter-build.dynamodb.TransactWriteItems", ask)
        events.unregister("after-call.dynamodb.TransactWriteItems", keep)


def _median(answers: list[dict[str, float]]) -> dict[str, float]:
    names = sorted({name for answer in answers for name in answer}, key=lambda n: (n != "total", n != "table", n))
    return {name: statistics.median(answer.get(name, 0.0) for answer in answers) for name in names}


def measure(api: Any, earns: int) -> dict[str, Any]:
    plain: dict[str, Any] = {"amount": "268.50", "currency": "CNY"}
    lines = [{"sku": f"SKU-{n}", "category": "fresh", "amount": "20.00"} for n in range(8)]
    cases: dict[str, dict[str, Any]] = {
        "earn": plain,
        "earn-8-lines": {"amount": "160.00", "currency": "CNY", "lines": lines},
    }
    results: dict[str, Any] = {}
    for label, body in cases.items():
        with consumed_writes() as answers:
            for n in range(earns):
                status, answer = api.post(f"/members/w{n % 5}/purchases", {"order_id": f"{label}-{n}", **body})
                assert status == 201, answer
        results[label] = _median(answers)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--earns", type=int, default=20)
    args = parser.parse_args()
    from chalice.test import Client

    from app import app
    from chalicelib.observability import logger
    from chalicelib.services import keys as api_keys
    from tests.support import Api

    logger.setLevel("WARNING")  # one INFO line per write otherwise
    use_local_aws()
    with DynamoDBLocal().start() as ddb:
        use_table(ddb.endpoint, TABLE)
        import chalicelib.events

        chalicelib.events.publish = lambda events: 0  # no bus here: the table's writes only
        config.reset()
        _, storefront = api_keys.create_key("storefront")
        _, ops = api_keys.create_key("ops")
        with Client(app) as client:
            api = Api(client, storefront, ops)
            for n in range(5):
                assert api.post("/members", {"member_id": f"w{n}"})[0] == 201
            results = measure(api, args.earns)
    ledger_index = table_definition(TABLE)["LocalSecondaryIndexes"][0]
    results["ledger index projection"] = ledger_index["Projection"]
    print(json.dumps(results, indent=2))
    for label, units in results.items():
        if label != "ledger index projection":
            parts = ", ".join(f"{name} {value:g}" for name, value in units.items() if name != "total")
            print(f"{label}: {units['total']:g} write units per earn ({parts})")


if __name__ == "__main__":
    main()
