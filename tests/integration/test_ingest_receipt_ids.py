"""Store receipts and storefront orders do not share ids (moto, S3 → SQS → the queue handler, and
the HTTP API): a storefront order id that looks like `<store>:<receipt>` never takes a store's sale,
in either order, and a file's ledger ids cannot be sent through the API at all."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.services.sales_files import file_run
from chalicelib.store import dynamo, keys
from tests.integration.test_ingest_files import (  # the shared harness
    WELCOME,
    Harness,
    available,
    counts,
    csv_file,
    enrol,
    ingest,  # noqa: F401  (fixture)
    ret,
    sale,
)
from tests.support import Api, assert_error, ok


def api_purchase(api: Api, order_id: str, amount: str) -> dict[str, Any]:
    body = {"order_id": order_id, "amount": amount, "currency": "CNY"}
    answer: dict[str, Any] = ok(api.post("/members/m1/purchases", body), 201)
    return answer


def test_a_storefront_order_named_like_a_receipt_does_not_take_the_stores_sale(
    api: Api,
    ingest: Harness,  # noqa: F811
) -> None:
    # Given: a storefront order whose id is what the store's receipt would have been called
    enrol("m1")
    api_purchase(api, "s1:RC2", "10.00")

    # When: store s1's file holds receipt RC2 for the same member
    report = ingest.run(csv_file(sale("RC2", "500.00", "m1")))

    # Then: the store's sale is credited too, and the order is untouched
    assert report["status"] == "completed"
    assert counts(report) == (1, 1, 0, 0)
    assert available("m1") == WELCOME + 10 + 500
    order = dynamo.get(keys.entry_key("m1", "purchase#s1:RC2"))
    assert order is not None and order["points"] == 10


def test_a_receipt_first_then_a_storefront_order_with_that_id_both_earn(
    api: Api,
    ingest: Harness,  # noqa: F811
) -> None:
    enrol("m1")
    assert counts(ingest.run(csv_file(sale("RC2", "500.00", "m1")))) == (1, 1, 0, 0)

    api_purchase(api, "s1:RC2", "10.00")

    assert available("m1") == WELCOME + 500 + 10


def test_with_colliding_ids_a_file_again_changes_nothing_and_returns_find_their_sale(
    api: Api,
    ingest: Harness,  # noqa: F811
) -> None:
    enrol("m1")
    api_purchase(api, "s1:RC2", "10.00")
    body = csv_file(sale("RC2", "500.00", "m1"))
    ingest.run(body)

    again = ingest.run(body)
    returned = ingest.run(csv_file(ret("X1", "RC2", "100.00")), "2026-11-21-returns.csv")

    assert counts(again) == (1, 0, 1, 0)
    assert counts(returned) == (1, 1, 0, 0)
    assert available("m1") == WELCOME + 10 + 500 - 100
    # The storefront may return its own order; it is not the store's sale
    ok(api.post("/members/m1/returns", {"return_id": "s1:X1", "order_id": "s1:RC2", "amount": "10.00"}), 201)
    assert available("m1") == WELCOME + 500 - 100


def test_the_api_refuses_the_ledger_ids_of_store_receipts(
    api: Api,
    ingest: Harness,  # noqa: F811
) -> None:
    enrol("m1")
    ingest.run(csv_file(sale("RC2", "500.00", "m1")))
    ref = keys.store_receipt_ref("s1", "RC2")
    assert dynamo.get(keys.entry_key("m1", f"purchase#{ref}")) is not None

    body = {"order_id": ref, "amount": "500.00", "currency": "CNY"}
    assert_error(api.post("/members/m1/purchases", body), 400, "invalid_request")
    returned = {"return_id": ref, "order_id": ref, "amount": "1.00"}
    assert_error(api.post("/members/m1/returns", returned), 400, "invalid_request")
    assert available("m1") == WELCOME + 500


def test_receipts_recorded_before_store_ledger_ids_keep_their_entries(
    ingest: Harness,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A receipt claimed by an earlier version (no `ledger_ref`, entries `purchase#<store>:<id>`):
    uploading its file again credits nothing new, and a later return claws back that entry."""
    enrol("m1")
    body = csv_file(sale("RC2", "500.00", "m1"))
    with monkeypatch.context() as old:
        old.setattr(file_run.FileRun, "order_id", lambda self, receipt: f"{self.store_id}:{receipt}")
        ingest.run(body)
    dynamo.call(
        "update_item",
        TableName=dynamo.table(),
        Key=dynamo.to_item(keys.receipt_key("s1", "RC2")),
        UpdateExpression="REMOVE ledger_ref",
    )
    assert dynamo.get(keys.entry_key("m1", "purchase#s1:RC2")) is not None

    again = ingest.run(body)
    returned = ingest.run(csv_file(ret("X1", "RC2", "100.00")), "2026-11-21-returns.csv")

    assert counts(again) == (1, 0, 1, 0)
    assert counts(returned) == (1, 1, 0, 0)
    assert available("m1") == WELCOME + 500 - 100
    entry = dynamo.get(keys.entry_key("m1", "purchase#s1:RC2"))
    assert entry is not None and entry["returned_amount"] == 100
