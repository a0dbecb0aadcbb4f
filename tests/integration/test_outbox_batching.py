"""The outbox's handler on the stream of a 10k-row sales file's earns: 10 events per PutEvents call,
a partly refused call retried for its failed entries only, and a batch that keeps failing reported
by its first record (Lambda's ReportBatchItemFailures: retried from there, then the on-failure queue).

The stream records are the ones the earns' transactions write (store/members.transaction_items, as
the ingestion commits them), in Lambda's format; the bus is moto's. No table is needed: applying
10k rows on DynamoDB Local takes minutes (test_outbox.py does a 1k-row file end to end)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib import events
from chalicelib.domain import rules
from chalicelib.domain.outbox import OUTBOX
from chalicelib.program import load_program
from chalicelib.store import aws, members, stream_filter
from tests.support import moto_stack
from tests.unit._support import new_member

TABLE, BUS = "loyalty-outbox", "loyalty-outbox-bus"
NOW = datetime(2026, 11, 21, 18, tzinfo=ZoneInfo("Asia/Shanghai"))
ROWS, MEMBERS, BATCH = 10_000, 1_000, 100  # BATCH: app.py's event_outbox batch size


@pytest.fixture(scope="module")
def file_records() -> list[dict[str, Any]]:
    """The stream records a 10k-row file of small purchases writes (one earn per row)."""
    with moto_stack(TABLE, BUS):
        program = load_program()
        state = {f"m{i}": new_member(datetime(2026, 1, 5, tzinfo=NOW.tzinfo), f"m{i}") for i in range(MEMBERS)}
        records = []
        for row in range(ROWS):
            member_id = f"m{row % MEMBERS}"
            purchase = rules.Purchase(order_id=f"s1/r{row}", amount=Decimal("3.00"), occurred_at=NOW)
            change, _ = rules.record_purchase(program, state[member_id], purchase, NOW)
            items, _ = members.transaction_items(members.Commit([change], "f" * 64, {"row": row}), NOW)
            for op in items:
                records.append(stream_record(op, len(records)))
            change.after.version += 1
            state[member_id] = change.after
        return records


def stream_record(op: dict[str, Any], n: int) -> dict[str, Any]:
    """A transaction item as the stream gives it to Lambda (a put: INSERT with its new image; an
    update: MODIFY, its images left out, which the outbox's filter drops unless they hold an outbox)."""
    ((kind, body),) = op.items()
    image = body.get("Item") or body["Key"]
    return {
        "eventName": "INSERT" if kind == "Put" else "MODIFY",
        "dynamodb": {
            "Keys": {"pk": image["pk"], "sk": image["sk"]},
            **({"NewImage": image} if kind == "Put" else {}),
            "SequenceNumber": f"{n:021d}",
        },
    }


@pytest.fixture
def bus() -> Iterator[list[int]]:
    """moto's bus; the size of every PutEvents call the app makes."""
    calls: list[int] = []
    with moto_stack(TABLE, BUS):
        hooks = aws.client("events").meta.events
        count = lambda params, **_: calls.append(len(params["Entries"]))  # noqa: E731
        hooks.register("before-parameter-build.eventbridge.PutEvents", count)
        yield calls
        hooks.unregister("before-parameter-build.eventbridge.PutEvents", count)


def handle(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lambda's side: the mapping's filter, then batches of BATCH to the handler."""
    from app import app

    wanted = [r for r in records if stream_filter.passes(r, stream_filter.PATTERNS_BY_HANDLER["event_outbox"])]
    return [
        app.handler_map["event_outbox"]({"Records": wanted[i : i + BATCH]}, None) for i in range(0, len(wanted), BATCH)
    ]


def test_a_10k_row_file_takes_one_put_events_call_per_10_member_rows(
    file_records: list[dict[str, Any]], bus: list[int]
) -> None:
    with_outbox = [r for r in file_records if OUTBOX in r["dynamodb"].get("NewImage", {})]
    assert len(with_outbox) == ROWS  # the outbox rides on each earn's ledger entry
    answers = handle(file_records)
    assert all(answer == {"batchItemFailures": []} for answer in answers)
    assert sum(bus) == ROWS  # one points.earned per row
    assert len(bus) <= ROWS // 10 and set(bus) == {10}


def outbox_records(file_records: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    patterns = stream_filter.PATTERNS_BY_HANDLER["event_outbox"]
    return [r for r in file_records if stream_filter.passes(r, patterns)][:n]


def test_entries_the_bus_refuses_are_retried_alone(
    file_records: list[dict[str, Any]], bus: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = aws.client("events")
    real = client.put_events
    refused: list[str] = []

    def refusing_the_first_once(Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if refused:
            return real(Entries=Entries)
        refused.append(json.loads(Entries[0]["Detail"])["event_id"])
        answer = real(Entries=Entries[1:])
        failed = {"ErrorCode": "InternalFailure", "ErrorMessage": "injected"}
        return {"FailedEntryCount": 1 + answer["FailedEntryCount"], "Entries": [failed, *answer["Entries"]]}

    monkeypatch.setattr(client, "put_events", refusing_the_first_once)
    (answer,) = handle(outbox_records(file_records, 50))
    assert answer == {"batchItemFailures": []}
    assert refused == ["m0/purchase#s1/r0/0"]
    assert sum(bus) == 50 and bus[-1] == 1  # the refused entry, sent again by itself


def emf_value(stdout: str, name: str) -> float:
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith('{"_aws"') and name in line]
    return sum(sum(v) if isinstance(v := line[name], list) else v for line in lines)


def test_events_still_refused_after_the_retries_report_their_first_record_for_the_on_failure_queue(
    file_records: list[dict[str, Any]], bus: list[int], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    client = aws.client("events")
    real = client.put_events
    calls: list[int] = []

    def refusing_all_but_the_first_five(Entries: list[dict[str, Any]]) -> dict[str, Any]:
        calls.append(len(Entries))
        answer = real(Entries=Entries[:5]) if len(calls) == 1 else {"FailedEntryCount": 0, "Entries": []}
        throttled = {"ErrorCode": "ThrottlingException", "ErrorMessage": "injected"}
        failed = [throttled] * (len(Entries) - len(answer["Entries"]))
        return {"FailedEntryCount": len(failed), "Entries": [*answer["Entries"], *failed]}

    monkeypatch.setattr(client, "put_events", refusing_all_but_the_first_five)
    records = outbox_records(file_records, 30)
    capsys.readouterr()
    (answer,) = handle(records)
    # Lambda retries the batch from this record, then sends the rest to the mapping's on-failure
    # queue (infra/: an encrypted SQS queue, alarmed): the first five events went out already.
    assert answer == {"batchItemFailures": [{"itemIdentifier": records[5]["dynamodb"]["SequenceNumber"]}]}
    assert calls == [10, 10, 10, *[10, 10, 5] * (events.PUBLISH.attempts - 1)]
    assert sum(bus) == 5
    assert emf_value(capsys.readouterr().out, "EventsFailed") == 25
