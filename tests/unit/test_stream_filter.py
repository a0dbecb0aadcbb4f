"""The evaluator of Lambda filter patterns (the subset chalicelib/store/stream_filter.py uses)."""

from __future__ import annotations

import json

import pytest

from chalicelib.store.stream_filter import KPI_ROLLUP_PATTERNS, filter_criteria, matches, passes


def record(sort_key: str, event: str = "INSERT") -> dict:
    return {"eventName": event, "dynamodb": {"Keys": {"pk": {"S": "MEMBER#m1"}, "sk": {"S": sort_key}}}}


@pytest.mark.parametrize(
    ("sort_key", "event", "expected"),
    [
        ("MEMBER", "INSERT", True),
        ("MEMBER", "MODIFY", True),
        ("MEMBER", "REMOVE", True),
        ("MEMBER#LOT#2026-11", "MODIFY", False),
        ("MEMBER#PENDING#e1", "INSERT", False),
        ("TX#purchase#o1", "INSERT", True),
        ("TX#purchase#o1", "MODIFY", False),
        ("TX#purchase#o1", "REMOVE", False),
        ("COUPON#C1", "INSERT", True),
        ("COUPON#C1", "MODIFY", True),
        ("COUPON#C1", "REMOVE", False),
        ("SEEN", "INSERT", False),
        ("2026-11-21", "MODIFY", False),
    ],
)
def test_the_kpi_patterns_pass_profiles_new_ledger_entries_and_coupon_writes_only(
    sort_key: str, event: str, expected: bool
) -> None:
    assert passes(record(sort_key, event), KPI_ROLLUP_PATTERNS) is expected


def test_no_patterns_pass_everything() -> None:
    assert passes(record("ACTIVITY#2026-11-21#check_in"), None)


def test_operators() -> None:
    value = {"a": {"b": "TX#1"}, "n": 5}
    assert matches({"a": {"b": [{"prefix": "TX#"}]}}, value)
    assert not matches({"a": {"b": [{"prefix": "MEMBER"}]}}, value)
    assert matches({"a": {"b": [{"anything-but": ["TX#2"]}]}}, value)
    assert not matches({"a": {"b": [{"anything-but": "TX#1"}]}}, value)
    assert matches({"n": [4, 5]}, value) and not matches({"n": [4]}, value)
    assert matches({"missing": [{"exists": False}]}, value) and not matches({"n": [{"exists": False}]}, value)
    assert not matches({"missing": [{"anything-but": ["x"]}]}, value), "anything-but needs the field"
    assert not matches({"a": {"c": {"d": ["x"]}}}, value), "a nested field that is missing"
    assert not matches({"n": [{"prefix": "5"}]}, value), "prefix applies to strings"
    with pytest.raises(ValueError, match="numeric"):
        matches({"n": [{"numeric": [">", 1]}]}, value)


def test_filter_criteria_are_the_patterns_as_json() -> None:
    criteria = filter_criteria(KPI_ROLLUP_PATTERNS)
    assert [json.loads(f["Pattern"]) for f in criteria["Filters"]] == list(KPI_ROLLUP_PATTERNS)
