"""The edge of `loyalty dev` as an outside client meets it: repeated JSON keys, Chalice's own errors
(405, 415), an unknown route, Content-Length values that are not lengths, and the log lines of
handlers that run at the same time in its threads."""

from __future__ import annotations

import http.client
import json
import queue
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.test_dev_server import DevStack, running_dev

pytestmark = pytest.mark.e2e

MAX_BODY_BYTES = 64 * 1024  # chalicelib.config's default, which `loyalty dev` runs with
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


# --- digits of other scripts ------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount", ["١٠٠", "１٠", "１０.００", "10.0٠"], ids=["arabic-indic", "mixed", "fullwidth", "tail"]
)
def test_an_amount_in_digits_of_another_script_is_refused_and_writes_nothing(
    dev: DevStack, key: str, amount: str
) -> None:
    member_id = f"digits-{len(amount)}-{ord(amount[0])}"
    enrol(dev, key, member_id)
    before = member_state(dev, key, member_id)
    raw = json.dumps({"order_id": "d1", "amount": amount, "currency": "CNY"}, ensure_ascii=False).encode()

    error = send(dev, "POST", f"/members/{member_id}/purchases", json_headers(key, raw), raw).error(
        400, "invalid_request"
    )

    assert [detail["field"] for detail in error["details"]] == ["amount"], error
    assert member_state(dev, key, member_id) == before


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


# --- what loyalty dev answers itself -----------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_an_unknown_route_answers_in_our_format_and_never_echoes_the_key(dev: DevStack, key: str, method: str) -> None:
    answer = send(dev, method, "/no/such/route", json_headers(key, b"{}"), b"{}")

    answer.error(403, "unknown_route")  # API Gateway's status for a route it does not have
    assert key.encode() not in answer.raw
    assert not any(key in value for value in answer.headers.values())
    send(dev, method, "/no/such/route", {"Content-Length": "0"}).error(403, "unknown_route")


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "+5", "0x10", "5 5", ""])
def test_a_content_length_that_is_not_a_length_answers_400(dev: DevStack, key: str, length: str) -> None:
    mark = _stderr_size(dev)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Content-Length": length}

    error = send(dev, "POST", "/members", headers, b"{}").error(400, "invalid_request")

    assert error["details"][0]["field"] == "Content-Length"
    assert send(dev, "GET", "/health").status == 200  # still serving
    assert "Traceback" not in _stderr_since(dev, mark)


@pytest.mark.parametrize(
    ("length", "body"),
    [
        (str(MAX_BODY_BYTES + 1), b"x" * (MAX_BODY_BYTES + 1)),  # sent: read and dropped
        ("99999999999", b""),  # never sent: not waited for
        ("9" * 40, b""),
        ("9" * 5000, b""),  # more digits than int() reads
    ],
    ids=["just-over", "huge", "40-digits", "5000-digits"],
)
def test_a_content_length_over_the_limit_answers_413(dev: DevStack, key: str, length: str, body: bytes) -> None:
    mark = _stderr_size(dev)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Content-Length": length}

    send(dev, "POST", "/members", headers, body).error(413, "payload_too_large")

    assert send(dev, "GET", "/health").status == 200
    assert "Traceback" not in _stderr_since(dev, mark)


def _stderr_size(dev: DevStack) -> int:
    assert dev.stderr is not None
    return dev.stderr.stat().st_size


def _stderr_since(dev: DevStack, mark: int) -> str:
    assert dev.stderr is not None
    with dev.stderr.open("rb") as stderr:
        stderr.seek(mark)
        return stderr.read().decode(errors="replace")


# --- log keys of handlers running at the same time ---------------------------------------------


def test_ingestion_log_lines_carry_their_own_function_name_while_the_api_is_busy(dev: DevStack, key: str) -> None:
    """The API, the SQS pump and the stream pump run handlers in threads of one process: each log
    line must name the handler that wrote it, not the one that ran last (the ingestion's row
    workers, threads of their own, included)."""
    import boto3

    ingest_handler = dev.lines["ingestion"]
    s3 = boto3.client("s3", endpoint_url=dev.lines["AWS_ENDPOINT_URL"], region_name="us-east-1")
    bucket = dev.lines["bucket"].split()[0]
    at = datetime.now(UTC).replace(microsecond=0).isoformat()
    for member_id in ("log-1", "log-2", "log-3"):
        enrol(dev, key, member_id)
    members = ["", "log-1", "log-2", "log-3"]
    rows = "".join(f"s9,r{i},{at},SALE,12.50,CNY,{members[i % 4]}\n" for i in range(40))
    stop = threading.Event()
    busy = threading.Thread(target=_call_health_until, args=(dev, stop), daemon=True)
    busy.start()
    try:
        # When: a store file is ingested while the API answers requests without a pause
        header = "store_id,receipt_id,occurred_at,type,amount,currency,member_id\n"
        s3.put_object(Bucket=bucket, Key="incoming/s9/2026-11-22.csv", Body=(header + rows).encode())
        lines = _log_lines_until(dev, "sales file completed", deadline=time.monotonic() + 60)
    finally:
        stop.set()
        busy.join(timeout=HTTP_TIMEOUT_SECONDS)

    # Then: every line of the ingestion names the ingestion handler and has a correlation id
    ingestion = [line for line in lines if _of_the_file(line)]
    assert {line["message"] for line in ingestion} >= {"sales file received", "sales file completed"}, ingestion
    assert sum(line["message"] == "member write committed" for line in ingestion) == 30, ingestion
    assert {line.get("function_name") for line in ingestion} == {ingest_handler}, ingestion
    assert all(line.get("correlation_id") for line in ingestion), ingestion


def _of_the_file(line: dict[str, Any]) -> bool:
    message = str(line.get("message", ""))
    return message.startswith("sales file") or (message == "member write committed" and "s9" in line["entry_id"])


def _call_health_until(dev: DevStack, stop: threading.Event) -> None:
    while not stop.is_set():
        send(dev, "GET", "/health")


def _log_lines_until(dev: DevStack, message: str, deadline: float) -> list[dict[str, Any]]:
    """The JSON lines `loyalty dev` prints, up to the first with that message."""
    lines: list[dict[str, Any]] = []
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {message!r} log line; got {lines}"
        try:
            text = dev.output.get(timeout=remaining)
        except queue.Empty:
            continue
        for line in _json_documents(text):
            lines.append(line)
            if line.get("message") == message:
                return lines


def _json_documents(text: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of one output line: metrics' print() writes its text and its newline
    separately, so two threads' lines can share one."""
    decoder, index = json.JSONDecoder(), 0
    while text.startswith("{", index):
        document, index = decoder.raw_decode(text, index)
        yield document
