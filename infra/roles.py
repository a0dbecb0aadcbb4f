"""One execution role per function of the Chalice app, with only what that function touches.

Chalice packages one code bundle for every function and would give them one role; the stack makes a
role per function here and points each SAM function's `Role` at it (infra/stack.py). Every statement
names its resources; the only `*` is X-Ray's, which has no resource-level permission.

What each kind of function touches (read from the code it runs, chalicelib/):

- API (`APIHandler`): table items and indexes; PutObject on `incoming/*` (the stores' presigned
  upload URLs are signed with it) and on `exports/audiences/*` (audience exports);
  upload URLs are signed with its credentials, and S3 checks the signer's permission).
- authorizer: the API-key items only (leading key `APIKEYS`): GetItem, UpdateItem (last used).
- SQS consumer of a queue (ingestion): table items and indexes; the bucket's prefixes with the
  actions of OBJECT_ACCESS, and ListBucket; its queue: consume, and send (a file's chunks).
- SQS consumer of a DLQ (`<queue>-dlq`: the failed file's report and event): table items and
  indexes; PutObject on `reports/*`; that DLQ: consume.
- table-stream consumer: the table's stream; its on-failure queue; and the KPI roll-up: table
  items; the outbox (OUTBOX_HANDLER): PutEvents on the bus, nothing of the table but its stream.
- scheduled job: table items and indexes; the jobs' on-failure queue.
- `@app.lambda_function`: table items and indexes. The program simulator's (`simulate`):
  GetObject on `simulations/exports/*`, GetObject and PutObject on `simulations/runs/*`, ListBucket
  of that prefix; no table, no secret.

Every one of them also writes to its own log group, sends X-Ray traces, and reads the signing
secret: `chalicelib.config.settings()`, which every function calls for its table's name, fetches the
secret on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_dynamodb import ITable
from aws_cdk.aws_events import IEventBus

from chalicelib.ingest import names as prefixes
from chalicelib.store.keys import API_KEYS_PK
from chalicelib.store.stream_filter import OUTBOX_HANDLER
from infra.discovery import Function

SIMULATE = "simulate"  # the `@app.lambda_function` of the program simulator (infra/simulation.py)
TABLE_ITEMS = [
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
]
# What Lambda's SQS poller calls with the function's role (AWSLambdaSQSQueueExecutionRole's actions).
CONSUME = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
# The ingest consumer fans a large file out into chunk messages on its own queue (found by name).
SEND = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]


@dataclass(frozen=True)
class Resources:
    """What the functions may be granted: the stack's resources."""

    table: ITable
    index_arns: list[str]
    stream_arn: str | None
    bucket: s3.IBucket
    bus: IEventBus
    secret: secretsmanager.ISecret
    log_groups: Mapping[str, logs.ILogGroup]  # by function logical id
    object_access: Mapping[str, list[str]]  # the bucket's prefixes -> the ingestion's actions there
    job_failures: sqs.IQueue | None = None
    stream_failures: Mapping[str, sqs.IQueue] = field(default_factory=dict)  # by consumer logical id


@dataclass(frozen=True)
class Consumed:
    """The queue an SQS consumer reads: one of the stack's queues, or one's DLQ."""

    queue: sqs.IQueue
    dead_letters: bool


