"""Scheduled jobs on moto, through the service functions, travelling in time with `as_of` and a
fixed clock: expiry, FIFO, one-tier downgrades, at-risk notices, dormancy and reactivation,
birthdays on 29 February, pending releases, runs twice, concurrent purchases, no Scan."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib import clock, events
from chalicelib.domain.outbox import Published
from chalicelib.program import load_program
from chalicelib.services import check, jobs, members, points, wallet
from chalicelib.store import codec, dynamo, keys
from chalicelib.store import members as member_store
from tests.integration.conftest import TABLE
from tests.support import (
    FixedClock,
    Outbox,
    count_dynamodb_calls,
    enrol_command,
    purchase_command,
    redeem_command,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


@dataclass
class World:
    clock: FixedClock
    outbox: Outbox  # the table's stream, handed to the handler that publishes the events
    published: list[Published] = field(default_factory=list)

    def travel(self, day: date, hour: int = 9) -> None:
        self.clock.moment = at(day.year, day.month, day.day, hour)

    def run(self, name: str, as_of: date, **kwargs: Any) -> jobs.JobResult:
        """`loyalty jobs run NAME --as-of DAY`, with the clock on that day."""
        self.travel(as_of)
        self.outbox.deliver()  # what was written before the run is not the run's
        self.published.clear()
        result = jobs.run(name, as_of, **kwargs)
        self.outbox.deliver()
        return result

    def enrol(self, member_id: str, when: datetime, **body: Any) -> None:
        self.clock.moment = when
        members.enrol(enrol_command({"member_id": member_id, **body}))

    def buy(self, member_id: str, order_id: str, amount: str, when: datetime) -> dict[str, Any]:
        self.clock.moment = when
        return points.record_purchase(
            purchase_command(member_id, {"order_id": order_id, "amount": Decimal(amount), "currency": "CNY"})
        )

    def kinds(self) -> list[str]:
        self.outbox.deliver()
        return [event.detail_type for event in self.published]

    def detail(self, detail_type: str) -> dict[str, Any]:
        """The event's detail as the job emitted it (without the id and segment the outbox adds)."""
        self.outbox.deliver()
        (found,) = [event.detail for event in self.published if event.detail_type == detail_type]
        return {name: value for name, value in found.items() if name not in ("event_id", "segment")}


def as_sent(detail: dict[str, Any]) -> dict[str, Any]:
    """A detail as the bus carries it (JSON: dates and amounts as strings)."""
    loaded: dict[str, Any] = json.loads(codec.json_text(detail))
    return loaded


