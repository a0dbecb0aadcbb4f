"""Cross-cutting API contract (docs/api.md): idempotent writes, keys and roles, the error body, and the
number of DynamoDB round trips per use case."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.api import models
from chalicelib.domain.errors import InsufficientPointsError
from chalicelib.services import keys, members, points
from chalicelib.store import aws
from tests.support import (
    Api,
    api_on_fresh_table,
    assert_error,
    count_dynamodb_calls,
    moto_stack,
    ok,
    purchase_command,
    readable,
    redeem_command,
)

TABLE, BUS = "loyalty-api-contract", "loyalty-api-contract-bus"


# --- fixtures: one moto per module, a fresh table per test -----------------------------------


@pytest.fixture(scope="module")
def moto_module() -> Iterator[None]:
    with moto_stack(TABLE, BUS):
        yield


@pytest.fixture
def api(moto_module: None) -> Iterator[Api]:
    with api_on_fresh_table(TABLE) as client:
        yield client


# --- helpers ---------------------------------------------------------------------------------


def table_items() -> list[str]:
    """Every item but the API keys (their `last_used_at` is bookkeeping), canonically ordered."""
    client = aws.client("dynamodb")
    items, start = [], None
    while True:
        page = client.scan(TableName=TABLE, **({"ExclusiveStartKey": start} if start else {}))
        items += [i for i in page["Items"] if i["pk"]["S"] != "APIKEYS"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return sorted(json.dumps(readable(item), sort_keys=True) for item in items)


def state(api: Api, member_id: str) -> tuple[Any, ...]:
    """What a write may change: the member's view and ledger, and every item of the table."""
    return (
        api.get(f"/members/{member_id}"),
        api.get(f"/members/{member_id}/ledger?limit=100"),
        table_items(),
    )


def enrol(api: Api, member_id: str, **fields: Any) -> dict[str, Any]:
    return ok(api.post("/members", {"member_id": member_id, **fields}), 201)


def buy(api: Api, member_id: str, order_id: str, amount: str) -> dict[str, Any]:
    body = {"order_id": order_id, "amount": amount, "currency": "CNY"}
    return ok(api.post(f"/members/{member_id}/purchases", body), 201)


# --- idempotency -----------------------------------------------------------------------------


def _member(api: Api) -> None:
    enrol(api, "m1")


def _member_with_order(api: Api) -> None:
    enrol(api, "m1")
    buy(api, "m1", "o1", "100.00")


def _silver_member(api: Api) -> None:
    enrol(api, "m1")
    buy(api, "m1", "o1", "2000.00")


# (setup, method, path, body, another body with the same id, role, status)
WRITES: dict[str, tuple[Callable[[Api], None] | None, str, str, dict[str, Any], dict[str, Any], str, int]] = {
    "enrol": (
        None,
        "POST",
        "/members",
        {"member_id": "m1", "phone": "+86 138 0000 0001", "name": "Ann", "birthday": "1990-05-01"},
        {"member_id": "m1", "phone": "+86 138 0000 0001", "name": "Anne", "birthday": "1990-05-01"},
        "storefront",
        201,
    ),
    "purchase": (
        _member,
        "POST",
        "/members/m1/purchases",
        {
            "order_id": "o1",
            "amount": "100.00",
            "currency": "CNY",
            "lines": [{"sku": "apple", "category": "fresh", "amount": "20.00"}],
        },
        {
            "order_id": "o1",
            "amount": "100.01",
            "currency": "CNY",
            "lines": [{"sku": "apple", "category": "fresh", "amount": "20.00"}],
        },
        "storefront",
        201,
    ),
    "return": (
        _member_with_order,
        "POST",
        "/members/m1/returns",
        {"return_id": "r1", "order_id": "o1", "amount": "40.00"},
        {"return_id": "r1", "order_id": "o1", "amount": "30.00"},
        "storefront",
        201,
    ),
    "redemption-points": (
        _member,
        "POST",
        "/members/m1/redemptions",
        {"redemption_id": "d1", "points": 50, "reason": "gift"},
        {"redemption_id": "d1", "points": 51, "reason": "gift"},
        "storefront",
        201,
    ),
    "redemption-reward": (
        _silver_member,
        "POST",
        "/members/m1/redemptions",
        {"redemption_id": "d1", "reward_id": "tote-bag"},
        {"redemption_id": "d1", "reward_id": "cash-5"},
        "storefront",
        201,
    ),
    "activity": (
        _member,
        "POST",
        "/members/m1/activities",
        {"activity_id": "a1", "type": "review"},
        {"activity_id": "a1", "type": "share"},
        "storefront",
        201,
    ),
    "adjustment": (
        _member,
        "POST",
        "/members/m1/adjustments",
        {"adjustment_id": "j1", "points": 25, "reason": "goodwill"},
        {"adjustment_id": "j1", "points": -25, "reason": "goodwill"},
        "ops",
        201,
    ),
}


