"""Everything that differs between the deployed stages, in one place.

The stack's construct id is the stage name: `chalice.cdk.Chalice` reads `.chalice/config.json`'s
stage of the same name (a stack with any other id would silently get no stage settings).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk.aws_logs import RetentionDays

APP_NAME = "loyalty"


@dataclass(frozen=True)
class Stage:
    name: str
    # Data protection: prod keeps its table, bucket and secret when the stack goes, and the table
    # refuses DeleteTable; dev can be torn down (empty the buckets first).
    retain_data: bool
    deletion_protection: bool
    log_retention: RetentionDays
    # Lifecycle of the sales-file bucket (days).
    reports_retention_days: int
    rejects_retention_days: int
    noncurrent_versions_days: int
    access_logs_retention_days: int
    event_archive_days: int
    # Lambda sizing by kind of function; timeouts in seconds.
    api_memory_mb: int
    worker_memory_mb: int
    api_timeout_s: int  # API Gateway gives up after 29 s anyway
    authorizer_timeout_s: int
    worker_timeout_s: int  # schedules, SQS consumers, pure Lambda functions
    # Table-stream consumers: a batch is at most 500 records (the roll-up: ~2.5 s of DynamoDB work
    # measured locally, up to ~1 min of backoff on conflicts); a stuck batch fails, is split and
    # retried within minutes instead of holding its shard for 15 minutes per attempt.
    stream_timeout_s: int
    # At most this many concurrent invocations per SQS consumer: bounds the write rate one big
    # sales file can put on the table while the API keeps serving.
    sqs_max_concurrency: int
    # API Gateway stage throttling (requests/s and burst) for every method.
    api_rate_limit: int
    api_burst_limit: int
    # Alarm thresholds.
    api_5xx_percent: float  # 5xx answers in % of requests over 5 minutes ...
    api_5xx_min_requests: int  # ... once at least this many requests came in (also for the latency alarm)
    api_p99_ms: int  # API Gateway's p99 latency over 5 minutes, sustained for 15 minutes
    reject_ratio_percent: float  # rejected rows in % of rows read, per hour
    reject_ratio_min_rows: int
    ingest_lag_seconds: int  # age of the oldest message on an ingestion queue
    stream_lag_seconds: int  # age of the last record a table-stream consumer read (IteratorAge)
    heartbeat_hours: int  # a job that has not reported for this long is missing
    store_silence_hours: int  # a store that sent a file in the last 2 weeks but none for this long


STAGES: dict[str, Stage] = {
    "dev": Stage(
        name="dev",
        retain_data=False,
        deletion_protection=False,
        log_retention=RetentionDays.TWO_WEEKS,
        reports_retention_days=30,
        rejects_retention_days=14,
        noncurrent_versions_days=7,
        access_logs_retention_days=30,
        event_archive_days=7,
        api_memory_mb=512,
        worker_memory_mb=1024,
        api_timeout_s=29,
        authorizer_timeout_s=10,
        worker_timeout_s=900,
        stream_timeout_s=120,
        sqs_max_concurrency=5,
        api_rate_limit=50,
        api_burst_limit=100,
        api_5xx_percent=5.0,
        api_5xx_min_requests=20,
        api_p99_ms=3000,
        reject_ratio_percent=20.0,
        reject_ratio_min_rows=50,
        ingest_lag_seconds=3600,
        stream_lag_seconds=3600,
        heartbeat_hours=25,
        store_silence_hours=26,
    ),
    "prod": Stage(
        name="prod",
        retain_data=True,
        deletion_protection=True,
        log_retention=RetentionDays.THREE_MONTHS,
        reports_retention_days=730,
        rejects_retention_days=90,
        noncurrent_versions_days=30,
        access_logs_retention_days=365,
        event_archive_days=90,
        api_memory_mb=1024,
        worker_memory_mb=1769,  # one full vCPU
        api_timeout_s=29,
        authorizer_timeout_s=10,
        worker_timeout_s=900,
        stream_timeout_s=120,
        sqs_max_concurrency=20,
        api_rate_limit=500,
        api_burst_limit=1000,
        api_5xx_percent=1.0,
        api_5xx_min_requests=50,
        api_p99_ms=1500,
        reject_ratio_percent=5.0,
        reject_ratio_min_rows=100,
        ingest_lag_seconds=900,
        stream_lag_seconds=900,
        heartbeat_hours=25,
        store_silence_hours=26,
    ),
}