@pytest.fixture
def world(moto_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    fixed = FixedClock(at(2026, 1, 15))
    monkeypatch.setattr(clock, "now", fixed)
    state = World(fixed, Outbox(TABLE))

    def publish(batch: Any) -> set[int]:
        state.published.extend(batch)
        return set()

    monkeypatch.setattr(events, "publish", publish)
    yield state


def view(member_id: str) -> dict[str, Any]:
    return members.view(member_id)


def available(member_id: str) -> int:
    return int(view(member_id)["points"]["available"])


def entry(member_id: str, entry_id: str) -> dict[str, Any] | None:
    return member_store.get_entry(member_id, entry_id)


def partition(member_id: str) -> list[dict[str, Any]]:
    """Every item of the member, for before/after comparisons."""
    return dynamo.query_all(keys.member_pk(member_id), "")


def profile(member_id: str) -> dict[str, Any]:
    found = dynamo.get(keys.profile_key(member_id))
    assert found is not None
    return found


def assert_books_balance(member_id: str) -> None:
    assert check.check_member(member_id) == []


# --- expiry --------------------------------------------------------------------------------------


def test_points_earned_in_january_expire_after_31_january_of_the_next_year(world):
    world.enrol("m1", at(2026, 1, 10))
    world.buy("m1", "o1", "500", at(2026, 1, 15))
    assert view("m1")["points"]["expiring"] == [{"date": "2027-01-31", "points": 600}]

    assert world.run("expiry", date(2026, 12, 31)).members_read == 0
    notice = world.run("expiry", date(2027, 1, 1))
    assert (notice.members_read, notice.notices_sent) == (1, 1)
    assert world.detail("points.expiring") == as_sent(
        {
            "member_id": "m1",
            "points": 600,
            "lot_month": "2027-01",
            "expires_on": date(2027, 1, 31),
        }
    )

    last_day = world.run("expiry", date(2027, 1, 31))
    assert (last_day.members_read, last_day.points_expired, world.kinds()) == (0, 0, [])
    assert available("m1") == 600

    expired = world.run("expiry", date(2027, 2, 1))
    assert (expired.members_changed, expired.points_expired) == (1, 600)
    assert world.kinds() == ["points.expired"]
    assert available("m1") == 0
    stored = entry("m1", "expire#2027-01")
    assert stored is not None and (stored["kind"], int(stored["points"])) == ("expire", -600)
    assert keys.DUE_EXPIRY.attribute not in profile("m1")  # nothing left to expire: off the index
    assert_books_balance("m1")


def test_expiry_spends_oldest_first_after_a_partial_redemption(world):
    world.enrol("m1", at(2026, 1, 10))
    world.buy("m1", "o1", "500", at(2026, 1, 15))  # lot 2027-01: 600
    world.buy("m1", "o2", "300", at(2026, 2, 10))  # lot 2027-02: 300
    world.clock.moment = at(2026, 3, 1)
    points.redeem(redeem_command("m1", {"redemption_id": "r1", "points": 400, "reason": "gift"}))
    assert view("m1")["points"]["expiring"] == [
        {"date": "2027-01-31", "points": 200},
        {"date": "2027-02-28", "points": 300},
    ]

    first = world.run("expiry", date(2027, 2, 1))
    assert first.points_expired == 200
    assert available("m1") == 300
    second = world.run("expiry", date(2027, 3, 1))
    assert second.points_expired == 300
    assert available("m1") == 0
    assert_books_balance("m1")


# --- tier review -----------------------------------------------------------------------------------


def test_review_moves_down_one_tier_only(world):
    world.enrol("m1", at(2026, 3, 14))
    world.buy("m1", "o1", "8000", at(2026, 3, 14))
    assert view("m1")["tier"] == {
        "code": "gold",
        "name": "Gold (黄金)",
        "since": "2026-03-14",
        "review_at": "2027-03-14",
    }

    assert world.run("tier-review", date(2027, 3, 13)).members_changed == 1  # the at-risk check only
    assert view("m1")["tier"]["code"] == "gold"
    result = world.run("tier-review", date(2027, 3, 14))
    assert result.members_changed == 1
    assert world.detail("tier.downgraded") == as_sent(
        {
            "member_id": "m1",
            "from_tier": "gold",
            "to_tier": "silver",
            "reason": "review",
            "qualifying_spend": Decimal(0),
            "review_date": date(2027, 3, 14),
        }
    )
    assert view("m1")["tier"] == {
        "code": "silver",
        "name": "Silver (白银)",
        "since": "2027-03-14",
        "review_at": "2028-03-14",
    }
    assert profile("m1")["tier_floor"] == "silver"

    world.run("tier-review", date(2028, 3, 14))
    assert view("m1")["tier"]["code"] == "member"
    assert keys.DUE_TIER_REVIEW.attribute not in profile("m1")


def test_at_risk_warning_30_days_before_a_review_that_would_downgrade(world):
    world.enrol("risky", at(2026, 3, 14))
    world.buy("risky", "o1", "8000", at(2026, 3, 14))
    world.enrol("safe", at(2026, 3, 14))
    world.buy("safe", "o1", "8000", at(2026, 3, 14))
    world.buy("safe", "o2", "8000", at(2027, 1, 10))  # still counts at the 2027-03-14 review

    assert world.run("tier-review", date(2027, 2, 11)).members_read == 0
    result = world.run("tier-review", date(2027, 2, 12))
    assert result.members_read == 2 and result.notices_sent == 1
    assert world.detail("tier.at_risk") == as_sent(
        {
            "member_id": "risky",
            "tier": "gold",
            "would_become": "silver",
            "review_at": date(2027, 3, 14),
            "qualifying_spend": Decimal(0),
            "spend_to_keep": Decimal(8000),
        }
    )
    again = world.run("tier-review", date(2027, 2, 20))
    assert (again.members_read, world.kinds()) == (0, [])

    world.run("tier-review", date(2027, 3, 14))
    assert (view("risky")["tier"]["code"], view("safe")["tier"]["code"]) == ("silver", "gold")


# --- dormancy ------------------------------------------------------------------------------------------


def test_dormant_then_welcome_back_coupon_then_a_purchase_reactivates_with_a_bonus(world):
    world.enrol("m1", at(2026, 1, 10))
    world.buy("m1", "o1", "100", at(2026, 1, 15))

    assert world.run("dormant", date(2026, 7, 13)).members_read == 0
    result = world.run("dormant", date(2026, 7, 14))
    assert (result.members_changed, result.coupons_issued) == (1, 1)
    assert view("m1")["status"] == "dormant"
    assert world.kinds() == ["member.dormant", "coupon.issued"]
    assert world.detail("member.dormant") == as_sent(
        {
            "member_id": "m1",
            "inactive_since": date(2026, 1, 15),
            "inactive_days": 180,
        }
    )
    coupons = wallet.list_coupons("m1", "available")["coupons"]
    (welcome_back,) = [c for c in coupons if c["kind"] == "welcome_back"]
    assert (welcome_back["value"], welcome_back["expires_at"]) == ("20.00", "2026-08-13T09:00:00+08:00")

    before = available("m1")
    world.published.clear()
    answer = world.buy("m1", "o2", "50", at(2026, 7, 20))
    assert "member.reactivated" in world.kinds()
    assert view("m1")["status"] == "active"
    assert answer["balances"]["available"] == before + 50 + 200
    assert entry("m1", "reactivation#o2") is not None
    assert profile("m1")[keys.DUE_DORMANT.attribute] == "2027-01-16"
    assert_books_balance("m1")


# --- birthdays -----------------------------------------------------------------------------------------


def test_birthday_on_29_february_is_celebrated_on_28_february_in_a_common_year(world):
    world.enrol("leap", at(2026, 1, 10), birthday=date(2000, 2, 29))
    world.enrol("other", at(2026, 1, 10), birthday=date(1990, 3, 1))

    assert world.run("birthday", date(2027, 2, 27)).members_read == 0
    result = world.run("birthday", date(2027, 2, 28))
    assert (result.members_changed, result.coupons_issued) == (1, 1)
    (coupon,) = [c for c in wallet.list_coupons("leap", None)["coupons"] if c["kind"] == "birthday"]
    assert coupon["value"] == "10.00"
    assert entry("leap", "birthday#2027") is not None
    assert world.run("birthday", date(2027, 2, 28)).members_read == 0  # done for the day
    assert world.run("birthday", date(2027, 3, 1)).members_changed == 1  # "other"

    assert world.run("birthday", date(2028, 2, 28)).members_read == 0  # a leap year: not yet
    assert world.run("birthday", date(2028, 2, 29)).members_changed == 1
    assert entry("leap", "birthday#2028") is not None
    assert len([c for c in wallet.list_coupons("leap", None)["coupons"] if c["kind"] == "birthday"]) == 2


def test_a_missed_birthday_run_is_caught_up_once(world):
    world.enrol("m1", at(2026, 1, 10), birthday=date(1990, 5, 3))
    world.run("birthday", date(2026, 5, 1))
    caught_up = world.run("birthday", date(2026, 5, 5))  # 2, 3 and 4 May were missed
    assert caught_up.members_changed == 1
    replayed = world.run("birthday", date(2026, 5, 3))  # an operator re-runs a past day
    assert (replayed.members_read, replayed.members_changed) == (1, 0)
    assert len([c for c in wallet.list_coupons("m1", None)["coupons"] if c["kind"] == "birthday"]) == 1


# --- pending points ---------------------------------------------------------------------------------------


def test_pending_points_are_released_into_their_lot(world, monkeypatch):
    program = load_program().model_copy(update={"pending_days": 7})
    monkeypatch.setattr(points, "load_program", lambda: program)
    monkeypatch.setattr(jobs, "load_program", lambda: program)
    world.enrol("m1", at(2026, 1, 10))
    world.buy("m1", "o1", "500", at(2026, 1, 15))
    assert view("m1")["points"]["available"] == 100 and view("m1")["points"]["pending"] == 500
    assert profile("m1")[keys.DUE_PENDING.attribute] == "2026-01-22"

    assert world.run("pending", date(2026, 1, 21)).members_read == 0
    result = world.run("pending", date(2026, 1, 22))
    assert (result.members_changed, result.points_released) == (1, 500)
    balances = view("m1")["points"]
    assert (balances["available"], balances["pending"]) == (600, 0)
    assert balances["expiring"] == [{"date": "2027-01-31", "points": 600}]
    released = entry("m1", "release#purchase#o1")
    assert released is not None and int(released["points"]) == 0
    assert keys.DUE_PENDING.attribute not in profile("m1")
    assert_books_balance("m1")


# --- every job ----------------------------------------------------------------------------------------------


def due_for_everything(world: World) -> None:
    """A gold member with pending points and a birthday, inactive since 2026-03-14."""
    world.enrol("m1", at(2026, 3, 14), birthday=date(1990, 3, 14))
    world.buy("m1", "o1", "8000", at(2026, 3, 14))


@pytest.mark.parametrize(
    ("job", "day"),
    [
        ("expiry", date(2027, 3, 1)),  # notice of the 2027-03 lot
        ("expiry", date(2027, 4, 1)),
        ("tier-review", date(2027, 2, 12)),  # at-risk
        ("tier-review", date(2027, 3, 14)),
        ("dormant", date(2026, 9, 10)),
        ("birthday", date(2027, 3, 14)),
    ],
)
def test_a_job_run_twice_changes_nothing_the_second_time(world, job, day):
    due_for_everything(world)
    first = world.run(job, day)
    assert first.members_changed == 1
    snapshot = partition("m1")
    second = world.run(job, day)
    assert (second.members_changed, world.kinds()) == (0, [])
    assert partition("m1") == snapshot
    assert_books_balance("m1")


def test_pending_run_twice_changes_nothing(world, monkeypatch):
    program = load_program().model_copy(update={"pending_days": 7})
    monkeypatch.setattr(points, "load_program", lambda: program)
    monkeypatch.setattr(jobs, "load_program", lambda: program)
    world.enrol("m1", at(2026, 1, 10))
    world.buy("m1", "o1", "500", at(2026, 1, 15))
    assert world.run("pending", date(2026, 1, 30)).members_changed == 1
    snapshot = partition("m1")
    assert world.run("pending", date(2026, 1, 30)).members_read == 0
    assert partition("m1") == snapshot


def test_a_purchase_during_the_job_is_kept(world, monkeypatch):
    """The purchase commits between the job's read and its commit: the job's version-guarded
    commit fails, it reads again, and both the expiry and the purchase are in the books."""
    world.enrol("m1", at(2026, 1, 10))
    world.buy("m1", "o1", "500", at(2026, 1, 15))
    original = member_store.commit
    raced = []

    def commit(plan: member_store.Commit, now: datetime) -> None:
        if plan.response.get("job") and not raced:
            raced.append(True)
            points.record_purchase(
                purchase_command("m1", {"order_id": "o2", "amount": Decimal("70"), "currency": "CNY"})
            )
        original(plan, now)

    monkeypatch.setattr(member_store, "commit", commit)
    result = world.run("expiry", date(2027, 2, 1))
    assert raced and result.members_read == 2 and result.points_expired == 600
    assert available("m1") == 70
    assert_books_balance("m1")


def test_an_api_write_sets_the_exact_due_date(world):
    """The jobs' marks are part of the member: an API write that changes the earliest lot puts the
    exact date on the index (not the notice date of a lot already told about), so the next run has
    nothing to read and sends nothing twice."""
    world.enrol("m1", at(2026, 1, 10))  # lot 2027-01: 100
    world.buy("m1", "o1", "300", at(2026, 2, 10))  # lot 2027-02: 300
    assert world.run("expiry", date(2027, 1, 29)).notices_sent == 2  # both lots in one run
    assert profile("m1")[keys.JOB_MARKS] == {"expiring_through": "2027-02"}
    assert profile("m1")[keys.DUE_EXPIRY.attribute] == "2027-02-01"
    world.clock.moment = at(2027, 1, 30)
    points.redeem(redeem_command("m1", {"redemption_id": "r1", "points": 100, "reason": "gift"}))  # empties lot 2027-01
    assert profile("m1")[keys.DUE_EXPIRY.attribute] == "2027-03-01"  # lot 2027-02's end, already noticed
    assert profile("m1")[keys.JOB_MARKS] == {"expiring_through": "2027-02"}
    result = world.run("expiry", date(2027, 1, 30))
    assert (result.members_read, result.notices_sent, world.kinds()) == (0, 0, [])
    assert world.run("expiry", date(2027, 1, 31)).members_read == 0


def test_an_api_write_after_the_at_risk_notice_keeps_the_review_date(world):
    world.enrol("m1", at(2026, 3, 14))
    world.buy("m1", "o1", "8000", at(2026, 3, 14))  # gold, review 2027-03-14, at-risk check 2027-02-12
    assert world.run("tier-review", date(2027, 2, 12)).notices_sent == 1
    assert profile("m1")[keys.DUE_TIER_REVIEW.attribute] == "2027-03-14"
    world.buy("m1", "o2", "10", at(2027, 2, 13))
    assert profile("m1")[keys.DUE_TIER_REVIEW.attribute] == "2027-03-14"
    assert world.run("tier-review", date(2027, 2, 20)).members_read == 0


def test_an_erased_member_leaves_the_due_indexes(world):
    world.enrol("m1", at(2026, 1, 10), birthday=date(1990, 1, 20), phone="+86 138 0000 0001")
    assert [index.attribute for index in keys.ALL_DUE_INDEXES if index.attribute in profile("m1")]
    members.erase("m1")
    stored = profile("m1")
    assert not [index.attribute for index in keys.ALL_DUE_INDEXES if index.attribute in stored]
    result = world.run("dormant", date(2026, 12, 1))
    assert (result.members_read, world.kinds()) == (0, [])
    assert world.run("expiry", date(2027, 2, 1)).members_read == 0
    assert world.run("birthday", date(2027, 1, 20)).members_read == 0


def test_a_run_stopped_for_time_is_resumed(world):
    for n in range(5):
        world.enrol(f"m{n}", at(2026, 1, 10))
    left = iter([60_000, 60_000, 1_000])  # enough for a page and a member, then too little

    stopped = world.run("dormant", date(2026, 7, 10), time_left_ms=lambda: next(left, 1_000))
    assert not stopped.complete and stopped.resume is not None
    finished = world.run("dormant", date(2026, 7, 10), resume=stopped.resume)
    assert finished.complete
    assert stopped.members_changed + finished.members_changed == 5
    assert all(view(f"m{n}")["status"] == "dormant" for n in range(5))


def test_no_job_scans(world):
    due_for_everything(world)
    with count_dynamodb_calls() as calls:
        for name, day in [
            ("expiry", date(2027, 4, 1)),
            ("tier-review", date(2027, 3, 14)),
            ("dormant", date(2026, 9, 10)),
            ("birthday", date(2027, 3, 14)),
            ("pending", date(2027, 1, 1)),
        ]:
            world.run(name, day)
    assert calls["Scan"] == 0
    assert calls["Query"] > 0


def test_each_run_emits_metrics_with_a_heartbeat(world, capsys):
    world.enrol("m1", at(2026, 1, 10))
    capsys.readouterr()
    world.run("expiry", date(2027, 2, 1))
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    (record,) = [r for r in records if "JobHeartbeat" in r]
    assert record["job"] == "expiry"
    assert (record["JobHeartbeat"], record["JobMembersProcessed"], record["PointsExpired"]) == ([1.0], [1.0], [100.0])
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Loyalty" and ["job", "service"] in directive["Dimensions"]


def test_unknown_job():
    with pytest.raises(jobs.UnknownJob):
        jobs.run("nope")


def test_the_schedule_handlers_run_the_jobs(world, monkeypatch):
    from chalice.test import Client

    from app import app

    monkeypatch.setattr(jobs, "STOP_MARGIN_MS", 100)  # the test client's Lambda context gives 3 s
    world.enrol("m1", at(2026, 1, 10))
    world.travel(date(2026, 7, 9))
    with Client(app) as client:
        event = client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [])
        answers = {
            name: client.lambda_.invoke(name, event).payload
            for name in ("job_expiry", "job_tier_review", "job_dormant", "job_birthday", "job_pending")
        }
    assert {a["job"] for a in answers.values()} == {"expiry", "tier-review", "dormant", "birthday", "pending"}
    assert answers["job_dormant"]["as_of"] == "2026-07-09" and answers["job_dormant"]["members_changed"] == 1
    assert all(a["complete"] for a in answers.values())


def test_loyalty_jobs_run_with_as_of(world, monkeypatch):
    from click.testing import CliRunner

    from loyalty_tools import cli

    monkeypatch.setattr(cli, "_use_running_stack", lambda: None)  # the moto table of this test
    world.enrol("m1", at(2026, 1, 10))
    answer = CliRunner().invoke(cli.cli, ["jobs", "run", "expiry", "--as-of", "2027-02-01"])
    assert answer.exit_code == 0, answer.output
    result = json.loads(answer.stdout.strip().splitlines()[-1])
    assert (result["job"], result["as_of"], result["points_expired"]) == ("expiry", "2027-02-01", 100)
    unknown = CliRunner().invoke(cli.cli, ["jobs", "run", "nope"])
    assert unknown.exit_code != 0 and "unknown job" in unknown.output
