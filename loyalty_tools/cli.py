"""`loyalty`: the local stack (`loyalty dev`) and the operator commands that talk to it.

The commands other than `dev` find a running `loyalty dev` by AWS_ENDPOINT_URL /
AWS_ENDPOINT_URL_DYNAMODB, or by the default ports. Heavy modules are imported inside the
commands so that `loyalty --help` stays quick.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from chalice import Chalice

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCALHOST = "127.0.0.1"
DEFAULT_API_PORT = 8000
DEFAULT_EMULATOR_PORT = 5000
DEFAULT_DYNAMODB_PORT = 8001
SCHEDULER_INTERVAL_SECONDS = 60.0


@click.group()
def cli() -> None:
    """Loyalty engine: local stack and operator commands."""


def main() -> None:
    cli()


@cli.command()
@click.option("--port", default=DEFAULT_API_PORT, show_default=True, help="API port (0: any free port).")
@click.option("--emulator-port", default=DEFAULT_EMULATOR_PORT, show_default=True, help="moto (S3, SQS, EventBridge).")
@click.option("--dynamodb-port", default=DEFAULT_DYNAMODB_PORT, show_default=True, help="DynamoDB Local.")
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the table in DIR across restarts (default: in memory).",
)
@click.option("--host", default=LOCALHOST, show_default=True, help="Interface the API listens on.")
def dev(port: int, emulator_port: int, dynamodb_port: int, data: Path | None, host: str) -> None:
    """Run the whole stack here: DynamoDB Local, moto, the resources, the API, ingestion and jobs."""
    from loyalty_tools.local.ddb_local import DynamoDBLocal, DynamoDBLocalError
    from loyalty_tools.local.emulators import MotoServer, MotoServerError
    from loyalty_tools.local.pause import scheduler_paused
    from loyalty_tools.local.pump import SqsPump, sqs_handler
    from loyalty_tools.local.scheduler import Scheduler, scheduled_jobs
    from loyalty_tools.local.server import chalice_config, create_server
    from loyalty_tools.local.stack import create_resources, use_endpoints
    from loyalty_tools.local.streams import StreamPump, stream_handlers

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)  # "found credentials/endpoint" for every client
    signal.signal(signal.SIGTERM, _interrupt)  # stop as cleanly on SIGTERM as on Ctrl-C
    with contextlib.ExitStack() as running:
        # The emulators stay on loopback whatever --host says: they are for this machine's tools.
        started = time.monotonic()
        try:
            dynamodb = running.enter_context(DynamoDBLocal(port=dynamodb_port or None, data_dir=data))
            moto = running.enter_context(MotoServer(LOCALHOST, emulator_port))
        except (DynamoDBLocalError, MotoServerError) as error:
            raise click.ClickException(f"{error} (is another `loyalty dev` running?)") from error
        logging.getLogger(__name__).info("emulators answered after %.1f s", time.monotonic() - started)
        use_endpoints(moto.endpoint, dynamodb.endpoint)
        resources = create_resources()

        app = _load_app()
        ingest = sqs_handler(app, resources.queue_name)
        if ingest is not None:
            pump = SqsPump(resources.queue_url, ingest[1], function_name=ingest[0]).start()
            running.callback(pump.stop)
        dead_letters = sqs_handler(app, resources.dead_letter_queue_name)  # fails the files of dead messages
        if dead_letters is not None:
            dlq_pump = SqsPump(resources.dead_letter_queue_url, dead_letters[1], function_name=dead_letters[0]).start()
            running.callback(dlq_pump.stop)
        readers = stream_handlers(app)  # the KPI roll-up and the outbox: one pump each, as on AWS
        for name, handler, batch_size in readers:
            stream_pump = StreamPump(resources.table_name, handler, function_name=name, batch_size=batch_size).start()
            running.callback(stream_pump.stop)
        scheduled = scheduled_jobs(app)
        scheduler = Scheduler(
            scheduled, interval_seconds=SCHEDULER_INTERVAL_SECONDS, paused_by=scheduler_paused
        ).start()
        running.callback(scheduler.stop)

        try:
            server = create_server(app, chalice_config(app, PROJECT_ROOT), host, port)
        except OSError as error:
            raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}") from error
        running.callback(server.server.server_close)
        thread = threading.Thread(target=server.server.serve_forever, name="api", daemon=True)
        thread.start()
        running.callback(server.shutdown)  # runs before server_close (callbacks unwind in reverse)

        api_port = server.server.server_address[1]
        click.echo(f"API: http://{host}:{api_port}")
        click.echo(f"AWS_ENDPOINT_URL={moto.endpoint}")
        click.echo(f"AWS_ENDPOINT_URL_DYNAMODB={dynamodb.endpoint}")
        click.echo(f"table: {resources.table_name} ({data if data else 'in memory'})")
        click.echo(f"bucket: {resources.bucket_name} (sales files go to s3://{resources.bucket_name}/incoming/...)")
        click.echo(f"queue: {resources.queue_name} (dead letters: {resources.dead_letter_queue_name})")
        click.echo(f"event bus: {resources.event_bus_name}")
        click.echo(f"ingestion: {ingest[0] if ingest else 'no @app.on_sqs_message handler: messages stay queued'}")
        click.echo(f"table stream: {', '.join(r[0] for r in readers) or 'no @app.on_dynamodb_record handler'}")
        click.echo(f"jobs: {', '.join(scheduled) or 'none'} (every {SCHEDULER_INTERVAL_SECONDS:g} s)")
        click.echo("ready")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
        # A second SIGTERM (`timeout` signals the child and then its group) must not cut the
        # shutdown short; a second Ctrl-C still does.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        click.echo("stopping", err=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _load_app() -> Chalice:
    """The project's `app.app`, imported from the project root as Chalice does."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    app: Chalice = importlib.import_module("app").app
    return app


