"""Synthesize the CDK app into a directory and describe what the Chalice app declares.

Used in-process by conftest.py for the project's app.py, and as a subprocess for the fixture app
(`python -m tests.infra.synth SOURCE OUTDIR STAGE...`): Chalice imports the module `app` once per
process, so two apps need two processes.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

ENVIRONMENT = {
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "AWS_DEFAULT_REGION": "us-east-1",
}
RESULT = "result.json"


@dataclass
class Synthesis:
    """One synthesized cloud assembly."""

    outdir: str
    stages: list[str]
    inventory: dict[str, Any]  # app_inventory() of the Chalice app
    validation_error: str | None  # cdk-nag's findings fail the synth with this message

    def template_path(self, stage: str) -> str:
        return os.path.join(self.outdir, f"{stage}.template.json")

    def template(self, stage: str) -> dict[str, Any]:
        with open(self.template_path(stage)) as f:
            template: dict[str, Any] = json.load(f)
        return template

    def validation_report(self) -> dict[str, Any]:
        with open(os.path.join(self.outdir, "validation-report.json")) as f:
            report: dict[str, Any] = json.load(f)
        return report


def app_inventory(app: Any) -> dict[str, Any]:
    """What the Chalice app object declares, read here independently of infra/discovery.py (so a
    bug there cannot hide from the tests)."""
    from chalice.app import DynamoDBEventConfig, ScheduledEventConfig, SQSEventConfig

    schedules, consumers, streams, others = [], [], [], []
    for source in app.event_sources:
        if isinstance(source, ScheduledEventConfig):
            expression = source.schedule_expression
            schedules.append(
                {
                    "name": source.name,
                    "expression": expression if isinstance(expression, str) else expression.to_string(),
                }
            )
        elif isinstance(source, SQSEventConfig):
            consumers.append(
                {"name": source.name, "queue": source.queue or (source.queue_arn or "").rsplit(":", 1)[-1]}
            )
        elif isinstance(source, DynamoDBEventConfig):
            streams.append({"name": source.name, "stream_arn": source.stream_arn})
        else:
            others.append(source.name)
    routes = {
        path: {
            method: {"authorizer": entry.authorizer.name if entry.authorizer else None}
            for method, entry in methods.items()
        }
        for path, methods in app.routes.items()
    }
    return {
        "routes": routes,
        "authorizers": [auth.name for auth in app.builtin_auth_handlers],
        "lambda_functions": [function.name for function in app.pure_lambda_functions],
        "schedules": schedules,
        "sqs_consumers": consumers,
        "stream_consumers": streams,
        "other_event_sources": others,
    }


def synthesize(source_dir: str, outdir: str, stages: list[str]) -> Synthesis:
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    from infra.discovery import load_app
    from infra.main import build_app

    app, _ = build_app(outdir=outdir, source_dir=source_dir, stages=stages)
    error = None
    try:
        app.synth()
    except RuntimeError as exc:  # jsii's form of CDK's ValidationError: templates are written first
        if "Validation failed" not in str(exc):
            raise
        error = str(exc)
    return Synthesis(outdir, stages, app_inventory(load_app(source_dir)), error)


def main(argv: list[str]) -> None:
    source_dir, outdir, *stages = argv
    synthesis = synthesize(source_dir, outdir, stages)
    with open(os.path.join(outdir, RESULT), "w") as f:
        json.dump({"inventory": synthesis.inventory, "validation_error": synthesis.validation_error}, f)


def read_result(outdir: str, stages: list[str]) -> Synthesis:
    with open(os.path.join(outdir, RESULT)) as f:
        result = json.load(f)
    return Synthesis(outdir, stages, result["inventory"], result["validation_error"])


if __name__ == "__main__":
    main(sys.argv[1:])
