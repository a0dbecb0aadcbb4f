"""infra/discovery.py reads handlers off a Chalice app object (no synth needed)."""

from __future__ import annotations

import pytest
from chalice import AuthResponse, Chalice, Cron, Rate

from infra.discovery import UnwiredHandler, discover


def make_app() -> Chalice:
    app = Chalice(app_name="probe")

    @app.authorizer()
    def bearer(auth_request):
        return AuthResponse(routes=["*"], principal_id="x")

    @app.route("/x", authorizer=bearer)
    def x():
        return {}

    @app.schedule(Rate(1, unit=Rate.HOURS), name="job_tier_review")
    def job_tier_review(event):
        return None

    @app.schedule(Cron(0, 2, "*", "*", "?", "*"))
    def nightly(event):
        return None

    @app.on_sqs_message(queue="loyalty-ingest")
    def ingest_file(event):
        return None

    @app.on_sqs_message(queue_arn="arn:aws:sqs:us-east-1:123456789012:loyalty-chunks")
    def ingest_chunk(event):
        return None

    @app.on_dynamodb_record(stream_arn="arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x", name="kpi_rollup")
    def kpi_rollup(event):
        return None

    @app.lambda_function(name="finish_report")
    def finish_report(event, context):
        return None

    return app


def test_every_handler_becomes_a_function_with_chalices_logical_id() -> None:
    handlers = discover(make_app())
    assert {(f.logical_id, f.kind) for f in handlers.functions} == {
        ("APIHandler", "api"),
        ("Bearer", "authorizer"),
        ("JobTierReview", "schedule"),
        ("Nightly", "schedule"),
        ("IngestFile", "sqs"),
        ("IngestChunk", "sqs"),
        ("FinishReport", "lambda"),
        ("KpiRollup", "stream"),
    }


def test_schedules_keep_their_expression_and_name_their_job() -> None:
    schedules = {s.logical_id: s for s in discover(make_app()).schedules}
    assert schedules["JobTierReview"].expression == "rate(1 hour)"
    assert schedules["JobTierReview"].job == "tier-review"
    assert schedules["Nightly"].expression == "cron(0 2 * * ? *)"
    assert schedules["Nightly"].job == "nightly"


def test_sqs_consumers_name_their_queue_whether_by_name_or_arn() -> None:
    handlers = discover(make_app())
    assert {(c.logical_id, c.queue, c.event_name) for c in handlers.sqs_consumers} == {
        ("IngestFile", "loyalty-ingest", "IngestFileSqsEventSource"),
        ("IngestChunk", "loyalty-chunks", "IngestChunkSqsEventSource"),
    }
    assert handlers.queues == ("loyalty-ingest", "loyalty-chunks")


def test_stream_consumers_name_the_event_the_stack_overrides() -> None:
    handlers = discover(make_app())
    assert [(c.logical_id, c.name, c.event_name) for c in handlers.stream_consumers] == [
        ("KpiRollup", "kpi_rollup", "KpiRollupDynamodbEventSource")
    ]


def test_a_kind_of_handler_the_stack_does_not_wire_stops_the_synth() -> None:
    app = make_app()

    @app.on_sns_message(topic="somewhere")
    def on_sns(event):
        return None

    with pytest.raises(UnwiredHandler, match="SNSEventConfig"):
        discover(app)


def test_s3_events_point_to_the_queue_route() -> None:
    app = make_app()

    @app.on_s3_event(bucket="b")
    def on_upload(event):
        return None

    with pytest.raises(UnwiredHandler, match="S3 → SQS"):
        discover(app)
