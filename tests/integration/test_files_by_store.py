"""GET /files?store_id= without a date (ops): the store's files, newest first, paged with the signed
cursor of GET /stores/{store_id}/files, whose listing it is."""

from __future__ import annotations

from collections import Counter

import pytest

from chalicelib import clock, config
from chalicelib.services import keys as api_keys
from tests.integration.test_api_stores import NOW, _record_run
from tests.integration.test_ingest_files import BUCKET
from tests.support import Api, FixedClock, assert_error, count_dynamodb_calls, ok


@pytest.fixture
def ops(api: Api, monkeypatch: pytest.MonkeyPatch) -> Api:
    monkeypatch.setenv("BUCKET_NAME", BUCKET)
    config.reset()
    monkeypatch.setattr(clock, "now", FixedClock(NOW))
    api.keys["s1"] = api_keys.create_key("store", "till s1", store_id="s1")[1]
    return api


def pages(api: Api, path: str, limit: int) -> tuple[list[str], int]:
    seen: list[str] = []
    cursor, count = None, 0
    while True:
        page = ok(api.get(f"{path}&limit={limit}" + (f"&cursor={cursor}" if cursor else ""), role="ops"))
        assert page["store_id"] == "s1" and len(page["files"]) <= limit
        seen += [report["file_id"] for report in page["files"]]
        cursor, count = page["next_cursor"], count + 1
        if not cursor:
            return seen, count


def test_120_files_of_a_store_page_newest_first_without_repeats(ops: Api) -> None:
    mine = [_record_run("s1", n) for n in range(120)]
    for n in range(0, 120, 7):
        _record_run("s2", n)  # another store's files never show

    seen, count = pages(ops, "/files?store_id=s1", 25)

    assert seen == list(reversed(mine)) and len(set(seen)) == 120
    assert count == 5
    # the same listing as the store's own route: the same pages, and its cursors work on both paths
    assert pages(ops, "/stores/s1/files?", 25)[0] == seen
    cursor = ok(ops.get("/stores/s1/files?limit=30", role="s1"))["next_cursor"]
    assert ok(ops.get(f"/files?store_id=s1&limit=30&cursor={cursor}", role="ops"))["files"][0]["file_id"] == mine[89]
    with count_dynamodb_calls() as calls:
        ok(ops.get(f"/files?store_id=s1&limit=30&cursor={cursor}", role="ops"))
    assert calls == Counter({"GetItem": 1, "Query": 1, "BatchGetItem": 1})  # the key, one page


def test_with_a_date_the_day_listing_is_unchanged(ops: Api) -> None:
    for n in range(3):
        _record_run("s1", n)
    day = ok(ops.get("/files?date=2026-11-21&store_id=s1", role="ops"))
    assert set(day) == {"date", "store_id", "files"} and len(day["files"]) == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "store_id"),
        ("?limit=10", "store_id"),
        ("?store_id=a%23b", "store_id"),
        ("?store_id=s1&limit=0", "limit"),
        ("?store_id=s1&limit=101", "limit"),
        ("?store_id=s1&cursor=" + "a" * 2001, "cursor"),
        ("?store_id=s1&cursor=not-a-cursor", "cursor"),
        ("?date=2026-11-21&store_id=s1&cursor=abc", "cursor"),
        ("?date=2026-13-01", "date"),
    ],
)
def test_a_bad_files_query_is_refused_with_its_field(ops: Api, query: str, field: str) -> None:
    error = assert_error(ops.get(f"/files{query}", role="ops"), 400, "invalid_request")
    assert [detail["field"] for detail in error["details"]] == [field], error


def test_a_store_key_cannot_list_through_files(ops: Api) -> None:
    assert_error(ops.get("/files?store_id=s1", role="s1"), 403, "forbidden")
