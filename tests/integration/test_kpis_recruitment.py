"""Recruitment KPIs against figures computed independently, from a seeded history on the local stack
(DynamoDB Local and its stream, moto's server for the sales files).

Members enrol through stores (with and without a clerk), the app, the web and referrals; they buy
through the API (some purchases credited to a store and clerk) and at the stores, whose files
arrive a few days late, and one very late; some return their first purchase; one is erased. The
test keeps its own books (who recruited whom, from what it sent; each member's first purchase from
the ledger, by when it happened) and compares every store's and every clerk's figures, per day and
in total, with GET /kpis and GET /kpis?by=staff, after delivering the whole stream twice.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.program import load_program
from chalicelib.store import aws
from loyalty_tools.local.pump import SqsPump
from loyalty_tools.local.stack import LocalResources
from tests.integration.test_kpis import deliver_stream, ledger, local_day
from tests.support import Api, FixedClock, api_client, ok

pytestmark = [pytest.mark.ddb_local, pytest.mark.stream]

START = date(2026, 3, 1)
DAYS = 56
STORES = ("s1", "s2", "s3")
HEADER = "store_id,receipt_id,occurred_at,type,amount,currency,member_id,original_receipt_id,category"
FIGURES = ("enrolments", "recruited_first_purchase_30d")
Recruit = tuple[str, str, date]  # (store, staff or "", enrolment day)


class Shop:
    """A seeded history driven through the API and the stores' files, one day at a time."""

    def __init__(self, api: Api, stack: LocalResources, seed: int = 11) -> None:
        from app import app

        self.api, self.stack, self.rnd = api, stack, random.Random(seed)
        self.tz = load_program().tz
        self.pump = SqsPump(stack.queue_url, app.handler_map["ingest_queue_consumer"], wait_seconds=0, batch_size=1)
        self.members: list[str] = []
        self.recruits: dict[str, Recruit] = {}  # what we sent: who recruited each member, and when
        self.till: dict[str, list[str]] = defaultdict(list)  # store -> file rows not uploaded yet
        self.orders: list[tuple[str, str, str]] = []  # (member, order id, amount)
        self.starts: dict[str, date] = {}  # the day a member starts buying: some wait over 30 days
        self.files = 0

    def moment(self, day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), self.tz)

    def run(self) -> None:
        for offset in range(DAYS):
            day = START + timedelta(days=offset)
            clock.now = FixedClock(self.moment(day, 9))  # type: ignore[assignment]  # the fixture restores it
            if offset < 30:
                for _ in range(self.rnd.choice((1, 1, 2, 3))):
                    self.enrol(day)
            self.shop(day, offset)
            self.returns(offset)
            if offset == 40:
                ok(self.api.call("DELETE", f"/members/{self.members[2]}", role="ops"))  # erased: still recruited
            clock.now = FixedClock(self.moment(day, 23, 30))  # type: ignore[assignment]
            self.upload_files(offset)

    def enrol(self, day: date) -> None:
        member_id = f"r{len(self.members):03d}"
        store = self.rnd.choice(STORES)
        body: dict[str, Any] = {"member_id": member_id}
        roll = self.rnd.random()
        if roll < 0.5:
            body |= {"channel": "store", "store_id": store, "staff_id": f"{store}-c{self.rnd.randint(1, 3)}"}
        elif roll < 0.7:
            body |= {"channel": self.rnd.choice(("app", "mini_program")), "store_id": store}  # a QR code, no clerk
        elif roll < 0.85 or not self.members:
            body |= {"channel": "web"}
        else:
            body |= {"channel": "referral", "referrer_id": self.rnd.choice(self.members)}
        ok(self.api.post("/members", body), 201)
        self.members.append(member_id)
        # most buy soon; some start around the 30-day line (often on the first day they may)
        self.starts[member_id] = day + timedelta(days=self.rnd.choice((0, 0, 0, 0, 12, 24, 29, 30, 31, 33)))
        if "store_id" in body:
            self.recruits[member_id] = (body["store_id"], body.get("staff_id", ""), day)

    def shop(self, day: date, offset: int) -> None:
        for member_id in self.members:
            waiting = day < self.starts[member_id] or (member_id == self.members[2] and offset >= 40)
            eager = day == self.starts[member_id]
            if waiting or self.rnd.random() > (0.6 if eager else 0.12):
                continue
            amount = f"{Decimal(self.rnd.randint(500, 30000)) / 100:.2f}"
            at = self.moment(day, self.rnd.randint(10, 21), self.rnd.randint(0, 59))
            if self.rnd.random() < 0.5:  # at a till: in that store's file, which comes later
                store = self.rnd.choice(STORES)
                receipt = f"{store}-{offset}-{member_id}"
                self.till[store].append(f"{store},{receipt},{at.isoformat()},SALE,{amount},CNY,{member_id},,")
                continue
            order_id = f"o{offset}-{member_id}"
            body: dict[str, Any] = {"order_id": order_id, "amount": amount, "currency": "CNY"}
            body["occurred_at"] = at.replace(hour=8).isoformat()  # before the clock's 09:00
            if self.rnd.random() < 0.3:
                store = self.rnd.choice(STORES)
                body |= {"store_id": store, "staff_id": f"{store}-c{self.rnd.randint(1, 3)}"}
            if self.api.post(f"/members/{member_id}/purchases", body)[0] == 201:
                self.orders.append((member_id, order_id, amount))

    def returns(self, offset: int) -> None:
        for member_id, order_id, amount in self.rnd.sample(self.orders, k=min(len(self.orders), 2)):
            if self.rnd.random() < 0.5:  # whole orders back, first purchases among them
                body = {"return_id": f"x{offset}-{order_id}", "order_id": order_id, "amount": amount}
                self.api.post(f"/members/{member_id}/returns", body)  # a second return of it is refused: fine

    def upload_files(self, offset: int) -> None:
        """Each store sends its till's rows every 5 days; s3's batch of days 10-19 comes 12 days late."""
        for store in STORES:
            late = store == "s3" and 10 <= offset < 31
            if self.till[store] and (offset % 5 == 4 or offset == DAYS - 1) and not (late and offset < 30):
                self.upload(store, offset)

    def upload(self, store: str, offset: int) -> None:
        body = "\n".join([HEADER, *self.till.pop(store)]) + "\n"
        key = f"incoming/{store}/{(START + timedelta(days=offset)).isoformat()}-batch{self.files}.csv"
        aws.client("s3").put_object(Bucket=self.stack.bucket_name, Key=key, Body=body.encode())
        self.files += 1
        while self.pump.poll_once():
            pass


