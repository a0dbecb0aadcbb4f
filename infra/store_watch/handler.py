"""Hours since each store's last completed sales file, as one metric per store, every hour.

Why a function: CloudWatch cannot alarm on a metric that stops. Ingestion emits `IngestStoreFiles`
(dimensions service, store_id) once per completed file, so a store whose till export broke simply
has no data points, and a Metrics Insights alarm only sees the last 3 hours and only the series that
have data in them. This function turns the absence into a value: every hour it lists the stores
that completed a file in the last two weeks (the metrics CloudWatch still lists), finds each one's
last file, and puts `StoreHoursSinceFile` (service, store_id). One Metrics Insights alarm groups that
by store_id, so each store is its own contributor: a store that opens joins with its first file, a
store that closes drops out two weeks after its last one, and no list of stores is kept anywhere.

Deployed by infra/stack.py as its own small function (boto3 of the Lambda runtime, no packages):
nothing of the app, no table access, only CloudWatch metrics.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

NAMESPACE = os.environ.get("METRICS_NAMESPACE", "Loyalty")
SERVICE = os.environ.get("METRICS_SERVICE", "loyalty")
FILES_METRIC = os.environ.get("FILES_METRIC", "IngestStoreFiles")
AGE_METRIC = os.environ.get("AGE_METRIC", "StoreHoursSinceFile")
STORE_DIMENSION = "store_id"
LOOKBACK = timedelta(days=14)  # what ListMetrics still lists; older stores are no longer watched
HOUR = 3600
QUERIES_PER_CALL = 200  # x 336 hourly points each, under GetMetricData's 100,800 points a call
PUT_BATCH = 500


def handler(event: Any, context: Any) -> dict[str, Any]:
    import boto3

    ages = watch(boto3.client("cloudwatch"), datetime.now(UTC))
    return {"stores": len(ages), "oldest_hours": max(ages.values(), default=None)}


def watch(cloudwatch: Any, now: datetime) -> dict[str, float]:
    stores = list_stores(cloudwatch)
    last = last_files(cloudwatch, stores, now)
    ages = hours_since(last, now)
    put_ages(cloudwatch, ages, now)
    return ages


def list_stores(cloudwatch: Any) -> list[str]:
    """The stores with a file in the last two weeks (CloudWatch lists metrics that long)."""
    stores: set[str] = set()
    kwargs: dict[str, Any] = {
        "Namespace": NAMESPACE,
        "MetricName": FILES_METRIC,
        "Dimensions": [{"Name": "service", "Value": SERVICE}, {"Name": STORE_DIMENSION}],
    }
    while True:
        page = cloudwatch.list_metrics(**kwargs)
        for metric in page.get("Metrics", []):
            dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            if set(dimensions) == {"service", STORE_DIMENSION}:
                stores.add(dimensions[STORE_DIMENSION])
        if not page.get("NextToken"):
            return sorted(stores)
        kwargs["NextToken"] = page["NextToken"]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def last_files(cloudwatch: Any, stores: list[str], now: datetime) -> dict[str, datetime | None]:
    """The start of the last hour in which each store completed a file (None: none in two weeks)."""
    last: dict[str, datetime | None] = dict.fromkeys(stores)
    for chunk in _chunks(stores, QUERIES_PER_CALL):
        queries = [
            {
                "Id": f"s{n}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": NAMESPACE,
                        "MetricName": FILES_METRIC,
                        "Dimensions": [
                            {"Name": "service", "Value": SERVICE},
                            {"Name": STORE_DIMENSION, "Value": store},
                        ],
                    },
                    "Period": HOUR,
                    "Stat": "Sum",
                },
                "ReturnData": True,
            }
            for n, store in enumerate(chunk)
        ]
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": now - LOOKBACK,
            "EndTime": now,
            "ScanBy": "TimestampDescending",
        }
        while True:
            page = cloudwatch.get_metric_data(**kwargs)
            for result in page.get("MetricDataResults", []):
                store = chunk[int(result["Id"][1:])]
                points = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
                seen = [moment for moment, files in points if files > 0]
                current = last[store]
                if seen and (current is None or max(seen) > current):
                    last[store] = max(seen)
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return last


def hours_since(last: dict[str, datetime | None], now: datetime) -> dict[str, float]:
    """Whole hours since the end of the hour of each store's last file (a lower bound, so the
    alarm at N hours fires between N and N + 1 hours of silence); a store listed but without a
    point in the window counts as silent for the whole window."""
    ages = {}
    for store, seen in last.items():
        silent = LOOKBACK if seen is None else now - (seen + timedelta(seconds=HOUR))
        ages[store] = max(0.0, float(int(silent.total_seconds() // HOUR)))
    return ages


def put_ages(cloudwatch: Any, ages: dict[str, float], now: datetime) -> None:
    items = [
        {
            "MetricName": AGE_METRIC,
            "Dimensions": [{"Name": "service", "Value": SERVICE}, {"Name": STORE_DIMENSION, "Value": store}],
            "Timestamp": now,
            "Value": hours,
            "Unit": "Count",
        }
        for store, hours in sorted(ages.items())
    ]
    for start in range(0, len(items), PUT_BATCH):
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=items[start : start + PUT_BATCH])
