"""`loyalty dev`'s HTTP server in-process (no AWS: nothing here reaches a route that reads the table):
what it answers itself is in our error format, and it never drops a connection on bad input."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from app import app
from chalicelib.services import keys
from loyalty_tools.cli import PROJECT_ROOT
from loyalty_tools.local.server import chalice_config, create_server

KEY = "secret-key-that-must-not-be-echoed"


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    server = create_server(app, chalice_config(app, PROJECT_ROOT), "127.0.0.1", 0)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server.server_address[:2]
    finally:
        server.shutdown()
        server.server.server_close()


def exchange(address: tuple[str, int], request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes or the announced body is complete."""
    with socket.create_connection(address, timeout=10) as connection:
        connection.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < _length(received):
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def _length(received: bytes) -> int:
    for line in received.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 1 << 30


def assert_ours(answer: tuple[int, dict[str, str], bytes], status: int, code: str) -> dict[str, Any]:
    got, headers, body = answer
    assert got == status, answer
    assert headers["content-type"] == "application/json", answer
    error = json.loads(body)["error"]
    assert error["code"] == code and error["message"] and isinstance(error["details"], list), answer
    assert KEY.encode() not in body, answer
    return dict(error)


def test_an_unknown_route_is_403_in_our_format_without_the_key(address: tuple[str, int]) -> None:
    request = f"GET /nope HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nConnection: close\r\n\r\n"
    assert_ours(exchange(address, request.encode()), 403, "unknown_route")


def test_a_content_length_that_is_not_a_length_is_400(address: tuple[str, int]) -> None:
    request = b"POST /members HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n{}"
    error = assert_ours(exchange(address, request), 400, "invalid_request")
    assert error["details"][0]["field"] == "Content-Length"


def test_two_different_content_lengths_are_400(address: tuple[str, int]) -> None:
    request = b"POST /members HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 20\r\n\r\n{}"
    assert_ours(exchange(address, request), 400, "invalid_request")


def test_a_request_http_server_refuses_is_answered_in_our_format(address: tuple[str, int]) -> None:
    assert_ours(exchange(address, b"BREW /health HTTP/1.1\r\nHost: x\r\n\r\n"), 501, "not_implemented")
    # A request line it cannot read gets no status line (http.server answers it as HTTP/0.9): the body only.
    with socket.create_connection(address, timeout=10) as connection:
        connection.sendall(b"GET /health HTTP/1.1 extra\r\n\r\n")
        answer = connection.makefile("rb").read()
    assert json.loads(answer)["error"]["code"] == "invalid_request", answer


def test_an_authorizer_that_fails_is_500_in_our_format(
    address: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(token: str) -> None:
        raise RuntimeError("the key table is unreachable")

    monkeypatch.setattr(keys, "caller_for", unavailable)
    request = f"GET /members/m1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nConnection: close\r\n\r\n"
    assert_ours(exchange(address, request.encode()), 500, "internal_error")


def test_the_request_log_leaves_the_query_out(address: tuple[str, int], capfd: pytest.CaptureFixture[str]) -> None:
    """`GET /members?phone=...` would put the phone in loyalty dev's log with the request line."""
    exchange(address, b"GET /nothing/here?phone=%2B8613800000001&email=a%40b.cn HTTP/1.1\r\nHost: x\r\n\r\n")
    logged = capfd.readouterr().err
    assert '"GET /nothing/here HTTP/1.1" 403' in logged
    assert "8613800000001" not in logged and "phone" not in logged