def statements(function: Function, resources: Resources, consumed: Consumed | None) -> list[iam.PolicyStatement]:
    r = resources
    found = [
        iam.PolicyStatement(
            sid="WriteLogs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[r.log_groups[function.logical_id].log_group_arn],
        ),
        iam.PolicyStatement(
            sid="Tracing", actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"], resources=["*"]
        ),
        iam.PolicyStatement(
            sid="ReadSigningSecret", actions=["secretsmanager:GetSecretValue"], resources=[r.secret.secret_arn]
        ),
    ]
    if function.name == SIMULATE:
        # The simulator's steps read a table export and write their run's files: S3 only (no table,
        # no secret: services/simulation_runs.py never calls settings()).
        return [*found[:2], *simulation_statements(r.bucket)]
    if function.kind == "authorizer":
        # Looks the key up and notes when it was last used: its own items, nothing of the members'.
        found.append(
            iam.PolicyStatement(
                sid="ApiKeyItems",
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem"],
                resources=[r.table.table_arn],
                conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [API_KEYS_PK]}},
            )
        )
        return found
    if function.name == OUTBOX_HANDLER:
        # The only publisher: the events come with the stream's images, the table is never read.
        publish = iam.PolicyStatement(
            sid="PublishEvents", actions=["events:PutEvents"], resources=[r.bus.event_bus_arn]
        )
        return [*found, *_stream_statements(function, r), publish]
    found.append(iam.PolicyStatement(sid="TableItems", actions=TABLE_ITEMS, resources=[r.table.table_arn]))
    if function.kind != "stream" and r.index_arns:
        found.append(iam.PolicyStatement(sid="TableIndexes", actions=["dynamodb:Query"], resources=r.index_arns))
    if function.kind == "api":
        found.append(_objects(r.bucket, prefixes.INCOMING, ["s3:PutObject"]))
        # POST /audiences/exports writes the CSV itself, multipart when it is large.
        found.append(_objects(r.bucket, prefixes.AUDIENCE_EXPORTS, ["s3:PutObject", "s3:AbortMultipartUpload"]))
    elif function.kind == "sqs":
        assert consumed is not None
        found.append(iam.PolicyStatement(sid="ConsumeQueue", actions=CONSUME, resources=[consumed.queue.queue_arn]))
        if consumed.dead_letters:
            found.append(_objects(r.bucket, prefixes.REPORTS, ["s3:PutObject"]))
        else:
            found += [_objects(r.bucket, prefix, actions) for prefix, actions in r.object_access.items()]
            # Without ListBucket a missing key answers 403, not 404 (HEAD of a file deleted since its
            # event); it also lists a run's parts under work/.
            found.append(
                iam.PolicyStatement(sid="ListSalesFiles", actions=["s3:ListBucket"], resources=[r.bucket.bucket_arn])
            )
            found.append(iam.PolicyStatement(sid="SendToQueue", actions=SEND, resources=[consumed.queue.queue_arn]))
    elif function.kind == "stream":
        found += _stream_statements(function, r)
    elif function.kind == "schedule":
        assert r.job_failures is not None
        # Lambda sends a failed run's description to the on-failure queue as the function.
        failures = r.job_failures.queue_arn
        found.append(iam.PolicyStatement(sid="SendJobFailures", actions=["sqs:SendMessage"], resources=[failures]))
    return found


def simulation_statements(bucket: s3.IBucket) -> list[iam.PolicyStatement]:
    """What a simulation step touches: it reads the export's files, reads and writes its run's files,
    and lists a run's parts and reports."""
    return [
        _objects(bucket, prefixes.SIMULATION_EXPORTS, ["s3:GetObject"]),
        _objects(bucket, prefixes.SIMULATION_RUNS, ["s3:GetObject", "s3:PutObject"]),
        iam.PolicyStatement(
            sid="ListSimulationRuns",
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefixes.SIMULATION_RUNS}*"]}},
        ),
    ]


def _stream_statements(function: Function, r: Resources) -> list[iam.PolicyStatement]:
    assert r.stream_arn is not None
    return [
        # What Lambda's poller calls with the function's role for a mapping that names the
        # stream. Not dynamodb:ListStreams: IAM evaluates it on '*' only (no resource-level
        # permission), so granting it on the stream would grant nothing, and the mapping does
        # not list streams.
        iam.PolicyStatement(
            sid="ReadTableStream",
            actions=["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
            resources=[r.stream_arn],
        ),
        # Lambda sends a skipped batch's description to the on-failure queue as the function.
        iam.PolicyStatement(
            sid="SendStreamFailures",
            actions=["sqs:SendMessage"],
            resources=[r.stream_failures[function.logical_id].queue_arn],
        ),
    ]


def _objects(bucket: s3.IBucket, prefix: str, actions: list[str]) -> iam.PolicyStatement:
    sid = _objects_sid(prefix)
    return iam.PolicyStatement(sid=sid, actions=actions, resources=[bucket.arn_for_objects(f"{prefix}*")])


def object_prefixes(found: list[iam.PolicyStatement]) -> list[str]:
    """The bucket prefixes these statements grant (for the cdk-nag acknowledgement of each)."""
    return [
        prefix
        for prefix in (
            prefixes.INCOMING,
            prefixes.WORK,
            prefixes.REPORTS,
            prefixes.REJECTS,
            prefixes.AUDIENCE_EXPORTS,
            prefixes.SIMULATION_EXPORTS,
            prefixes.SIMULATION_RUNS,
        )
        if any(s.sid == _objects_sid(prefix) for s in found)
    ]


def _objects_sid(prefix: str) -> str:
    """`exports/audiences/` -> ObjectsExportsAudiences (a statement id is alphanumeric)."""
    return "Objects" + "".join(part.capitalize() for part in prefix.split("/") if part)
