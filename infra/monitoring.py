"""Alarms (to the stack's SNS topic) and the ops dashboard of one stage.

Every alarm's description says what it means and the first thing to do; infra/DEPLOY.md has the
longer runbook under the same titles. Alarms over the app's own metrics read the names in
infra/metrics.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra import metrics

if TYPE_CHECKING:
    from infra.discovery import Function
    from infra.stack import AppQueue, AppStream, LoyaltyStack

FIVE_MINUTES = Duration.minutes(5)
HOUR = Duration.hours(1)
RUNBOOK = "Runbook: infra/DEPLOY.md, 'Alarms'."
# What each table-stream consumer keeps up to date (its alarms say what is late or missing).
STREAM_WORK = {"kpi_rollup": "the KPI day rows", "event_outbox": "the domain events on the bus"}
# Kinds of function whose failed invocations Lambda or the source retries by itself: a single error
# or throttle often heals on the retry, so their alarms wait for 2 of 3 periods. An API call or an
# authorizer is not retried by anyone of ours: 1 of 1. Jobs are not retried (their next hourly run
# continues the work), so their errors are counted per hour: 2 failed runs in 3 hours alarm, a single
# failed run is the failure queue's alarm (jobs-FailedRuns).
RETRIED_KINDS = ("sqs", "stream")
ASYNC_KINDS = ("schedule", "lambda")  # invoked asynchronously (EventBridge, or anything for `lambda`)
# A function's longest invocation over this share of its timeout: it is about to time out.
NEAR_TIMEOUT = 0.8
TABLE_OPERATIONS = [
    dynamodb.Operation.GET_ITEM,
    dynamodb.Operation.BATCH_GET_ITEM,
    dynamodb.Operation.QUERY,
    dynamodb.Operation.PUT_ITEM,
    dynamodb.Operation.UPDATE_ITEM,
    dynamodb.Operation.DELETE_ITEM,
    dynamodb.Operation.BATCH_WRITE_ITEM,
    dynamodb.Operation.TRANSACT_WRITE_ITEMS,
    dynamodb.Operation.TRANSACT_GET_ITEMS,
]
WIDE, HALF, THIRD = 24, 12, 8


def app_metric(
    name: str,
    *,
    job: str | None = None,
    statistic: str = "Sum",
    period: Duration = FIVE_MINUTES,
    label: str | None = None,  # dashboards only: a labelled metric makes an alarm a math alarm
) -> cw.Metric:
    dimensions = {"service": metrics.SERVICE}
    if job is not None:
        dimensions[metrics.JOB_DIMENSION] = job
    return cw.Metric(
        namespace=metrics.NAMESPACE,
        metric_name=name,
        dimensions_map=dimensions,
        statistic=statistic,
        period=period,
        label=label,
    )


def store_silence_query() -> str:
    """Metrics Insights: the hours since each store's last file, one time series per store."""
    return (
        f'SELECT MAX({metrics.STORE_HOURS_SINCE_FILE}) FROM SCHEMA("{metrics.NAMESPACE}", service, '
        f"{metrics.STORE_DIMENSION}) WHERE service = '{metrics.SERVICE}' GROUP BY {metrics.STORE_DIMENSION}"
    )


def store_ages_search() -> str:
    """Dashboards only (alarms cannot SEARCH): every store's hours since its last file."""
    schema = "{" + f"{metrics.NAMESPACE},service,{metrics.STORE_DIMENSION}" + "}"
    return f"SEARCH('{schema} MetricName=\"{metrics.STORE_HOURS_SINCE_FILE}\"', 'Maximum', 3600)"


def _short(queue: str) -> str:
    """`loyalty-ingest` → `ingest`: alarm names already start with the stack's name."""
    return queue.removeprefix(f"{metrics.SERVICE}-")


def total_of(name: str) -> cw.MathExpression:
    """A metric of the app summed over whatever dimensions it carries (dashboards only: alarms
    cannot SEARCH)."""
    expression = f"SUM(SEARCH('Namespace=\"{metrics.NAMESPACE}\" MetricName=\"{name}\"', 'Sum', 3600))"
    return cw.MathExpression(expression=expression, label=name, period=HOUR, using_metrics={})


