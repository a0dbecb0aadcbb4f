"""The edge of the API as Lambda runs it (chalice.test.Client goes through the app's handler and its
middleware): repeated JSON keys, and the answers Chalice builds itself (405, 415), in our format."""

from __future__ import annotations

from typing import Any

import pytest

from app import app
from chalicelib.api.openapi import build
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


def test_a_method_the_path_does_not_have_answers_405_in_our_format(api: Api) -> None:
    status, body, headers = _raw(api, "POST", "/members/bob", {"Content-Type": "application/json"}, b"{}")

    error = assert_error((status, body), 405, "method_not_allowed")
    assert "POST" in error["message"]
    assert headers["Allow"] == "GET, PATCH, DELETE"
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_a_body_that_is_not_json_answers_415_in_our_format_and_writes_nothing(api: Api, content_type: str) -> None:
    ok(api.post("/members", {"member_id": "ct1"}), 201)
    before = _state(api, "ct1")
    purchase = b'{"order_id": "o1", "amount": "10.00", "currency": "CNY"}'

    answer = api.call("POST", "/members/ct1/purchases", raw=purchase, headers={"Content-Type": content_type})

    error = assert_error(answer, 415, "unsupported_media_type")
    assert error["details"] == [{"field": "Content-Type", "message": "expected application/json"}]
    assert _state(api, "ct1") == before


def test_an_exception_outside_endpoint_answers_500_in_our_format(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """/openapi.json is a plain route: a failure there is caught by Chalice, whose body is not ours."""
    import chalicelib.api.openapi

    def broken(_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(chalicelib.api.openapi, "build", broken)
    assert_error(api.get("/openapi.json", role=None), 500, "internal_error")


def test_a_failing_middleware_answers_500_in_our_format(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the outermost middleware, Chalice's own error handler would answer its own body."""
    import chalicelib.observability

    def broken(_: object) -> dict[str, str]:
        raise RuntimeError("boom")

    monkeypatch.setattr(chalicelib.observability, "_invocation_keys", broken)
    assert_error(api.get("/health", role=None), 500, "internal_error")


def test_the_document_lists_405_and_415_with_the_error_schema() -> None:
    document = build(app)
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for status in ("405", "415"):
                response = operation["responses"].get(status)
                assert response, (path, method, status)
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, status)
            assert "Allow" in operation["responses"]["405"]["headers"], (path, method)


def _raw(api: Api, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, dict[str, str]]:
    import json

    response = getattr(api.client.http, method.lower())(path, headers=headers, body=body)
    return response.status_code, json.loads(response.body), dict(response.headers)