@pytest.mark.parametrize("name", WRITES)
def test_a_replayed_write_answers_the_same_and_changes_nothing(api, name):
    setup, method, path, body, other, role, status = WRITES[name]
    if setup:
        setup(api)
    first = api.call(method, path, body, role=role)
    assert first[0] == status, first
    after_first = state(api, "m1")
    reordered = dict(reversed(list(body.items())))  # the same body, keys in another order
    for again in (body, reordered):
        assert api.call(method, path, again, role=role) == first
        assert state(api, "m1") == after_first
    assert_error(api.call(method, path, other, role=role), 409, "conflict")
    assert state(api, "m1") == after_first


def test_replays_answer_the_first_answer_even_when_the_rules_would_now_refuse(api):
    enrol(api, "m1")
    spend_all = {"redemption_id": "d1", "points": 100, "reason": "gift"}
    first = ok(api.post("/members/m1/redemptions", spend_all), 201)
    assert first["balances"]["available"] == 0
    assert api.post("/members/m1/redemptions", spend_all) == (201, first)
    check_in = {"activity_id": "c1", "type": "check_in"}
    first_check_in = ok(api.post("/members/m1/activities", check_in), 201)
    assert_error(
        api.post("/members/m1/activities", {"activity_id": "c2", "type": "check_in"}), 422, "activity_limit_reached"
    )
    assert api.post("/members/m1/activities", check_in) == (201, first_check_in)
    buy(api, "m1", "o1", "100.00")
    part = {"return_id": "r1", "order_id": "o1", "amount": "40.00"}
    first_return = ok(api.post("/members/m1/returns", part), 201)
    ok(api.post("/members/m1/returns", {"return_id": "r2", "order_id": "o1", "amount": "60.00"}), 201)
    assert api.post("/members/m1/returns", part) == (201, first_return)
    assert available_after(api) == 0 + 5 + 100 - 40 - 60


def available_after(api: Api) -> int:
    return int(ok(api.get("/members/m1"))["points"]["available"])


def test_a_coupon_use_replayed_for_the_same_order_answers_the_same(api):
    code = enrol(api, "m1")["coupons"][0]["code"]
    first = ok(api.post(f"/members/m1/coupons/{code}/use", {"order_id": "o1"}))
    after_first = state(api, "m1")
    assert api.post(f"/members/m1/coupons/{code}/use", {"order_id": "o1"}) == (200, first)
    assert_error(api.post(f"/members/m1/coupons/{code}/use", {"order_id": "o2"}), 422, "coupon_used")
    assert state(api, "m1") == after_first


def test_a_replayed_enrolment_does_not_issue_a_second_welcome_bonus(api):
    first = enrol(api, "m1")
    assert api.post("/members", {"member_id": "m1"}) == (201, first)
    assert ok(api.get("/members/m1"))["points"]["lifetime_earned"] == 100
    assert len(ok(api.get("/members/m1/coupons"))["coupons"]) == 1


# --- DynamoDB round trips --------------------------------------------------------------------


def _purchase(order_id: str, amount: str = "100.00") -> dict[str, Any]:
    return models.PurchaseRequest.model_validate(
        {"order_id": order_id, "amount": amount, "currency": "CNY"}
    ).client_fields()


def _redemption(redemption_id: str, **fields: Any) -> dict[str, Any]:
    return models.RedemptionRequest.model_validate({"redemption_id": redemption_id, **fields}).client_fields()


