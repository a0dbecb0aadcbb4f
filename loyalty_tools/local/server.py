"""The Chalice app's local HTTP server (what `chalice local` runs), threaded and without its stall.

Chalice's handler writes the status line + headers and then the body in two `send()`s. On a
keep-alive connection Nagle holds the second small write until the client ACKs the first, and the
client delays that ACK (~40 ms on Linux): about 40 ms per request. Buffering the response into one
write per request, plus TCP_NODELAY for bodies larger than the buffer, removes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalice import Chalice
from chalice.config import Config
from chalice.constants import DEFAULT_APIGATEWAY_STAGE_NAME, DEFAULT_ENDPOINT_TYPE, DEFAULT_STAGE_NAME
from chalice.deploy.validate import validate_routes
from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer, ThreadedHTTPServer


class RequestHandler(ChaliceRequestHandler):
    wbufsize = -1  # a buffered wfile: handle_one_request() flushes it once, after the response
    disable_nagle_algorithm = True


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
