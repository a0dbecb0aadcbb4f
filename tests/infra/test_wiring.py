"""The Chalice app's handlers are wired to this stack's resources: every `@app.schedule` has its
rule, every `@app.on_sqs_message` reads this stack's queue (partial batch failures on), every
`@app.on_dynamodb_record` reads this stack's table stream (failing batches bisected, retried a bounded
number of times, then described on an on-failure queue), the bucket notifies the ingest queue, and
every function runs with the stack's settings.

Expectations come from the app objects (tests/infra/synth.py: app_inventory), so handlers added to
app.py later are covered without touching these tests; the fixture app has one of each kind.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.store.stream_filter import PARTIAL_BATCH_HANDLERS
from tests.infra.cfn import alarms_on, as_list, getatt, identity_policies, logical_id, of_type, ref
from tests.infra.conftest import Stack

INGEST_QUEUE = "loyalty-ingest"


def function(stack: Stack, handler: str) -> dict:
    resource = stack.template["Resources"].get(logical_id(handler))
    assert resource is not None, f"{stack.id}: no function {logical_id(handler)} for handler {handler!r}"
    assert resource["Type"] == "AWS::Serverless::Function"
    return resource["Properties"]


def queue_named(stack: Stack, name: str) -> str:
    found = [
        n for n, q in of_type(stack.template, "AWS::SQS::Queue").items() if q["Properties"].get("QueueName") == name
    ]
    assert len(found) == 1, f"{stack.id}: queue {name} missing"
    return found[0]


def test_the_fixture_app_exercises_every_kind_of_handler(stacks: list[Stack]) -> None:
    fixture = next(s for s in stacks if s.app == "fixture")
    inventory = fixture.inventory
    assert len(inventory["schedules"]) >= 2 and len(inventory["sqs_consumers"]) >= 2
    assert inventory["stream_consumers"] and not inventory["other_event_sources"]
    assert inventory["lambda_functions"] and inventory["authorizers"] and inventory["routes"]


def test_every_schedule_has_its_schedule_event(stack: Stack) -> None:
    for schedule in stack.inventory["schedules"]:
        events = function(stack, schedule["name"]).get("Events", {})
        kinds = [(e["Type"], e["Properties"].get("Schedule")) for e in events.values()]
        assert ("Schedule", schedule["expression"]) in kinds, f"{stack.id}: {schedule['name']} is never scheduled"


@pytest.mark.slow
def test_every_schedule_becomes_an_enabled_rule_that_may_invoke_its_function(
    stacks: list[Stack], expanded: dict[str, Path]
) -> None:
    for stack in stacks:
        template = json.loads(expanded[stack.id].read_text())
        rules = of_type(template, "AWS::Events::Rule")
        permissions = [p["Properties"] for p in of_type(template, "AWS::Lambda::Permission").values()]
        for schedule in stack.inventory["schedules"]:
            target = getatt(logical_id(schedule["name"]))
            matching = [
                name
                for name, rule in rules.items()
                if rule["Properties"]["ScheduleExpression"] == schedule["expression"]
                and rule["Properties"].get("State", "ENABLED") == "ENABLED"
                and any(t["Arn"] == target for t in rule["Properties"]["Targets"])
            ]
            assert len(matching) == 1, f"{stack.id}: no rule runs {schedule['name']}"
            assert any(
                p["Principal"] == "events.amazonaws.com" and p["SourceArn"] == getatt(matching[0]) for p in permissions
            ), f"{stack.id}: EventBridge may not invoke {schedule['name']}"


def test_every_sqs_consumer_reads_this_stacks_queue_with_partial_batch_failures(stack: Stack) -> None:
    for consumer in stack.inventory["sqs_consumers"]:
        properties = function(stack, consumer["name"])
        event = properties["Events"][f"{logical_id(consumer['name'])}SqsEventSource"]["Properties"]
        # `<queue>-dlq` in the app is that queue's DLQ, named `<queue>-<stage>-dlq` in the stack.
        name = consumer["queue"]
        dlq = name.endswith("-dlq")
        queue = queue_named(stack, f"{name.removesuffix('-dlq')}-{stack.stage}{'-dlq' if dlq else ''}")
        assert event["Queue"] == getatt(queue), f"{stack.id}: {consumer['name']} reads {event['Queue']}"
        assert "ReportBatchItemFailures" in event.get("FunctionResponseTypes", [])
        # Lambda refuses a mapping whose queue hides messages for less than the function may run.
        visibility = stack.template["Resources"][queue]["Properties"]["VisibilityTimeout"]
        assert visibility >= 6 * properties["Timeout"]


def stream_event(stack: Stack, handler: str) -> dict:
    return function(stack, handler)["Events"][f"{logical_id(handler)}DynamodbEventSource"]["Properties"]


def test_the_project_app_consumes_the_table_stream(stacks: list[Stack]) -> None:
    project = next(s for s in stacks if s.app == "project")
    assert "kpi_rollup" in [c["name"] for c in project.inventory["stream_consumers"]]


def test_every_stream_consumer_reads_this_stacks_table_stream_not_the_placeholder(stack: Stack) -> None:
    (table,) = of_type(stack.template, "AWS::DynamoDB::Table")
    template = json.dumps(stack.template)
    for consumer in stack.inventory["stream_consumers"]:
        event = stream_event(stack, consumer["name"])
        assert event["Stream"] == getatt(table, "StreamArn"), f"{stack.id}: {consumer['name']} reads {event['Stream']}"
        assert consumer["stream_arn"] not in template, f"{stack.id}: the placeholder ARN is still deployed"


def test_every_stream_consumer_retries_a_bounded_number_of_times_then_skips_to_an_encrypted_queue(
    stack: Stack,
) -> None:
    queues = of_type(stack.template, "AWS::SQS::Queue")
    destinations = []
    for consumer in stack.inventory["stream_consumers"]:
        event = stream_event(stack, consumer["name"])
        assert event["BisectBatchOnFunctionError"] is True
        assert 1 <= event["MaximumRetryAttempts"] <= 10
        # Skipped while the stream (24 h) still holds the records, so they can be read again.
        assert 60 <= event["MaximumRecordAgeInSeconds"] <= 12 * 3600
        assert event["ParallelizationFactor"] == 1
        # The roll-up raises on a failure; the outbox answers its first failed record instead.
        partial = consumer["name"] in PARTIAL_BATCH_HANDLERS
        assert event.get("FunctionResponseTypes", []) == (["ReportBatchItemFailures"] if partial else [])
        destination = event["DestinationConfig"]["OnFailure"]
        assert "Type" not in destination  # SAM's `Type` only adds policies to roles SAM makes
        queue = destination["Destination"]["Fn::GetAtt"][0]
        assert destination["Destination"] == getatt(queue) and queue in queues
        properties = queues[queue]["Properties"]
        assert properties["SqsManagedSseEnabled"] is True
        assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600
        assert properties["QueueName"] == f"loyalty-{consumer['name'].replace('_', '-')}-{stack.stage}-dlq"
        destinations.append(queue)
    assert len(set(destinations)) == len(destinations), "one on-failure queue per consumer"


def test_the_app_role_reads_the_table_stream_and_sends_to_the_on_failure_queues_only(stack: Stack) -> None:
    if not stack.inventory["stream_consumers"]:
        pytest.skip("the app reads no table stream")
    (table,) = of_type(stack.template, "AWS::DynamoDB::Table")
    stream = getatt(table, "StreamArn")
    destinations = [
        stream_event(stack, c["name"])["DestinationConfig"]["OnFailure"]["Destination"]
        for c in stack.inventory["stream_consumers"]
    ]
    granted: dict[str, list] = {}
    for _, statement in identity_policies(stack.template):
        for action in as_list(statement["Action"]):
            granted.setdefault(action, []).extend(as_list(statement["Resource"]))
    for action in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"):
        # Once per stream consumer's role, on the stream only.
        assert granted.get(action) == [stream] * len(destinations), f"{stack.id}: {action} on {granted.get(action)}"
    for destination in destinations:
        assert destination in granted["sqs:SendMessage"], f"{stack.id}: Lambda may not send to {destination}"


def test_the_bucket_notifies_the_ingest_queue_of_new_sales_files(stack: Stack) -> None:
    ingest = queue_named(stack, f"{INGEST_QUEUE}-{stack.stage}")
    (notification,) = of_type(stack.template, "Custom::S3BucketNotifications").values()
    (rule,) = notification["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert rule["QueueArn"] == getatt(ingest)
    assert rule["Events"] == ["s3:ObjectCreated:*"]
    assert rule["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "incoming/"}]
    bucket = notification["Properties"]["BucketName"]
    (policy,) = [
        p["Properties"]
        for p in of_type(stack.template, "AWS::SQS::QueuePolicy").values()
        if ref(ingest) in p["Properties"]["Queues"]
    ]
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert any(
        s["Principal"] == {"Service": "s3.amazonaws.com"}
        and "sqs:SendMessage" in s["Action"]
        and s["Condition"]["ArnLike"]["aws:SourceArn"] == getatt(bucket["Ref"])
        for s in allows
    )


def test_every_function_gets_the_stacks_resources_and_the_secret_by_arn(stack: Stack) -> None:
    resources = stack.template["Resources"]
    (secret,) = of_type(stack.template, "AWS::SecretsManager::Secret")
    (table,) = of_type(stack.template, "AWS::DynamoDB::Table")
    (bus,) = of_type(stack.template, "AWS::Events::EventBus")
    bucket = next(n for n in of_type(stack.template, "AWS::S3::Bucket") if n.startswith("SalesFiles"))
    for name, fn in of_type(stack.template, "AWS::Serverless::Function").items():
        env = fn["Properties"]["Environment"]["Variables"]
        assert env["STAGE"] == stack.stage
        assert env["TABLE_NAME"] == ref(table)
        assert env["BUCKET_NAME"] == ref(bucket)
        assert env["EVENT_BUS_NAME"] == ref(bus)
        assert env["INGEST_QUEUE_NAME"] == getatt(queue_named(stack, f"{INGEST_QUEUE}-{stack.stage}"), "QueueName")
        assert env["SIGNING_SECRET_ARN"] == ref(secret)  # Ref of a secret is its ARN
        assert "SIGNING_SECRET" not in env, f"{name}: the secret's value must not sit in the function's config"
        assert env["POWERTOOLS_SERVICE_NAME"] == "loyalty" and env["POWERTOOLS_METRICS_NAMESPACE"] == "Loyalty"
        role = fn["Properties"]["Role"]
        assert role == getatt(role["Fn::GetAtt"][0]) and resources[role["Fn::GetAtt"][0]]["Type"] == "AWS::IAM::Role"


def test_every_function_logs_to_its_own_log_group_with_a_retention(stack: Stack) -> None:
    resources = stack.template["Resources"]
    seen = set()
    for name, fn in of_type(stack.template, "AWS::Serverless::Function").items():
        group = fn["Properties"]["LoggingConfig"]["LogGroup"]
        assert set(group) == {"Ref"}, f"{name} logs to {group}, not to a log group of this stack"
        assert resources[group["Ref"]]["Type"] == "AWS::Logs::LogGroup"
        assert resources[group["Ref"]]["Properties"]["RetentionInDays"] > 0
        assert group["Ref"] not in seen
        seen.add(group["Ref"])
        assert fn["Properties"]["Tracing"] == "Active"


def test_every_route_authorizer_is_a_custom_authorizer_in_the_deployed_api(stack: Stack) -> None:
    """Chalice names a route's security scheme after its authorizer function, and `api_key` is also
    the scheme of `api_key_required=True`: an authorizer called `api_key` is silently replaced by an
    API Gateway API-key check (every call with a bearer token then gets 403 on AWS, never locally)."""
    api = stack.template["Resources"].get("RestAPI")
    if api is None:
        pytest.skip("the app has no routes")
    schemes = api["Properties"]["DefinitionBody"].get("securityDefinitions", {})
    used = {m["authorizer"] for methods in stack.inventory["routes"].values() for m in methods.values()} - {None}
    for name in used:
        scheme = schemes.get(name, {})
        assert scheme.get("x-amazon-apigateway-authtype") == "custom", (
            f"{stack.id}: routes use authorizer {name!r}, but the API's scheme {name!r} is {scheme}; "
            "rename the authorizer function (the name `api_key` is taken by Chalice)"
        )
        uri = json.dumps(scheme["x-amazon-apigateway-authorizer"]["authorizerUri"])
        assert logical_id(name) in uri


def test_the_api_is_named_per_stage_and_throttled(stack: Stack) -> None:
    api = stack.template["Resources"].get("RestAPI")
    if api is None:
        pytest.skip("the app has no routes")
    properties = api["Properties"]
    assert properties["Name"] == properties["DefinitionBody"]["info"]["title"] == f"loyalty-{stack.stage}"
    (settings,) = properties["MethodSettings"]
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] >= settings["ThrottlingRateLimit"]


REVOCATION_BOUND_S = 300  # a revoked key stops working on AWS within 5 minutes


def test_every_authorizer_caches_its_answer_for_an_explicit_ttl_within_the_revocation_bound(stack: Stack) -> None:
    """API Gateway reuses an authorizer's answer for a token for the TTL (300 s when unset, so a
    default that moves would move the bound). Whatever the function caches in-process
    (AUTH_CACHE_SECONDS) adds to it."""
    api = stack.template["Resources"].get("RestAPI")
    if api is None:
        pytest.skip("the app has no routes")
    schemes = api["Properties"]["DefinitionBody"]["securityDefinitions"]
    custom = {n: s for n, s in schemes.items() if s.get("x-amazon-apigateway-authtype") == "custom"}
    assert custom and set(custom) == set(stack.inventory["authorizers"])
    in_process = max(
        int(fn["Properties"]["Environment"]["Variables"].get("AUTH_CACHE_SECONDS", 0))
        for fn in of_type(stack.template, "AWS::Serverless::Function").values()
    )
    for name, scheme in custom.items():
        ttl = scheme["x-amazon-apigateway-authorizer"].get("authorizerResultTtlInSeconds")
        assert isinstance(ttl, int), f"{stack.id}: authorizer {name} has no explicit cache TTL"
        assert ttl > 0 and ttl + in_process <= REVOCATION_BOUND_S, f"{stack.id}: {name} caches {ttl} + {in_process} s"


def schedule_invoke_config(stack: Stack, handler: str) -> dict:
    config = function(stack, handler).get("EventInvokeConfig")
    assert config is not None, f"{stack.id}: {handler} keeps Lambda's asynchronous defaults (two retries, 6 h)"
    return config


def test_scheduled_jobs_are_never_retried_so_a_run_cannot_overlap_the_next(stack: Stack) -> None:
    """EventBridge invokes a job asynchronously: Lambda's default retries a failed or timed-out run
    (up to twice) while the next scheduled run starts. A job's next run continues its work anyway."""
    assert stack.inventory["schedules"]
    for schedule in stack.inventory["schedules"]:
        config = schedule_invoke_config(stack, schedule["name"])
        assert config["MaximumRetryAttempts"] == 0, f"{stack.id}: {schedule['name']}"
        # An event delayed (throttling) past this age is dropped to the failure queue rather than
        # started so late that it would still run when the next hourly run starts.
        timeout = function(stack, schedule["name"])["Timeout"]
        assert 60 <= config["MaximumEventAgeInSeconds"] <= 3600 - timeout, f"{stack.id}: {schedule['name']}"


