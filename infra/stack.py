"""One stage of the loyalty engine: the Chalice app (API, authorizer, jobs, queue consumers, table-stream
consumers) and what it runs on (table and its stream, sales-file bucket, queues with DLQs, event bus,
signing secret), wired from what app.py declares (infra/discovery.py), then the alarms and the
dashboard (infra/monitoring.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from aws_cdk import CfnElement, CfnOutput, CfnResource, Duration, Environment, RemovalPolicy, Stack, Tags
from aws_cdk import Stage as Assembly
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from chalice.cdk import Chalice
from chalice.utils import to_cfn_resource_name
from constructs import Construct

from chalicelib.config import Settings
from chalicelib.ingest import names as prefixes
from chalicelib.store.schema import table_definition
from chalicelib.store.stream_filter import PARTIAL_BATCH_HANDLERS, PATTERNS_BY_HANDLER, filter_criteria
from infra import metrics, roles, simulation
from infra.discovery import AppHandlers, Function, SqsConsumer, StreamConsumer, discover, load_app
from infra.edge import sam_gateway_responses
from infra.monitoring import Monitoring
from infra.nag import acknowledge, lint_ignore
from infra.simulation import Simulation
from infra.stages import APP_NAME, Stage
from infra.table import index_names, table_from_definition

# What the app does under each prefix of the sales-file bucket (chalicelib/ingest: names.py has the
# prefixes, objects.py the calls). Multipart: upload_fileobj splits large rejects files.
OBJECT_ACCESS = {
    # The uploaded file: HEAD, ranged and conditional GETs. PutObject: the API signs stores'
    # presigned upload URLs (PUT incoming/<store>/...) with the functions' credentials, and S3 checks
    # the signer's permission when the store uploads.
    prefixes.INCOMING: ["s3:GetObject", "s3:PutObject"],
    prefixes.WORK: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],  # a run's parts, deleted at the end
    prefixes.REPORTS: ["s3:GetObject", "s3:PutObject"],
    prefixes.REJECTS: ["s3:PutObject", "s3:AbortMultipartUpload"],
}
WORK_RETENTION = Duration.days(14)  # parts of a run that never finished
EXPORTS_RETENTION = Duration.days(30)
TTL_ATTRIBUTE = "expires_at"
# The queue the bucket notifies of new sales files: the name the app and `loyalty dev` use for it.
INGEST_QUEUE = Settings.model_fields["ingest_queue_name"].default
MAX_RECEIVE_COUNT = 3  # deliveries before a message goes to the DLQ
# `@app.on_sqs_message(queue="<queue>-dlq")` reads that queue's DLQ (as the app and `loyalty dev` name it).
DEAD_LETTER_SUFFIX = "-dlq"
# Lambda's advice: a queue's visibility timeout at least 6 × its consumer's timeout.
VISIBILITY_FACTOR = 6
DLQ_RETENTION = Duration.days(14)
# Consumers of the table's stream (`@app.on_dynamodb_record`; the handler raises when a record fails,
# and every record is idempotent, so a retried batch is safe). A failing batch is split in halves and
# retried, so one bad record holds its shard back for a few attempts, not for the stream's 24 h;
# what still fails, or waits longer than STREAM_MAX_RECORD_AGE_S, is skipped and described (shard
# and sequence numbers, not the records) on the consumer's on-failure queue. The record age stays
# well under the stream's 24 h retention, so a skipped range can still be read again (DEPLOY.md).
STREAM_MAX_RETRIES = 10
STREAM_MAX_RECORD_AGE_S = 6 * 3600
STREAM_PARALLELIZATION = 1  # one batch at a time per shard: an item's changes arrive in order
# Scheduled jobs (EventBridge invokes them asynchronously). Lambda's defaults retry a failed or
# timed-out run twice, up to 6 h later, while the next hourly run starts: two runs of one job would
# overlap. A job is never retried (the next run continues what a failed one left; its ledger ids make
# a repeated step a no-op); a failed run, or an event that waited too long to start, is described on
# the jobs' failure queue, which is alarmed. Jobs are scheduled hourly or less often.
JOB_RETRIES = 0
JOB_PERIOD_S = 3600
# The functions' runtime and architecture. `chalice package` takes the runtime, and the ABI of the
# wheels it downloads (pydantic-core is native), from the interpreter the synth runs in: the synth
# refuses any other interpreter than this runtime's (scripts/setup_infra.sh builds .venv-infra on
# it). python3.12 runs on Amazon Linux 2023; python3.11 ran on Amazon Linux 2, whose end of life
# (June 2026) ended the runtime's support. arm64 (Graviton): 20 % cheaper per GB-second; every
# native wheel of requirements.txt (pydantic-core) exists as manylinux aarch64, and Chalice downloads
# those for `lambda_architecture: arm64` (tests/infra/test_runtime.py looks inside the package).
LAMBDA_RUNTIME = "python3.12"
LAMBDA_ARCHITECTURE = "arm64"
# The store-watch function (infra/store_watch/handler.py): hours since each store's last file.
STORE_WATCH_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "store_watch")
STORE_WATCH_TIMEOUT = Duration.minutes(2)
# API Gateway's access log, one JSON object per request: what the 429 metric filter reads, and who
# got what when. No personal data: the resource path is the route's template (`/members/{member_id}`),
# not the path with ids; no source IP; no headers.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTimeEpoch",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "responseLatency": "$context.responseLatency",
    "integrationStatus": "$context.integration.status",
    "errorType": "$context.error.responseType",
}
# API Gateway reuses an authorizer's answer for a token this long. docs/api.md bounds how long a revoked
# key keeps working on AWS to 5 minutes; explicit, so that neither API Gateway's default (300 s) nor
# Chalice's omission of it decides. The functions cache nothing more (AUTH_CACHE_SECONDS unset).
AUTHORIZER_CACHE_TTL_S = 300


@dataclass(frozen=True)
class AppQueue:
    name: str  # as in `@app.on_sqs_message(queue=...)`
    queue: sqs.Queue
    dead_letters: sqs.Queue


@dataclass(frozen=True)
class AppStream:
    consumer: StreamConsumer  # an `@app.on_dynamodb_record` handler, fed by the table's stream
    failures: sqs.Queue  # its on-failure destination: the batches it skipped
    max_record_age_s: int = STREAM_MAX_RECORD_AGE_S  # older records are skipped too


class WrongPackagingPython(RuntimeError):
    """The synth runs in an interpreter whose version is not the functions' runtime."""