def lambda_metric(
    function_name: str,
    name: str,
    *,
    statistic: str = "Sum",
    label: str | None = None,
    period: Duration = FIVE_MINUTES,
) -> cw.Metric:
    return cw.Metric(
        namespace="AWS/Lambda",
        metric_name=name,
        dimensions_map={"FunctionName": function_name},
        statistic=statistic,
        period=period,
        label=label,
    )


class Monitoring(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, stack: LoyaltyStack) -> None:
        super().__init__(scope, construct_id)
        self.stack = stack
        self.prefix = stack.alarm_prefix
        self.alarms: list[cw.Alarm] = []
        self.action = actions.SnsAction(stack.alarm_topic)
        self._function_alarms()
        self._api_alarms()
        self._table_alarms()
        for queue in stack.queues.values():
            self._queue_alarms(queue)
        for stream in stack.streams:
            self._stream_alarms(stream)
        self._ingestion_alarms()
        self._store_alarms()
        self._job_alarms()
        self._alarm(
            "EventsFailed",
            app_metric(metrics.EVENTS_FAILED),
            threshold=1,
            description="The outbox's stream handler could not put domain events on the event bus after "
            "its retries (the writes committed, and their events with them): it reports the record, "
            "Lambda retries it, then skips it to the handler's on-failure queue (EventOutbox-FailedBatches). "
            "First response: EventOutbox's log for 'event publication failed', the bus and its quotas.",
        )
        self.dashboard = self._dashboard()

    # --- alarms --------------------------------------------------------------------------------

    def _alarm(
        self,
        name: str,
        metric: cw.IMetric,
        *,
        threshold: float,
        description: str,
        comparison: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int | None = None,
        missing: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING,
    ) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            name,
            alarm_name=self.prefix + name,
            alarm_description=f"{description} {RUNBOOK}",
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(self.action)
        alarm.add_ok_action(self.action)
        self.alarms.append(alarm)
        return alarm

    def _function_alarms(self) -> None:
        dead_letter_readers = {
            c.logical_id for c in self.stack.handlers.sqs_consumers if self.stack.consumed(c).dead_letters
        }
        for function in self.stack.handlers.functions:
            name = self.stack.function(function.logical_id).ref
            retried = {
                "stream": " Its batch is split and retried; records that keep failing are skipped to its "
                "on-failure queue (alarm FailedBatches).",
                "sqs": " The message comes back after the visibility timeout; after 3 deliveries it goes to "
                "the DLQ (alarm DeadLetters).",
                "schedule": " Jobs are not retried: each failed run is also on the jobs' failure queue "
                "(alarm jobs-FailedRuns); the next hourly run continues the work.",
            }.get(function.kind, "")
            if function.logical_id in dead_letter_readers:
                retried = (
                    " It reads a DLQ: a message it fails on comes back after the visibility timeout, "
                    "for as long as the DLQ keeps it (alarm DeadLetters)."
                )
            errors_period, errors_of = self._errors_window(function.kind)
            self._alarm(
                f"{function.logical_id}-Errors",
                lambda_metric(name, "Errors", period=errors_period),
                threshold=1,
                evaluation_periods=errors_of[1],
                datapoints_to_alarm=errors_of[0],
                description=f"Function {function.logical_id} ({function.kind} handler "
                f"{function.name!r}) failed (an exception or a timeout) in {errors_of[0]} of "
                f"{errors_of[1]} {self._span(errors_period)} periods.{retried} First response: "
                "its log group, filtered on ERROR, for the stack trace.",
            )
            throttles_of = (2, 3) if function.kind in (*RETRIED_KINDS, *ASYNC_KINDS) else (1, 1)
            self._alarm(
                f"{function.logical_id}-Throttles",
                lambda_metric(name, "Throttles"),
                threshold=1,
                evaluation_periods=throttles_of[1],
                datapoints_to_alarm=throttles_of[0],
                description=f"Lambda refused invocations of {function.logical_id} in {throttles_of[0]} of "
                f"{throttles_of[1]} five-minute periods: the account's concurrency is exhausted. First "
                "response: the account's ConcurrentExecutions and which function spiked.",
            )
            self._near_timeout_alarm(function, name)
            if function.kind in ASYNC_KINDS:
                self._alarm(
                    f"{function.logical_id}-AsyncEventsDropped",
                    lambda_metric(name, "AsyncEventsDropped"),
                    threshold=1,
                    description=f"Lambda dropped an asynchronous event of {function.logical_id} ({function.kind} "
                    f"handler {function.name!r}): it failed every attempt, or waited too long to start (throttling). "
                    "That invocation did not happen." + (retried if function.kind == "schedule" else "") + " First "
                    "response: the function's log and Throttles; for a job, the failure queue's message.",
                )

    def _errors_window(self, kind: str) -> tuple[Duration, tuple[int, int]]:
        """(period, (M, N)) of a function's Errors alarm: M periods with errors out of N."""
        if kind == "schedule":
            return HOUR, (2, 3)
        if kind in RETRIED_KINDS:
            return FIVE_MINUTES, (2, 3)
        return FIVE_MINUTES, (1, 1)

    @staticmethod
    def _span(period: Duration) -> str:
        return "hourly" if period.to_seconds() == HOUR.to_seconds() else "five-minute"

    def _near_timeout_alarm(self, function: Function, name: str) -> None:
        _, timeout_s = self.stack.sizing(function)
        period, of = (HOUR, (3, 3)) if function.kind == "schedule" else (FIVE_MINUTES, (2, 3))
        if function.kind == "schedule":
            why = (
                "A job stops itself ~10 s before its timeout and the next run continues, so this means it "
                "used its whole budget 3 hours running: it is not catching up with what is due."
            )
        else:
            why = "A little more and it times out (its Errors follow)."
        self._alarm(
            f"{function.logical_id}-NearTimeout",
            lambda_metric(name, "Duration", statistic="Maximum", period=period),
            threshold=NEAR_TIMEOUT * timeout_s * 1000,  # Duration is in milliseconds
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=of[1],
            datapoints_to_alarm=of[0],
            description=f"{function.logical_id}'s longest invocation took over {int(NEAR_TIMEOUT * 100)} % of its "
            f"{timeout_s} s timeout in {of[0]} of {of[1]} {self._span(period)} periods. {why} First response: "
            "its Duration and the table's latency and throttles on the dashboard; for a job, how many members "
            "are due (a month end, a large import); raise the timeout (infra/stages.py) only once the cause is known.",
        )

    def _api_alarms(self) -> None:
        if not self.stack.handlers.logical_ids("api"):
            return
        stage = self.stack.stage
        self._alarm(
            "Api5xxRate",
            cw.MathExpression(
                expression=f"IF(requests >= {stage.api_5xx_min_requests}, 100 * errors / requests, 0)",
                using_metrics={"errors": self.api_metric("5XXError"), "requests": self.api_metric("Count")},
                label="5xx (% of requests)",
                period=FIVE_MINUTES,
            ),
            threshold=stage.api_5xx_percent,
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            description=f"More than {stage.api_5xx_percent} % of API requests answered 5xx in 2 of 3 five-minute "
            "periods. First response: APIHandler's log group (ERROR), then DynamoDB throttles and "
            "the function's Errors/Duration.",
        )
        self._api_latency_and_throttling_alarms()

    def _api_latency_and_throttling_alarms(self) -> None:
        stage = self.stack.stage
        self._alarm(
            "ApiLatencyP99",
            cw.MathExpression(
                expression=f"IF(requests >= {stage.api_5xx_min_requests}, p99, 0)",
                using_metrics={"p99": self.api_metric("Latency", "p99"), "requests": self.api_metric("Count")},
                label="latency p99 (ms)",
                period=FIVE_MINUTES,
            ),
            threshold=stage.api_p99_ms,
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            description=f"The API's p99 latency stayed above {stage.api_p99_ms} ms for 15 minutes (with enough "
            "traffic to matter). First response: IntegrationLatency vs Latency on the dashboard (the function, "
            "or API Gateway and the authorizer?), then APIHandler's Duration, cold starts (Init Duration in "
            "its log) and table latency and throttles.",
        )
        self._alarm(
            "ApiThrottled",
            self.throttled_metric(),
            threshold=1,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            description="API Gateway answered 429 (its stage throttling refused requests) in 2 of 3 five-minute "
            f"periods: a storefront or store exceeds {stage.api_rate_limit} requests/s (burst "
            f"{stage.api_burst_limit}). First response: the access log "
            f"(/aws/apigateway/{self.stack.api_name}/access, status 429) for which routes and when; a client "
            "retrying without backoff, or real growth (raise the stage's limits in infra/stages.py)?",
        )

    def throttled_metric(self) -> cw.Metric:
        """429s counted from the access log (infra/stack.py: ApiThrottledRequests)."""
        return cw.Metric(
            namespace=metrics.NAMESPACE,
            metric_name=metrics.API_THROTTLED,
            dimensions_map={"ApiName": self.stack.api_name},
            statistic="Sum",
            period=FIVE_MINUTES,
        )

    def api_metric(self, name: str, statistic: str = "Sum") -> cw.Metric:
        return cw.Metric(
            namespace="AWS/ApiGateway",
            metric_name=name,
            dimensions_map={"ApiName": self.stack.api_name, "Stage": self.stack.api_stage},
            statistic=statistic,
            period=FIVE_MINUTES,
        )

    def table_metrics(self, index: str | None = None) -> dict[str, cw.Metric]:
        dimensions = {"TableName": self.stack.table.table_name}
        if index:
            dimensions["GlobalSecondaryIndexName"] = index
        return {
            key: cw.Metric(
                namespace="AWS/DynamoDB",
                metric_name=name,
                dimensions_map=dimensions,
                statistic="Sum",
                period=FIVE_MINUTES,
            )
            for key, name in (("reads", "ReadThrottleEvents"), ("writes", "WriteThrottleEvents"))
        }

    def _table_alarms(self) -> None:
        indexes = [None] + [i["IndexName"] for i in self.stack.table_definition.get("GlobalSecondaryIndexes", [])]
        for index in indexes:
            where = f"index {index}" if index else "the table"
            self._alarm(
                f"Table{'-' + index if index else ''}-Throttles",
                cw.MathExpression(
                    expression="reads + writes",
                    using_metrics=self.table_metrics(index),
                    label=f"throttled requests ({where})",
                    period=FIVE_MINUTES,
                ),
                threshold=1,
                description=f"DynamoDB throttled requests on {where}: callers got 503 'busy' or retried. "
                "First response: which partition is hot (CloudWatch Contributor Insights), "
                "and whether a job or a big sales file runs.",
            )
        self._alarm(
            "Table-SystemErrors",
            self.stack.table.metric_system_errors_for_operations(operations=TABLE_OPERATIONS, period=FIVE_MINUTES),
            threshold=1,
            description="DynamoDB answered 500 (an AWS-side error). The app retries; writes are transactions, "
            "so nothing is half-done. First response: the AWS Health Dashboard; open a case if it "
            "persists.",
        )

    def _queue_alarms(self, queue: AppQueue) -> None:
        readers = [
            c.logical_id
            for c in self.stack.handlers.sqs_consumers
            if self.stack.consumed(c).dead_letters and self.stack.consumed(c).queue is queue.dead_letters
        ]
        if not readers:
            self._alarm(
                f"{_short(queue.name)}-DeadLetters",
                queue.dead_letters.metric_approximate_number_of_messages_visible(
                    statistic="Maximum", period=FIVE_MINUTES
                ),
                threshold=1,
                description=f"A message of {queue.name} failed every delivery and sits in its DLQ: a sales file "
                "or chunk that was not processed. First response: read the message and the consumer's "
                "log, fix the cause, then redrive the DLQ (DEPLOY.md).",
            )
        else:
            # The DLQ's consumer takes a message within seconds and deletes it once handled; one it
            # failed on is in flight (hidden for the visibility timeout), then visible, then in flight
            # again. Messages on the queue at all, visible or not, for 15 minutes: not handled.
            dlq = queue.dead_letters
            on_queue = cw.MathExpression(
                expression="visible + inflight",
                using_metrics={
                    "visible": dlq.metric_approximate_number_of_messages_visible(
                        statistic="Minimum", period=FIVE_MINUTES
                    ),
                    "inflight": dlq.metric_approximate_number_of_messages_not_visible(
                        statistic="Minimum", period=FIVE_MINUTES
                    ),
                },
                period=FIVE_MINUTES,
                label="dead letters not handled",
            )
            self._alarm(
                f"{_short(queue.name)}-DeadLetters",
                on_queue,
                threshold=1,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                description=f"A message of {queue.name} failed every delivery, and the DLQ's consumer "
                f"({', '.join(readers)}), which fails its file, has not handled it for 15 minutes (it "
                "logs 'dead letter not handled' and retries after the visibility timeout). First "
                "response: that function's log, then the ingest consumer's log for the file id (DEPLOY.md).",
            )
        self._alarm(
            f"{_short(queue.name)}-Lag",
            queue.queue.metric_approximate_age_of_oldest_message(statistic="Maximum", period=FIVE_MINUTES),
            threshold=self.stack.stage.ingest_lag_seconds,
            description=f"The oldest message on {queue.name} waited more than "
            f"{self.stack.stage.ingest_lag_seconds} s: ingestion is behind or stopped. First "
            "response: is the consumer failing (its Errors), throttled, or missing?",
        )

    def _stream_alarms(self, stream: AppStream) -> None:
        consumer = stream.consumer
        function_name = self.stack.function(consumer.logical_id).ref
        lag = self.stack.stage.stream_lag_seconds
        work = STREAM_WORK.get(consumer.name, "its work")
        self._alarm(
            f"{consumer.logical_id}-Lag",
            lambda_metric(function_name, "IteratorAge", statistic="Maximum"),
            threshold=lag * 1000,  # IteratorAge is in milliseconds
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description=f"{consumer.logical_id} ({consumer.name!r}) read a table-stream record more than {lag} s "
            f"after it was written: what it maintains ({work}) is behind. Records older than "
            f"{stream.max_record_age_s // 3600} h are skipped to its on-failure queue. First response: its Errors "
            "(a batch failing again and again) and Duration, then table throttles.",
        )
        self._alarm(
            f"{consumer.logical_id}-FailedBatches",
            stream.failures.metric_approximate_number_of_messages_visible(statistic="Maximum", period=FIVE_MINUTES),
            threshold=1,
            description=f"{consumer.logical_id} ({consumer.name!r}) skipped table-stream records: a batch failed "
            "every retry or grew too old. The message names the shard and sequence range, not the "
            "records. First response: the function's log for the cause, fix it, then re-read the "
            f"range from the stream within 24 h of the writes (DEPLOY.md); until then {work} miss those changes.",
        )

    def _ingestion_alarms(self) -> None:
        stage = self.stack.stage
        self._alarm(
            "FilesFailed",
            app_metric(metrics.FILES_FAILED),
            threshold=1,
            description="A sales file failed as a whole (not a CSV, empty, a required column missing, too "
            "large) and applied nothing. First response: its report under reports/ names "
            "the reason; tell the store, which uploads a corrected file.",
        )
        rows = {
            "rejected": app_metric(metrics.ROWS_REJECTED, period=HOUR),
            "applied": app_metric(metrics.ROWS_APPLIED, period=HOUR),
        }
        self._alarm(
            "RejectRatio",
            cw.MathExpression(
                expression=f"IF(applied + rejected >= {stage.reject_ratio_min_rows}, "
                "100 * rejected / (applied + rejected), 0)",
                using_metrics=rows,
                label="rejected rows (%)",
                period=HOUR,
            ),
            threshold=stage.reject_ratio_percent,
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description=f"More than {stage.reject_ratio_percent} % of the sales-file rows of the last hour were "
            "rejected. First response: the reports' `reasons` (unknown_member after a member "
            "import? bad_currency from one store's till?).",
        )

    def _store_alarms(self) -> None:
        """A store that has sent no file for `store_silence_hours`: one alarm, each store a contributor
        (the store-watch function puts the hours since each store's last file every hour)."""
        hours = self.stack.stage.store_silence_hours
        self._alarm(
            "StoreSilent",
            cw.MathExpression(
                expression=store_silence_query(),
                using_metrics={},
                label="hours since the store's last file",
                period=HOUR,
            ),
            threshold=hours,
            description=f"A store that sent sales files in the last two weeks has completed none for {hours} "
            "hours (the alarm names it: one contributor per store_id). Its till export or upload is broken, "
            "or it is closed. First response: GET /files?store_id=<store> (its last files and reports), "
            "then call the store; a closed store leaves the alarm two weeks after its last file.",
        )
        function = self.stack.store_watch.function_name
        self._alarm(
            "StoreWatch-Errors",
            lambda_metric(function, "Errors", period=HOUR),
            threshold=1,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            description="The store-watch function (hours since each store's last file, for StoreSilent) failed "
            "in 2 of 3 hourly runs: StoreSilent is blind meanwhile. First response: its log group "
            f"(/aws/lambda/{self.stack.stack_name}/StoreWatch), filtered on ERROR.",
        )
        self._alarm(
            "StoreWatch-Heartbeat",
            lambda_metric(function, "Invocations", period=HOUR),
            threshold=1,
            comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            missing=cw.TreatMissingData.BREACHING,
            description="The store-watch function has not run for 3 hours (its hourly EventBridge rule is disabled "
            "or gone): StoreSilent is blind. First response: the stack's rule StoreWatchSchedule in EventBridge "
            "(enable it, or redeploy the stack if it is missing).",
        )

    def _job_alarms(self) -> None:
        failures = self.stack.job_failures
        if failures is not None:
            self._alarm(
                "jobs-FailedRuns",
                failures.metric_approximate_number_of_messages_visible(statistic="Maximum", period=FIVE_MINUTES),
                threshold=1,
                description="A scheduled job's run failed or timed out, or its event waited too long to start "
                "(jobs are never retried, so runs cannot overlap). The next hourly run continues the "
                "work. First response: the message names the function and the error "
                "(requestContext.condition, responsePayload); read that function's log, then delete the message.",
            )
        hours = self.stack.stage.heartbeat_hours
        for schedule in self.stack.handlers.schedules:
            self._alarm(
                f"{schedule.logical_id}-Heartbeat",
                app_metric(metrics.JOB_HEARTBEAT, job=schedule.job, period=HOUR),
                threshold=1,
                comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                evaluation_periods=hours,
                datapoints_to_alarm=hours,
                missing=cw.TreatMissingData.BREACHING,
                description=f"Job {schedule.job!r} ({schedule.logical_id}, {schedule.expression}) has not reported a "
                f"finished run for {hours} h. First response: its function's Errors and log; run it "
                "by hand with a scheduled event (DEPLOY.md; jobs are idempotent and resumable).",
            )

    # --- dashboard -----------------------------------------------------------------------------

    def _dashboard(self) -> cw.Dashboard:
        stack = self.stack
        dashboard = cw.Dashboard(
            self, "Dashboard", dashboard_name=stack.stack_name, default_interval=Duration.hours(24)
        )
        dashboard.add_widgets(cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=WIDE, height=6))
        if stack.handlers.logical_ids("api"):
            dashboard.add_widgets(
                cw.GraphWidget(
                    title="API requests (left), errors and 429s (right)",
                    width=THIRD,
                    left=[self.api_metric("Count")],
                    right=[
                        self.api_metric("4XXError"),
                        self.api_metric("5XXError"),
                        self.throttled_metric().with_(label="429 (throttled)"),
                    ],
                ),
                cw.GraphWidget(
                    title="API latency (ms)",
                    width=THIRD,
                    left=[
                        self.api_metric("Latency", statistic=s).with_(label=f"latency {s}")
                        for s in ("p50", "p90", "p99")
                    ],
                ),
                cw.GraphWidget(
                    title="API integration latency (ms)",
                    width=THIRD,
                    left=[self.api_metric("IntegrationLatency", statistic=s).with_(label=s) for s in ("p50", "p99")],
                ),
            )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Points per hour",
                width=THIRD,
                left=[
                    total_of(name) for name in (metrics.POINTS_EARNED, metrics.POINTS_REDEEMED, metrics.POINTS_EXPIRED)
                ],
            ),
            cw.GraphWidget(
                title="Sales files per hour (left), longest file in s (right)",
                width=THIRD,
                left=[app_metric(metrics.FILES_COMPLETED, period=HOUR), app_metric(metrics.FILES_FAILED, period=HOUR)],
                right=[app_metric(metrics.FILE_DURATION, statistic="Maximum", period=HOUR)],
            ),
            cw.GraphWidget(
                title="Sales-file rows per hour",
                width=THIRD,
                left=[
                    app_metric(name, period=HOUR)
                    for name in (metrics.ROWS_APPLIED, metrics.ROWS_REJECTED, metrics.ROWS_DUPLICATE)
                ],
            ),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Hours since each store's last sales file",
                width=WIDE,
                left=[cw.MathExpression(expression=store_ages_search(), label="", period=HOUR, using_metrics={})],
                left_annotations=[
                    cw.HorizontalAnnotation(value=stack.stage.store_silence_hours, label="StoreSilent alarm")
                ],
            )
        )
        queues = list(stack.queues.values())
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Queue depth",
                width=THIRD,
                left=[
                    q.queue.metric_approximate_number_of_messages_visible(statistic="Maximum", label=q.name)
                    for q in queues
                ],
            ),
            cw.GraphWidget(
                title="Age of oldest message (s)",
                width=THIRD,
                left=[
                    q.queue.metric_approximate_age_of_oldest_message(statistic="Maximum", label=q.name) for q in queues
                ],
            ),
            cw.SingleValueWidget(
                title="Dead letters",
                width=THIRD,
                metrics=[
                    *(
                        q.dead_letters.metric_approximate_number_of_messages_visible(statistic="Maximum", label=q.name)
                        for q in queues
                    ),
                    *(
                        s.failures.metric_approximate_number_of_messages_visible(
                            statistic="Maximum", label=f"{s.consumer.name} (skipped batches)"
                        )
                        for s in stack.streams
                    ),
                    *(
                        [
                            stack.job_failures.metric_approximate_number_of_messages_visible(
                                statistic="Maximum", label="jobs (failed runs)"
                            )
                        ]
                        if stack.job_failures is not None
                        else []
                    ),
                ],
            ),
        )
        if stack.streams:
            functions_of = {s.consumer.name: stack.function(s.consumer.logical_id).ref for s in stack.streams}
            dashboard.add_widgets(
                cw.GraphWidget(
                    title="Table stream: age of the last record read (ms, max)",
                    width=THIRD,
                    left=[
                        lambda_metric(fn, "IteratorAge", statistic="Maximum", label=name)
                        for name, fn in functions_of.items()
                    ],
                    left_annotations=[
                        cw.HorizontalAnnotation(value=stack.stage.stream_lag_seconds * 1000, label="alarm")
                    ],
                ),
                cw.GraphWidget(
                    title="Table stream: batch duration (ms, max)",
                    width=THIRD,
                    left=[
                        lambda_metric(fn, "Duration", statistic="Maximum", label=name)
                        for name, fn in functions_of.items()
                    ],
                ),
                cw.GraphWidget(
                    title="Table stream: invocations and errors (left), KPI records (right)",
                    width=THIRD,
                    left=[
                        metric
                        for name, fn in functions_of.items()
                        for metric in (
                            lambda_metric(fn, "Invocations", label=f"{name} invocations"),
                            lambda_metric(fn, "Errors", label=f"{name} errors"),
                        )
                    ],
                    right=[
                        app_metric(metrics.KPI_RECORDS_COUNTED, label="KPI records counted"),
                        app_metric(metrics.KPI_RECORDS_DUPLICATE, label="KPI records already counted"),
                    ],
                ),
            )
        schedules = stack.handlers.schedules
        if schedules:
            dashboard.add_widgets(
                cw.GraphWidget(
                    title="Job run duration (s, max)",
                    width=THIRD,
                    left=[
                        app_metric(metrics.JOB_DURATION, job=s.job, statistic="Maximum", period=HOUR, label=s.job)
                        for s in schedules
                    ],
                ),
                cw.GraphWidget(
                    title="Job invocations' duration (ms, max)",
                    width=THIRD,
                    left=[
                        lambda_metric(stack.function(s.logical_id).ref, "Duration", statistic="Maximum", label=s.name)
                        for s in schedules
                    ],
                ),
                cw.GraphWidget(
                    title="Job heartbeats",
                    width=THIRD,
                    left=[app_metric(metrics.JOB_HEARTBEAT, job=s.job, period=HOUR, label=s.job) for s in schedules],
                ),
            )
        functions = stack.handlers.functions
        table = self.table_metrics()
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Function errors",
                width=THIRD,
                left=[lambda_metric(stack.function(f.logical_id).ref, "Errors", label=f.logical_id) for f in functions],
            ),
            cw.GraphWidget(
                title="Function throttles",
                width=THIRD,
                left=[
                    lambda_metric(stack.function(f.logical_id).ref, "Throttles", label=f.logical_id) for f in functions
                ],
            ),
            cw.GraphWidget(
                title="Table: throttles, system errors, events not published",
                width=THIRD,
                left=[
                    table["reads"].with_(label="read throttles"),
                    table["writes"].with_(label="write throttles"),
                    stack.table.metric_system_errors_for_operations(operations=TABLE_OPERATIONS, label="system errors"),
                    app_metric(metrics.EVENTS_FAILED),
                ],
            ),
        )
        return dashboard
