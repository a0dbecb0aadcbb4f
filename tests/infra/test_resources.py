"""The data and messaging resources: table (from the repository's own definition), bucket, queues,
secret, bus, alarm topic."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match, Template

from chalicelib.store.schema import table_definition
from tests.infra.cfn import alarms_on, getatt, of_type, statements
from tests.infra.conftest import Stack


def _normalized(definition: dict[str, Any]) -> dict[str, Any]:
    def index(i: dict[str, Any]) -> tuple:
        projection = i.get("Projection", {})
        return (
            i["IndexName"],
            tuple((k["AttributeName"], k["KeyType"]) for k in i["KeySchema"]),
            projection.get("ProjectionType"),
            tuple(sorted(projection.get("NonKeyAttributes", []))),
        )

    return {
        "attributes": sorted((a["AttributeName"], a["AttributeType"]) for a in definition["AttributeDefinitions"]),
        "keys": [(k["AttributeName"], k["KeyType"]) for k in definition["KeySchema"]],
        "lsi": sorted(index(i) for i in definition.get("LocalSecondaryIndexes", [])),
        "gsi": sorted(index(i) for i in definition.get("GlobalSecondaryIndexes", [])),
    }


def test_the_table_has_the_repositorys_keys_and_indexes(stack: Stack) -> None:
    (table,) = of_type(stack.template, "AWS::DynamoDB::Table").values()
    assert _normalized(table["Properties"]) == _normalized(table_definition("any"))


def test_the_table_streams_new_and_old_images_as_the_repositorys_definition_asks(stack: Stack) -> None:
    (table,) = of_type(stack.template, "AWS::DynamoDB::Table").values()
    assert table_definition("any")["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert table["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_the_table_is_on_demand_recoverable_and_expires_items(stack: Stack) -> None:
    prod = stack.stage == "prod"
    Template.from_json(stack.template).has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": Match.object_like(
                {
                    "BillingMode": "PAY_PER_REQUEST",
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                    "DeletionProtectionEnabled": prod,
                }
            ),
            "DeletionPolicy": "Retain" if prod else "Delete",
        },
    )


def test_buckets_are_encrypted_private_and_tls_only(stack: Stack) -> None:
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]
        for p in of_type(stack.template, "AWS::S3::BucketPolicy").values()
    }
    buckets = of_type(stack.template, "AWS::S3::Bucket")
    assert len(buckets) == 2  # the sales files and their access logs
    for name, bucket in buckets.items():
        properties = bucket["Properties"]
        (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert "AccessControl" not in properties
        assert properties["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        denies_plain_http = [
            s
            for s in statements(policies[name])
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denies_plain_http, f"{name} accepts plain HTTP"
        assert not [s for s in statements(policies[name]) if s["Effect"] == "Allow" and s["Principal"] == "*"]


def test_the_sales_file_bucket_keeps_reports_and_rejects_for_a_stage_set_time(stack: Stack) -> None:
    bucket = next(b for n, b in of_type(stack.template, "AWS::S3::Bucket").items() if n.startswith("SalesFiles"))
    rules = {r.get("Prefix"): r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["reports/"]["ExpirationInDays"] > rules["rejects/"]["ExpirationInDays"] > 0
    assert 0 < rules["exports/audiences/"]["ExpirationInDays"] <= 31  # member ids: not kept for months
    assert bucket["Properties"]["LoggingConfiguration"]["DestinationBucketName"]["Ref"].startswith("AccessLogs")


def on_failure_queues(template: dict[str, Any]) -> set[str]:
    """The queues that event source mappings (table-stream consumers) send skipped batches to, and
    that asynchronous invocations (scheduled jobs) send failed runs to."""
    functions = of_type(template, "AWS::Serverless::Function").values()
    mappings = {
        event["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
        for fn in functions
        for event in fn["Properties"].get("Events", {}).values()
        if "DestinationConfig" in event["Properties"]
    }
    invocations = {
        fn["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
        for fn in functions
        if "DestinationConfig" in fn["Properties"].get("EventInvokeConfig", {})
    }
    return mappings | invocations


def test_every_queue_has_a_dead_letter_queue_and_every_dead_letter_queue_an_alarm(stack: Stack) -> None:
    queues = of_type(stack.template, "AWS::SQS::Queue")
    dead_letter_queues = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in queues.values()
        if "RedrivePolicy" in q["Properties"]
    } | on_failure_queues(stack.template)
    for name, queue in queues.items():
        if name in dead_letter_queues:
            continue
        redrive = queue["Properties"].get("RedrivePolicy")
        assert redrive, f"{stack.id}: queue {name} has no dead-letter queue"
        assert 1 <= redrive["maxReceiveCount"] <= 5
    for dlq in dead_letter_queues:
        # A metric of its own, or in a math expression (a DLQ with a consumer: visible + in flight).
        found = alarms_on(
            stack.template, "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": getatt(dlq, "QueueName")}
        )
        assert any(a["Threshold"] == 1 for a in found), f"{stack.id}: nothing alarms on messages in {dlq}"
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True


def test_the_signing_secret_is_generated_never_written(stack: Stack) -> None:
    (secret,) = of_type(stack.template, "AWS::SecretsManager::Secret").values()
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32
    assert "SecretString" not in secret["Properties"]


def test_alarms_go_to_an_encrypted_topic(stack: Stack) -> None:
    ((_, topic),) = of_type(stack.template, "AWS::SNS::Topic").items()
    key = topic["Properties"]["KmsMasterKeyId"]
    ((key_name, kms_key),) = of_type(stack.template, "AWS::KMS::Key").items()
    assert key == getatt(key_name)
    assert kms_key["Properties"]["EnableKeyRotation"] is True
    grants = [
        s
        for s in statements(kms_key["Properties"]["KeyPolicy"])
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert grants, "CloudWatch cannot publish alarms to a topic whose key it may not use"


def test_the_event_bus_is_named_per_stage_and_archived(stack: Stack) -> None:
    ((bus_name, bus),) = of_type(stack.template, "AWS::Events::EventBus").items()
    assert bus["Properties"]["Name"] == f"loyalty-{stack.stage}"
    (archive,) = of_type(stack.template, "AWS::Events::Archive").values()
    assert archive["Properties"]["SourceArn"] == getatt(bus_name)


def test_contributor_insights_are_on_for_the_table_and_every_global_index(stack: Stack) -> None:
    """The throttle alarms' first response is 'which partition is hot': Contributor Insights must
    already be collecting when the alarm fires (local indexes share the table's)."""
    (table,) = of_type(stack.template, "AWS::DynamoDB::Table").values()
    properties = table["Properties"]
    assert properties["ContributorInsightsSpecification"]["Enabled"] is True
    for index in properties["GlobalSecondaryIndexes"]:
        assert index["ContributorInsightsSpecification"]["Enabled"] is True, index["IndexName"]


def test_the_ledger_index_projects_only_what_the_history_page_shows(stack: Stack) -> None:
    """A local index cannot be changed once the table exists: its projection is decided before the
    first deploy. ALL copied every entry's stored response into the index (half an earn's write units)."""
    (table,) = of_type(stack.template, "AWS::DynamoDB::Table").values()
    (index,) = table["Properties"]["LocalSecondaryIndexes"]
    assert index["IndexName"] == "by_time"
    projection = index["Projection"]
    assert projection["ProjectionType"] == "INCLUDE"
    assert {"entry_id", "kind", "points", "occurred_at", "balances_after"} <= set(projection["NonKeyAttributes"])
    assert not {"response", "fingerprint", "member_id"} & set(projection["NonKeyAttributes"])
