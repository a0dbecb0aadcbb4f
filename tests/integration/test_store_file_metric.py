"""Each completed sales file emits IngestStoreFiles with the dimensions {service, store_id}: the
input of the StoreSilent alarm (infra/store_watch/handler.py lists the stores from it). A failed
file emits none (the store sent nothing usable; FilesFailed alarms on it)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.test_ingest_files import Harness, csv_file, enrol, ingest, sale  # noqa: F401  (fixture)


def emf_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]


def store_files_metrics(output: str) -> list[dict[str, Any]]:
    found = []
    for line in emf_lines(output):
        for directive in line["_aws"]["CloudWatchMetrics"]:
            if any(m["Name"] == "IngestStoreFiles" for m in directive["Metrics"]):
                found.append({"namespace": directive["Namespace"], "dimensions": directive["Dimensions"], **line})
    return found


def test_a_completed_file_counts_for_its_store(ingest: Harness, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    enrol("m1")
    capsys.readouterr()
    report = ingest.run(csv_file(sale("r1", "12.00", "m1", store="st9"), sale("r2", "3.00", store="st9")), store="st9")
    assert report["status"] == "completed"
    (metric,) = store_files_metrics(capsys.readouterr().out)
    assert metric["namespace"] == "Loyalty"
    assert [sorted(d) for d in metric["dimensions"]] == [["service", "store_id"]]
    assert (metric["service"], metric["store_id"], metric["IngestStoreFiles"]) == ("loyalty", "st9", [1.0])


def test_a_failed_file_does_not(ingest: Harness, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    capsys.readouterr()
    assert ingest.run(b"", store="st9")["status"] == "failed"
    assert store_files_metrics(capsys.readouterr().out) == []
