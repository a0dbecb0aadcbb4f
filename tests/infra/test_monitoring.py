"""Alarms (each to the SNS topic, each with a first response) and the dashboard."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest

from infra import metrics
from tests.infra.cfn import alarms, alarms_on, as_list, getatt, logical_id, of_type, ref
from tests.infra.conftest import Stack

SERVICE = {"service": "loyalty"}
ROOT = Path(__file__).resolve().parents[2]


def topic(stack: Stack) -> dict[str, str]:
    (name,) = of_type(stack.template, "AWS::SNS::Topic")
    return ref(name)


def test_every_alarm_notifies_the_topic_and_says_what_to_do(stack: Stack) -> None:
    found = alarms(stack.template)
    assert found
    for alarm in found:
        assert alarm["AlarmActions"] == [topic(stack)], alarm["AlarmName"]
        assert alarm["OKActions"] == [topic(stack)], alarm["AlarmName"]
        assert alarm["AlarmName"].startswith(f"loyalty-{stack.stage}-")
        assert "First response:" in alarm["AlarmDescription"], alarm["AlarmName"]


def test_every_function_has_error_and_throttle_alarms(stack: Stack) -> None:
    functions = of_type(stack.template, "AWS::Serverless::Function")
    assert functions
    for name in functions:
        for metric in ("Errors", "Throttles"):
            assert alarms_on(stack.template, "AWS/Lambda", metric, {"FunctionName": ref(name)}), (
                f"{stack.id}: no {metric} alarm for {name}"
            )


def test_api_5xx_rate_is_alarmed(stack: Stack) -> None:
    if "RestAPI" not in stack.template["Resources"]:
        pytest.skip("the app has no routes")
    api = {"ApiName": f"loyalty-{stack.stage}", "Stage": "api"}
    (alarm,) = alarms_on(stack.template, "AWS/ApiGateway", "5XXError", api)
    assert alarm in alarms_on(stack.template, "AWS/ApiGateway", "Count", api)
    expression = next(m["Expression"] for m in alarm["Metrics"] if "Expression" in m)
    assert "100 * errors / requests" in expression


def test_table_throttles_and_system_errors_are_alarmed_for_the_table_and_every_index(stack: Stack) -> None:
    (table,) = of_type(stack.template, "AWS::DynamoDB::Table")
    indexes = [i["IndexName"] for i in stack.template["Resources"][table]["Properties"]["GlobalSecondaryIndexes"]]
    extras: list[dict[str, str]] = [{}, *({"GlobalSecondaryIndexName": index} for index in indexes)]
    for extra in extras:
        dimensions = {"TableName": ref(table), **extra}
        for metric in ("ReadThrottleEvents", "WriteThrottleEvents"):
            assert alarms_on(stack.template, "AWS/DynamoDB", metric, dimensions), f"{metric} {dimensions}"
    errors = [
        a
        for a in alarms(stack.template)
        if any(
            m.get("MetricStat", {}).get("Metric", {}).get("MetricName") == "SystemErrors" for m in a.get("Metrics", [])
        )
    ]
    assert len(errors) == 1
    operations = {
        d["Value"]
        for m in errors[0]["Metrics"]
        if "MetricStat" in m
        for d in m["MetricStat"]["Metric"]["Dimensions"]
        if d["Name"] == "Operation"
    }
    assert {"TransactWriteItems", "Query", "GetItem", "UpdateItem", "PutItem"} <= operations


def test_ingestion_is_alarmed_on_failed_files_reject_ratio_and_lag(stack: Stack) -> None:
    (failed,) = alarms_on(stack.template, "Loyalty", metrics.FILES_FAILED, SERVICE)
    assert failed["Threshold"] == 1
    (ratio,) = alarms_on(stack.template, "Loyalty", metrics.ROWS_REJECTED, SERVICE)
    assert alarms_on(stack.template, "Loyalty", metrics.ROWS_APPLIED, SERVICE) == [ratio]
    for queue, properties in of_type(stack.template, "AWS::SQS::Queue").items():
        if "RedrivePolicy" in properties["Properties"]:  # a queue the app reads
            dimensions = {"QueueName": getatt(queue, "QueueName")}
            assert alarms_on(stack.template, "AWS/SQS", "ApproximateAgeOfOldestMessage", dimensions), queue


def test_every_stream_consumer_is_alarmed_on_lag_and_on_skipped_batches(stack: Stack) -> None:
    lag_limit = {"dev": 3600, "prod": 900}[stack.stage]
    for consumer in stack.inventory["stream_consumers"]:
        name = logical_id(consumer["name"])
        function = {"FunctionName": ref(name)}
        assert alarms_on(stack.template, "AWS/Lambda", "Errors", function)
        (lag,) = alarms_on(stack.template, "AWS/Lambda", "IteratorAge", function)
        assert lag["Statistic"] == "Maximum"
        assert lag["Threshold"] == lag_limit * 1000, "IteratorAge is in milliseconds"
        assert lag["ComparisonOperator"] == "GreaterThanThreshold"
        assert lag["AlarmName"] == f"loyalty-{stack.stage}-{name}-Lag"
        event = stack.template["Resources"][name]["Properties"]["Events"][f"{name}DynamodbEventSource"]
        queue = event["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
        (failed,) = alarms_on(
            stack.template, "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": getatt(queue, "QueueName")}
        )
        assert failed["Threshold"] == 1 and failed["Statistic"] == "Maximum"
        assert failed["AlarmName"] == f"loyalty-{stack.stage}-{name}-FailedBatches"
        assert "not the records" in failed["AlarmDescription"]


def test_failed_event_publication_is_alarmed(stack: Stack) -> None:
    (alarm,) = alarms_on(stack.template, "Loyalty", "EventsFailed", SERVICE)
    assert alarm["Threshold"] == 1


def test_every_scheduled_job_has_a_heartbeat_alarm_that_fires_when_it_goes_quiet(stack: Stack) -> None:
    for schedule in stack.inventory["schedules"]:
        job = schedule["name"].removeprefix("job_").replace("_", "-")
        (alarm,) = alarms_on(stack.template, "Loyalty", "JobHeartbeat", {**SERVICE, "job": job})
        assert alarm["TreatMissingData"] == "breaching"
        assert alarm["ComparisonOperator"] == "LessThanThreshold" and alarm["Threshold"] == 1
        window = alarm["Period"] * alarm["EvaluationPeriods"]
        assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]
        assert 24 * 3600 < window <= 26 * 3600, "missing for more than a day, with a little slack"
        assert logical_id(schedule["name"]) in alarm["AlarmDescription"]


def test_the_heartbeat_alarms_watch_the_job_names_the_jobs_report(stacks: list[Stack]) -> None:
    """The jobs emit JobHeartbeat with dimension `job` = their name in chalicelib (`tier-review`);
    the stack derives it from the schedule handler (`job_tier_review`). Both lists must agree, or
    an alarm waits for a heartbeat that never comes (or a job runs unwatched)."""
    jobs = pytest.importorskip("chalicelib.domain.jobs", reason="the app has no jobs module yet")
    project = next(s for s in stacks if s.app == "project")
    scheduled = {s["name"].removeprefix("job_").replace("_", "-") for s in project.inventory["schedules"]}
    assert scheduled == set(jobs.JOB_NAMES)


def test_the_dashboard_shows_what_ops_watch(stack: Stack) -> None:
    (dashboard,) = of_type(stack.template, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert dashboard["Properties"]["DashboardName"] == f"loyalty-{stack.stage}"
    wanted = [
        "PointsEarned",
        "PointsRedeemed",
        "PointsExpired",
        metrics.FILES_COMPLETED,
        metrics.FILES_FAILED,
        metrics.ROWS_APPLIED,
        metrics.ROWS_REJECTED,
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "Errors",
        "Throttles",
        "ReadThrottleEvents",
        "EventsFailed",
        "alarm",
    ]
    wanted += [metrics.STORE_HOURS_SINCE_FILE]
    if "RestAPI" in stack.template["Resources"]:
        wanted += ["Latency", "5XXError", "4XXError", metrics.API_THROTTLED]
    if stack.inventory["schedules"]:
        wanted += ["JobDuration", "JobHeartbeat"]
    if stack.inventory["stream_consumers"]:
        wanted += ["IteratorAge", "Invocations", "Duration", metrics.KPI_RECORDS_COUNTED]
    missing = [w for w in wanted if not re.search(rf"\b{w}\b", body)]
    assert not missing, f"{stack.id}: the dashboard lacks {missing}"
    for consumer in stack.inventory["stream_consumers"]:
        name = logical_id(consumer["name"])
        event = stack.template["Resources"][name]["Properties"]["Events"][f"{name}DynamodbEventSource"]
        queue = event["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
        assert queue in body, f"{stack.id}: the dashboard does not show {queue}, {consumer['name']}'s skipped batches"


def emitted_metric_names() -> set[str]:
    """Metric names the app's code passes to powertools (`add_metric(name="...")`)."""
    pattern = re.compile(r"add_metric\(\s*name\s*=\s*[\"'](\w+)[\"']")
    return {name for path in (ROOT / "chalicelib").rglob("*.py") for name in pattern.findall(path.read_text())}