def check_packaging_python(version_info: tuple[int, ...] | None = None) -> None:
    major, minor = (version_info or (sys.version_info.major, sys.version_info.minor))[:2]
    running = f"python{major}.{minor}"
    if running != LAMBDA_RUNTIME:
        raise WrongPackagingPython(
            f"the synth runs on {running}, but the functions run on {LAMBDA_RUNTIME}: `chalice package` would "
            f"deploy {running} and its wheels. Synthesize from .venv-infra (scripts/setup_infra.sh builds it "
            f"on {LAMBDA_RUNTIME.removeprefix('python')})."
        )


@contextlib.contextmanager
def _packaging(workdir: str) -> Iterator[None]:
    """chalice.cdk packages into ./chalice.out and copies the stage's environment variables (here CDK
    tokens) into os.environ: keep the first in `workdir`, undo the second."""
    cwd, environ = os.getcwd(), dict(os.environ)
    os.chdir(workdir)
    try:
        yield
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(environ)


class LoyaltyStack(Stack):
    def __init__(
        self,
        scope: Construct,
        stage: Stage,
        *,
        source_dir: str,
        alarm_email: str | None = None,
        env: Environment | None = None,
    ) -> None:
        # The construct id must be the stage: chalice.cdk reads the stage of that name.
        super().__init__(scope, stage.name, stack_name=f"{APP_NAME}-{stage.name}", env=env)
        self.stage = stage
        self.handlers: AppHandlers = discover(load_app(source_dir))
        removal = RemovalPolicy.RETAIN if stage.retain_data else RemovalPolicy.DESTROY
        Tags.of(self).add("app", APP_NAME)
        Tags.of(self).add("stage", stage.name)

        self.table_definition = table_definition(f"{APP_NAME}-{stage.name}")
        self.table = table_from_definition(
            self,
            "Table",
            self.table_definition,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=stage.deletion_protection,
            time_to_live_attribute=TTL_ATTRIBUTE,
            removal_policy=removal,
            # Collecting before a throttle alarm fires: its first response is "which key is hot".
            contributor_insights=dynamodb.ContributorInsightsSpecification(enabled=True),
        )
        # `<queue>-dlq` is not a queue of its own: a consumer of it reads that queue's DLQ (consumed()).
        names = [INGEST_QUEUE, *self.handlers.queues]
        self.queues = {
            name: self._queue(name)
            for name in dict.fromkeys(names)
            if not (name.endswith(DEAD_LETTER_SUFFIX) and name.removesuffix(DEAD_LETTER_SUFFIX) in names)
        }
        self.streams = [AppStream(c, self._stream_failures(c)) for c in self.handlers.stream_consumers]
        self.job_failures = self._job_failures() if self.handlers.schedules else None
        self.bucket = self._sales_file_bucket(removal)
        self.bus = events.EventBus(self, "Bus", event_bus_name=f"{APP_NAME}-{stage.name}")
        self.bus.archive(
            "Archive",
            description="Domain events, for replay to a consumer that missed them",
            event_pattern=events.EventPattern(account=[self.account]),
            retention=Duration.days(stage.event_archive_days),
        )
        self.signing_secret = self._signing_secret(removal)
        self.log_groups = {
            f.logical_id: logs.LogGroup(
                self,
                f"{f.logical_id}Logs",
                log_group_name=f"/aws/lambda/{APP_NAME}-{stage.name}/{f.logical_id}",
                retention=stage.log_retention,
                removal_policy=RemovalPolicy.DESTROY,
            )
            for f in self.handlers.functions
        }
        self.roles = self._function_roles()

        assembly = Assembly.of(self)
        assert assembly is not None
        check_packaging_python()
        with _packaging(assembly.outdir):
            self.chalice = Chalice(
                self, "App", source_dir=os.path.abspath(source_dir), stage_config=self._chalice_config()
            )
        for function in self.handlers.functions:
            self._configure_function(function)
        for consumer in self.handlers.sqs_consumers:
            self._wire_consumer(consumer)
        for stream in self.streams:
            self._wire_stream_consumer(stream)
        self._configure_api()

        self.store_watch = self._store_watch()
        self.simulator = self._simulation()
        self.alarm_topic = self._alarm_topic(alarm_email)
        self.monitoring = Monitoring(self, "Monitoring", stack=self)
        self._outputs()

    # --- data and messaging -------------------------------------------------------------------

    def _queue(self, name: str) -> AppQueue:
        physical = f"{name}-{self.stage.name}"
        dead_letters = sqs.Queue(
            self,
            f"{to_cfn_resource_name(name)}DeadLetters",
            queue_name=f"{physical}-dlq",
            retention_period=DLQ_RETENTION,
            # A DLQ may have a consumer too (the ingest DLQ's fails its file): Lambda refuses a mapping
            # whose queue hides a message for less than the function may run.
            visibility_timeout=Duration.seconds(VISIBILITY_FACTOR * self.stage.worker_timeout_s),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        queue = sqs.Queue(
            self,
            f"{to_cfn_resource_name(name)}Queue",
            queue_name=physical,
            visibility_timeout=Duration.seconds(VISIBILITY_FACTOR * self.stage.worker_timeout_s),
            retention_period=Duration.days(4),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=MAX_RECEIVE_COUNT),
        )
        return AppQueue(name, queue, dead_letters)

    def _failure_queue(self, construct_id: str, name: str, of_what: str) -> sqs.Queue:
        """An on-failure destination (Lambda describes there what it gave up on), kept and encrypted
        like the DLQs."""
        queue = sqs.Queue(
            self,
            construct_id,
            queue_name=f"{APP_NAME}-{name}-{self.stage.name}-dlq",
            retention_period=DLQ_RETENTION,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        acknowledge(
            queue,
            "AwsSolutions-SQS3",
            f"This queue is itself a dead-letter queue: the on-failure destination of {of_what} (cdk-nag "
            "only recognizes DLQs of other SQS queues); nothing consumes it, an alarm watches it.",
        )
        return queue

    def _stream_failures(self, consumer: StreamConsumer) -> sqs.Queue:
        return self._failure_queue(
            f"{consumer.logical_id}Failures",
            consumer.name.replace("_", "-"),
            f"the table-stream mapping of {consumer.logical_id}",
        )

    def _job_failures(self) -> sqs.Queue:
        return self._failure_queue("JobFailures", "jobs", "the scheduled jobs' asynchronous invocations")

    @property
    def table_stream_arn(self) -> str:
        arn = self.table.table_stream_arn
        if arn is None:
            names = ", ".join(stream.consumer.name for stream in self.streams)
            raise ValueError(
                f"app.py reads the table's stream ({names}), but table_definition() enables no "
                "StreamSpecification: add one there (chalicelib/store/schema.py)"
            )
        return arn

    def _sales_file_bucket(self, removal: RemovalPolicy) -> s3.Bucket:
        access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # the log delivery cannot write SSE-KMS
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(self.stage.access_logs_retention_days))],
            removal_policy=removal,
        )
        acknowledge(
            access_logs,
            "AwsSolutions-S1",
            "This is the access-log bucket of the sales-file bucket; logging it into itself would loop.",
        )
        bucket = s3.Bucket(
            self,
            "SalesFiles",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,  # an overwritten or deleted sales file can be recovered
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="sales-files/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="reports", prefix=prefixes.REPORTS, expiration=Duration.days(self.stage.reports_retention_days)
                ),
                s3.LifecycleRule(
                    id="rejects", prefix=prefixes.REJECTS, expiration=Duration.days(self.stage.rejects_retention_days)
                ),
                s3.LifecycleRule(id="work", prefix=prefixes.WORK, expiration=WORK_RETENTION),
                # Member ids and segments: a campaign tool picks an export up within days, not months.
                s3.LifecycleRule(id="audience-exports", prefix=prefixes.AUDIENCE_EXPORTS, expiration=EXPORTS_RETENTION),
                s3.LifecycleRule(
                    id="old-versions-and-uploads",
                    noncurrent_version_expiration=Duration.days(self.stage.noncurrent_versions_days),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                ),
            ],
            removal_policy=removal,
        )
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.SqsDestination(self.queues[INGEST_QUEUE].queue),
            s3.NotificationKeyFilter(prefix=prefixes.INCOMING),
        )
        # The notification is set by CDK's own deploy-time function (one per stack), which uses
        # AWS's managed basic-execution policy for its logs.
        handler = next(c for c in self.node.children if c.node.id.startswith("BucketNotificationsHandler"))
        acknowledge(
            handler,
            "AwsSolutions-IAM4",
            "CDK's BucketNotificationsHandler (runs only at deploy time to set the S3 -> SQS "
            "notification) writes its logs through AWSLambdaBasicExecutionRole; CDK owns that role.",
            ["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
        )
        # W3005 (a DependsOn that a GetAtt already implies): CDK writes both on these two resources.
        redundant = "CDK's notification resources state the dependency twice; harmless, and not ours to edit"
        lint_ignore(cast(CfnResource, handler.node.find_child("Resource")), ["W3005"], redundant)
        notifications = bucket.node.find_child("Notifications").node.default_child
        lint_ignore(cast(CfnResource, notifications), ["W3005"], redundant)
        return bucket

    def _signing_secret(self, removal: RemovalPolicy) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            "SigningSecret",
            description="Signs ledger cursors and keys the hashes of phones and emails (SIGNING_SECRET)",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
            removal_policy=removal,
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "Not rotated on a schedule: the secret keys the stored hashes of phones and emails, so a new "
            "value orphans every uniqueness record; rotation is a planned migration (DEPLOY.md).",
        )
        return secret

    # --- the app's permissions ---------------------------------------------------------------

    def _function_roles(self) -> dict[str, iam.Role]:
        """One execution role per function of the app, with only what that function touches
        (infra/roles.py). Inline policies, so that a function (and its SQS mapping, which Lambda
        validates against the role) is only created once the permissions exist."""
        resources = roles.Resources(
            table=self.table,
            index_arns=[f"{self.table.table_arn}/index/{name}" for name in index_names(self.table_definition)],
            stream_arn=self.table_stream_arn if self.streams else None,
            bucket=self.bucket,
            bus=self.bus,
            secret=self.signing_secret,
            log_groups=self.log_groups,
            object_access=OBJECT_ACCESS,
            job_failures=self.job_failures,
            stream_failures={stream.consumer.logical_id: stream.failures for stream in self.streams},
        )
        consumers = {consumer.logical_id: consumer for consumer in self.handlers.sqs_consumers}
        bucket_id = self.get_logical_id(cast(CfnElement, self.bucket.node.default_child))
        found: dict[str, iam.Role] = {}
        for function in self.handlers.functions:
            consumer = consumers.get(function.logical_id)
            statements = roles.statements(function, resources, self.consumed(consumer) if consumer else None)
            role = iam.Role(
                self,
                f"{function.logical_id}Role",
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                description=f"Execution role of the {APP_NAME} {self.stage.name} function {function.logical_id}",
                inline_policies={"function": iam.PolicyDocument(statements=statements)},
            )
            acknowledge(
                role,
                "AwsSolutions-IAM5",
                "X-Ray has no resource-level permissions: PutTraceSegments/PutTelemetryRecords need '*'.",
                ["Resource::*"],
            )
            granted = roles.object_prefixes(statements)
            if granted:
                acknowledge(
                    role,
                    "AwsSolutions-IAM5",
                    "Object keys under a prefix are data (store ids, dates, file ids): each grant names the "
                    "bucket and one prefix with only the actions this function uses there, never the bucket's root.",
                    [f"Resource::<{bucket_id}.Arn>/{prefix}*" for prefix in granted],
                )
            found[function.logical_id] = role
        return found

    def consumed(self, consumer: SqsConsumer) -> roles.Consumed:
        """The queue an `@app.on_sqs_message` handler reads: the stack's queue of that name, or, for
        `<name>-dlq`, that queue's dead-letter queue (the name the app and `loyalty dev` use for it)."""
        base = consumer.queue.removesuffix(DEAD_LETTER_SUFFIX)
        if consumer.queue.endswith(DEAD_LETTER_SUFFIX) and base in self.queues:
            return roles.Consumed(self.queues[base].dead_letters, dead_letters=True)
        return roles.Consumed(self.queues[consumer.queue].queue, dead_letters=False)

    # --- the Chalice app -----------------------------------------------------------------------

    def _chalice_config(self) -> dict[str, object]:
        return {
            "environment_variables": {
                "STAGE": self.stage.name,
                "TABLE_NAME": self.table.table_name,
                "BUCKET_NAME": self.bucket.bucket_name,
                "EVENT_BUS_NAME": self.bus.event_bus_name,
                "INGEST_QUEUE_NAME": self.queues[INGEST_QUEUE].queue.queue_name,
                # The ARN, never the value: the app reads the secret on first use (chalicelib/config.py).
                "SIGNING_SECRET_ARN": self.signing_secret.secret_arn,
                "POWERTOOLS_SERVICE_NAME": metrics.SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": metrics.NAMESPACE,
            },
            # Chalice wants one role for the app; every function's `Role` is then set to its own
            # (_configure_function), so this one is only what Chalice writes before the override.
            "manage_iam_role": False,
            "iam_role_arn": next(iter(self.roles.values())).role_arn,
            "xray": True,
            "lambda_architecture": LAMBDA_ARCHITECTURE,  # and the wheels Chalice downloads for it
            # Dependencies in a layer keyed by requirements.txt, the app's code in its own small
            # package: a code change neither re-downloads the wheels nor re-uploads them.
            "automatic_layer": True,
            "tags": {"app": APP_NAME, "stage": self.stage.name},
        }

    def function(self, logical_id: str) -> CfnResource:
        """The SAM function that `chalice package` made for a handler (an aws_sam.CfnFunction)."""
        return self.chalice.get_resource(logical_id)

    def sizing(self, function: Function) -> tuple[int, int]:
        """(memory in MB, timeout in seconds) of a function of the app."""
        stage = self.stage
        if function.name == roles.SIMULATE:
            return simulation.MEMORY_MB, simulation.TIMEOUT_S
        return {
            "api": (stage.api_memory_mb, stage.api_timeout_s),
            "authorizer": (stage.api_memory_mb, stage.authorizer_timeout_s),
            "stream": (stage.worker_memory_mb, stage.stream_timeout_s),
        }.get(function.kind, (stage.worker_memory_mb, stage.worker_timeout_s))

    def _configure_function(self, function: Function) -> None:
        resource = self.function(function.logical_id)
        memory, timeout = self.sizing(function)
        resource.add_property_override("MemorySize", memory)
        resource.add_property_override("Timeout", timeout)
        resource.add_property_override("Role", self.roles[function.logical_id].role_arn)
        if function.kind == "schedule":
            assert self.job_failures is not None
            resource.add_property_override(
                "EventInvokeConfig",
                {
                    "MaximumRetryAttempts": JOB_RETRIES,
                    # An event that could not start by then (throttling) would still be running
                    # when the next run starts: it is dropped to the failure queue instead.
                    "MaximumEventAgeInSeconds": max(60, JOB_PERIOD_S - timeout),
                    # SAM requires `Type` here; it adds a policy only to a role SAM makes, and the
                    # stack's role grants the send itself (SendJobFailures).
                    "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": self.job_failures.queue_arn}},
                },
            )
        resource.add_property_override(
            "LoggingConfig",
            {
                "LogGroup": self.log_groups[function.logical_id].log_group_name,
                "LogFormat": "Text",  # powertools already writes one JSON object per line
            },
        )

    def _wire_consumer(self, consumer: SqsConsumer) -> None:
        """The queue of this stack, whatever ARN the decorator's queue name gave Chalice; failed
        records reported one by one (the handler returns `batchItemFailures`)."""
        resource = self.function(consumer.logical_id)
        prefix = f"Events.{consumer.event_name}.Properties."
        resource.add_property_override(prefix + "Queue", self.consumed(consumer).queue.queue_arn)
        resource.add_property_override(prefix + "FunctionResponseTypes", ["ReportBatchItemFailures"])
        resource.add_property_override(prefix + "ScalingConfig", {"MaximumConcurrency": self.stage.sqs_max_concurrency})

    def _wire_stream_consumer(self, stream: AppStream) -> None:
        """This stack's table stream, whatever placeholder ARN the decorator holds; failing batches
        bisected and retried a bounded number of times, then skipped to the on-failure queue."""
        resource = self.function(stream.consumer.logical_id)
        prefix = f"Events.{stream.consumer.event_name}.Properties."
        overrides: dict[str, object] = {
            "Stream": self.table_stream_arn,
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": STREAM_MAX_RETRIES,
            "MaximumRecordAgeInSeconds": stream.max_record_age_s,
            "ParallelizationFactor": STREAM_PARALLELIZATION,
            # No `Type`: SAM would only use it to add a policy to a role it made; the stack's role
            # grants the send itself (SendStreamFailures).
            "DestinationConfig": {"OnFailure": {"Destination": stream.failures.queue_arn}},
        }
        # Only the records the handler reads (chalicelib/store/stream_filter.py: for the KPI roll-up,
        # profiles, new ledger entries and coupon writes): Lambda drops the rest before invoking, unbilled.
        patterns = PATTERNS_BY_HANDLER.get(stream.consumer.name)
        if patterns is not None:
            overrides["FilterCriteria"] = filter_criteria(patterns)
        if stream.consumer.name in PARTIAL_BATCH_HANDLERS:
            # It answers the first record whose work failed: Lambda retries from there, not the batch.
            overrides["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
        for name, value in overrides.items():
            resource.add_property_override(prefix + name, value)

    def _configure_api(self) -> None:
        self.api_access_logs: logs.LogGroup | None = None
        if not self.handlers.logical_ids("api"):
            return
        api = self.chalice.get_resource("RestAPI")
        # Both stages would otherwise be "loyalty": one API name, mixed metrics (ApiName dimension).
        api.add_property_override("Name", self.api_name)
        api.add_property_override("DefinitionBody.info.title", self.api_name)
        api.add_property_override("TracingEnabled", True)
        # What API Gateway answers by itself (no key, unknown route, throttled, authorizer failed),
        # in the app's error format (infra/edge.py).
        api.add_property_override("GatewayResponses", sam_gateway_responses())
        for authorizer in self.handlers.functions:
            if authorizer.kind == "authorizer":
                api.add_property_override(
                    f"DefinitionBody.securityDefinitions.{authorizer.name}.x-amazon-apigateway-authorizer."
                    "authorizerResultTtlInSeconds",
                    AUTHORIZER_CACHE_TTL_S,
                )
        api.add_property_override(
            "MethodSettings",
            [
                {
                    "ResourcePath": "/*",
                    "HttpMethod": "*",
                    "ThrottlingRateLimit": self.stage.api_rate_limit,
                    "ThrottlingBurstLimit": self.stage.api_burst_limit,
                }
            ],
        )
        self.api_access_logs = self._api_access_logs(api)

    def _api_access_logs(self, api: CfnResource) -> logs.LogGroup:
        """The stage's access log (JSON), and the 429s counted from it: API Gateway has no metric of
        its own for requests it throttled (they are among the 4XXError)."""
        group = logs.LogGroup(
            self,
            "ApiAccessLogs",
            log_group_name=f"/aws/apigateway/{self.api_name}/access",
            retention=self.stage.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        fields = {**ACCESS_LOG_FIELDS, "api": self.api_name}  # the metric's dimension
        api.add_property_override(
            "AccessLogSetting",
            {"DestinationArn": group.log_group_arn, "Format": json.dumps(fields, separators=(",", ":"))},
        )
        # API Gateway writes any API's logs with the one role set in its account settings (per region).
        # Retained: deleting a stage's stack must not take away the role another stack's API logs with.
        role = iam.Role(
            self,
            "ApiGatewayLogsRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="API Gateway's account-wide role for writing API logs to CloudWatch Logs",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonAPIGatewayPushToCloudWatchLogs")
            ],
        )
        role.apply_removal_policy(RemovalPolicy.RETAIN)
        acknowledge(
            role,
            "AwsSolutions-IAM4",
            "API Gateway's account-level logging role: AWS's own policy for it, which covers the log groups "
            "API Gateway creates for any API of the account and region.",
            ["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"],
        )
        account = apigateway.CfnAccount(self, "ApiGatewayAccount", cloud_watch_role_arn=role.role_arn)
        account.apply_removal_policy(RemovalPolicy.RETAIN)
        api.add_dependency(account)  # a stage with access logs is refused until the account has the role
        logs.MetricFilter(
            self,
            "ApiThrottledRequests",
            log_group=group,
            metric_namespace=metrics.NAMESPACE,
            metric_name=metrics.API_THROTTLED,
            filter_pattern=logs.FilterPattern.string_value("$.status", "=", "429"),
            metric_value="1",
            dimensions={"ApiName": "$.api"},
        )
        return group

    @property
    def api_name(self) -> str:
        return f"{APP_NAME}-{self.stage.name}"

    @property
    def api_stage(self) -> str:
        """API Gateway's stage (`api_gateway_stage` of .chalice/config.json): a metric dimension."""
        return str(self.chalice.get_resource("RestAPI").stage_name)

    # --- watching the stores' files ------------------------------------------------------------

    def _simulation(self) -> Simulation | None:
        """The program simulator's state machine, when the app has its `simulate` function (infra/simulation.py)."""
        if not any(f.name == roles.SIMULATE for f in self.handlers.functions):
            return None
        # A table export holds the members' profiles: it is kept for a run, not for good.
        for rule, prefix, kept in (
            ("simulation-runs", prefixes.SIMULATION_RUNS, simulation.RUNS_RETENTION),
            ("simulation-exports", prefixes.SIMULATION_EXPORTS, simulation.EXPORTS_RETENTION),
        ):
            self.bucket.add_lifecycle_rule(id=rule, prefix=prefix, expiration=kept)
        step = cast(CfnResource, self.function(to_cfn_resource_name(roles.SIMULATE)))
        return Simulation(
            self,
            "Simulation",
            bucket=self.bucket,
            function_arn=step.get_att("Arn").to_string(),
            name=f"{APP_NAME}-{self.stage.name}-simulate",
            log_retention=self.stage.log_retention,
        )

    def _store_watch(self) -> lambda_.Function:
        """Every hour, the hours since each store's last completed file, as a metric per store (see
        infra/store_watch/handler.py: CloudWatch cannot alarm on a metric that stops)."""
        group = logs.LogGroup(
            self,
            "StoreWatchLogs",
            log_group_name=f"/aws/lambda/{APP_NAME}-{self.stage.name}/StoreWatch",
            retention=self.stage.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            self,
            "StoreWatchRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of the {APP_NAME} {self.stage.name} store-watch function",
            inline_policies={
                "watch": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            sid="ReadMetrics",
                            actions=["cloudwatch:ListMetrics", "cloudwatch:GetMetricData"],
                            resources=["*"],
                        ),
                        iam.PolicyStatement(
                            sid="PutStoreAges",
                            actions=["cloudwatch:PutMetricData"],
                            resources=["*"],
                            conditions={"StringEquals": {"cloudwatch:namespace": metrics.NAMESPACE}},
                        ),
                        iam.PolicyStatement(
                            sid="WriteLogs",
                            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                            resources=[group.log_group_arn],
                        ),
                    ]
                )
            },
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "CloudWatch's ListMetrics, GetMetricData and PutMetricData have no resource-level permissions; "
            "PutMetricData is held to the app's namespace by a condition.",
            ["Resource::*"],
        )
        function = lambda_.Function(
            self,
            "StoreWatch",
            description="Hours since each store's last completed sales file, as a metric per store",
            runtime=lambda_.Runtime(LAMBDA_RUNTIME, lambda_.RuntimeFamily.PYTHON),
            architecture=lambda_.Architecture.ARM_64,
            handler="handler.handler",
            code=lambda_.Code.from_asset(STORE_WATCH_DIR, exclude=["__pycache__", "*.pyc"]),
            timeout=STORE_WATCH_TIMEOUT,
            memory_size=256,
            role=role,
            log_group=group,
            tracing=lambda_.Tracing.DISABLED,
            environment={
                "METRICS_NAMESPACE": metrics.NAMESPACE,
                "METRICS_SERVICE": metrics.SERVICE,
                "FILES_METRIC": metrics.STORE_FILES,
                "AGE_METRIC": metrics.STORE_HOURS_SINCE_FILE,
            },
        )
        # W3005: CDK states the function's dependency on its role twice (DependsOn and the GetAtt).
        lint_ignore(
            cast(CfnResource, function.node.default_child), ["W3005"], "CDK writes both; harmless, not ours to edit"
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            f"Pinned to the app's runtime ({LAMBDA_RUNTIME}, LAMBDA_RUNTIME) so that the stack moves to a new "
            "Python in one step, with the Chalice functions.",
        )
        events.Rule(
            self,
            "StoreWatchSchedule",
            description="Hours since each store's last sales file, every hour",
            schedule=events.Schedule.rate(Duration.hours(1)),
            targets=[targets.LambdaFunction(function)],
        )
        return function

    # --- alarms' destination and outputs -------------------------------------------------------

    def _alarm_topic(self, alarm_email: str | None) -> sns.Topic:
        key = kms.Key(
            self, "AlarmKey", description=f"{APP_NAME} {self.stage.name} alarm notifications", enable_key_rotation=True
        )
        # CloudWatch encrypts what it publishes to the topic with this key.
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        topic = sns.Topic(
            self, "Alarms", topic_name=f"{APP_NAME}-{self.stage.name}-alarms", master_key=key, enforce_ssl=True
        )
        # A topic policy replaces SNS's default one: without this statement the topic (whose policy
        # holds the deny of plain HTTP) refuses every alarm. Only this stack's alarms, in this
        # account and region, may publish (no confused deputy).
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsOfThisStack",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": self.account},
                    "ArnLike": {"aws:SourceArn": self.alarm_arn_pattern},
                },
            )
        )
        if alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        return topic

    @property
    def alarm_prefix(self) -> str:
        """Every alarm of the stack is named with this prefix (the topic admits no other)."""
        return f"{self.stack_name}-"

    @property
    def alarm_arn_pattern(self) -> str:
        return f"arn:{self.partition}:cloudwatch:{self.region}:{self.account}:alarm:{self.alarm_prefix}*"

    def _outputs(self) -> None:
        values = {
            "TableName": self.table.table_name,
            "BucketName": self.bucket.bucket_name,
            "IngestQueueUrl": self.queues[INGEST_QUEUE].queue.queue_url,
            "IngestDeadLetterQueueUrl": self.queues[INGEST_QUEUE].dead_letters.queue_url,
            "EventBusName": self.bus.event_bus_name,
            "SigningSecretArn": self.signing_secret.secret_arn,
            "AlarmTopicArn": self.alarm_topic.topic_arn,
            "DashboardName": self.monitoring.dashboard.dashboard_name,
        }
        for stream in self.streams:
            values[f"{stream.consumer.logical_id}FailureQueueUrl"] = stream.failures.queue_url
        if self.job_failures is not None:
            values["JobFailureQueueUrl"] = self.job_failures.queue_url
        for name, value in values.items():
            CfnOutput(self, name, value=value)