def test_a_failed_job_run_is_described_on_an_encrypted_queue_that_is_alarmed(stack: Stack) -> None:
    queues = of_type(stack.template, "AWS::SQS::Queue")
    granted = [
        resource
        for _, statement in identity_policies(stack.template)
        if "sqs:SendMessage" in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]
    for schedule in stack.inventory["schedules"]:
        destination = schedule_invoke_config(stack, schedule["name"])["DestinationConfig"]["OnFailure"]
        assert destination["Type"] == "SQS"  # required by SAM; it adds policies to roles SAM makes only
        queue = destination["Destination"]["Fn::GetAtt"][0]
        assert destination["Destination"] == getatt(queue) and queue in queues
        properties = queues[queue]["Properties"]
        assert properties["SqsManagedSseEnabled"] is True
        assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600
        assert properties["QueueName"] == f"loyalty-jobs-{stack.stage}-dlq"
        # Lambda sends the failure record with the function's own role.
        assert getatt(queue) in granted, f"{stack.id}: {schedule['name']} may not send to {queue}"
        (alarm,) = alarms_on(
            stack.template, "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": getatt(queue, "QueueName")}
        )
        assert alarm["Threshold"] == 1 and alarm["Statistic"] == "Maximum"
        assert alarm["AlarmName"] == f"loyalty-{stack.stage}-jobs-FailedRuns"


