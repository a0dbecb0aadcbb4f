"""moto's server, in-process, for S3, SQS and EventBridge (the table is on DynamoDB Local instead)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

FORM = "application/x-www-form-urlencoded"


class MotoServerError(RuntimeError):
    pass


class MotoServer:
    """moto on host:port (port 0 picks a free one); `endpoint` is what AWS_ENDPOINT_URL gets."""

    def __init__(self, host: str = "127.0.0.1", port: int = 5000) -> None:
        self.host = host
        self.port = port
        self._server: ThreadedMotoServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MotoServer:
        # ThreadedMotoServer.start() waits forever when its thread cannot bind: check first.
        _check_port_free(self.host, self.port)
        # werkzeug logs every request at INFO to stderr; the pump's polling would flood `loyalty dev`.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = _FaithfulPuts(ip_address=self.host, port=self.port, verbose=False)
        # start() returns once the socket is bound and listening, so requests can follow at once.
        server.start()
        self._server = server
        self.port = server.get_host_and_port()[1]
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _FaithfulPuts(ThreadedMotoServer):
    """S3 stores a PUT's body whatever its Content-Type. moto's server reads an
    application/x-www-form-urlencoded body as a form and stores an empty object, and that is the
    Content-Type urllib and `curl --data-binary` send by default: a store's plain PUT to a presigned
    URL would arrive empty locally only. Such PUTs reach moto as application/octet-stream."""

    def _server_entry(self) -> None:  # ThreadedMotoServer's own, with the app wrapped
        self._server = make_server(
            self._ip_address,
            self._port,
            _puts_keep_their_body(DomainDispatcherApplication(create_backend_app)),
            True,
            request_handler=MotoRequestHandler,
        )
        self._server_ready_event.set()
        self._server.serve_forever()


def _puts_keep_their_body(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "PUT" and str(environ.get("CONTENT_TYPE", "")).startswith(FORM):
            environ["CONTENT_TYPE"] = "application/octet-stream"
        return app(environ, start_response)

    return wsgi


def _check_port_free(host: str, port: int) -> None:
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug binds
        try:
            sock.bind((host, port))
        except OSError as error:
            raise MotoServerError(f"cannot start moto on {host}:{port}: {error.strerror}") from error