def _use_running_stack() -> None:
    """Point this process at the running `loyalty dev`, or stop with a clear message."""
    from loyalty_tools.local.ddb_local import answers
    from loyalty_tools.local.stack import use_endpoints

    aws_endpoint = os.environ.get("AWS_ENDPOINT_URL") or f"http://{LOCALHOST}:{DEFAULT_EMULATOR_PORT}"
    dynamodb_endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or f"http://{LOCALHOST}:{DEFAULT_DYNAMODB_PORT}"
    if not answers(dynamodb_endpoint):
        raise click.ClickException(
            f"no DynamoDB at {dynamodb_endpoint}: start `loyalty dev` first (or set AWS_ENDPOINT_URL_DYNAMODB)"
        )
    use_endpoints(aws_endpoint, dynamodb_endpoint)


@cli.group()
def keys() -> None:
    """API keys: create (shown once), list, revoke."""


@keys.command("create")
@click.option("--role", type=click.Choice(["storefront", "ops", "store"]), required=True)
@click.option("--name", default=None, help="A label for people, e.g. the storefront's name.")
@click.option("--store", "store_id", default=None, help="With --role store: the one store the key uploads for.")
def keys_create(role: str, name: str | None, store_id: str | None) -> None:
    """Create a key and print it: this is the only time it is shown."""
    if (role == "store") != (store_id is not None):
        raise click.UsageError("--store is required with --role store, and only allowed with it")
    _use_running_stack()
    from chalicelib.services.keys import create_key

    try:
        record, plain = create_key(role, name, store_id)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--store") from error
    click.echo(f"key_id: {record['key_id']}")
    click.echo(f"name: {record.get('name')}")
    click.echo(f"role: {record['role']}")
    if store_id is not None:
        click.echo(f"store: {store_id}")
    click.echo(f"key: {plain}")
    click.echo("Store the key now: only its hash is kept, it cannot be shown again.", err=True)


KEY_COLUMNS = ("key_id", "name", "role", "store_id", "created_at", "last_used_at", "revoked_at")