def test_dynamodb_round_trips_per_use_case(api):
    enrol(api, "m1")
    with count_dynamodb_calls() as calls:
        points.record_purchase(purchase_command("m1", _purchase("o1")))
    assert calls == Counter({"Query": 1, "TransactWriteItems": 1})  # earn: read the member, one transaction
    with count_dynamodb_calls() as calls:
        points.redeem(redeem_command("m1", _redemption("d1", points=50, reason="gift")))
    assert calls == Counter({"Query": 1, "TransactWriteItems": 1})
    with count_dynamodb_calls() as calls, pytest.raises(InsufficientPointsError):
        points.redeem(redeem_command("m1", _redemption("d2", reward_id="cash-5")))  # 150 < 500
    assert calls == Counter({"Query": 1, "GetItem": 1})  # refused: the read, and a look for an earlier answer
    with count_dynamodb_calls() as calls:
        members.view("m1")
    assert calls == Counter({"Query": 1})
    with count_dynamodb_calls() as calls:
        points.record_purchase(
            purchase_command("m1", _purchase("o1"))
        )  # replay: the stored answer comes back with the refusal
    assert calls == Counter({"Query": 1, "TransactWriteItems": 1})
    with count_dynamodb_calls() as calls:
        points.redeem(redeem_command("m1", _redemption("d3", points=150, reason="all")))
    assert calls == Counter({"Query": 1, "TransactWriteItems": 1})
    with count_dynamodb_calls() as calls:
        points.redeem(redeem_command("m1", _redemption("d3", points=150, reason="all")))  # replay the rules now refuse
    assert calls == Counter({"Query": 1, "GetItem": 1})


def test_dynamodb_round_trips_of_a_whole_request(api):
    enrol(api, "m1")
    api.get("/members/m1")  # the key's "last used" is written at most hourly: after this, reads only
    body = {"order_id": "o1", "amount": "10.00", "currency": "CNY"}
    with count_dynamodb_calls() as calls:
        ok(api.post("/members/m1/purchases", body), 201)
    assert calls == Counter({"GetItem": 1, "Query": 1, "TransactWriteItems": 1})  # GetItem: the API key
    with count_dynamodb_calls() as calls:
        ok(api.get("/members/m1"))
    assert calls == Counter({"GetItem": 1, "Query": 1})
    with count_dynamodb_calls() as calls:
        ok(api.post("/members/m1/purchases", body), 201)
    assert calls == Counter({"GetItem": 1, "Query": 1, "TransactWriteItems": 1})


# --- keys and roles --------------------------------------------------------------------------

STOREFRONT_CALLS = [
    ("GET", "/program", None),
    ("GET", "/rewards", None),
    ("GET", "/members/m1", None),
    ("POST", "/members", {"member_id": "m2"}),
    ("PATCH", "/members/m1", {"name": "x"}),
    ("POST", "/members/m1/purchases", {"order_id": "o1", "amount": "1.00", "currency": "CNY"}),
    ("POST", "/members/m1/returns", {"return_id": "r1", "order_id": "o0", "amount": "1.00"}),
    ("POST", "/members/m1/redemptions", {"redemption_id": "d1", "points": 1, "reason": "x"}),
    ("POST", "/members/m1/activities", {"activity_id": "a1", "type": "share"}),
    ("GET", "/members/m1/ledger", None),
    ("GET", "/members/m1/coupons", None),
    ("POST", "/members/m1/coupons/ABC/use", {"order_id": "o1"}),
]
OPS_CALLS = [
    ("DELETE", "/members/m1", None),
    ("POST", "/members/m1/adjustments", {"adjustment_id": "j1", "points": 5, "reason": "x"}),
]


def _prepared(api: Api) -> None:
    enrol(api, "m1")
    buy(api, "m1", "o0", "10.00")


def test_no_authorization_header_is_401(api):
    _prepared(api)
    before = state(api, "m1")
    for method, path, body in STOREFRONT_CALLS + OPS_CALLS:
        status, answer = api.call(method, path, body, role=None)
        # API Gateway answers this one itself (before our authorizer), with its own body.
        assert status == 401, (method, path, answer)
    assert state(api, "m1") == before


@pytest.mark.parametrize(
    "header",
    [
        "Bearer nope",
        "Bearer ",
        "",
        "Bearer lk_abc123_notthesecret",
        "Basic dXNlcjpwYXNz",
        "Bearer lk_" + "a" * 40 + "_x",
    ],
)
def test_unknown_keys_are_401_in_the_error_format(api, header):
    _prepared(api)
    before = state(api, "m1")
    for method, path, body in STOREFRONT_CALLS + OPS_CALLS:
        answer = api.call(method, path, body, role=None, headers={"Authorization": header})
        assert_error(answer, 401, "unauthorized")
    assert state(api, "m1") == before


def test_a_key_with_the_right_id_and_a_wrong_secret_is_401(api):
    _prepared(api)
    record, plain = keys.create_key("ops", "x")
    forged = plain[:-4] + ("AAAA" if not plain.endswith("AAAA") else "BBBB")
    assert_error(api.get("/members/m1", role=None, headers={"Authorization": f"Bearer {forged}"}), 401, "unauthorized")
    assert ok(api.get("/members/m1", role=None, headers={"Authorization": f"Bearer {plain}"}))["member_id"] == "m1"
    assert record["key_id"] in plain