def test_every_metric_an_alarm_waits_for_is_one_the_app_emits() -> None:
    """An alarm on a name nothing emits never fires (or, for the heartbeat, always does)."""
    alarmed = {
        metrics.FILES_FAILED,
        metrics.ROWS_REJECTED,
        metrics.ROWS_APPLIED,
        metrics.EVENTS_FAILED,
        metrics.JOB_HEARTBEAT,
        metrics.STORE_FILES,  # what the store-watch function turns into StoreHoursSinceFile
    }
    assert alarmed - emitted_metric_names() == set(), "rename in infra/metrics.py or emit them in chalicelib"


def test_every_metric_on_the_dashboard_is_one_the_app_emits() -> None:
    shown = {
        metrics.POINTS_EARNED,
        metrics.POINTS_REDEEMED,
        metrics.POINTS_EXPIRED,
        metrics.FILES_COMPLETED,
        metrics.FILE_DURATION,
        metrics.ROWS_DUPLICATE,
        metrics.JOB_DURATION,
        metrics.KPI_RECORDS_COUNTED,
        metrics.KPI_RECORDS_DUPLICATE,
    }
    missing = shown - emitted_metric_names()
    if missing:  # an empty graph, not a silent alarm: worth a warning, not a red build
        warnings.warn(f"the dashboard shows metrics nothing emits yet: {sorted(missing)}", stacklevel=1)