@keys.command("list")
def keys_list() -> None:
    """List keys (never the keys themselves)."""
    _use_running_stack()
    from chalicelib.services.keys import list_keys

    rows = [[_cell(record.get(column)) for column in KEY_COLUMNS] for record in list_keys()]
    widths = [max(len(text) for text in column) for column in zip(KEY_COLUMNS, *rows, strict=False)]
    for row in [list(KEY_COLUMNS), *rows]:
        click.echo("  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip())


def _cell(value: object) -> str:
    return "-" if value in (None, "") else str(value)


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key: locally it stops working at once."""
    _use_running_stack()
    from chalicelib.services.keys import revoke_key

    if not revoke_key(key_id):
        raise click.ClickException(f"no key {key_id}")
    click.echo(f"revoked {key_id}")


@cli.command()
def check() -> None:
    """Verify every member's books (balance = lots = ledger); exit 1 when a problem is found."""
    _use_running_stack()
    from chalicelib.services.check import check_all

    problems = check_all()
    for problem in problems:
        click.echo(json.dumps(problem, sort_keys=True, default=str))
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) found")
    click.echo("ok: no problems found")


@cli.group()
def cards() -> None:
    """Membership cards."""


@cards.command("backfill")
@click.option(
    "--table",
    default=None,
    help="A deployed stack's table (AWS credentials and SIGNING_SECRET_ARN from the environment). "
    "Default: the running `loyalty dev`.",
)
def cards_backfill(table: str | None) -> None:
    """Give every member enrolled before cards a card number (through the audit index, never a
    Scan), and re-key phone claims made under the earlier normalisation. Safe to run again."""
    if table:
        # Contact hashes are keyed with the stage's secret: the local default would re-key every
        # phone of a deployed table under the wrong key.
        if not (os.environ.get("SIGNING_SECRET") or os.environ.get("SIGNING_SECRET_ARN")):
            raise click.UsageError("--table needs SIGNING_SECRET_ARN (or SIGNING_SECRET) of that stage")
        os.environ["TABLE_NAME"] = table
    else:
        _use_running_stack()
    from chalicelib.config import reset
    from chalicelib.services import backfill

    reset()
    result = backfill.run()
    click.echo(json.dumps(result.as_dict(), sort_keys=True))
    if result.contact_conflicts:
        raise click.ClickException(f"{len(result.contact_conflicts)} member(s) share a phone or email with another")


@cli.group()
def audiences() -> None:
    """Audiences (the members of a segment)."""


@audiences.command("backfill")
@click.option("--table", default=None, help="A deployed stack's table (AWS credentials from the environment).")
def audiences_backfill(table: str | None) -> None:
    """Put every member stored before the audience index on it, as of today (through the audit
    index, never a Scan). Run once after deploying the index; safe to run again."""
    if table:
        os.environ["TABLE_NAME"] = table
    else:
        _use_running_stack()
    from chalicelib.config import reset
    from chalicelib.services import audience_job

    reset()
    click.echo(json.dumps(audience_job.backfill().as_dict(), sort_keys=True, default=str))


@cli.group()
def jobs() -> None:
    """Scheduled jobs: run one now."""


