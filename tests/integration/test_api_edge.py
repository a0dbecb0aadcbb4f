"""The edge of the API as Lambda runs it (chalice.test.Client goes through the app's handler and its
middleware): repeated JSON keys."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Api, assert_error, ok


def _state(api: Api, member_id: str) -> tuple[Any, Any]:
    return ok(api.get(f"/members/{member_id}")), ok(api.get(f"/members/{member_id}/ledger"))


@pytest.mark.parametrize(
    ("path", "method", "raw", "field"),
    [
        (
            "/members/dk1/purchases",
            "POST",
            b'{"order_id": "u1", "amount": "1.00", "amount": "9000.00", "currency": "CNY"}',
            "amount",
        ),
        (
            "/members/dk1/purchases",
            "POST",
            b'{"order_id": "u1", "amount": "9.00", "currency": "CNY", "lines": [{"sku": "a", "amount": "1.00"},'
            b' {"sku": "b", "category": "fresh", "amount": "1.00", "amount": "8.00"}]}',
            "lines.1.amount",
        ),
        ("/members/dk1", "PATCH", b'{"preferences": {"sms": true, "sms": false}}', "preferences.sms"),
        ("/members/dk1", "PATCH", b'{"name": "A", "\\u006eame": "B"}', "name"),  # the same key once decoded
        ("/members", "POST", b'{"member_id": "dk2", "member_id": "dk3"}', "member_id"),
        (
            "/members/dk1/redemptions",
            "POST",
            b'{"redemption_id": "d1", "points": 1, "points": 100, "reason": "gift"}',
            "points",
        ),
    ],
    ids=["top-level", "in-lines", "in-preferences", "escaped", "enrol", "redemption"],
)
def test_a_repeated_key_is_refused_and_writes_nothing(api: Api, path: str, method: str, raw: bytes, field: str) -> None:
    ok(api.post("/members", {"member_id": "dk1"}), 201)
    before = _state(api, "dk1")

    answer = api.call(method, path, raw=raw)

    error = assert_error(answer, 400, "invalid_request")
    assert {"field": field, "message": "appears more than once"} in error["details"], error
    assert _state(api, "dk1") == before
    for member_id in ("dk2", "dk3"):
        assert_error(api.get(f"/members/{member_id}"), 404, "member_not_found")


def test_the_same_body_without_the_repeat_is_accepted(api: Api) -> None:
    ok(api.post("/members", {"member_id": "dk4"}), 201)
    raw = b'{"order_id": "u1", "amount": "9000.00", "currency": "CNY"}'
    assert ok(api.call("POST", "/members/dk4/purchases", raw=raw), 201)["entry"]["points"] > 0