@pytest.mark.slow
def test_the_expanded_templates_configure_every_jobs_asynchronous_invocations(
    stacks: list[Stack], expanded: dict[str, Path]
) -> None:
    """What CloudFormation gets from SAM: one EventInvokeConfig per job on $LATEST, no retries."""
    for stack in stacks:
        template = json.loads(expanded[stack.id].read_text())
        configs = {
            c["Properties"]["FunctionName"]["Ref"]: c["Properties"]
            for c in of_type(template, "AWS::Lambda::EventInvokeConfig").values()
        }
        for schedule in stack.inventory["schedules"]:
            config = configs.get(logical_id(schedule["name"]))
            assert config is not None, f"{stack.id}: no EventInvokeConfig for {schedule['name']}"
            assert config["Qualifier"] == "$LATEST" and config["MaximumRetryAttempts"] == 0
            assert "Fn::GetAtt" in config["DestinationConfig"]["OnFailure"]["Destination"]


def test_every_stream_consumer_gets_only_the_records_its_filter_in_chalicelib_names(stack: Stack) -> None:
    """Lambda drops the other records before invoking (and bills none of them): the KPI roll-up is
    no longer invoked for lots, pending lots, counters, or its own KPI rows and markers. The patterns
    come from chalicelib/store/stream_filter.py, which the local stream pump and the tests share."""
    from chalicelib.store.stream_filter import PATTERNS_BY_HANDLER

    for consumer in stack.inventory["stream_consumers"]:
        event = stream_event(stack, consumer["name"])
        patterns = PATTERNS_BY_HANDLER.get(consumer["name"])
        if patterns is None:
            assert "FilterCriteria" not in event, f"{stack.id}: {consumer['name']}"
            continue
        found = [json.loads(f["Pattern"]) for f in event["FilterCriteria"]["Filters"]]
        assert found == list(patterns), f"{stack.id}: {consumer['name']} filters {found}"
    if stack.app == "project":
        assert "kpi_rollup" in PATTERNS_BY_HANDLER


def test_stream_consumers_time_out_long_before_the_workers_15_minutes(stack: Stack) -> None:
    """A batch is at most 500 records (a few seconds of DynamoDB work, ~2.5 s measured locally, up
    to ~1 min of conflict backoff); a stuck batch must fail and be split and retried soon, not hold
    its shard for 15 minutes per attempt."""
    for consumer in stack.inventory["stream_consumers"]:
        assert 30 <= function(stack, consumer["name"])["Timeout"] <= 180, f"{stack.id}: {consumer['name']}"