def first_purchases(member_ids: list[str]) -> dict[str, date]:
    """Each member's earliest purchase, by when it happened, from the ledger (returns left aside)."""
    found: dict[str, date] = {}
    for entry in ledger(member_ids):
        if entry["kind"] == "purchase":
            day = local_day(entry["occurred_at"])
            found[entry["member_id"]] = min(day, found.get(entry["member_id"], day))
    return found


def expected(
    shop: Shop,
) -> tuple[dict[str, Counter[tuple[date, str]]], dict[tuple[str, str], Counter[tuple[date, str]]]]:
    """Per store and per (store, clerk): {(day, figure): count}."""
    first = first_purchases(shop.members)
    stores: dict[str, Counter[tuple[date, str]]] = defaultdict(Counter)
    staff: dict[tuple[str, str], Counter[tuple[date, str]]] = defaultdict(Counter)
    for member_id, (store, clerk, enrolled) in shop.recruits.items():
        counts = Counter({(enrolled, "enrolments"): 1})
        bought = first.get(member_id)
        if bought is not None and 0 <= (bought - enrolled).days <= 30:
            counts[(bought, "recruited_first_purchase_30d")] += 1
        stores[store].update(counts)
        if clerk:
            staff[(store, clerk)].update(counts)
    return stores, staff


def by_day(days: list[dict[str, Any]]) -> Counter[tuple[date, str]]:
    return Counter(
        {(date.fromisoformat(row["date"]), name): row[name] for row in days for name in FIGURES if row[name]}
    )


@pytest.fixture
def history(local_stack: LocalResources, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Api, Shop]]:
    monkeypatch.setattr(clock, "now", clock.now)  # restored after the history moved it
    with api_client() as api:
        shop = Shop(api, local_stack)
        shop.run()
        yield api, shop


def test_recruitment_per_store_and_per_clerk_matches_the_books(history: tuple[Api, Shop]) -> None:
    api, shop = history
    assert deliver_stream(shop.stack.table_name) > 0
    end = START + timedelta(days=DAYS - 1)
    report = ok(api.get(f"/kpis?from={START}&to={end}", role="ops"))
    clerks = {
        store: ok(api.get(f"/kpis?from={START}&to={end}&by=staff&store_id={store}", role="ops")) for store in STORES
    }
    deliver_stream(shop.stack.table_name)  # the whole stream again: counted once
    assert ok(api.get(f"/kpis?from={START}&to={end}", role="ops")) == report

    stores, staff = expected(shop)
    for store in STORES:
        figures = report["stores"][store]
        assert by_day(figures["days"]) == +stores[store], store
        for name in FIGURES:
            assert figures[name] == sum(n for (_, figure), n in stores[store].items() if figure == name), (store, name)
        answer = clerks[store]
        assert (answer["store_id"], answer["by"]) == (store, "staff")
        mine = {clerk: counts for (where, clerk), counts in staff.items() if where == store}
        assert set(answer["staff"]) == set(mine), store
        for clerk, counts in mine.items():
            assert by_day(answer["staff"][clerk]["days"]) == +counts, (store, clerk)
            for name in FIGURES:
                assert answer["staff"][clerk][name] == sum(n for (_, f), n in counts.items() if f == name)
        # every clerk's enrolments are the store's own, less those without a clerk
        with_clerk = sum(1 for (where, clerk, _) in shop.recruits.values() if where == store and clerk)
        assert sum(clerk["enrolments"] for clerk in answer["staff"].values()) == with_clerk

    # The history exercised what it claims to: late files carried first purchases, some counted and
    # some moved earlier; returns of first purchases; buyers after 30 days; store-less enrolments.
    first = first_purchases(shop.members)
    late = [e for e in ledger(shop.members) if e["kind"] == "purchase" and "/" in e["ref"]]
    assert any((local_day(e["recorded_at"]) - local_day(e["occurred_at"])).days >= 10 for e in late)
    assert sum(report["stores"][s]["recruited_first_purchase_30d"] for s in STORES) >= 10
    assert any(0 <= (first[m] - when).days <= 30 for m, (_, _, when) in shop.recruits.items() if m in first)
    assert any((first[m] - when).days > 30 for m, (_, _, when) in shop.recruits.items() if m in first)
    assert any(20 < (first[m] - when).days <= 30 for m, (_, _, when) in shop.recruits.items() if m in first)
    purchases = [e for e in ledger(shop.members) if e["kind"] == "purchase"]
    assert any(
        local_day(e["occurred_at"]) == first[e["member_id"]] and e["details"]["order_number"] > 1 for e in purchases
    )
    assert len(shop.recruits) < len(shop.members) and any(e["kind"] == "return" for e in ledger(shop.members))
    assert shop.files >= 15
