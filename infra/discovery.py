"""What the Chalice app declares, read from the app object, so the stack wires (and the tests check)
every handler that app.py registers, including ones added after this file was written.

Logical ids are the ones `chalice package` gives the SAM resources: CamelCase of the handler's
name (`ingest_file` → `IngestFile`), `APIHandler` for the routes.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from typing import Literal

from chalice import Chalice
from chalice.app import (
    BaseEventSourceConfig,
    DynamoDBEventConfig,
    ScheduledEventConfig,
    ScheduleExpression,
    SQSEventConfig,
)
from chalice.utils import to_cfn_resource_name

API_HANDLER = "APIHandler"

Kind = Literal["api", "authorizer", "schedule", "sqs", "stream", "lambda"]


class UnwiredHandler(Exception):
    """The app declares a kind of handler that infra/ does not wire yet: synthesizing anyway would
    deploy a function that nothing triggers, or one bound to a resource this stack does not own."""


@dataclass(frozen=True)
class Function:
    logical_id: str
    name: str
    kind: Kind


@dataclass(frozen=True)
class Schedule:
    logical_id: str
    name: str
    expression: str  # `cron(...)` or `rate(...)`, as EventBridge reads it

    @property
    def job(self) -> str:
        """The job's name in its metrics (dimension `job`) and in `loyalty jobs run`: the handler's
        name less a `job_` prefix, with dashes (`job_tier_review` → `tier-review`)."""
        return self.name.removeprefix("job_").replace("_", "-")


@dataclass(frozen=True)
class SqsConsumer:
    logical_id: str
    name: str
    queue: str  # the name in `@app.on_sqs_message(queue=...)`: the key of the stack's queue

    @property
    def event_name(self) -> str:
        return f"{self.logical_id}SqsEventSource"


@dataclass(frozen=True)
class StreamConsumer:
    logical_id: str
    name: str

    @property
    def event_name(self) -> str:
        return f"{self.logical_id}DynamodbEventSource"


@dataclass(frozen=True)
class AppHandlers:
    functions: tuple[Function, ...]
    schedules: tuple[Schedule, ...] = ()
    sqs_consumers: tuple[SqsConsumer, ...] = ()
    stream_consumers: tuple[StreamConsumer, ...] = ()
    queues: tuple[str, ...] = field(default=())  # distinct queue names the consumers read

    def logical_ids(self, *kinds: Kind) -> list[str]:
        return [f.logical_id for f in self.functions if not kinds or f.kind in kinds]


def load_app(source_dir: str) -> Chalice:
    """The `app` object of `source_dir/app.py`, imported exactly as `chalice package` imports it
    (module `app`, project dir first on sys.path), so both see the same object."""
    source_dir = os.path.abspath(source_dir)
    if source_dir not in sys.path:
        sys.path.insert(0, source_dir)
    module = importlib.import_module("app")
    module_file = os.path.abspath(getattr(module, "__file__", "") or "")
    if os.path.dirname(module_file) != source_dir:
        # Chalice would package the already imported module: one process, one Chalice project.
        raise RuntimeError(f"module `app` was imported from {module_file}, not from {source_dir}")
    app: Chalice = module.app
    return app


def discover(app: Chalice) -> AppHandlers:
    functions: list[Function] = []
    if app.routes:
        functions.append(Function(API_HANDLER, "api_handler", "api"))
    functions += [Function(to_cfn_resource_name(a.name), a.name, "authorizer") for a in app.builtin_auth_handlers]
    functions += [Function(to_cfn_resource_name(f.name), f.name, "lambda") for f in app.pure_lambda_functions]
    schedules: list[Schedule] = []
    consumers: list[SqsConsumer] = []
    streams: list[StreamConsumer] = []
    for source in app.event_sources:
        logical_id = to_cfn_resource_name(source.name)
        if isinstance(source, ScheduledEventConfig):
            functions.append(Function(logical_id, source.name, "schedule"))
            schedules.append(Schedule(logical_id, source.name, _expression(source.schedule_expression)))
        elif isinstance(source, SQSEventConfig):
            functions.append(Function(logical_id, source.name, "sqs"))
            consumers.append(SqsConsumer(logical_id, source.name, _queue_name(source)))
        elif isinstance(source, DynamoDBEventConfig):
            functions.append(Function(logical_id, source.name, "stream"))
            streams.append(StreamConsumer(logical_id, source.name))
        else:
            raise UnwiredHandler(_unwired(source))
    if app.websocket_handlers:
        raise UnwiredHandler("websocket handlers are not wired by infra/")
    queues = tuple(dict.fromkeys(consumer.queue for consumer in consumers))
    return AppHandlers(tuple(functions), tuple(schedules), tuple(consumers), tuple(streams), queues)


def _expression(expression: str | ScheduleExpression) -> str:
    return expression if isinstance(expression, str) else expression.to_string()


def _queue_name(source: SQSEventConfig) -> str:
    if source.queue:
        return source.queue
    # `queue_arn=` works too; its last part is the name. The stack still overrides the ARN.
    return (source.queue_arn or "").rsplit(":", 1)[-1]


def _unwired(source: BaseEventSourceConfig) -> str:
    kind = type(source).__name__
    hint = " (S3 events: use S3 → SQS → @app.on_sqs_message, as ingestion does)" if "S3" in kind else ""
    return f"handler {source.name!r} is a {kind}, which infra/ does not wire yet{hint}: add it to infra/stack.py"
