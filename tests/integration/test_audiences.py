"""Audiences on DynamoDB Local (and moto's S3 for exports): writes keep each member's segment on the
audience index, the daily job moves the members whose segment drifts, GET /audiences reads what
matches (the same items among 1 k and 10 k members), POST /audiences/exports writes exactly the
matching ids."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bench.local import count_reads
from chalicelib import clock, events
from chalicelib.domain.attribution import Attribution
from chalicelib.domain.model import DORMANT, Member
from chalicelib.program import load_program
from chalicelib.services import jobs, members, points
from chalicelib.store import aws, codec, dynamo, keys
from chalicelib.store.due import audience_attributes, due_attributes
from tests.support import Api, FixedClock, api_client, assert_error, enrol_command, ok, purchase_command

AS_OF = date(2027, 4, 1)
AT_RISK = 100


def _moment(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=load_program().tz)


def at_risk(n: int) -> Member:
    """Last bought 100 days ago, 5 purchase days in the year: R 2, F 3."""
    days = [AS_OF - timedelta(days=100 + 10 * k) for k in range(5)]
    return Member(
        member_id=f"r{n:05d}",
        enrolled_at=_moment(date(2026, 1, 1)),
        version=1,
        tier=("gold", "member")[n % 2],
        status=(DORMANT if n % 5 == 0 else "active"),
        purchase_count=5,
        purchase_days=days,
        spend_by_month={"2026-12": Decimal(900)},
        enrolment=Attribution(store_id=("s1", "s2", None)[n % 3]),
    )


def bought_once(member_id: str, days_ago: int) -> Member:
    """`new` until 14 days after the purchase day, then `promising`."""
    return Member(
        member_id=member_id,
        enrolled_at=_moment(date(2026, 1, 1)),
        version=1,
        purchase_count=1,
        purchase_days=[AS_OF - timedelta(days=days_ago)],
    )


def profile_item(member: Member) -> dict[str, Any]:
    """The profile as a write on the day before AS_OF stored it."""
    state = {**codec.profile_state(member), **due_attributes(member), **audience_attributes(member, AS_OF)}
    if member.member_id.startswith("d"):  # written the day before: due on AS_OF
        state.update(audience_attributes(member, AS_OF - timedelta(days=1)))
    return {**keys.profile_key(member.member_id), **state, "version": member.version}


def write(profiles: list[Member]) -> None:
    client, table = aws.client("dynamodb"), dynamo.table()
    items = [{"PutRequest": {"Item": dynamo.to_item(profile_item(member))}} for member in profiles]
    for start in range(0, len(items), 25):
        pending: dict[str, Any] = {table: items[start : start + 25]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def population(first: int, last: int) -> list[Member]:
    """Members n in [first, last): 100 of the first 1,000 at risk, 100 drifting today, the rest idle."""
    found = []
    for n in range(first, last):
        if n < 1000 and n % 10 == 0:
            found.append(at_risk(n))
        elif n < 1000 and n % 10 == 1:
            found.append(bought_once(f"d{n:05d}", 15))
        else:
            found.append(bought_once(f"i{n:05d}", 3))
    return found


@pytest.fixture
def stack(local_stack: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setattr(clock, "now", FixedClock(_moment(AS_OF, 9)))
    monkeypatch.setattr(events, "publish", lambda batch: 0)
    with api_client() as api:
        yield api


def every_page(api: Api, query: str, limit: int = 30) -> tuple[list[str], int, int]:
    ids: list[str] = []
    cursor, pages, count = None, 0, None
    while True:
        page = ok(api.get(f"/audiences?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else ""), role="ops"))
        count = page["count"] if count is None else count
        assert page["count"] == count and len(page["members"]) <= limit
        ids += [member["member_id"] for member in page["members"]]
        cursor, pages = page["next_cursor"], pages + 1
        if not cursor:
            return ids, count, pages


@pytest.mark.ddb_local
def test_reads_follow_the_audience_not_the_table(stack: Api) -> None:
    wanted = sorted(member.member_id for member in population(0, 1000) if member.member_id.startswith("r"))
    measured = {}
    for first, last in ((0, 1000), (1000, 10_000)):
        write(population(first, last))
        with count_reads() as reads:
            page = ok(stack.get("/audiences?segment=at_risk&limit=100", role="ops"))
        assert sorted(member["member_id"] for member in page["members"]) == wanted and page["count"] == AT_RISK
        assert reads.calls["Scan"] == 0
        measured[last] = reads.items
    assert measured[10_000] / measured[1000] <= 1.1, measured
    assert measured[10_000] <= 2 * AT_RISK + 5, measured  # the page, its count, the key
    print(f"GET /audiences?segment=at_risk items read: {measured}")


@pytest.mark.ddb_local
def test_the_job_refreshes_the_members_whose_segment_drifts_today(stack: Api) -> None:
    for first, last in ((0, 1000), (1000, 10_000)):
        write(population(first, last))
    with count_reads() as reads:
        result = jobs.run("audience", AS_OF)
    assert (result.members_changed, result.members_failed, reads.calls["Scan"]) == (100, 0, 0)
    assert reads.items <= 2 * 100 + 5, reads  # an index entry and a profile per member due
    drifted = {
        member["member_id"] for member in ok(stack.get("/audiences?segment=promising&limit=100", role="ops"))["members"]
    }
    assert drifted == {f"d{n:05d}" for n in range(1, 1000, 10)}
    with count_reads() as again:
        assert jobs.run("audience", AS_OF).members_read == 0
    assert again.items == 0
    print(f"audience job: {reads.items} items read for 100 due among 10 k")


def matching(
    profiles: list[Member], tier: str | None = None, status: str | None = None, store: str | None = None
) -> list[str]:
    return sorted(
        m.member_id
        for m in profiles
        if m.member_id.startswith("r")
        and tier in (None, m.tier)
        and status in (None, m.status)
        and store in (None, m.enrolment.store_id)
    )


@pytest.mark.ddb_local
def test_filters_pages_and_cursors(stack: Api) -> None:
    profiles = population(0, 1000)
    write(profiles)
    for query, wanted in (
        ("", matching(profiles)),
        ("&tier=gold", matching(profiles, "gold")),
        ("&status=dormant", matching(profiles, status="dormant")),
        ("&store_id=s1", matching(profiles, store="s1")),
        ("&tier=member&status=active&store_id=s2", matching(profiles, "member", "active", "s2")),
        ("&status=active&store_id=s1", matching(profiles, status="active", store="s1")),
    ):
        ids, count, _ = every_page(stack, f"segment=at_risk{query}", limit=7)
        assert sorted(ids) == wanted and len(set(ids)) == len(ids) and count == len(wanted), query
    page = ok(stack.get("/audiences?segment=at_risk&limit=2", role="ops"))
    assert set(page["members"][0]) == {"member_id", "segment", "tier", "last_purchase_day"}
    assert page["members"][0]["last_purchase_day"] == (AS_OF - timedelta(days=100)).isoformat()
    # A cursor belongs to its audience: another segment's or filter's use of it is refused.
    error = assert_error(
        stack.get(f"/audiences?segment=at_risk&tier=gold&cursor={page['next_cursor']}", role="ops"),
        400,
        "invalid_request",
    )
    assert error["details"][0]["field"] == "cursor"


@pytest.mark.ddb_local
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "segment"),
        ("segment=vip", "segment"),
        ("segment=at_risk&tier=diamond", "tier"),
        ("segment=at_risk&status=erased", "status"),
        ("segment=at_risk&store_id=..%2Fx", "store_id"),
        ("segment=at_risk&limit=0", "limit"),
        ("segment=at_risk&limit=101", "limit"),
    ],
)
def test_bad_queries_name_their_field(stack: Api, query: str, field: str) -> None:
    error = assert_error(stack.get(f"/audiences?{query}", role="ops"), 400, "invalid_request")
    assert field in [detail["field"] for detail in error["details"]], error
    assert_error(stack.get("/audiences?segment=at_risk"), 403, "forbidden")  # a storefront key


@pytest.mark.ddb_local
def test_an_export_holds_exactly_the_matching_ids(stack: Api) -> None:
    profiles = population(0, 1000)
    write(profiles)
    answer = ok(stack.post("/audiences/exports", {"segment": "at_risk", "tier": "gold"}, role="ops"), 201)
    assert answer["key"].startswith("exports/audiences/") and answer["key"].endswith(".csv")
    body = aws.client("s3").get_object(Bucket=stack_bucket(), Key=answer["key"])["Body"].read().decode()
    rows = list(csv.reader(io.StringIO(body, newline="")))
    assert rows[0] == ["member_id", "segment", "tier", "last_purchase_day"]
    assert sorted(row[0] for row in rows[1:]) == matching(profiles, "gold") and answer["rows"] == len(rows) - 1
    assert {row[1] for row in rows[1:]} == {"at_risk"}
    error = assert_error(
        stack.post("/audiences/exports", {"segment": "at_risk", "phone": "1"}, role="ops"), 400, "invalid_request"
    )
    assert error["details"][0]["field"] == "phone"


def stack_bucket() -> str:
    from chalicelib.config import settings

    return settings().bucket_name


@pytest.mark.ddb_local
def test_export_cells_are_neutralised(stack: Api) -> None:
    from chalicelib.store import objects

    assert objects.put_csv(stack_bucket(), "exports/t.csv", ["=a"], [["=1+1", "-5", "ok"]]) == 1
    body = aws.client("s3").get_object(Bucket=stack_bucket(), Key="exports/t.csv")["Body"].read().decode()
    assert list(csv.reader(io.StringIO(body, newline=""))) == [["'=a"], ["'=1+1", "'-5", "ok"]]


def audience_of(member_id: str) -> tuple[str | None, str | None]:
    item = dynamo.get(keys.profile_key(member_id)) or {}
    segment = item.get(keys.AUDIENCE_KEY)
    return (segment.split("#")[0] if segment else None), item.get(keys.DUE_AUDIENCE.attribute)


@pytest.mark.ddb_local
def test_writes_store_the_segment_and_the_job_moves_it_on_its_day(stack: Api) -> None:
    first = AS_OF - timedelta(days=20)
    clock.now = FixedClock(_moment(first))  # type: ignore[method-assign]  # restored by the fixture
    members.enrol(enrol_command({"member_id": "m1"}))
    assert audience_of("m1") == ("no_purchase", None)
    points.record_purchase(purchase_command("m1", {"order_id": "o1", "amount": Decimal(50), "currency": "CNY"}))
    assert audience_of("m1") == ("new", (first + timedelta(days=15)).isoformat())
    assert jobs.run("audience", first + timedelta(days=14)).members_read == 0
    assert jobs.run("audience", first + timedelta(days=15)).members_changed == 1
    assert audience_of("m1") == ("promising", (first + timedelta(days=46)).isoformat())
    clock.now = FixedClock(_moment(first + timedelta(days=16)))  # type: ignore[method-assign]
    points.record_purchase(purchase_command("m1", {"order_id": "o2", "amount": Decimal(50), "currency": "CNY"}))
    assert audience_of("m1")[0] == "potential_loyalist"  # by the write itself, no job
    members.erase("m1")
    assert audience_of("m1") == (None, None)
    assert ok(stack.get("/audiences?segment=potential_loyalist", role="ops"))["count"] == 0


@pytest.mark.ddb_local
def test_the_backfill_puts_members_stored_before_the_index_on_it(stack: Api) -> None:
    from chalicelib.services import audience_job

    profiles = population(0, 200)
    write(profiles)
    stripped = [member.member_id for member in profiles[:50]]
    for member_id in stripped:  # as stored before the index: no audience attributes
        aws.client("dynamodb").update_item(
            TableName=dynamo.table(),
            Key=dynamo.to_item(keys.profile_key(member_id)),
            UpdateExpression="REMOVE audience_key, audience_sort, audience_day, due_audience_at",
        )
    dayless = [member.member_id for member in profiles[50:80]]
    for member_id in dayless:  # an entry stored before it had its day (which the KPIs count from)
        aws.client("dynamodb").update_item(
            TableName=dynamo.table(),
            Key=dynamo.to_item(keys.profile_key(member_id)),
            UpdateExpression="REMOVE audience_day",
        )
    members.erase("i00199")
    assert ok(stack.get("/audiences?segment=at_risk", role="ops"))["count"] == 15

    result = audience_job.backfill(AS_OF)
    assert (result.members_read, result.members_changed, result.members_failed) == (200, 80, 0)
    assert ok(stack.get("/audiences?segment=at_risk", role="ops"))["count"] == 20
    assert all(audience_of(member_id)[0] for member_id in stripped)
    days = [dynamo.get(keys.profile_key(member_id)) or {} for member_id in stripped + dayless]
    assert {item.get(keys.AUDIENCE_DAY) for item in days} == {AS_OF.isoformat()}
    assert audience_of("i00199") == (None, None)
    assert audience_job.backfill(AS_OF).members_changed == 0  # safe to run again