def functions_of_kind(stack: Stack, *kinds: str) -> list[str]:
    inventory = stack.inventory
    names = {
        "schedule": [s["name"] for s in inventory["schedules"]],
        "sqs": [c["name"] for c in inventory["sqs_consumers"]],
        "stream": [c["name"] for c in inventory["stream_consumers"]],
        "lambda": inventory["lambda_functions"],
        "authorizer": inventory["authorizers"],
    }
    return [logical_id(name) for kind in kinds for name in names.get(kind, [])]


def test_errors_wait_for_m_of_n_where_a_retry_is_expected(stack: Stack) -> None:
    """A consumer's failed batch or message is retried, and usually heals: 1 of 1 paged on those.
    Jobs are not retried, but the next hourly run continues: two failed runs in three hours."""
    for name in functions_of_kind(stack, "sqs", "stream", "schedule"):
        (alarm,) = alarms_on(stack.template, "AWS/Lambda", "Errors", {"FunctionName": ref(name)})
        assert 2 <= alarm["DatapointsToAlarm"] <= alarm["EvaluationPeriods"], f"{stack.id}: {name} pages on one error"
        (throttles,) = alarms_on(stack.template, "AWS/Lambda", "Throttles", {"FunctionName": ref(name)})
        assert throttles["DatapointsToAlarm"] >= 2, f"{stack.id}: {name} pages on a single throttle"
    for name in functions_of_kind(stack, "schedule"):
        (alarm,) = alarms_on(stack.template, "AWS/Lambda", "Errors", {"FunctionName": ref(name)})
        assert alarm["Period"] == 3600 and (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"]) == (2, 3)
    if "APIHandler" in stack.template["Resources"]:  # nobody of ours retries an API call
        (alarm,) = alarms_on(stack.template, "AWS/Lambda", "Errors", {"FunctionName": ref("APIHandler")})
        assert alarm.get("DatapointsToAlarm", 1) == alarm["EvaluationPeriods"] == 1


def test_every_function_alarms_when_its_longest_invocation_nears_its_timeout(stack: Stack) -> None:
    for name, function in of_type(stack.template, "AWS::Serverless::Function").items():
        timeout_ms = function["Properties"]["Timeout"] * 1000
        (alarm,) = alarms_on(stack.template, "AWS/Lambda", "Duration", {"FunctionName": ref(name)})
        assert alarm["Statistic"] == "Maximum", name
        assert 0.5 * timeout_ms <= alarm["Threshold"] < timeout_ms, f"{stack.id}: {name} {alarm['Threshold']}"
        assert alarm["AlarmName"] == f"loyalty-{stack.stage}-{name}-NearTimeout"


def test_asynchronously_invoked_functions_alarm_on_dropped_events(stack: Stack) -> None:
    names = functions_of_kind(stack, "schedule", "lambda")
    assert names
    for name in names:
        (alarm,) = alarms_on(stack.template, "AWS/Lambda", "AsyncEventsDropped", {"FunctionName": ref(name)})
        assert alarm["Threshold"] == 1 and alarm["Statistic"] == "Sum"


def test_api_p99_latency_is_alarmed_when_it_stays_high_with_traffic(stack: Stack) -> None:
    if "RestAPI" not in stack.template["Resources"]:
        pytest.skip("the app has no routes")
    api = {"ApiName": f"loyalty-{stack.stage}", "Stage": "api"}
    (alarm,) = alarms_on(stack.template, "AWS/ApiGateway", "Latency", api)
    stats = {
        m["MetricStat"]["Metric"]["MetricName"]: m["MetricStat"]["Stat"] for m in alarm["Metrics"] if "MetricStat" in m
    }
    assert stats == {"Latency": "p99", "Count": "Sum"}
    expression = next(m["Expression"] for m in alarm["Metrics"] if "Expression" in m)
    assert expression.startswith("IF(requests >= ")
    assert alarm["Threshold"] == {"dev": 3000, "prod": 1500}[stack.stage]
    assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"] == 3  # 15 minutes, not a cold start


def test_api_429s_are_counted_from_the_access_log_and_alarmed(stack: Stack) -> None:
    resources = stack.template["Resources"]
    if "RestAPI" not in resources:
        pytest.skip("the app has no routes")
    api = resources["RestAPI"]
    setting = api["Properties"]["AccessLogSetting"]
    group = setting["DestinationArn"]["Fn::GetAtt"][0]
    assert resources[group]["Type"] == "AWS::Logs::LogGroup" and resources[group]["Properties"]["RetentionInDays"] > 0
    fields = json.loads(setting["Format"])
    assert fields["status"] == "$context.status" and fields["api"] == f"loyalty-{stack.stage}"
    assert not {"$context.identity.sourceIp", "$context.path"} & set(fields.values()), "no personal data in logs"
    (metric_filter,) = [
        f["Properties"]
        for f in of_type(stack.template, "AWS::Logs::MetricFilter").values()
        if f["Properties"]["LogGroupName"] == ref(group)
    ]
    assert metric_filter["FilterPattern"].replace(" ", "") == '{$.status="429"}'
    (transformation,) = metric_filter["MetricTransformations"]
    assert (transformation["MetricNamespace"], transformation["MetricName"]) == ("Loyalty", metrics.API_THROTTLED)
    assert transformation["Dimensions"] == [{"Key": "ApiName", "Value": "$.api"}]
    (alarm,) = alarms_on(stack.template, "Loyalty", metrics.API_THROTTLED, {"ApiName": f"loyalty-{stack.stage}"})
    assert alarm["Threshold"] == 1
    # API Gateway refuses a stage with access logs until its account has a logging role: the API
    # waits for it, and both stay when a stack goes (another stage's API may log with that role).
    (account,) = of_type(stack.template, "AWS::ApiGateway::Account")
    assert account in as_list(api.get("DependsOn", []))
    role = resources[account]["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    assert resources[account]["DeletionPolicy"] == resources[role]["DeletionPolicy"] == "Retain"
    principal = resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {"Service": "apigateway.amazonaws.com"}


def test_a_store_silent_for_26_hours_is_alarmed_with_the_store_as_a_contributor(stack: Stack) -> None:
    """No list of stores anywhere: the store-watch function turns each store's last file into hours
    (infra/store_watch/handler.py) and one Metrics Insights alarm groups them by store_id."""
    (alarm,) = [a for a in alarms(stack.template) if a["AlarmName"] == f"loyalty-{stack.stage}-StoreSilent"]
    (query,) = alarm["Metrics"]
    assert query["Expression"] == (
        'SELECT MAX(StoreHoursSinceFile) FROM SCHEMA("Loyalty", service, store_id) '
        "WHERE service = 'loyalty' GROUP BY store_id"
    )
    assert query["Period"] == 3600 and alarm["Threshold"] == 26
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    watchers = [
        name
        for name, f in of_type(stack.template, "AWS::Lambda::Function").items()
        if f["Properties"].get("Environment", {}).get("Variables", {}).get("AGE_METRIC") == "StoreHoursSinceFile"
    ]
    (watcher,) = watchers
    variables = stack.template["Resources"][watcher]["Properties"]["Environment"]["Variables"]
    assert variables["FILES_METRIC"] == metrics.STORE_FILES
    rules = [
        r["Properties"]
        for r in of_type(stack.template, "AWS::Events::Rule").values()
        if any(t["Arn"] == getatt(watcher) for t in r["Properties"].get("Targets", []))
    ]
    assert [r["ScheduleExpression"] for r in rules] == ["rate(1 hour)"]
    function = {"FunctionName": ref(watcher)}
    assert alarms_on(stack.template, "AWS/Lambda", "Errors", function)
    (heartbeat,) = alarms_on(stack.template, "AWS/Lambda", "Invocations", function)
    assert heartbeat["TreatMissingData"] == "breaching" and heartbeat["ComparisonOperator"] == "LessThanThreshold"


ALARM_ROW = re.compile(r"^\| ([^|]*`[^|]*) \|", re.MULTILINE)  # the first column, with a `name`


def runbook_titles() -> list[re.Pattern[str]]:
    """The alarm titles of infra/DEPLOY.md's table, as patterns (`<Function>` is any logical id)."""
    text = (ROOT / "infra" / "DEPLOY.md").read_text()
    section = text.split("### Alarms: what each means, what to do first", 1)[1].split("\n### ", 1)[0]
    titles = [t for row in ALARM_ROW.findall(section) for t in re.findall(r"`([^`]+)`", row)]
    placeholders = {
        "<Function>": "[A-Za-z0-9]+",
        "<Job>": "Job[A-Za-z0-9]+",
        "<index>": "[a-z0-9_]+",
        "<queue>": "[a-z0-9-]+",
    }
    patterns = []
    for title in titles:
        pattern = re.escape(title)
        for placeholder, regex in placeholders.items():
            pattern = pattern.replace(re.escape(placeholder), regex)
        patterns.append(re.compile(pattern + "$"))
    return patterns


def test_every_alarm_has_its_runbook_row_in_deploy_md(stack: Stack) -> None:
    if stack.app != "project":
        pytest.skip("the runbook is the project's (its stream consumer is KpiRollup)")
    titles = runbook_titles()
    assert titles
    for alarm in alarms(stack.template):
        name = alarm["AlarmName"].removeprefix(f"loyalty-{stack.stage}-")
        assert any(t.match(name) for t in titles), f"infra/DEPLOY.md has no row for {name}"


def test_a_dlq_with_a_consumer_alarms_on_messages_left_on_it_for_15_minutes(stack: Stack) -> None:
    """Its consumer takes a dead letter within seconds: one it cannot handle is hidden (in flight)
    for the visibility timeout, then visible, then taken again. So the alarm counts both, at their
    minimum, in 3 of 3 five-minute periods, not the visible ones alone (which it would rarely see)."""
    consumers = [c for c in stack.inventory["sqs_consumers"] if c["queue"].endswith("-dlq")]
    if not consumers:
        pytest.skip("the app consumes no DLQ")
    for consumer in consumers:
        name = logical_id(consumer["name"])
        event = stack.template["Resources"][name]["Properties"]["Events"][f"{name}SqsEventSource"]["Properties"]
        queue = getatt(event["Queue"]["Fn::GetAtt"][0], "QueueName")
        (alarm,) = alarms_on(stack.template, "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": queue})
        assert (
            alarm
            == alarms_on(stack.template, "AWS/SQS", "ApproximateNumberOfMessagesNotVisible", {"QueueName": queue})[0]
        )
        stats = {
            m["MetricStat"]["Metric"]["MetricName"]: m["MetricStat"]["Stat"]
            for m in alarm["Metrics"]
            if "MetricStat" in m
        }
        assert stats == {
            "ApproximateNumberOfMessagesVisible": "Minimum",
            "ApproximateNumberOfMessagesNotVisible": "Minimum",
        }
        assert alarm["Threshold"] == 1 and alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 3
        base = consumer["queue"].removesuffix("-dlq").removeprefix("loyalty-")
        assert alarm["AlarmName"] == f"loyalty-{stack.stage}-{base}-DeadLetters"
        assert name in alarm["AlarmDescription"]
