"""The Chalice app's local HTTP server (what `chalice local` runs), threaded and without its stall.

Chalice's handler writes the status line + headers and then the body in two `send()`s. On a
keep-alive connection Nagle holds the second small write until the client ACKs the first, and the
client delays that ACK (~40 ms on Linux): about 40 ms per request. Buffering the response into one
write per request, plus TCP_NODELAY for bodies larger than the buffer, removes it.

Everything this server answers itself is in the API's error format ({"error": {...}}) too: an
unknown route (Chalice's copy of API Gateway's 403 echoes the Authorization header, i.e. the key),
a Content-Length that is not a length (Chalice's handler drops the connection with a traceback),
a body over the limit, a request line or headers `http.server` cannot read.
"""

from __future__ import annotations

import json
import re
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from chalice import Chalice
from chalice.config import Config
from chalice.constants import DEFAULT_APIGATEWAY_STAGE_NAME, DEFAULT_ENDPOINT_TYPE, DEFAULT_STAGE_NAME
from chalice.deploy.validate import validate_routes
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    ForbiddenError,
    LocalChalice,
    LocalDevServer,
    LocalGateway,
    LocalGatewayException,
    ThreadedHTTPServer,
)

from chalicelib.api.http import CHALICE_CODES, error_body
from chalicelib.config import settings
from chalicelib.observability import logger

LENGTH = re.compile(r"[0-9]+")  # digits only: int() would also take "+5", " 5", "1_0" or "٥"
DRAIN_MAX_BYTES = 1 << 20  # a body over the limit up to this size is read and dropped, keeping the connection


class GatewayFailure(LocalGatewayException):
    CODE = 500


class Gateway(LocalGateway):
    """Chalice's local API Gateway, answering in our error format where it answers itself."""

    def _generate_lambda_event(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        try:
            return super()._generate_lambda_event(method, path, headers, body)
        except ValueError:  # no route: API Gateway's 403 (Chalice's copy echoes the Authorization header)
            raise ForbiddenError(
                {"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": "MissingAuthenticationTokenException"},
                error_body("unknown_route", "no route matches this method and path").encode(),
            ) from None

    def handle_request(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        try:
            return super().handle_request(method, path, headers, body)
        except LocalGatewayException:
            raise
        except Exception:  # e.g. the authorizer failed: answer, rather than drop the connection
            logger.exception("unhandled error before the app", extra={"method": method})
            raise GatewayFailure(
                {}, error_body("internal_error", "unexpected error; it has been logged").encode()
            ) from None


class BadLength(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class RequestHandler(ChaliceRequestHandler):
    wbufsize = -1  # a buffered wfile: handle_one_request() flushes it once, after the response
    disable_nagle_algorithm = True

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Chalice, config: Config) -> None:
        self.local_gateway = Gateway(app_object, config)
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def _generic_handle(self) -> None:
        try:
            self._check_length()
        except BadLength as refused:
            detail = {"field": "Content-Length", "message": refused.message}
            self._send_error(refused.status, refused.code, refused.message, [detail])
            return
        super()._generic_handle()

    # ChaliceRequestHandler binds these to its own _generic_handle.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _check_length(self) -> None:
        """Chalice's handler reads int(Content-Length) bytes: a value that is not a length raises
        (a dropped connection and a traceback), a huge one would wait for, or allocate, that much."""
        values = set(self.headers.get_all("Content-Length") or [])
        if len(values) > 1:
            raise BadLength(400, "invalid_request", "the request has several different Content-Length headers")
        value = values.pop() if values else "0"
        if not LENGTH.fullmatch(value):
            raise BadLength(400, "invalid_request", "the Content-Length header is not a number of bytes")
        limit = settings().max_body_bytes
        length = int(value) if len(value) <= 18 else None  # None: more than any body (and int() has a limit)
        if length is None or length > limit:
            if length is not None and length <= DRAIN_MAX_BYTES:
                self.rfile.read(length)  # so that the client reads our answer, not a reset connection
            raise BadLength(413, "payload_too_large", f"the body is larger than {limit} bytes")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The request line without its query: `GET /members?phone=...` must not put the phone in
        the log (http.server logs the whole line)."""
        method, _, rest = self.requestline.partition(" ")
        target, _, version = rest.partition(" ")
        line = " ".join(part for part in (method, target.split("?", 1)[0], version) if part)
        self.log_message('"%s" %s %s', line, str(code), str(size))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a bad request line, headers too long, an unknown method) as JSON."""
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        self.log_error("code %d, message %s", code, message or phrase)
        self._send_error(code, CHALICE_CODES.get(code, phrase.lower().replace(" ", "_")), message or phrase, [])

    def _send_error(self, status: int, code: str, message: str, details: list[dict[str, str]]) -> None:
        """Answer and close: after a refusal, where the next request starts is not known."""
        body = error_body(code, message, details).encode()
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class ThreadedServer(ThreadedHTTPServer):
    # socketserver's default backlog of 5 drops connections under a concurrent load test, and
    # the clients then wait ~1 s for the SYN retransmission.
    request_queue_size = 128


def chalice_config(app: Chalice, project_dir: Path, stage: str = DEFAULT_STAGE_NAME) -> Config:
    """The Config `chalice local` builds, minus the stage's environment variables: the local stack
    sets its own, and `loyalty keys` in another shell must see the same names."""
    config_file = project_dir / ".chalice" / "config.json"
    config_from_disk: dict[str, Any] = json.loads(config_file.read_text()) if config_file.exists() else {}
    return Config(
        chalice_stage=stage,
        user_provided_params={"project_dir": str(project_dir), "chalice_app": app},
        config_from_disk=config_from_disk,
        default_params={
            "project_dir": str(project_dir),
            "api_gateway_stage": DEFAULT_APIGATEWAY_STAGE_NAME,
            "api_gateway_endpoint_type": DEFAULT_ENDPOINT_TYPE,
            "autogen_policy": True,
        },
    )


def create_server(app: Chalice, config: Config, host: str, port: int) -> LocalDevServer:
    """Bound and listening (port 0 picks one: see `.server.server_address`); call serve_forever()."""
    validate_routes(app.routes)  # as `chalice local` does: a route that would not deploy fails here
    if not isinstance(app, LocalChalice):
        # What chalice.local.create_local_server does: `app.current_request` becomes thread-local,
        # so concurrent requests do not see each other's request.
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    return LocalDevServer(app, config, host, port, handler_cls=RequestHandler, server_cls=ThreadedServer)
