"""Large files fan out into chunks (moto): the same outcome as one chunk, chunks delivered twice,
a chunk failing half-way and retried, crashes between the steps of a chunk."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib import events
from chalicelib.services import points
from chalicelib.services.sales_files import limits, queue, reports, tasks
from chalicelib.store import file_runs, objects
from tests.integration.conftest import TABLE
from tests.integration.test_ingest_files import (  # the shared harness
    Harness,
    available,
    counts,
    csv_file,
    enrol,
    ingest,  # noqa: F401  (fixture)
    ret,
    sale,
)
from tests.support import Outbox

MEMBERS = [f"m{i}" for i in range(6)]


def day_file(prefix: str, rows: int = 40, seed: int = 7) -> str:
    """Sales of 6 members and non-members, duplicates, returns before and after their sales, a few
    bad rows; small amounts so no member changes tier (points do not depend on the order)."""
    rnd = random.Random(seed)
    lines: list[str] = []
    for i in range(rows):
        member = rnd.choice([*(f"{prefix}{m}" for m in MEMBERS), ""])
        lines.append(sale(f"r{i}", f"{rnd.randint(100, 9000) / 100:.2f}", member))
    lines.insert(3, ret("x1", "r30", "1.00"))  # a return whose sale comes in a later chunk
    lines.append(ret("x2", "r5", "0.50"))
    lines.append(ret("x3", "r6", "999.00"))  # larger than the sale
    lines.append(sale("r7", "1.00", f"{prefix}m0"))  # r7 again with another body: conflict
    lines.append(lines[10])  # a duplicate
    lines.append(sale("bad", "1.001"))
    return csv_file(*lines)


def balances(prefix: str) -> list[int]:
    return [available(f"{prefix}{m}") for m in MEMBERS]


def _no_ids(report: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in report.items()
        if k not in ("file_id", "key", "store_id", "started_at", "finished_at", "rejects_key", "report_key")
    }


@pytest.fixture
def clean(ingest: Harness) -> dict[str, Any]:  # noqa: F811
    """The file for store s1 / members a*, applied as one chunk: what every other run must match."""
    enrol(*(f"a{m}" for m in MEMBERS))
    report = ingest.run(day_file("a"))
    assert report["status"] == "completed"
    return {"report": report, "balances": balances("a"), "rejects": ingest.reasons()}


def run_fanned_out(
    ingest: Harness,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    prefix: str = "b",
    store: str = "s2",
) -> dict[str, Any]:
    monkeypatch.setattr(limits, "ROWS_PER_CHUNK", 4)
    enrol(*(f"{prefix}{m}" for m in MEMBERS))
    body = day_file(prefix).replace("\ns1,", f"\n{store},")
    ingest.upload(body, store=store)
    ingest.deliver()
    return ingest.report(store=store)


def test_a_fanned_out_file_gives_the_same_report_and_balances(
    ingest: Harness,  # noqa: F811
    clean: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[int] = []
    enqueue = tasks.enqueue

    def counting(tasks: list[tasks.ChunkTask]) -> None:
        sent.append(len(tasks))
        enqueue(tasks)

    monkeypatch.setattr(tasks, "enqueue", counting)
    published: list[str] = []
    publish = events.publish

    def record(items: Any) -> set[int]:
        published.extend(event.detail_type for event in items)
        return publish(items)

    monkeypatch.setattr(events, "publish", record)
    outbox = Outbox(TABLE)  # the file's event comes from the table's stream

    report = run_fanned_out(ingest, monkeypatch)
    outbox.deliver()

    assert len(sent) == 2 and sent[0] > 5  # the sales chunks, then the chunks holding returns
    assert _no_ids(report) == _no_ids(clean["report"])
    assert balances("b") == clean["balances"]
    assert ingest.reasons(store="s2") == clean["rejects"]  # sorted by row across chunks and phases
    assert published.count("file.completed") == 1  # one chunk, the last, wrote the report


def test_every_chunk_delivered_twice_changes_nothing_twice(
    ingest: Harness,  # noqa: F811
    clean: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enqueue = tasks.enqueue
    monkeypatch.setattr(tasks, "enqueue", lambda tasks: enqueue([*tasks, *tasks]))
    report = run_fanned_out(ingest, monkeypatch)
    assert _no_ids(report) == _no_ids(clean["report"])
    assert balances("b") == clean["balances"]


def fail_once(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, after: int) -> list[int]:
    """Make owner.name raise on its (after+1)-th call, once; returns the call counter."""
    original: Callable[..., Any] = getattr(owner, name)
    calls = [0]

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == after + 1:
            raise RuntimeError(f"injected failure in {name}")
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, flaky)
    return calls


@pytest.mark.parametrize(
    ("owner", "name", "after"),
    [
        (points, "record_purchase", 9),  # half-way through a chunk: some rows applied, then a crash
        (points, "record_return", 0),  # in the returns phase
        (file_runs, "commit_chunk", 3),  # rows applied, counts not committed
        (file_runs, "advance", 5),  # committed, the next phase not started
        (objects, "put_json", 0),  # while writing the report
        (tasks, "enqueue", 1),  # the returns phase half-queued
    ],
)
def test_a_chunk_failing_half_way_and_redelivered_ends_as_a_clean_run(
    ingest: Harness,  # noqa: F811
    clean: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    owner: Any,
    name: str,
    after: int,
) -> None:
    calls = fail_once(monkeypatch, owner, name, after)
    report = run_fanned_out(ingest, monkeypatch)
    assert calls[0] > after + 1  # the failure happened, and the work went on after the redelivery
    assert _no_ids(report) == _no_ids(clean["report"])
    assert balances("b") == clean["balances"]


def test_a_chunk_of_a_finished_file_is_ignored(ingest: Harness, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    report = run_fanned_out(ingest, monkeypatch)
    message = tasks.ChunkTask(report["file_id"], file_runs.SALES, 0, 0, 10, 2).message()
    before = file_runs.get_file(report["file_id"])
    queue.handle_message(message)
    assert file_runs.get_file(report["file_id"]) == before


def test_queue_messages_that_are_not_ours_are_ignored(ingest: Harness) -> None:  # noqa: F811
    assert queue.handle_messages([("1", "not json"), ("2", json.dumps({"Event": "s3:TestEvent"}))]) == []


def test_a_file_replaced_while_its_chunks_run_fails_with_file_replaced(
    ingest: Harness,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "ROWS_PER_CHUNK", 2)
    enrol("m1")
    key = ingest.upload(csv_file(*(sale(f"r{i}", "1.00", "m1") for i in range(6))))
    ingest.deliver(limit=1)  # the file is planned, its chunks queued
    ingest.upload(csv_file(sale("z", "2.00", "m1")))  # a new version of the same key
    ingest.deliver()
    runs = {run["status"]: run for run in reports.file_reports("2026-11-21", "s1")["files"]}
    assert sorted(runs) == ["completed", "failed"]
    assert runs["failed"]["reason"] == "file_replaced" and runs["failed"]["key"] == key
    assert counts(ingest.report()) == (1, 1, 0, 0)  # reports/ holds the new upload's report
