"""The resources the app uses, created idempotently on the local emulators.

The table goes to DynamoDB Local (AWS_ENDPOINT_URL_DYNAMODB); the bucket, the queues, the bus and
the S3 → SQS notification go to moto (AWS_ENDPOINT_URL). Names come from `chalicelib.config`, so
the app, the CLI and the tests agree on them. infra/ builds the same resources on AWS.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import config
from chalicelib.ingest.names import INCOMING
from chalicelib.store import aws
from chalicelib.store.schema import table_definition

# Never real credentials: the local endpoints accept any, and nothing here may reach AWS.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}
DEAD_LETTER_SUFFIX = "-dlq"
# As the Lambda event source would: a message that failed this often goes to the DLQ.
MAX_RECEIVE_COUNT = 3
# A failed message comes back after this long; short, so local retries are quick to see.
VISIBILITY_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class LocalResources:
    table_name: str
    bucket_name: str
    queue_name: str
    queue_url: str
    dead_letter_queue_name: str
    dead_letter_queue_url: str
    event_bus_name: str


def use_endpoints(aws_endpoint: str, dynamodb_endpoint: str) -> None:
    """Point every boto3 client of this process (and of its children) at the local emulators."""
    os.environ["AWS_ENDPOINT_URL"] = aws_endpoint
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_endpoint
    for name, value in FAKE_AWS_ENV.items():
        os.environ.setdefault(name, value)
    config.reset()
    aws.reset()


def create_resources(stream: bool = True) -> LocalResources:
    """Create what is missing; running it again changes nothing."""
    settings = config.settings()
    ensure_table(aws.client("dynamodb"), settings.table_name, stream=stream)
    sqs = aws.client("sqs")
    dead_letter_name = settings.ingest_queue_name + DEAD_LETTER_SUFFIX
    dead_letter_url, dead_letter_arn = ensure_queue(sqs, dead_letter_name, {})
    redrive = {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
    queue_attributes = {
        "RedrivePolicy": json.dumps(redrive),
        "VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS),
    }
    queue_url, queue_arn = ensure_queue(sqs, settings.ingest_queue_name, queue_attributes)
    s3 = aws.client("s3")
    ensure_bucket(s3, settings.bucket_name)
    ensure_queue_notification(s3, settings.bucket_name, queue_arn, INCOMING)
    ensure_event_bus(aws.client("events"), settings.event_bus_name)
    return LocalResources(
        table_name=settings.table_name,
        bucket_name=settings.bucket_name,
        queue_name=settings.ingest_queue_name,
        queue_url=queue_url,
        dead_letter_queue_name=dead_letter_name,
        dead_letter_queue_url=dead_letter_url,
        event_bus_name=settings.event_bus_name,
    )


def ensure_table(dynamodb: Any, table_name: str, stream: bool = True) -> None:
    """`stream=False` is for tests that do not read the stream: DynamoDB Local keeps every stream
    record of a session and slows down as they pile up."""
    definition = table_definition(table_name)
    if not stream:
        definition.pop("StreamSpecification")
    try:
        dynamodb.create_table(**definition)
    except dynamodb.exceptions.ResourceInUseException:
        # A table kept by `--data` from an older schema.
        _add_missing_indexes(dynamodb, definition)
        if stream:
            _add_missing_stream(dynamodb, definition)
    dynamodb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1})


def _add_missing_indexes(dynamodb: Any, definition: dict[str, Any]) -> None:
    table_name = definition["TableName"]
    table = dynamodb.describe_table(TableName=table_name)["Table"]
    existing = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
    for index in definition.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] in existing:
            continue
        # One index per UpdateTable, as DynamoDB requires.
        dynamodb.update_table(
            TableName=table_name,
            AttributeDefinitions=definition["AttributeDefinitions"],
            GlobalSecondaryIndexUpdates=[{"Create": index}],
        )
        dynamodb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1})


def _add_missing_stream(dynamodb: Any, definition: dict[str, Any]) -> None:
    table = dynamodb.describe_table(TableName=definition["TableName"])["Table"]
    if not table.get("StreamSpecification", {}).get("StreamEnabled"):
        dynamodb.update_table(TableName=definition["TableName"], StreamSpecification=definition["StreamSpecification"])
        dynamodb.get_waiter("table_exists").wait(TableName=definition["TableName"], WaiterConfig={"Delay": 1})


def ensure_queue(sqs: Any, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    """(url, arn); CreateQueue is idempotent while the attributes stay the same."""
    url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def ensure_bucket(s3: Any, name: str) -> None:
    region = s3.meta.region_name
    # us-east-1 is the one region that refuses an explicit LocationConstraint.
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    try:
        s3.create_bucket(Bucket=name, **location)
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def ensure_queue_notification(s3: Any, bucket: str, queue_arn: str, prefix: str) -> None:
    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    if any(item["QueueArn"] == queue_arn for item in current.get("QueueConfigurations", [])):
        return  # putting it again would queue another s3:TestEvent message
    rule = {
        "Id": "ingest-sales-files",
        "QueueArn": queue_arn,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
    }
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [rule]})


def ensure_event_bus(events: Any, name: str) -> None:
    with contextlib.suppress(events.exceptions.ResourceAlreadyExistsException):
        events.create_event_bus(Name=name)
