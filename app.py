"""Composition root: the Chalice app, its middleware and blueprints, schedules, queue and stream
handlers. Read top to bottom; nothing imports this module back (an import-linter contract)."""

from chalice import Chalice
from chalice.app import DynamoDBEvent, SQSEvent

from chalicelib.api import audiences, campaigns, files, kpis, ops_page, routes, stores
from chalicelib.api.http import chalice_errors
from chalicelib.observability import observe

app = Chalice(app_name="loyalty", configure_logs=False)
app.register_middleware(chalice_errors, "http")  # first, so outermost: Chalice's own error bodies become ours
app.register_middleware(observe, "all")
app.register_blueprint(routes.blueprint)  # members, points, wallet, rewards, program, health, openapi.json
app.register_blueprint(files.blueprint)  # sales-file reports (ops)
app.register_blueprint(stores.blueprint)  # stores upload their files with a store key, no AWS credentials
app.register_blueprint(kpis.blueprint)  # GET /kpis (ops)
app.register_blueprint(audiences.blueprint)  # GET /audiences, POST /audiences/exports (ops)
app.register_blueprint(campaigns.blueprint)  # campaigns as data (ops): member days, double points, offers
app.register_blueprint(ops_page.blueprint)  # GET /ops, the ops page shell


# --- Scheduled jobs ---------------------------------------------------------------------------------
# Thin handlers: services/jobs.py finds the due members, applies the rules and emits the metrics.
# Hourly, as of today in program time: a job runs within the hour after local midnight whatever the
# program's time zone, a run with nothing due costs one Query per shard, and a run stopped near the
# Lambda time limit is continued by the next one (the members done have left the due index).


def _run_job(name: str, event: object) -> dict[str, object]:
    from chalicelib.services import jobs

    time_left = jobs.time_left_from(getattr(event, "context", None))
    return jobs.run(name, time_left_ms=time_left).as_dict()


@app.schedule("rate(1 hour)", name="job_expiry")
def job_expiry(event: object) -> dict[str, object]:
    return _run_job("expiry", event)


@app.schedule("rate(1 hour)", name="job_tier_review")
def job_tier_review(event: object) -> dict[str, object]:
    return _run_job("tier-review", event)


@app.schedule("rate(1 hour)", name="job_dormant")
def job_dormant(event: object) -> dict[str, object]:
    return _run_job("dormant", event)


@app.schedule("rate(1 hour)", name="job_birthday")
def job_birthday(event: object) -> dict[str, object]:
    return _run_job("birthday", event)


@app.schedule("rate(1 hour)", name="job_pending")
def job_pending(event: object) -> dict[str, object]:
    return _run_job("pending", event)


@app.schedule("rate(1 hour)", name="job_audience")
def job_audience(event: object) -> dict[str, object]:
    return _run_job("audience", event)


# --- Sales-file ingestion (docs/sales-files.md) --------------------------------------------------------
# S3 incoming/ → SQS → this handler; the same queue carries the chunks a large file fans out into
# (services/sales_files/). `loyalty dev` delivers the queue to it through loyalty_tools/local/pump.py.
# The file reports are served by the files blueprint (ops role).


@app.on_sqs_message(queue="loyalty-ingest", batch_size=1)
def ingest_queue_consumer(event: SQSEvent) -> dict[str, list[dict[str, str]]]:
    """Failed messages are reported back (ReportBatchItemFailures) and come back after the visibility timeout."""
    from chalicelib.services.sales_files import queue

    failed = queue.handle_messages([(record.to_dict()["messageId"], record.body) for record in event])
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


@app.on_sqs_message(queue="loyalty-ingest-dlq", batch_size=10)
def ingest_dead_letters(event: SQSEvent) -> dict[str, list[dict[str, str]]]:
    """The ingest queue's DLQ: a message that failed every delivery fails its file (never left
    `running`). infra/ points this at the ingest queue's DLQ ARN, as it does the consumer's queue."""
    from chalicelib.services.sales_files import dead_letters

    failed = dead_letters.handle_dead_letters([(record.to_dict()["messageId"], record.body) for record in event])
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


# --- The program simulator on AWS (docs/simulate.md) -----------------------------------------------------
# One step of a simulation run (sort an export file into buckets, replay a bucket, merge the reports),
# invoked by the Step Functions state machine of infra/simulation.py; it reads and writes S3 only.


@app.lambda_function(name="simulate")
def simulate(event: dict[str, object], context: object) -> dict[str, object]:
    from chalicelib.services import simulation_runs

    return simulation_runs.handle(event)


# --- KPI roll-up (docs/kpis.md) -------------------------------------------------------------------------
# The table's stream (new and old images) → day rows of the KPIs, off the request path: a member write
# never touches a shared counter. Every record is counted once (services/kpis.py keeps a marker per
# record in the same transaction). infra/ replaces the placeholder ARN with the table's stream;
# `loyalty dev` polls DynamoDB Local's stream and calls this same handler (loyalty_tools/local/streams.py).

KPI_STREAM_PLACEHOLDER = "arn:aws:dynamodb:us-east-1:000000000000:table/loyalty/stream/placeholder"


@app.on_dynamodb_record(
    stream_arn=KPI_STREAM_PLACEHOLDER,
    batch_size=500,
    starting_position="TRIM_HORIZON",
    name="kpi_rollup",
    maximum_batching_window_in_seconds=30,
)
def kpi_rollup(event: DynamoDBEvent) -> dict[str, int]:
    from chalicelib.services import kpis

    return kpis.roll_up(event.to_dict()["Records"]).as_dict()


# --- Domain events (docs/api.md, "Events") ---------------------------------------------------------------
# The table's stream is the outbox: each change's events are written in its own transaction
# (domain/outbox.py) and this handler puts them on the bus, 10 per PutEvents call. A record whose
# events keep failing is reported (ReportBatchItemFailures); Lambda retries from it, then sends the
# range to the mapping's on-failure queue (infra/). `loyalty dev`'s stream pump calls it too.


@app.on_dynamodb_record(
    stream_arn=KPI_STREAM_PLACEHOLDER,
    batch_size=100,
    starting_position="TRIM_HORIZON",
    name="event_outbox",
    maximum_batching_window_in_seconds=1,
)
def event_outbox(event: DynamoDBEvent) -> dict[str, list[dict[str, str]]]:
    from chalicelib.services import outbox

    return outbox.publish_records(event.to_dict()["Records"])
