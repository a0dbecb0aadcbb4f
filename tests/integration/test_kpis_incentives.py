"""The incentive figures of GET /kpis against figures computed independently from a seeded history.

The 70-day history of test_kpis.py, with what incentives add: campaigns (a Wednesday double, a
bonus on large orders, points and a coupon for enrolling), referrals, birthdays (the birthday job's
coupons), rewards redeemed for coupons, coupons used, and points as payment with their pro-rata
refunds; the audience job runs at the end of each day with the other jobs. The test keeps its own
books: points by source, points paid, rewards and spend by tier from the ledger entries, coupons
from the coupon items, segments from `segments.segment` of every member at the end of each day.
Every figure of every day and the range's total must equal /kpis, after the stream was delivered
twice.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from chalicelib import clock, config
from chalicelib.domain import segments
from chalicelib.program import PROGRAM_FILE, load_program
from chalicelib.services import campaigns, jobs
from chalicelib.store import dynamo, keys
from chalicelib.store.members import load_member
from loyalty_tools.local.stack import LocalResources
from tests.integration.test_kpis import DAYS, JOB_NAMES, START, Books, History, deliver_stream, ledger, local_day
from tests.support import Api, FixedClock, api_client, ok

pytestmark = [pytest.mark.ddb_local, pytest.mark.stream]

POINTS_PER_UNIT = 100
SEGMENT_JOBS = (*JOB_NAMES, "birthday", "audience")  # the audience job last: segments as of the day


@pytest.fixture
def program_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    program = json.loads(PROGRAM_FILE.read_text(encoding="utf-8"))
    program.update(dormant_after_days=12, expiry_months=1)
    program["points_payment"] = {"points_per_unit": POINTS_PER_UNIT, "max_share": "0.5", "min_points": 100}
    path = tmp_path / "program.json"
    path.write_text(json.dumps(program, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("PROGRAM_FILE", str(path))
    load_program.cache_clear()
    config.reset()
    campaigns.clear_cache()
    yield
    load_program.cache_clear()
    campaigns.clear_cache()


CAMPAIGNS = [
    {
        "campaign_id": "wednesday-double",
        "name": "Wednesday member day",
        "starts_at": "2026-03-01T00:00:00+08:00",
        "ends_at": "2026-06-01T00:00:00+08:00",
        "days": {"weekdays": [3]},
        "effect": {"multiplier": "2"},
    },
    {
        "campaign_id": "big-basket",
        "name": "Bonus on large orders",
        "starts_at": "2026-03-10T00:00:00+08:00",
        "ends_at": "2026-05-01T00:00:00+08:00",
        "conditions": {"min_amount": "300.00"},
        "effect": {"bonus_points": 25},
        "limits": {"budget_points": 2000},
    },
    {
        "campaign_id": "welcome-fortnight",
        "name": "Enrol in the first two weeks: 30 points and a coupon",
        "starts_at": "2026-03-01T00:00:00+08:00",
        "ends_at": "2026-03-15T00:00:00+08:00",
        "trigger": "enrolment",
        "effect": {"bonus_points": 30, "coupon": {"value": "5.00", "valid_days": 10}},
    },
]


class IncentiveHistory(History):
    """test_kpis' history, with campaigns, referrals, birthdays, rewards, coupon use and points as
    payment; the audience job keeps the segments."""

    def __init__(self, api: Api, books: Books, segments_by_day: dict[date, Counter[str]]) -> None:
        super().__init__(api, books, seed=11)
        self.segments_by_day = segments_by_day
        self.paid: list[tuple[str, str, Decimal, int]] = []  # (member, order, amount, points paid)

    def run(self) -> None:
        tz = load_program().tz
        for offset in range(DAYS):
            day = START + timedelta(days=offset)
            moment = datetime.combine(day, time(10, 0), tz)
            clock.now = FixedClock(moment)  # type: ignore[assignment]  # the fixture restores it
            if offset == 0:
                for campaign in CAMPAIGNS:
                    ok(self.api.post("/campaigns", campaign, role="ops"), 201)
                campaigns.clear_cache()
            if offset < 45 and self.rnd.random() < 0.6:
                self.enrol_with(day)
            self.purchases(offset, moment)
            self.returns(offset)
            self.redemptions_and_activities(offset)
            self.use_coupons(offset)
            if offset % 6 == 3:
                self.pay_with_points(offset)
            if offset == 20:
                adjustment = {"adjustment_id": "fix-1", "points": 75, "reason": "goodwill"}
                ok(self.api.post(f"/members/{self.books.members[0]}/adjustments", adjustment, role="ops"), 201)
            if offset == 50:
                ok(self.api.call("DELETE", f"/members/{self.books.members[1]}", role="ops"))
            for name in SEGMENT_JOBS:
                jobs.run(name, as_of=day)
            self.books.close_day(day)
            self.close_segments(day)

    def enrol_with(self, day: date) -> None:
        member_id = f"k{len(self.books.members):03d}"
        body: dict[str, Any] = {"member_id": member_id}
        if self.rnd.random() < 0.5:  # a birthday in the coming weeks: the birthday job's coupon
            birthday = day + timedelta(days=self.rnd.randint(1, 20))
            body["birthday"] = f"1990-{birthday.month:02d}-{birthday.day:02d}"
        if self.books.members and self.rnd.random() < 0.3:
            body["referrer_id"] = self.rnd.choice(self.books.members[2:] or self.books.members[:1])
        ok(self.api.post("/members", body), 201)
        self.books.members.append(member_id)
        self.habits[member_id] = self.rnd.choice([0.05, 0.15, 0.35, 0.6])

    def redemptions_and_activities(self, offset: int) -> None:
        for member_id in self.rnd.sample(self.books.members, k=min(len(self.books.members), 3)):
            member = load_member(member_id)
            if member is None or member.status == "erased":
                continue
            if member.available >= 600 and self.rnd.random() < 0.6:
                redemption = {"redemption_id": f"w{offset}-{member_id}", "reward_id": "cash-5"}
                ok(self.api.post(f"/members/{member_id}/redemptions", redemption), 201)
            elif member.available >= 300:
                redemption = {"redemption_id": f"d{offset}-{member_id}", "points": 150, "reason": "gift card"}
                ok(self.api.post(f"/members/{member_id}/redemptions", redemption), 201)
            elif self.rnd.random() < 0.5:
                activity = {"activity_id": f"a{offset}-{member_id}", "type": "check_in"}
                self.api.post(f"/members/{member_id}/activities", activity)

    def use_coupons(self, offset: int) -> None:
        for member_id in self.rnd.sample(self.books.members, k=min(len(self.books.members), 4)):
            status, answer = self.api.get(f"/members/{member_id}/coupons?status=available")
            if status != 200 or not answer["coupons"] or self.rnd.random() < 0.4:
                continue
            code = self.rnd.choice(answer["coupons"])["code"]
            ok(self.api.post(f"/members/{member_id}/coupons/{code}/use", {"order_id": f"c{offset}-{member_id}"}))

    def pay_with_points(self, offset: int) -> None:
        """A member pays 200 points of an order, and returns half of it (half the points back)."""
        members = [load_member(member_id) for member_id in self.books.members]
        payers = [m.member_id for m in members if m is not None and m.status != "erased" and m.available >= 400]
        if not payers:
            return
        member_id, order_id = self.rnd.choice(payers), f"pp{offset}"
        body = {"order_id": order_id, "amount": "80.00", "currency": "CNY", "points_payment": 200}
        ok(self.api.post(f"/members/{member_id}/purchases", body), 201)
        back = {"return_id": f"rp{offset}", "order_id": order_id, "amount": "40.00"}
        ok(self.api.post(f"/members/{member_id}/returns", back), 201)

    def close_segments(self, day: date) -> None:
        program, found = load_program(), Counter[str]()
        for member_id in self.books.members:
            member = load_member(member_id)
            assert member is not None
            if member.status != "erased":
                found[segments.segment(program, member, day).name] += 1
        self.segments_by_day[day] = found


def coupon_items(member_ids: list[str]) -> list[dict[str, Any]]:
    found = []
    for member_id in member_ids:
        found.extend(dynamo.query_all(keys.member_pk(member_id), keys.COUPON_PREFIX))
    return found


SOURCE_OF = {"enrol": "welcome"}
SPENDING = ("redemption", "points_payment", "expire", "release")


def expected_flows(entries: list[dict[str, Any]], coupons: list[dict[str, Any]]) -> dict[date, Counter[Any]]:
    """Per day: (figure, key) -> count, from the ledger entries and the coupon items."""
    flows: dict[date, Counter[Any]] = defaultdict(Counter)
    for entry in entries:
        day, kind, points, details = (
            local_day(entry["occurred_at"]),
            entry["kind"],
            int(entry["points"]),
            entry["details"],
        )
        if kind not in SPENDING:
            campaign = sum(int(c["points"]) for c in details.get("campaigns", []))
            flows[day][("points_by_source", "campaign")] += campaign
            flows[day][("points_by_source", SOURCE_OF.get(kind, kind))] += points - campaign
        if kind == "purchase":
            flows[day][("spend_by_tier", details["tier"])] += Decimal(details["amount"])
        if kind == "points_payment":
            flows[day][("points_paid", None)] -= points
        if kind == "redemption" and details.get("reward_id"):
            flows[day][("rewards_redeemed", details["reward_id"])] += 1
    for coupon in coupons:
        flows[local_day(coupon["issued_at"])][("issued", coupon["kind"])] += 1
        if coupon["coupon_status"] == "used":
            flows[local_day(coupon["used_at"])][("used", coupon["kind"])] += 1
        else:
            flows[local_day(coupon["expires_at"])][("expired", coupon["kind"])] += 1
    return flows


def shown(figures: dict[str, Any]) -> Counter[Any]:
    """A day's (or the total's) incentive flows from /kpis, as (figure, key) -> count without zeros."""
    found: Counter[Any] = Counter()
    for name in ("points_by_source", "rewards_redeemed"):
        found.update({(name, key): value for key, value in figures[name].items()})
    found.update({("spend_by_tier", tier): Decimal(value) for tier, value in figures["spend_by_tier"].items()})
    found[("points_paid", None)] = figures["points_paid"]
    for kind, states in figures["coupons"]["by_kind"].items():
        found.update({(state, kind): count for state, count in states.items()})
    return Counter({key: value for key, value in found.items() if value})


def without_zeros(counts: Counter[Any]) -> Counter[Any]:
    return Counter({key: value for key, value in counts.items() if value})


@pytest.fixture
def history(local_stack: LocalResources, program_file: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(clock, "now", clock.now)  # restored after the history moved it day by day
    books, segments_by_day = Books(), {}
    with api_client() as api:
        IncentiveHistory(api, books, segments_by_day).run()
        yield api, books, segments_by_day, local_stack


def test_every_incentive_figure_of_every_day_matches_the_books(history: Any) -> None:
    api, books, segments_by_day, stack = history
    assert deliver_stream(stack.table_name) > 0
    end = START + timedelta(days=DAYS - 1)
    report = ok(api.get(f"/kpis?from={START}&to={end}", role="ops"))
    deliver_stream(stack.table_name)  # a second delivery of the whole stream adds nothing
    assert ok(api.get(f"/kpis?from={START}&to={end}", role="ops")) == report

    entries, coupons = ledger(books.members), coupon_items(books.members)
    flows = expected_flows(entries, coupons)
    every_segment = set(segments.NAMES)
    for row in report["days"]:
        day = date.fromisoformat(row["date"])
        assert shown(row) == without_zeros(flows[day]), row["date"]
        assert sum(row["points_by_source"].values()) == row["points_earned"], row["date"]
        assert set(row["members_by_segment"]) == every_segment
        assert without_zeros(Counter(row["members_by_segment"])) == segments_by_day[day], row["date"]
        assert row["points_outstanding_value"] == value_of(books.stocks[day]["outstanding"])
        assert row["coupons"]["issued"] == sum(kinds["issued"] for kinds in row["coupons"]["by_kind"].values())

    total, in_range = report["total"], Counter[Any]()
    for day, counts in flows.items():
        if START <= day <= end:
            in_range.update(counts)
    assert shown(total) == without_zeros(in_range)
    assert total["members_by_segment"] == report["days"][-1]["members_by_segment"]
    assert total["points_outstanding_value"] == value_of(books.stocks[end]["outstanding"])

    # The history really exercised every figure.
    sources = total["points_by_source"]
    for source in ("purchase", "campaign", "welcome", "referral", "activity", "reactivation", "adjustment"):
        assert sources[source] > 0, source
    assert sources["points_payment_refund"] > 0 and sources["return"] < 0 and total["points_paid"] > 0
    assert total["points_redeemed"] >= total["points_paid"]
    for kind in ("first_purchase", "reward", "birthday", "welcome_back", "campaign"):
        assert total["coupons"]["by_kind"][kind]["issued"] > 0, kind
    assert total["coupons"]["used"] > 0 and total["coupons"]["expired"] > 0
    assert total["rewards_redeemed"]["cash-5"] > 0
    assert sum(Decimal(v) > 0 for v in total["spend_by_tier"].values()) >= 2
    assert len({name for day in report["days"] for name, n in day["members_by_segment"].items() if n}) >= 5
    assert len({tuple(sorted(day.items())) for day in segments_by_day.values()}) > 20  # they moved


def value_of(points: int) -> str:
    return str((Decimal(points) / POINTS_PER_UNIT).quantize(Decimal("0.01"), ROUND_HALF_UP))
