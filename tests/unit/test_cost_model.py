"""The arithmetic behind bench/cost.py: AWS's billing units and rounding, and dollars from usage."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench import cost_model as model


@pytest.mark.parametrize(
    ("size", "standard", "transactional"),
    [(0, 1, 2), (1, 1, 2), (1024, 1, 2), (1025, 2, 4), (3000, 3, 6), (10 * 1024, 10, 20)],
)
def test_write_units_round_each_item_up_to_the_kb_and_double_in_a_transaction(
    size: int, standard: int, transactional: int
) -> None:
    assert model.write_units(size) == standard
    assert model.write_units(size, transactional=True) == transactional


@pytest.mark.parametrize(
    ("size", "consistent", "transactional", "units"),
    [(100, True, False, 1.0), (100, False, False, 0.5), (4096, True, False, 1.0), (4097, True, False, 2.0)],
)
def test_read_units_per_4_kb(size: int, consistent: bool, transactional: bool, units: float) -> None:
    assert model.read_units(size, consistent, transactional) == units


def test_a_transactional_read_costs_double() -> None:
    assert model.read_units(9000, transactional=True) == 6.0


def test_item_size_counts_names_and_values() -> None:
    item: dict[str, Any] = {
        "pk": {"S": "MEMBER#m1"},  # 2 + 9
        "n": {"N": "12345"},  # 1 + (3 + 1)
        "ok": {"BOOL": True},  # 2 + 1
        "m": {"M": {"a": {"S": "xy"}}},  # 1 + 3 + (1 + 1 + 2)
        "l": {"L": [{"N": "0.50"}]},  # 1 + 3 + (1 + 2)
    }
    assert model.item_size(item) == 11 + 5 + 3 + 8 + 7
    assert model.item_size({"name": {"S": "é"}}) == 4 + 2  # UTF-8 bytes, not characters
    assert model.item_size(None) == 0


def test_numbers_cost_a_byte_per_two_significant_digits_plus_one() -> None:
    assert model.number_size("0") == 2
    assert model.number_size("100") == 2  # trailing zeros trimmed
    assert model.number_size("-1234.5") == 4
    assert model.number_size("0.00012") == 2


LEDGER = model.Index("by_time", ("pk", "ts"), ("points",), local=True)
MEMBERS = model.Index("members", ("member_shard", "sk"), ())
KEYS = ("pk", "sk")


def _item(**attributes: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": "p"}, "sk": {"S": "s"}, **{name: {"S": value} for name, value in attributes.items()}}


def test_a_new_item_writes_the_table_and_each_index_it_has_keys_for() -> None:
    new = _item(ts="t1", points="5", big="x" * 1500)
    units = model.record_write_units(None, new, [LEDGER, MEMBERS], KEYS, transactional=True)
    assert units == {"table": 4, "by_time": 2}  # 2 KB item x2; the index's small copy x2; no shard: no members copy


def test_an_update_bills_the_larger_image_and_only_the_indexes_whose_copy_changed() -> None:
    old = _item(ts="t1", points="5", member_shard="3", note="x" * 2000)
    new = _item(ts="t1", points="5", member_shard="3", note="short")
    units = model.record_write_units(old, new, [LEDGER, MEMBERS], KEYS, transactional=False)
    assert units == {"table": 2}  # neither index's copy changed


def test_an_index_key_change_is_a_delete_and_a_put() -> None:
    old, new = _item(ts="t1", points="5"), _item(ts="t2", points="5")
    assert model.record_write_units(old, new, [LEDGER], KEYS, transactional=False) == {"table": 1, "by_time": 2}
    old, new = _item(ts="t1", points="5"), _item(ts="t1", points="6")
    assert model.record_write_units(old, new, [LEDGER], KEYS, transactional=False) == {"table": 1, "by_time": 1}
    assert model.record_write_units(old, None, [LEDGER], KEYS, transactional=False) == {"table": 1, "by_time": 1}


def test_what_a_write_does_to_an_index() -> None:
    assert model.index_change(None, _item(ts="t1"), LEDGER, KEYS)[0] == "put"
    assert model.index_change(_item(ts="t1"), _item(ts="t2"), LEDGER, KEYS)[0] == "move"
    assert model.index_change(_item(ts="t1"), _item(), LEDGER, KEYS)[0] == "delete"
    assert model.index_change(_item(ts="t1", points="1"), _item(ts="t1", points="2"), LEDGER, KEYS)[0] == "update"
    assert model.index_change(_item(ts="t1", x="1"), _item(ts="t1", x="2"), LEDGER, KEYS) == ("none", [])


def test_indexes_of_a_table_definition() -> None:
    definition = {
        "LocalSecondaryIndexes": [
            {
                "IndexName": "by_time",
                "KeySchema": [{"AttributeName": "pk"}, {"AttributeName": "ts"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["points"]},
            }
        ],
        "GlobalSecondaryIndexes": [
            {"IndexName": "all", "KeySchema": [{"AttributeName": "g"}], "Projection": {"ProjectionType": "ALL"}}
        ],
    }
    assert model.indexes_of(definition) == [
        model.Index("by_time", ("pk", "ts"), ("points",), local=True),
        model.Index("all", ("g",), None),
    ]
    everything = _item(g="1", other="x" * 3000)
    assert model.index_entry(everything, model.indexes_of(definition)[1], KEYS) == everything


@pytest.mark.parametrize(("size", "chunks"), [(0, 1), (1, 1), (64 * 1024, 1), (64 * 1024 + 1, 2), (256 * 1024, 4)])
def test_sqs_and_eventbridge_bill_per_64_kb_chunk(size: int, chunks: int) -> None:
    assert model.chunks_64kb(size) == chunks


def test_lambda_bills_each_invocation_rounded_up_to_the_millisecond() -> None:
    assert model.billed_ms(0.0) == 1
    assert model.billed_ms(0.0101) == 11
    assert model.billed_ms(0.010) == 10
    function = model.Function(memory_mb=2048)
    function.add(0.5)
    function.add(0.0004)
    assert (function.invocations, function.billed_ms) == (2, 501)
    assert function.gb_seconds == pytest.approx(2 * 0.501)


def test_stream_batches_at_a_steady_rate_fill_the_window_up_to_the_batch_size() -> None:
    assert model.stream_invocations(1000, 500, 30, 100.0) == 2  # a window brings 3,000: full batches
    assert model.stream_invocations(1000, 100, 1, 20.0) == 50  # a window brings 20
    assert model.stream_invocations(1000, 100, 1, 0.2) == 1000  # fewer than one a window: one each
    assert model.stream_invocations(0, 100, 1, 20.0) == 0
    function = model.Function(1024, invocations=7, billed_ms=700)
    function.rebatch(2)
    assert (function.invocations, function.billed_ms) == (2, 700)


def test_dollars_by_service_at_the_published_prices() -> None:
    usage = model.Usage(
        api_requests=1_000_000,
        read_units=1_000_000,
        write_units=10_000_000,
        events=2_000_000,
        sqs_requests=3_000_000,
        s3_puts=1000,
        s3_gets=1000,
        log_bytes=2 * 1024**3,
    )
    api = usage.function("api", 1024)
    for _ in range(10):
        api.add(0.1)  # 10 x 100 ms at 1 GB = 1 GB-s
    cost = model.dollars(usage)
    assert cost["API Gateway"] == pytest.approx(3.50)
    assert model.dollars(usage, http_api=True)["API Gateway"] == pytest.approx(1.00)
    assert cost["DynamoDB writes"] == pytest.approx(6.25)  # $0.625 per million WRU
    assert cost["DynamoDB reads"] == pytest.approx(0.125)
    assert cost["EventBridge"] == pytest.approx(2.00)
    assert cost["SQS"] == pytest.approx(1.20)
    assert cost["S3"] == pytest.approx(0.005 + 0.0004)
    assert cost["CloudWatch Logs"] == pytest.approx(1.00)
    assert cost["Lambda requests"] == pytest.approx(10 * 0.20 / 1_000_000)
    assert cost["Lambda GB-s"] == pytest.approx(model.LAMBDA_PER_GB_SECOND_ARM)
    assert list(cost) == list(model.SERVICES)


def test_per_million_and_the_table_total() -> None:
    per = model.per_million({"API Gateway": 0.35, "DynamoDB writes": 0.5}, 100_000)
    assert per == {"API Gateway": pytest.approx(3.5), "DynamoDB writes": pytest.approx(5.0)}
    lines = model.table({"per 1M earns": per})
    assert lines[-1].split()[-1] == "8.5000"
    assert not any(line.startswith("SQS") for line in lines)  # zero rows are left out
    assert math.isclose(sum(per.values()), 8.5)
