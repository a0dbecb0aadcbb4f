"""The edge of `loyalty dev` as an outside client meets it: repeated JSON keys, Chalice's own errors
(405, 415)."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.test_dev_server import DevStack, running_dev

pytestmark = pytest.mark.e2e

HTTP_TIMEOUT_SECONDS = 10


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_dev(tmp_path_factory.mktemp("dev")) as stack:
        yield stack


@pytest.fixture(scope="module")
def key(dev: DevStack) -> str:
    return dev.create_key("storefront", "edge")


class Answer:
    def __init__(self, status: int, headers: dict[str, str], raw: bytes) -> None:
        self.status, self.headers, self.raw = status, headers, raw

    def error(self, status: int, code: str) -> dict[str, Any]:
        """Our error body with that status and code."""
        assert self.status == status, (self.status, self.raw)
        assert self.headers.get("content-type", "").startswith("application/json"), self.headers
        body = json.loads(self.raw)
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
        assert body["error"]["code"] == code, body
        assert isinstance(body["error"]["details"], list) and body["error"]["message"], body
        return dict(body["error"])


def send(
    dev: DevStack, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> Answer:
    """One request with exactly these headers (http.client adds no Content-Length of its own here)."""
    url = urllib.parse.urlsplit(dev.api)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=HTTP_TIMEOUT_SECONDS)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def json_headers(key: str, body: bytes = b"") -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Content-Length": str(len(body))}


def member_state(dev: DevStack, key: str, member_id: str) -> tuple[Any, Any]:
    view = send(dev, "GET", f"/members/{member_id}", json_headers(key))
    ledger = send(dev, "GET", f"/members/{member_id}/ledger", json_headers(key))
    assert (view.status, ledger.status) == (200, 200), (view.raw, ledger.raw)
    return json.loads(view.raw), json.loads(ledger.raw)


def enrol(dev: DevStack, key: str, member_id: str) -> None:
    body = json.dumps({"member_id": member_id}).encode()
    assert send(dev, "POST", "/members", json_headers(key, body), body).status == 201


# --- repeated keys -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"order_id": "u1", "amount": "1.00", "amount": "9000.00", "currency": "CNY"}', "amount"),
        (
            b'{"order_id": "u1", "amount": "9000.00", "currency": "CNY",'
            b' "lines": [{"sku": "a", "amount": "1.00", "amount": "9000.00"}]}',
            "lines.0.amount",
        ),
    ],
    ids=["top-level", "in-lines"],
)
def test_a_repeated_key_is_refused_and_writes_nothing(dev: DevStack, key: str, raw: bytes, field: str) -> None:
    member_id = f"dup-{field.replace('.', '-')}"
    enrol(dev, key, member_id)
    before = member_state(dev, key, member_id)

    answer = send(dev, "POST", f"/members/{member_id}/purchases", json_headers(key, raw), raw)

    error = answer.error(400, "invalid_request")
    assert {"field": field, "message": "appears more than once"} in error["details"], error
    assert member_state(dev, key, member_id) == before


def test_a_repeated_preference_is_refused(dev: DevStack, key: str) -> None:
    enrol(dev, key, "dup-prefs")
    before = member_state(dev, key, "dup-prefs")
    raw = b'{"preferences": {"sms": true, "sms": false}}'

    error = send(dev, "PATCH", "/members/dup-prefs", json_headers(key, raw), raw).error(400, "invalid_request")

    assert error["details"] == [{"field": "preferences.sms", "message": "appears more than once"}]
    assert member_state(dev, key, "dup-prefs") == before


# --- Chalice's own errors ----------------------------------------------------------------------


def test_a_method_the_path_does_not_have_answers_405_in_our_format(dev: DevStack, key: str) -> None:
    answer = send(dev, "POST", "/members/bob", json_headers(key, b"{}"), b"{}")

    answer.error(405, "method_not_allowed")
    assert answer.headers["allow"] == "GET, PATCH, DELETE"


def test_a_body_that_is_not_json_answers_415_in_our_format(dev: DevStack, key: str) -> None:
    enrol(dev, key, "ct-1")
    before = member_state(dev, key, "ct-1")
    raw = b'{"order_id": "o1", "amount": "10.00", "currency": "CNY"}'
    headers = {**json_headers(key, raw), "Content-Type": "text/plain"}

    send(dev, "POST", "/members/ct-1/purchases", headers, raw).error(415, "unsupported_media_type")

    assert member_state(dev, key, "ct-1") == before
