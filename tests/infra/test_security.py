"""Least privilege: identity policies name their resources; the only bare `*` are where AWS offers
no resource-level permission, each with its reason here."""

from __future__ import annotations

import pytest

from tests.infra.cfn import as_list, identity_policies, of_type
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


def test_the_app_role_is_the_only_role_of_the_app_functions_and_has_no_managed_policy(stack: Stack) -> None:
    roles = {
        fn["Properties"]["Role"]["Fn::GetAtt"][0]
        for fn in of_type(stack.template, "AWS::Serverless::Function").values()
    }
    (role,) = roles
    properties = stack.template["Resources"][role]["Properties"]
    assert "ManagedPolicyArns" not in properties
    assert properties["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]


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
