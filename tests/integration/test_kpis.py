"""GET /kpis against figures computed independently from a generated history.

A seeded history of members runs day by day through the API on the local stack (DynamoDB Local and
its stream, moto for the bus), with the jobs at the end of each day. The test keeps its own books:
each day's stocks are read from the members themselves, the flows are recomputed from the ledger
entries with code that shares nothing with the roll-up. Then the stream is delivered to the
roll-up handler (twice: the second delivery must change nothing) and every figure of every day is
compared with /kpis.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from bench.local import count_reads
from chalicelib import clock, config
from chalicelib.program import PROGRAM_FILE, load_program
from chalicelib.services import jobs
from chalicelib.store import dynamo, keys
from chalicelib.store.members import load_member
from loyalty_tools.local.stack import LocalResources
from loyalty_tools.local.streams import StreamPump
from tests.support import Api, FixedClock, api_client, ok

pytestmark = [pytest.mark.ddb_local, pytest.mark.stream]

START = date(2026, 3, 1)
DAYS = 70
CENT = Decimal("0.01")
JOB_NAMES = ("pending", "expiry", "tier-review", "dormant")


@pytest.fixture
def program_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Short windows, so that a 70-day history has expiries, dormancy and reactivations."""
    program = json.loads(PROGRAM_FILE.read_text(encoding="utf-8"))
    program.update(dormant_after_days=12, expiry_months=1)
    path = tmp_path / "program.json"
    path.write_text(json.dumps(program, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("PROGRAM_FILE", str(path))
    load_program.cache_clear()
    config.reset()
    yield
    load_program.cache_clear()


class Books:
    """What the test itself knows: stocks per day (read from the members), and the members."""

    def __init__(self) -> None:
        self.members: list[str] = []
        self.stocks: dict[date, dict[str, Any]] = {}
        self.status: dict[date, dict[str, str]] = {}

    def close_day(self, day: date) -> None:
        tiers: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        outstanding = 0
        self.status[day] = {}
        for member_id in self.members:
            member = load_member(member_id)
            assert member is not None
            self.status[day][member_id] = member.status
            statuses[member.status] += 1
            if member.status != "erased":
                tiers[member.tier] += 1
            outstanding += member.available + member.pending_points
        self.stocks[day] = {"tiers": tiers, "statuses": statuses, "outstanding": outstanding}


def local_day(moment: str) -> date:
    return datetime.fromisoformat(moment).astimezone(load_program().tz).date()


class History:
    """A seeded history driven through the API, one day at a time, with the jobs at each day's end."""

    def __init__(self, api: Api, books: Books, seed: int = 7) -> None:
        self.api, self.books, self.rnd = api, books, random.Random(seed)
        self.habits: dict[str, float] = {}
        self.orders: list[tuple[str, str, Decimal]] = []

    def run(self) -> None:
        tz = load_program().tz
        for offset in range(DAYS):
            day = START + timedelta(days=offset)
            moment = datetime.combine(day, time(10, 0), tz)
            clock.now = FixedClock(moment)  # type: ignore[assignment]  # the fixture restores it
            if offset < 45 and self.rnd.random() < 0.6:
                self.enrol()
            self.purchases(offset, moment)
            self.returns(offset)
            self.redemptions_and_activities(offset)
            if offset == 20:
                adjustment = {"adjustment_id": "fix-1", "points": 75, "reason": "goodwill"}
                ok(self.api.post(f"/members/{self.books.members[0]}/adjustments", adjustment, role="ops"), 201)
            if offset == 50:
                ok(self.api.call("DELETE", f"/members/{self.books.members[1]}", role="ops"))
            for name in JOB_NAMES:
                jobs.run(name, as_of=day)
            self.books.close_day(day)

    def enrol(self) -> None:
        member_id = f"k{len(self.books.members):03d}"
        ok(self.api.post("/members", {"member_id": member_id}), 201)
        self.books.members.append(member_id)
        self.habits[member_id] = self.rnd.choice([0.05, 0.15, 0.35, 0.6])

    def purchases(self, offset: int, moment: datetime) -> None:
        for member_id in self.books.members:
            quiet = offset % 30 < 14 and self.habits[member_id] < 0.1  # some go quiet long enough to go dormant
            if quiet or self.rnd.random() > self.habits[member_id]:
                continue
            order_id = f"o{offset}-{member_id}"
            amount = Decimal(self.rnd.randint(500, 90000)) / 100
            body: dict[str, Any] = {"order_id": order_id, "amount": str(amount), "currency": "CNY"}
            if self.rnd.random() < 0.2:  # a late order: bought some days ago, arriving now
                body["occurred_at"] = (moment - timedelta(days=self.rnd.randint(1, 9), hours=3)).isoformat()
            status, _ = self.api.post(f"/members/{member_id}/purchases", body)
            if status == 201:
                self.orders.append((member_id, order_id, amount))

    def returns(self, offset: int) -> None:
        for member_id, order_id, amount in self.rnd.sample(self.orders, k=min(len(self.orders), 2)):
            if self.rnd.random() < 0.5:
                part = (amount / 3).quantize(Decimal("0.01"))
                body = {"return_id": f"r-{order_id}-{offset}", "order_id": order_id, "amount": str(part)}
                self.api.post(f"/members/{member_id}/returns", body)  # may exceed what is left: refused, fine

    def redemptions_and_activities(self, offset: int) -> None:
        for member_id in self.rnd.sample(self.books.members, k=min(len(self.books.members), 3)):
            member = load_member(member_id)
            if member is None or member.status == "erased":
                continue
            if member.available >= 300:
                redemption = {"redemption_id": f"d{offset}-{member_id}", "points": 150, "reason": "gift card"}
                ok(self.api.post(f"/members/{member_id}/redemptions", redemption), 201)
            elif self.rnd.random() < 0.5:
                activity = {"activity_id": f"a{offset}-{member_id}", "type": "check_in"}
                self.api.post(f"/members/{member_id}/activities", activity)


def ledger(member_ids: list[str]) -> list[dict[str, Any]]:
    entries = []
    for member_id in member_ids:
        entries.extend(dynamo.query_all(keys.member_pk(member_id), keys.ENTRY_PREFIX))
    return entries


def expected_flows(entries: list[dict[str, Any]]) -> dict[date, Counter[str]]:
    """Flows by the day things happened, recomputed from the ledger entries."""
    flows: dict[date, Counter[str]] = defaultdict(Counter)
    purchases_by_member: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        day, kind, points = local_day(entry["occurred_at"]), entry["kind"], int(entry["points"])
        if kind == "redemption":
            flows[day]["points_redeemed"] -= points
        elif kind in ("expire", "release"):
            flows[day]["points_expired"] -= points
        else:
            flows[day]["points_earned"] += points
        if kind == "enrol":
            flows[day]["enrolments"] += 1
        if kind == "purchase":
            flows[day]["member_orders"] += 1
            purchases_by_member[entry["member_id"]].append(entry)
        if kind == "reactivation":
            flows[local_day(entry["recorded_at"])]["reactivations"] += 1
    for purchases in purchases_by_member.values():
        for later in sorted(purchases, key=lambda e: e["recorded_at"])[1:]:
            flows[local_day(later["occurred_at"])]["repeat_orders"] += 1
    return flows


def expected_active(entries: list[dict[str, Any]], day: date, window: int) -> int:
    return len(
        {
            entry["member_id"]
            for entry in entries
            if entry["kind"] == "purchase" and 0 <= (day - local_day(entry["occurred_at"])).days < window
        }
    )


@pytest.fixture
def history(local_stack: LocalResources, program_file: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(clock, "now", clock.now)  # restored after the history moved it day by day
    books = Books()
    with api_client() as api:
        History(api, books).run()
        yield api, books, local_stack


def deliver_stream(table_name: str) -> int:
    from app import app

    return StreamPump(table_name, app.handler_map["kpi_rollup"]).drain()


def test_every_figure_of_every_day_matches_the_books(history: Any) -> None:
    api, books, stack = history
    assert deliver_stream(stack.table_name) > 0
    end = START + timedelta(days=DAYS - 1)
    report = ok(api.get(f"/kpis?from={START}&to={end}", role="ops"))
    # A second delivery of the whole stream (a new pump starts from the oldest record) adds nothing.
    deliver_stream(stack.table_name)
    assert ok(api.get(f"/kpis?from={START}&to={end}", role="ops")) == report

    entries = ledger(books.members)
    flows = expected_flows(entries)
    tiers = [tier.code for tier in load_program().tiers]
    dormancies_total = 0
    assert [row["date"] for row in report["days"]] == [str(START + timedelta(days=n)) for n in range(DAYS)]
    for row in report["days"]:
        day = date.fromisoformat(row["date"])
        stock = books.stocks[day]
        before = books.status.get(day - timedelta(days=1), {})
        dormancies = sum(
            1 for member, status in books.status[day].items() if status == "dormant" and before.get(member) == "active"
        )
        dormancies_total += dormancies
        expected = {
            "enrolments": flows[day]["enrolments"],
            "points_earned": flows[day]["points_earned"],
            "points_redeemed": flows[day]["points_redeemed"],
            "points_expired": flows[day]["points_expired"],
            "member_orders": flows[day]["member_orders"],
            "repeat_orders": flows[day]["repeat_orders"],
            "reactivations": flows[day]["reactivations"],
            "dormancies": dormancies,
            "active_30d": expected_active(entries, day, 30),
            "active_90d": expected_active(entries, day, 90),
            "members_by_tier": {tier: stock["tiers"][tier] for tier in tiers},
            "members_by_status": {s: stock["statuses"][s] for s in ("active", "dormant", "erased")},
            "points_outstanding": stock["outstanding"],
        }
        assert {name: row[name] for name in expected} == expected, row["date"]

    total = report["total"]
    in_range = [flow for day, flow in flows.items() if START <= day <= end]  # late orders from before START
    earned = sum(flow["points_earned"] for flow in in_range)
    redeemed = sum(flow["points_redeemed"] for flow in in_range)
    orders = sum(flow["member_orders"] for flow in in_range)
    repeats = sum(flow["repeat_orders"] for flow in in_range)
    reactivations = sum(flow["reactivations"] for flow in in_range)
    assert total["points_earned"] == earned and total["points_redeemed"] == redeemed
    assert total["redemption_rate"] == round(redeemed / earned, 4)
    assert total["repeat_purchase_rate"] == round(repeats / orders, 4)
    assert total["reactivation_rate"] == round(reactivations / dormancies_total, 4)  # none dormant at the start
    assert total["points_outstanding"] == books.stocks[end]["outstanding"]
    assert total["active_30d"] == expected_active(entries, end, 30)
    # The history really exercised what it claims to.
    assert redeemed > 0 and reactivations > 0 and dormancies_total > 0
    assert total["points_expired"] > 0 and total["members_by_status"]["erased"] == 1
    assert any(e["kind"] == "return" for e in entries) and any(
        e["kind"] == "purchase" and local_day(e["occurred_at"]) < local_day(e["recorded_at"]) for e in entries
    )


def test_kpis_for_30_days_of_5_stores_read_only_their_rows(ddb_local_table: str) -> None:
    """Rows for a year of days and 5 stores exist; /kpis for 30 days reads those days' rows, the
    90 days before them (active windows, stocks), and the month rows: never a Scan."""
    from chalicelib.domain.kpi_rollup import Deltas
    from chalicelib.services import kpis as service
    from chalicelib.store import kpis as kpi_rows

    first, stores = date(2026, 1, 1), [f"s{n}" for n in range(5)]
    for offset in range(365):
        day = first + timedelta(days=offset)
        deltas = Deltas()
        deltas.add_day(day, points_earned=100, member_orders=3, a30_30=1)
        deltas.add_stock(day, Counter({"tier_member": 1, "status_active": 1, "outstanding": 100}))
        for store in stores:
            deltas.add_store(day, store, points_earned=20, member_orders=1)
        kpi_rows.apply([f"record-{offset}"], deltas, expires_at=0)

    with count_reads() as read:
        report = service.report(date(2026, 10, 1), date(2026, 10, 30))

    assert read.calls["Scan"] == 0 and read.calls["GetItem"] == 0
    # Day rows from 1 July (the month of 90 days before 1 October) to 30 October; the month rows of
    # January to June, plus July, which the range includes and the code drops; 30 × 5 store rows.
    assert read.items == (date(2026, 10, 30) - date(2026, 7, 1)).days + 1 + 7 + 30 * 5
    assert read.calls["Query"] <= 4
    assert report["total"]["members_by_tier"]["member"] == (date(2026, 10, 30) - first).days + 1
    assert report["total"]["active_30d"] == 30 and report["total"]["points_earned"] == 3000
    assert report["stores"]["s3"]["points_earned"] == 600 and len(report["stores"]) == 5


def test_store_figures_match_the_stores_files(local_stack: LocalResources, monkeypatch: pytest.MonkeyPatch) -> None:
    """Five stores upload a day's file each (members and non-members, returns, a bad row); the
    per-store figures of /kpis are recomputed from the files' rows and the members' ledgers."""
    from tests.integration.test_ingest_files import NOW, csv_file, ret, sale
    from tests.integration.test_ingest_local_stack import upload_and_wait

    monkeypatch.setattr(clock, "now", FixedClock(NOW))
    rnd = random.Random(5)
    members = [f"f{n:02d}" for n in range(12)]
    with api_client() as api:
        for member_id in members:
            ok(api.post("/members", {"member_id": member_id}), 201)
        expected: dict[str, dict[str, Any]] = {}
        for store in (f"st{n}" for n in range(5)):
            rows, sold = [], {"member": [Decimal(0), 0], "non_member": [Decimal(0), 0]}
            for n in range(rnd.randint(15, 30)):
                member = rnd.choice([*members, "", ""])
                amount = Decimal(rnd.randint(100, 40000)) / 100
                rows.append(sale(f"{store}-r{n}", str(amount), member, store=store, category=rnd.choice(["", "fresh"])))
                who = "member" if member else "non_member"
                sold[who][0] += amount
                sold[who][1] += 1
            rows.append(ret(f"{store}-x1", f"{store}-r0", "0.50").replace("s1,", f"{store},", 1))  # gross figures
            rows.append(sale(f"{store}-bad", "1.001", store=store))  # rejected: counts nowhere
            upload_and_wait(local_stack, store, csv_file(*rows), pumps=1)
            expected[store] = sold
        assert deliver_stream(local_stack.table_name) > 0
        report = ok(api.get("/kpis?from=2026-11-21&to=2026-11-21", role="ops"))

    purchases = [e for e in ledger(members) if e["kind"] == "purchase"]
    assert set(report["stores"]) == set(expected)
    for store, sold in expected.items():
        (member_sales, member_receipts), (other_sales, other_receipts) = sold["member"], sold["non_member"]
        mine = [e for e in purchases if e["details"].get("store_id") == store]
        figures = report["stores"][store]
        assert figures["store_member_receipts"] == member_receipts == figures["member_orders"] == len(mine)
        assert Decimal(figures["store_member_sales"]) == member_sales
        assert Decimal(figures["store_non_member_sales"]) == other_sales
        assert figures["store_non_member_receipts"] == other_receipts
        assert figures["points_earned"] == sum(int(e["points"]) for e in mine)
        assert figures["member_sales_share"] == round(float(member_sales / (member_sales + other_sales)), 4)
        if member_receipts:
            assert Decimal(figures["aov_member"]) == (member_sales / member_receipts).quantize(CENT, ROUND_HALF_UP)
        assert Decimal(figures["aov_non_member"]) == (other_sales / other_receipts).quantize(CENT, ROUND_HALF_UP)
        assert [day["date"] for day in figures["days"]] == ["2026-11-21"]
    all_sales = sum(s["member"][0] + s["non_member"][0] for s in expected.values())
    assert report["total"]["member_sales_share"] == round(
        float(sum(s["member"][0] for s in expected.values()) / all_sales), 4
    )
    repeat = len(purchases) - len({e["member_id"] for e in purchases})
    assert report["total"]["repeat_orders"] == repeat


def _stream_record(event_id: str, name: str, new: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
    stream: dict[str, Any] = {"Keys": {"pk": {"S": new["pk"]}, "sk": {"S": new["sk"]}}, "NewImage": dynamo.to_item(new)}
    if old is not None:
        stream["OldImage"] = dynamo.to_item(old)
    return {"eventID": event_id, "eventName": name, "dynamodb": stream}


def test_a_batch_delivered_again_or_twice_within_itself_is_counted_once(ddb_local_table: str) -> None:
    from chalicelib.services import kpis as service

    at = "2026-05-04T10:00:00+08:00"
    profile = {"pk": "MEMBER#d1", "sk": "MEMBER", "status": "active", "tier": "member", "pending": 0}
    records = [
        _stream_record(
            "e1",
            "INSERT",
            {
                "pk": "MEMBER#d1",
                "sk": "TX#purchase#o1",
                "kind": "purchase",
                "points": 90,
                "occurred_at": at,
                "details": {"order_number": 1},
            },
        ),
        _stream_record(
            "e2",
            "INSERT",
            {"pk": "MEMBER#d1", "sk": "TX#redemption#r1", "kind": "redemption", "points": -40, "occurred_at": at},
        ),
        _stream_record(
            "e3",
            "MODIFY",
            {**profile, "available": 50, "changed_at": at, "purchase_days": ["2026-05-04"]},
            {**profile, "available": 0},
        ),
        _stream_record("e4", "INSERT", {"pk": "MEMBER#d1", "sk": "MEMBER#LOT#2027-05", "remaining": 50}),
    ]
    first = service.roll_up([*records, records[0]])  # the same record twice in one batch
    assert (first.counted, first.duplicates, first.ignored) == (3, 1, 1)
    assert (first.points_earned, first.points_redeemed) == (90, 40)
    again = service.roll_up(records)  # Lambda's retry of the whole batch
    assert (again.counted, again.duplicates, again.points_earned) == (0, 3, 0)
    day = ok_day(service.report(date(2026, 5, 4), date(2026, 5, 4)))
    assert (day["points_earned"], day["points_redeemed"], day["points_outstanding"], day["active_30d"]) == (
        90,
        40,
        50,
        1,
    )


def ok_day(report: dict[str, Any]) -> dict[str, Any]:
    (day,) = report["days"]
    return dict(day)
