"""Least privilege: identity policies name their resources; the only bare `*` are where AWS offers
no resource-level permission, each with its reason here."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.cfn import as_list, getatt, identity_policies, logical_id, of_type, statements
from tests.infra.conftest import Stack

# Actions that AWS only grants on "*", and why they are needed.
WILDCARD_ONLY = {
    frozenset(
        {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    ): "X-Ray has no resource-level permissions; the functions send traces (Tracing: Active).",
    frozenset(
        {"s3:PutBucketNotification"}
    ): "CDK's BucketNotificationsHandler (deploy time only) sets the bucket's notification; CDK writes "
    "this statement and the S3 action has no resource-level variant it uses.",
    frozenset(
        {"cloudwatch:ListMetrics", "cloudwatch:GetMetricData"}
    ): "The store-watch function reads the stores' file metrics; CloudWatch has no resource-level "
    "permissions for reading metrics.",
    frozenset(
        {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}
    ): "The simulator's state machine traces to X-Ray, which has no resource-level permissions.",
    frozenset(
        {
            "logs:CreateLogDelivery",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups",
        }
    ): "The simulator's state machine delivers its logs: CloudWatch Logs' vended-log delivery takes '*' only.",
    frozenset(
        {"cloudwatch:PutMetricData"}
    ): "The store-watch function puts the hours since each store's last file; PutMetricData has no "
    "resource-level permission (a condition holds it to the app's namespace: tested below).",
}


def test_identity_policies_name_their_resources(stack: Stack) -> None:
    for owner, statement in identity_policies(stack.template):
        if statement["Effect"] != "Allow":
            continue
        resources = as_list(statement.get("Resource", []))
        assert resources, f"{owner}: a statement without resources"
        if "*" in resources:
            actions = frozenset(as_list(statement["Action"]))
            assert actions in WILDCARD_ONLY, f"{owner}: {sorted(actions)} on '*'"
        for action in as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), f"{owner}: grants {action}"


def role_of(properties: dict[str, Any]) -> str:
    role = properties["Role"]
    assert set(role) == {"Fn::GetAtt"} and role["Fn::GetAtt"][1] == "Arn", role
    return str(role["Fn::GetAtt"][0])


def test_every_function_has_a_role_of_its_own_without_managed_policies(stack: Stack) -> None:
    functions = of_type(stack.template, "AWS::Serverless::Function")
    roles = {name: role_of(fn["Properties"]) for name, fn in functions.items()}
    assert len(set(roles.values())) == len(roles), f"{stack.id}: functions share a role: {roles}"
    for name, role in roles.items():
        properties = stack.template["Resources"][role]["Properties"]
        assert "ManagedPolicyArns" not in properties, name
        assert properties["AssumeRolePolicyDocument"]["Statement"] == [
            {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
        ]
        # No role is attached to anything else (a policy another construct adds to it).
        others = [
            n
            for n, r in stack.template["Resources"].items()
            if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"].get("Roles", [])
        ]
        assert not others, f"{stack.id}: {others} add to {name}'s role"


def referenced(value: Any) -> set[str]:
    """The logical ids a template value references (Ref, Fn::GetAtt), however nested."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return {value["Ref"]}
        if set(value) == {"Fn::GetAtt"}:
            return {value["Fn::GetAtt"][0]}
        return set().union(*(referenced(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(referenced(v) for v in value)) if value else set()
    return set()


def kinds(stack: Stack) -> dict[str, str]:
    """Function logical id -> its kind, from the app's own declarations."""
    inventory = stack.inventory
    found = {logical_id(name): "authorizer" for name in inventory["authorizers"]}
    found |= {logical_id(s["name"]): "schedule" for s in inventory["schedules"]}
    found |= {logical_id(c["name"]): "sqs" for c in inventory["sqs_consumers"]}
    found |= {logical_id(c["name"]): "stream" for c in inventory["stream_consumers"]}
    found |= {logical_id(name): "lambda" for name in inventory["lambda_functions"]}
    if inventory["routes"]:
        found["APIHandler"] = "api"
    return found


# What each kind of function may reach besides its own log group, the signing secret, the table, and
# the queues its own configuration names (the queue it reads, its on-failure destination).
MAY_REACH = {
    "api": {"bucket", "bus"},
    "authorizer": set(),
    "sqs": {"bucket", "bus"},
    "stream": {"bus"},  # the outbox's handler, the only publisher (tests/infra/test_outbox.py)
    "schedule": {"bus"},
    "lambda": {"bus"},
}


# The program simulator's step function reads a table export and writes its run's files: the bucket only.
MAY_REACH_BY_NAME = {"Simulate": {"bucket"}}


def test_every_functions_role_reaches_only_its_own_resources(stack: Stack) -> None:
    """For every function: its role's statements name only its own log group, the table (and its
    indexes and stream), the signing secret, the bucket and bus if its kind uses them, and the queues
    its own configuration names; `*` only where AWS has no resource-level permission."""
    resources = stack.template["Resources"]
    (table,) = of_type(stack.template, "AWS::DynamoDB::Table")
    (secret,) = of_type(stack.template, "AWS::SecretsManager::Secret")
    (bus,) = of_type(stack.template, "AWS::Events::EventBus")
    bucket = next(n for n in of_type(stack.template, "AWS::S3::Bucket") if n.startswith("SalesFiles"))
    queues = set(of_type(stack.template, "AWS::SQS::Queue"))
    by_kind = kinds(stack)
    for name, fn in of_type(stack.template, "AWS::Serverless::Function").items():
        kind = by_kind[name]
        properties = fn["Properties"]
        own = {table, secret, properties["LoggingConfig"]["LogGroup"]["Ref"]}
        reachable = {"bucket": bucket, "bus": bus}
        own |= {reachable[k] for k in MAY_REACH_BY_NAME.get(name, MAY_REACH[kind])}
        own |= referenced({k: v for k, v in properties.items() if k in ("Events", "EventInvokeConfig")}) & queues
        for document in resources[role_of(properties)]["Properties"]["Policies"]:
            for statement in statements(document["PolicyDocument"]):
                assert statement["Effect"] == "Allow"
                found = referenced(statement["Resource"])
                assert found <= own, f"{stack.id}: {name} ({kind}) may reach {sorted(found - own)}"
                if "*" in as_list(statement["Resource"]):
                    actions = frozenset(as_list(statement["Action"]))
                    assert actions in WILDCARD_ONLY, f"{stack.id}: {name}: {sorted(actions)} on '*'"


def granted(stack: Stack, function_name: str) -> dict[str, list[Any]]:
    """Action -> resources of one function's role."""
    properties = stack.template["Resources"][function_name]["Properties"]
    found: dict[str, list[Any]] = {}
    for document in stack.template["Resources"][role_of(properties)]["Properties"]["Policies"]:
        for statement in statements(document["PolicyDocument"]):
            for action in as_list(statement["Action"]):
                found.setdefault(action, []).extend(as_list(statement["Resource"]))
    return found


def test_the_authorizer_may_read_and_touch_the_api_key_items_only(stack: Stack) -> None:
    (table,) = of_type(stack.template, "AWS::DynamoDB::Table")
    for name in stack.inventory["authorizers"]:
        properties = stack.template["Resources"][logical_id(name)]["Properties"]
        (document,) = stack.template["Resources"][role_of(properties)]["Properties"]["Policies"]
        (items,) = [s for s in statements(document["PolicyDocument"]) if s.get("Sid") == "ApiKeyItems"]
        assert sorted(as_list(items["Action"])) == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
        assert as_list(items["Resource"]) == [getatt(table)]
        assert items["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["APIKEYS"]}}
        dynamo = {a for a in granted(stack, logical_id(name)) if a.startswith("dynamodb:")}
        assert dynamo == {"dynamodb:GetItem", "dynamodb:UpdateItem"}
        assert not any(a.startswith(("s3:", "sqs:", "events:")) for a in granted(stack, logical_id(name)))


def test_only_the_queue_consumers_touch_queues_they_read(stack: Stack) -> None:
    for consumer in stack.inventory["sqs_consumers"]:
        name = logical_id(consumer["name"])
        queue = stack.template["Resources"][name]["Properties"]["Events"][f"{name}SqsEventSource"]["Properties"]
        actions = granted(stack, name)
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"):
            assert actions[action] == [queue["Queue"]], f"{stack.id}: {name} {action} on {actions[action]}"
    if "APIHandler" in stack.template["Resources"]:
        assert not any(a.startswith("sqs:") for a in granted(stack, "APIHandler"))


def objects_under(stack: Stack, prefix: str) -> dict[str, Any]:
    bucket = next(n for n in of_type(stack.template, "AWS::S3::Bucket") if n.startswith("SalesFiles"))
    return {"Fn::Join": ["", [getatt(bucket), f"/{prefix}*"]]}


def test_the_api_may_only_put_under_incoming_and_audience_exports_in_the_bucket(stack: Stack) -> None:
    if "APIHandler" not in stack.template["Resources"]:
        pytest.skip("the app has no routes")
    s3 = {a: r for a, r in granted(stack, "APIHandler").items() if a.startswith("s3:")}
    exports = objects_under(stack, "exports/audiences/")
    assert s3 == {
        "s3:PutObject": [objects_under(stack, "incoming/"), exports],
        "s3:AbortMultipartUpload": [exports],
    }


def test_a_dead_letter_consumer_reads_its_queues_dlq_and_may_only_write_reports(stack: Stack) -> None:
    consumers = [c for c in stack.inventory["sqs_consumers"] if c["queue"].endswith("-dlq")]
    if not consumers:
        pytest.skip("the app consumes no DLQ")
    for consumer in consumers:
        name = logical_id(consumer["name"])
        event = stack.template["Resources"][name]["Properties"]["Events"][f"{name}SqsEventSource"]["Properties"]
        queue = event["Queue"]["Fn::GetAtt"][0]
        base = consumer["queue"].removesuffix("-dlq")
        assert stack.template["Resources"][queue]["Properties"]["QueueName"] == f"{base}-{stack.stage}-dlq"
        assert "ReportBatchItemFailures" in event["FunctionResponseTypes"]
        s3 = {a: r for a, r in granted(stack, name).items() if a.startswith("s3:")}
        assert s3 == {"s3:PutObject": [objects_under(stack, "reports/")]}
        assert granted(stack, name)["sqs:ReceiveMessage"] == [getatt(queue)]
        assert "sqs:SendMessage" not in granted(stack, name)


def test_the_app_may_read_the_signing_secret_and_nothing_else_in_secrets_manager(stack: Stack) -> None:
    (secret,) = of_type(stack.template, "AWS::SecretsManager::Secret")
    grants = [
        s
        for _, s in identity_policies(stack.template)
        if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))
    ]
    assert grants and all(as_list(s["Resource"]) == [{"Ref": secret}] for s in grants)
    assert all(as_list(s["Action"]) == ["secretsmanager:GetSecretValue"] for s in grants)


def test_no_function_or_queue_is_open_to_everyone(stack: Stack) -> None:
    for name, permission in of_type(stack.template, "AWS::Lambda::Permission").items():
        assert permission["Properties"]["Principal"] != "*", name
    for name, policy in of_type(stack.template, "AWS::SQS::QueuePolicy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow":
                assert statement["Principal"] != "*" and "Condition" in statement, name


def test_the_api_functions_role_may_put_sales_files_under_incoming_for_presigned_uploads(stack: Stack) -> None:
    """Stores upload through presigned PUT URLs that the API signs with its own credentials: S3
    checks the signer's permissions at upload time, so the API function's role needs PutObject on
    `incoming/*` (and on nothing else of the prefixes stores may reach)."""
    resources = stack.template["Resources"]
    if "APIHandler" not in resources:
        pytest.skip("the app has no routes")
    role = resources["APIHandler"]["Properties"]["Role"]["Fn::GetAtt"][0]
    bucket = next(n for n in of_type(stack.template, "AWS::S3::Bucket") if n.startswith("SalesFiles"))
    incoming = {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, "/incoming/*"]]}
    puts = [
        s
        for name, s in identity_policies(stack.template)
        if name == role and s["Effect"] == "Allow" and "s3:PutObject" in as_list(s["Action"])
    ]
    assert any(incoming in as_list(s["Resource"]) for s in puts), f"{stack.id}: the API may not put incoming/*"


def test_metric_data_may_be_put_in_the_apps_namespace_only(stack: Stack) -> None:
    puts = [s for _, s in identity_policies(stack.template) if "cloudwatch:PutMetricData" in as_list(s["Action"])]
    assert puts
    for statement in puts:
        assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Loyalty"}}


def test_the_simulator_step_reads_the_exports_and_writes_its_runs_only(stack: Stack) -> None:
    """S3 only: GetObject under simulations/exports/, Get/PutObject under simulations/runs/, a list of
    that prefix; no table, no secret, no bus."""
    if "Simulate" not in stack.template["Resources"]:
        pytest.skip("this app has no simulator")
    found = granted(stack, "Simulate")
    assert not any(action.startswith(("dynamodb:", "secretsmanager:", "events:", "sqs:")) for action in found)
    assert {a for a in found if a.startswith("s3:")} == {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}
    keys = json.dumps(found["s3:GetObject"]) + json.dumps(found["s3:PutObject"])
    assert "simulations/exports/*" in json.dumps(found["s3:GetObject"]) and "simulations/runs/*" in keys
    assert "simulations/exports/" not in json.dumps(found["s3:PutObject"])
