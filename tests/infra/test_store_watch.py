"""infra/store_watch/handler.py against a fake CloudWatch: which stores it watches, the hours it
puts for each, and CloudWatch's paging and batch limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from infra.store_watch import handler

NOW = datetime(2026, 11, 22, 10, 17, tzinfo=UTC)


def hour(hours_ago: int) -> datetime:
    """The start of the hour that began `hours_ago` whole hours before NOW's hour."""
    return NOW.replace(minute=0) - timedelta(hours=hours_ago)


class FakeCloudWatch:
    """ListMetrics and GetMetricData over {store: [hourly timestamps with files]}, paged like AWS."""

    def __init__(self, files: dict[str, list[datetime]], page: int = 2) -> None:
        self.files = files
        self.page = page
        self.puts: list[dict[str, Any]] = []
        self.queries_per_call: list[int] = []

    def list_metrics(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["MetricName"] == "IngestStoreFiles" and kwargs["Namespace"] == "Loyalty"
        metrics = [
            {"Dimensions": [{"Name": "service", "Value": "loyalty"}, {"Name": "store_id", "Value": store}]}
            for store in sorted(self.files)
        ]
        metrics.append({"Dimensions": [{"Name": "service", "Value": "loyalty"}]})  # another dimension set
        start = int(kwargs.get("NextToken", 0))
        answer: dict[str, Any] = {"Metrics": metrics[start : start + self.page]}
        if start + self.page < len(metrics):
            answer["NextToken"] = str(start + self.page)
        return answer

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        queries = kwargs["MetricDataQueries"]
        self.queries_per_call.append(len(queries))
        assert kwargs["EndTime"] - kwargs["StartTime"] == timedelta(days=14)
        results = []
        for query in queries:
            stat = query["MetricStat"]
            assert stat["Period"] == 3600 and stat["Stat"] == "Sum"
            dimensions = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
            seen = sorted(self.files[dimensions["store_id"]], reverse=True)
            # An hour without files (0) among the points: not a file.
            timestamps, values = [*seen, hour(300)], [*([1.0] * len(seen)), 0.0]
            results.append({"Id": query["Id"], "Timestamps": timestamps, "Values": values})
        if "NextToken" not in kwargs and len(results) > 1:  # the second page carries the rest
            return {"MetricDataResults": results[:1], "NextToken": "more"}
        return {"MetricDataResults": results[1:] if "NextToken" in kwargs else results}

    def put_metric_data(self, **kwargs: Any) -> None:
        assert kwargs["Namespace"] == "Loyalty" and len(kwargs["MetricData"]) <= 1000
        self.puts.append(kwargs)


def put_hours(fake: FakeCloudWatch) -> dict[str, float]:
    found = {}
    for call in fake.puts:
        for datum in call["MetricData"]:
            assert datum["MetricName"] == "StoreHoursSinceFile"
            dimensions = {d["Name"]: d["Value"] for d in datum["Dimensions"]}
            assert dimensions["service"] == "loyalty"
            found[dimensions["store_id"]] = datum["Value"]
    return found


def test_each_store_gets_the_whole_hours_since_its_last_file() -> None:
    fake = FakeCloudWatch(
        {
            "s001": [hour(30), hour(2)],  # a file this morning
            "s002": [hour(27)],  # silent since yesterday: 26 whole hours after the end of that hour
            "s003": [hour(0)],  # a file in the current hour
            "s004": [],  # listed (a file 2 weeks ago) but no point left in the window
        }
    )
    ages = handler.watch(fake, NOW)
    assert ages == {"s001": 1.0, "s002": 26.0, "s003": 0.0, "s004": 14 * 24.0}
    assert put_hours(fake) == ages


def test_stores_are_read_in_batches_and_put_in_batches() -> None:
    stores = {f"s{n:04d}": [hour(n % 40)] for n in range(1200)}
    fake = FakeCloudWatch(stores, page=500)
    ages = handler.watch(fake, NOW)
    assert len(ages) == 1200 and ages["s0039"] == 38.0
    assert max(fake.queries_per_call) == handler.QUERIES_PER_CALL  # 200 stores x 336 hours a call
    assert [len(call["MetricData"]) for call in fake.puts] == [500, 500, 200]
    assert put_hours(fake) == ages


def test_no_store_no_metric() -> None:
    fake = FakeCloudWatch({})
    assert handler.watch(fake, NOW) == {}
    assert fake.puts == []