@pytest.mark.parametrize("role", ["storefront", "ops"])
def test_a_revoked_key_is_401(api, role):
    _prepared(api)
    record, plain = keys.create_key(role, "to revoke")
    headers = {"Authorization": f"Bearer {plain}"}
    assert ok(api.get("/members/m1", role=None, headers=headers))["member_id"] == "m1"
    assert keys.revoke_key(record["key_id"]) is True
    assert_error(api.get("/members/m1", role=None, headers=headers), 401, "unauthorized")
    body = {"order_id": "o9", "amount": "1.00", "currency": "CNY"}
    assert_error(api.post("/members/m1/purchases", body, role=None, headers=headers), 401, "unauthorized")
    assert ok(api.get("/members/m1"))["points"]["available"] == 110  # other keys still work, nothing written


def test_a_storefront_key_on_ops_endpoints_is_403(api):
    _prepared(api)
    before = state(api, "m1")
    for method, path, body in OPS_CALLS:
        assert_error(api.call(method, path, body), 403, "forbidden")
    # the role is checked before the body: a bad body is still 403, not 400
    assert_error(api.post("/members/m1/adjustments", {"bogus": True}), 403, "forbidden")
    assert state(api, "m1") == before


def test_an_ops_key_can_do_everything(api):
    _prepared(api)
    for method, path, body in STOREFRONT_CALLS + OPS_CALLS:
        status, answer = api.call(method, path, body, role="ops")
        assert status not in (401, 403) and status < 500, (method, path, answer)


def test_health_is_public_and_everything_else_needs_a_key(api):
    assert api.get("/health", role=None) == (200, {"status": "ok"})
    assert_error(api.get("/program", role=None, headers={"Authorization": "Bearer x"}), 401, "unauthorized")


# --- ids that cannot be DynamoDB keys --------------------------------------------------------

KEY_LIMITS = {"pk": 2048, ":pk": 2048, "sk": 1024}  # bytes, as DynamoDB enforces them (moto does not)


def _key_values(node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for name, value in node.items():
            if name in KEY_LIMITS and isinstance(value, dict) and isinstance(value.get("S"), str):
                yield name, value["S"]
            else:
                yield from _key_values(value)
    elif isinstance(node, list):
        for item in node:
            yield from _key_values(item)


@pytest.fixture
def dynamodb_key_limits(api: Api) -> Iterator[None]:
    """Make moto refuse oversized keys the way DynamoDB does (ValidationException)."""

    def check(params: dict[str, Any], model: Any, **_: Any) -> None:
        for name, value in _key_values(params):
            if len(value.encode()) > KEY_LIMITS[name]:
                error = {"Error": {"Code": "ValidationException", "Message": f"{name} too large"}}
                raise ClientError(error, model.name)

    events = aws.client("dynamodb").meta.events
    events.register("before-parameter-build.dynamodb", check)
    try:
        yield
    finally:
        events.unregister("before-parameter-build.dynamodb", check)


def test_ids_too_long_to_be_keys_are_404_not_500(api, dynamodb_key_limits):
    _prepared(api)
    long_id = "x" * 3000
    for method, path, body in [
        ("GET", f"/members/{long_id}", None),
        ("GET", f"/members/{long_id}/coupons", None),
        ("GET", f"/members/{long_id}/ledger", None),
        ("PATCH", f"/members/{long_id}", {"name": "x"}),
        ("POST", f"/members/{long_id}/purchases", {"order_id": "o1", "amount": "1.00", "currency": "CNY"}),
        ("POST", f"/members/{long_id}/coupons/ABC/use", {"order_id": "o1"}),
    ]:
        assert_error(api.call(method, path, body), 404, "member_not_found")
    assert_error(api.call("DELETE", f"/members/{long_id}", role="ops"), 404, "member_not_found")
    assert_error(api.post(f"/members/m1/coupons/{'C' * 1100}/use", {"order_id": "o1"}), 404, "not_found")
    # ids of an ordinary length still reach the store
    assert_error(api.get(f"/members/{'y' * 200}"), 404, "member_not_found")
    with pytest.raises(ClientError):  # the emulation is live
        aws.client("dynamodb").get_item(TableName=TABLE, Key={"pk": {"S": long_id}, "sk": {"S": "MEMBER"}})
