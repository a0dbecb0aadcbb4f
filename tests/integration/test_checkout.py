"""Checkout: the quote (one Query, writes nothing, says what the purchase then credits), points as
payment (spent oldest first in the purchase's own transaction, earning on the money part only) and
returns giving the paid points back pro rata (on moto)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from chalicelib.services import check, quotes
from tests.support import Api, assert_error, count_dynamodb_calls, ok, purchase_command


def enrol(api: Api, member_id: str) -> dict[str, Any]:
    return ok(api.post("/members", {"member_id": member_id}), 201)


def buy(api: Api, member_id: str, order_id: str, amount: str, **extra: Any) -> dict[str, Any]:
    body = {"order_id": order_id, "amount": amount, "currency": "CNY", **extra}
    return ok(api.post(f"/members/{member_id}/purchases", body), 201)


def points(api: Api, member_id: str) -> dict[str, Any]:
    return ok(api.get(f"/members/{member_id}"))["points"]


def grant(api: Api, member_id: str, amount: int) -> None:
    body = {"adjustment_id": f"grant-{amount}", "points": amount, "reason": "test balance"}
    ok(api.post(f"/members/{member_id}/adjustments", body, role="ops"), 201)


def test_quote_says_what_the_purchase_then_credits_and_writes_nothing(api: Api) -> None:
    enrol(api, "q1")
    cart = {
        "amount": "268.50",
        "currency": "CNY",
        "lines": [{"sku": "A1", "category": "fresh", "amount": "68.50"}, {"sku": "B", "amount": "100.00"}],
    }
    before = points(api, "q1")
    quote = ok(api.post("/members/q1/quote", cart))  # also loads the campaigns into the process's cache
    with count_dynamodb_calls() as calls:
        again = quotes.quote(purchase_command("q1", {"order_id": "quote", **cart}), ["ANY"])
    assert dict(calls) == {"Query": 1}  # the member's state and wallet; nothing written, no other read
    assert again == quote | {"coupons": again["coupons"]}
    assert points(api, "q1") == before
    # 268.50 with 68.50 fresh at 2x: 337.00 weighted, member tier 1.0x -> 337
    assert quote["points_to_earn"] == 337
    split = quote["breakdown"]
    assert (split["base"], split["category"], split["tier"], split["campaigns"]) == (268, 69, 0, [])
    assert quote["tier_after"] == "member" and quote["next_tier_after"] == "silver"
    assert Decimal(quote["spend_to_next_tier_after"]) == Decimal("1731.50")
    bought = buy(api, "q1", "o-1", **cart)
    assert bought["entry"]["points"] == quote["points_to_earn"]


def test_quote_states_tier_discount_coupons_and_points_payment(api: Api) -> None:
    enrolled = enrol(api, "q2")
    buy(api, "q2", "big", "8000.00")  # gold: 5% discount
    wallet = ok(api.get("/members/q2/coupons"))["coupons"]
    code = wallet[0]["code"]
    cart = {"amount": "300.00", "currency": "CNY", "coupon_codes": [code, "NOSUCHCODE", code]}
    quote = ok(api.post("/members/q2/quote", cart))
    assert quote["tier_discount"] == {"percent": "5", "value": "15.00"}
    assert quote["coupons"] == [
        {"code": code, "value": wallet[0]["value"], "applicable": True, "reason": None},
        {"code": "NOSUCHCODE", "value": None, "applicable": False, "reason": "unknown"},
    ]
    available = enrolled["balances"]["available"] + 8000
    assert points(api, "q2")["available"] == available
    # at most half of 300.00 = 15,000 points; the member has fewer: all of them
    assert quote["points_payment"] == {
        "max_points": min(15_000, available),
        "max_value": f"{Decimal(min(15_000, available)) / 100:.2f}",
        "points_per_unit": 100,
        "min_points": 100,
    }
    ok(api.post(f"/members/q2/coupons/{code}/use", {"order_id": "o-used"}))
    used = ok(api.post("/members/q2/quote", {**cart, "coupon_codes": [code]}))["coupons"]
    assert used == [{"code": code, "value": wallet[0]["value"], "applicable": False, "reason": "used"}]


def test_points_pay_part_of_a_purchase_which_earns_on_the_money_part_only(api: Api) -> None:
    enrol(api, "p1")  # 100 welcome points
    grant(api, "p1", 2000)
    body = {"points_payment": 1000}  # 10.00 of 300.00
    quote = ok(api.post("/members/p1/quote", {"amount": "300.00", "currency": "CNY", **body}))
    bought = buy(api, "p1", "pay-1", "300.00", **body)
    assert bought["entry"]["points"] == quote["points_to_earn"] == 290
    paid = [e for e in bought["related_entries"] if e["kind"] == "points_payment"]
    assert [(e["points"], e["details"]["value"]) for e in paid] == [(-1000, "10.00")]
    assert bought["balances"]["available"] == 2100 - 1000 + 290
    # the same body again is a replay (nothing spent twice); another payment for the order is a conflict
    assert buy(api, "p1", "pay-1", "300.00", **body)["balances"] == bought["balances"]
    conflict = api.post("/members/p1/purchases", {"order_id": "pay-1", "amount": "300.00", "currency": "CNY"})
    assert_error(conflict, 409, "conflict")
    assert points(api, "p1")["available"] == 1390
    assert check.check_member("p1") == []


@pytest.mark.parametrize(
    ("payment", "status", "code", "message"),
    [
        (50, 400, "invalid_request", "at least 100 points"),
        (15_001, 400, "invalid_request", "at most 15000 points"),
        (10_000, 422, "insufficient_points", "available"),
    ],
)
def test_a_payment_the_rules_refuse_changes_nothing(
    api: Api, payment: int, status: int, code: str, message: str
) -> None:
    enrol(api, "p2")
    grant(api, "p2", 5000)
    before = points(api, "p2")
    body = {"order_id": "pay-x", "amount": "300.00", "currency": "CNY", "points_payment": payment}
    for path in ("/members/p2/quote", "/members/p2/purchases"):
        error = assert_error(api.post(path, body), status, code)
        assert error["details"][0]["field"] == "points_payment" and message in error["details"][0]["message"]
    assert points(api, "p2") == before
    assert api.get("/members/p2/ledger")[1]["entries"][0]["kind"] != "purchase"


def test_a_return_gives_the_paid_points_back_pro_rata(api: Api) -> None:
    enrol(api, "p3")
    grant(api, "p3", 3000)
    buy(api, "p3", "pay-3", "400.00", points_payment=2000)  # 20.00 paid with points; earns on 380.00
    assert points(api, "p3")["available"] == 3100 - 2000 + 380
    half = ok(api.post("/members/p3/returns", {"return_id": "r1", "order_id": "pay-3", "amount": "200.00"}), 201)
    refunds = [e for e in half["related_entries"] if e["kind"] == "points_payment_refund"]
    assert [(e["points"], e["details"]["value"]) for e in refunds] == [(1000, "10.00")]
    assert half["entry"]["points"] == -190  # what the returned half earned
    rest = ok(api.post("/members/p3/returns", {"return_id": "r2", "order_id": "pay-3", "amount": "200.00"}), 201)
    assert [e["points"] for e in rest["related_entries"] if e["kind"] == "points_payment_refund"] == [1000]
    assert points(api, "p3")["available"] == 3100  # everything back as before the purchase
    assert check.check_member("p3") == []
