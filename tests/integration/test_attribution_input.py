"""Attribution through the API (moto): enrolments take store_id, staff_id and channel, purchases
store_id and staff_id; stored on the profile and on the purchase's ledger entry. A bad value is a
400 naming its field, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.store import aws, dynamo, keys
from tests.support import Api, assert_error, ok

PURCHASE = {"order_id": "o1", "amount": "30.00", "currency": "CNY"}


@pytest.fixture
def shop(api: Api) -> Api:
    ok(api.post("/members", {"member_id": "a0"}), 201)
    return api


def table() -> list[str]:
    items = aws.client("dynamodb").scan(TableName=dynamo.table())["Items"]  # a test may scan; the product never
    return sorted(str(item) for item in items if item["pk"]["S"] != keys.API_KEYS_PK)


def test_attribution_is_stored_on_the_profile_and_the_purchase(shop: Api) -> None:
    body = {"member_id": "a1", "store_id": "s-01", "staff_id": "clerk:7", "channel": "store"}
    ok(shop.post("/members", body), 201)
    profile = dynamo.get(keys.profile_key("a1"))
    assert (profile["enrol_store_id"], profile["enrol_staff_id"], profile["enrol_channel"]) == (
        "s-01",
        "clerk:7",
        "store",
    )
    entry = ok(shop.post("/members/a1/purchases", {**PURCHASE, "store_id": "s-02", "staff_id": "c9"}), 201)["entry"]
    assert (entry["details"]["store_id"], entry["details"]["staff_id"]) == ("s-02", "c9")
    # the same order id with another store is another body: 409, as for any field
    assert_error(
        shop.post("/members/a1/purchases", {**PURCHASE, "store_id": "s-03", "staff_id": "c9"}), 409, "conflict"
    )
    ok(shop.post("/members", {"member_id": "a2", "channel": "web"}), 201)
    ok(shop.post("/members", {"member_id": "a3", "channel": "referral", "referrer_id": "a1"}), 201)
    assert ok(shop.get("/members/a3"))["enrolment"] == {"store_id": None, "staff_id": None, "channel": "referral"}


ENROL_CASES: list[tuple[dict[str, Any], str]] = [
    ({"store_id": ""}, "store_id"),
    ({"store_id": "a#b"}, "store_id"),
    ({"store_id": "s/1"}, "store_id"),
    ({"store_id": "_s1"}, "store_id"),
    ({"store_id": "s" * 65}, "store_id"),
    ({"store_id": 7}, "store_id"),
    ({"staff_id": "c 1", "store_id": "s1"}, "staff_id"),
    ({"staff_id": "c/1", "store_id": "s1"}, "staff_id"),
    ({"staff_id": "c" * 65, "store_id": "s1"}, "staff_id"),
    ({"staff_id": "ｃ1", "store_id": "s1"}, "staff_id"),
    ({"staff_id": "c1"}, "store_id"),  # a clerk without a store
    ({"channel": "fax"}, "channel"),
    ({"channel": "STORE", "store_id": "s1"}, "channel"),
    ({"channel": ""}, "channel"),
    ({"channel": "store"}, "store_id"),  # enrolled at a store: which one?
    ({"channel": "referral"}, "referrer_id"),
]


@pytest.mark.parametrize(("fields", "field"), ENROL_CASES)
def test_a_bad_enrolment_attribution_is_refused_with_its_field(shop: Api, fields: dict[str, Any], field: str) -> None:
    before = table()
    error = assert_error(shop.post("/members", {"member_id": "b1", **fields}), 400, "invalid_request")
    assert [detail["field"] for detail in error["details"]] == [field], error
    assert table() == before


PURCHASE_CASES: list[tuple[dict[str, Any], str]] = [
    ({"store_id": "a#b"}, "store_id"),
    ({"store_id": ""}, "store_id"),
    ({"store_id": ["s1"]}, "store_id"),
    ({"staff_id": "c#1", "store_id": "s1"}, "staff_id"),
    ({"staff_id": 12, "store_id": "s1"}, "staff_id"),
    ({"staff_id": "c1"}, "store_id"),
]


@pytest.mark.parametrize(("fields", "field"), PURCHASE_CASES)
def test_a_bad_purchase_attribution_is_refused_with_its_field(shop: Api, fields: dict[str, Any], field: str) -> None:
    before = table()
    error = assert_error(shop.post("/members/a0/purchases", {**PURCHASE, **fields}), 400, "invalid_request")
    assert [detail["field"] for detail in error["details"]] == [field], error
    assert table() == before