@jobs.command("run")
@click.argument("name")
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Run as if today were this date (program time zone). Default: today.",
)
def jobs_run(name: str, as_of: datetime | None) -> None:
    """Run job NAME (expiry, tier-review, dormant, birthday, pending, audience) and print its result."""
    _use_running_stack()
    from chalicelib.observability import logger
    from chalicelib.services.jobs import JOBS

    logger.setLevel(logging.WARNING)  # the printed result is the run's summary; warnings still show
    if name not in JOBS:
        raise click.ClickException(f"unknown job {name!r}: one of {', '.join(JOBS)}")
    with contextlib.redirect_stdout(sys.stderr):  # the job's EMF metric record is not the answer
        result = JOBS[name](as_of.date() if as_of else None)
    click.echo(json.dumps(result.as_dict(), sort_keys=True, default=str))


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--store", "store_id", required=True, help="Store id: the file goes to incoming/<store>/.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for the report.")
@click.option(
    "--bucket",
    default=None,
    help="A deployed stack's bucket (AWS credentials from the environment). Default: the running `loyalty dev`.",
)
@click.option(
    "--key",
    envvar="LOYALTY_KEY",
    default=None,
    help="A store key (or LOYALTY_KEY): upload through the API with plain HTTP, no AWS credentials.",
)
@click.option(
    "--api",
    envvar="LOYALTY_API_URL",
    default=f"http://{LOCALHOST}:{DEFAULT_API_PORT}",
    show_default=True,
    help="The API a --key upload goes through (or LOYALTY_API_URL).",
)
def ingest(file: Path, store_id: str, timeout: float, bucket: str | None, key: str | None, api: str) -> None:
    """Upload a sales file (.csv or .csv.gz), wait for its report and print it; exit 1 if it failed."""
    if key and bucket:
        raise click.UsageError("--bucket and --key do not mix: with a store key the API chooses the bucket")
    uploaded, report = (
        _ingest_with_key(file, store_id, timeout, key, api) if key else _ingest(file, store_id, timeout, bucket)
    )
    if report is None:
        raise click.ClickException(f"no report for {uploaded} after {timeout:g} s (is ingestion running?)")
    click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    if report["status"] != "completed":
        sys.exit(1)


def _ingest(file: Path, store_id: str, timeout: float, bucket: str | None) -> tuple[str, dict[str, object] | None]:
    """Straight into the bucket, with this process's AWS access (`loyalty dev`'s or the environment's)."""
    if bucket:
        os.environ["BUCKET_NAME"] = bucket
    else:
        _use_running_stack()
    from chalicelib.config import reset
    from chalicelib.domain.errors import InvalidRequest
    from loyalty_tools.upload import submit_file, wait_for_report

    reset()
    try:
        uploaded, upload_id = submit_file(file, store_id)
    except InvalidRequest as error:
        raise click.ClickException(error.message) from error
    click.echo(f"uploaded {uploaded}; waiting for its report", err=True)
    return uploaded, wait_for_report(uploaded, upload_id, timeout)


def _ingest_with_key(
    file: Path, store_id: str, timeout: float, key: str, api: str
) -> tuple[str, dict[str, object] | None]:
    """Through the API with a store key: an upload URL, a plain HTTP PUT, the store's reports."""
    from chalicelib import clock
    from chalicelib.domain.calendar import local_date
    from chalicelib.program import load_program
    from loyalty_tools.store_upload import StoreClient, UploadError, upload, wait_for_report
    from loyalty_tools.upload import upload_name

    name = upload_name(file, local_date(clock.now(), load_program().tz).isoformat())
    client = StoreClient(api, key, store_id)
    try:
        uploaded, earlier = upload(client, file, name)
        click.echo(f"uploaded {uploaded} through {api}; waiting for its report", err=True)
        return uploaded, wait_for_report(client, uploaded, earlier, timeout)
    except UploadError as error:
        raise click.ClickException(str(error)) from error


def _refuse_remote_endpoints() -> None:
    """The demo writes a year of fake members: only ever into emulators on this machine."""
    from urllib.parse import urlparse

    for name, url in sorted(os.environ.items()):
        if not name.startswith("AWS_ENDPOINT_URL") or not url:
            continue
        host = urlparse(url).hostname or ""
        if host != "localhost" and host != "::1" and not host.startswith("127."):
            raise click.ClickException(f"{name}={url} is not on this machine: the demo only fills a local stack")


@cli.command()
@click.option("--members", default=200, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--days", default=365, show_default=True, type=click.IntRange(1, 730), help="From today - DAYS to today.")
@click.option("--seed", default=1, show_default=True, type=click.IntRange(0), help="The same seed gives the same year.")
@click.option("--stores", default=3, show_default=True, type=click.IntRange(1, 9), help="Stores sending daily files.")
@click.option("--workers", default=6, show_default=True, type=click.IntRange(1, 32), help="Members replayed at once.")
@click.option(
    "--jobs-every",
    default=7,
    show_default=True,
    type=click.IntRange(1, 31),
    help="Run every scheduled job every N simulated days, besides the days the demo members are due.",
)
def demo(members: int, days: int, seed: int, stores: int, workers: int, jobs_every: int) -> None:
    """Fill the running `loyalty dev` with a year of realistic demo members, purchases, returns,
    redemptions, activities and store sales files, replayed day by day in simulated time."""
    _refuse_remote_endpoints()
    _use_running_stack()
    from loyalty_tools import demo as demo_data

    out = sys.stdout

    def progress(line: str) -> None:
        click.echo(line, file=out)
        out.flush()

    options = demo_data.Options(
        members=members, days=days, seed=seed, stores=stores, workers=workers, jobs_every=jobs_every
    )
    try:
        summary = demo_data.run(options, progress)
    except demo_data.DemoRefused as refused:
        raise click.ClickException(str(refused)) from refused
    for line in demo_data.summary_lines(summary):
        click.echo(line)
    if summary.final.get("problems") or summary.final.get("written_outside_replay"):
        sys.exit(1)


def _use_table(table: str | None) -> None:
    """A deployed stack's table (AWS credentials from the environment), or the running `loyalty dev`."""
    if table:
        os.environ["TABLE_NAME"] = table
    else:
        _use_running_stack()
    from chalicelib.config import reset

    reset()


@cli.command("export")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="A new directory.")
@click.option("--table", default=None, help="A deployed stack's table (AWS credentials from the environment).")
def export_table(out: Path, table: str | None) -> None:
    """Export the members and campaigns of the table to OUT in DynamoDB's export format
    (DYNAMODB_JSON, gzipped; what `loyalty simulate --export` reads)."""
    if out.exists() and any(out.iterdir()):
        raise click.ClickException(f"{out} is not empty")
    _use_table(table)
    from chalicelib import clock
    from chalicelib.store import exports

    click.echo(json.dumps(exports.export_members(out, clock.now()), sort_keys=True))


@cli.command()
@click.option("--program", "program_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--from", "first", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Count flows from.")
@click.option("--to", "last", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Last day replayed.")
@click.option(
    "--export",
    "export_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A table export (`loyalty export`, or an AWS export's files). Default: export the table now.",
)
@click.option("--table", default=None, help="Without --export: a deployed stack's table to export first.")
@click.option("--workers", default=os.cpu_count() or 1, show_default=True, type=click.IntRange(1, 64))
@click.option("--check", is_flag=True, help="Also replay the current program and compare with the stored state.")
@click.option("--json", "as_json", is_flag=True, help="Print the merged figures as JSON instead of the table.")
def simulate(
    program_file: Path,
    first: datetime | None,
    last: datetime | None,
    export_dir: Path | None,
    table: str | None,
    workers: int,
    check: bool,
    as_json: bool,
) -> None:
    """Replay every member's recorded history under the program in FILE (the program file's format,
    optionally with `campaigns`), writing nothing; print current and proposed side by side."""
    import tempfile

    from chalicelib.program import PROGRAM_FILE, PROGRAM_FILE_ENV, ProgramFileError
    from loyalty_tools import simulate as simulator

    current = Path(os.environ.get(PROGRAM_FILE_ENV) or PROGRAM_FILE).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="loyalty-export-") as scratch:
        if export_dir is None:
            _use_table(table)
            from chalicelib import clock
            from chalicelib.store import exports

            export_dir = Path(scratch)
            exports.export_members(export_dir, clock.now())
        try:
            run = simulator.run(
                export_dir,
                program_file.read_text(encoding="utf-8"),
                current,
                first.date() if first else None,
                last.date() if last else None,
                workers,
                check=check,
            )
        except ProgramFileError as error:
            raise click.ClickException(str(error)) from error
    if as_json:
        click.echo(json.dumps(run.report.as_dict(), sort_keys=True, default=str))
        return
    for line in simulator.table_lines(run):
        click.echo(line)


if __name__ == "__main__":
    main()
