"""`loyalty demo` on the local stack (DynamoDB Local + moto's server): a small seeded year replayed
in simulated time leaves real, consistent data; a second run of the same seed is refused; the
command refuses remote or missing stacks.

The replayed program is the default one with members going dormant after 20 days instead of 180
and points expiring after 1 month instead of 12, so that 60 simulated days (~40 s) see dormancies,
a reactivation and expiries too."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chalicelib import clock, config
from chalicelib.program import PROGRAM_FILE, load_program
from chalicelib.services import check
from chalicelib.store import aws, dynamo, keys
from loyalty_tools import demo
from loyalty_tools.cli import cli
from loyalty_tools.demo import schedule
from loyalty_tools.demo.plan import make_plan
from loyalty_tools.local import pause
from loyalty_tools.local.ddb_local import free_port
from loyalty_tools.local.stack import LocalResources
from tests.support import count_dynamodb_calls

MEMBERS, DAYS, SEED, STORES = 15, 60, 4, 2  # this seed's 60 days hold birthdays, a referral, returns, a comeback
UNTIL = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai: the last day is replayed whole
DORMANT_AFTER = 20


@pytest.fixture
def quick_program(local_stack: LocalResources, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    program = json.loads(PROGRAM_FILE.read_text(encoding="utf-8"))
    file = tmp_path / "program.json"
    quicker = {"dormant_after_days": DORMANT_AFTER, "expiry_months": 1}
    file.write_text(json.dumps({**program, **quicker}), encoding="utf-8")
    monkeypatch.setenv("PROGRAM_FILE", str(file))
    config.reset()
    load_program.cache_clear()
    yield
    load_program.cache_clear()


def ledger(member_id: str) -> list[dict[str, Any]]:
    return dynamo.query_all(keys.member_pk(member_id), keys.ENTRY_PREFIX)


def queued_bodies(queue_url: str) -> list[dict[str, Any]]:
    sqs, bodies = aws.client("sqs"), []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages")
        if not messages:
            return bodies
        bodies += [json.loads(message["Body"]) for message in messages]


@pytest.mark.ddb_local
def test_a_small_year_is_real_and_consistent_and_loaded_once(local_stack: LocalResources, quick_program: None) -> None:
    lines: list[str] = []
    paused: list[str | None] = []

    def progress(line: str) -> None:
        lines.append(line)
        paused.append(pause.scheduler_paused())

    options = demo.Options(members=MEMBERS, days=DAYS, seed=SEED, stores=STORES, workers=4, until=UNTIL)
    with count_dynamodb_calls() as calls:
        summary = demo.run(options, progress)
    assert lines[0].startswith(f"replaying {MEMBERS} members") and len(lines) >= 3  # and one line per month
    assert all(holder == f"loyalty demo --seed {SEED}" for holder in paused[1:])  # `loyalty dev`'s jobs wait
    plan = make_plan(SEED, MEMBERS, DAYS, ["s001", "s002"], summary.start, DORMANT_AFTER)
    ids = sorted(check.member_ids())
    assert ids == sorted(person.member_id for person in plan.people)  # via the members index
    assert check.check_all() == []  # `loyalty check`: every ledger sums to its balances
    assert summary.final["problems"] == 0 and summary.final["status"]["erased"] == 1
    assert summary.final["written_outside_replay"] == 0

    kinds: Counter[str] = Counter()
    store_purchases = 0
    tz = load_program().tz
    member_day: Counter[bool] = Counter()  # purchases with member-day points, by "on a Wednesday"
    applied: Counter[str] = Counter()  # purchases naming each campaign
    for member_id in ids:
        for entry in ledger(member_id):
            kinds[entry["kind"]] += 1
            if entry["kind"] == "purchase":
                named = {c["campaign_id"] for c in entry["details"].get("campaigns") or []}
                applied.update(named)
                wednesday = datetime.fromisoformat(entry["occurred_at"]).astimezone(tz).isoweekday() == 3
                member_day[wednesday] += f"demo-{SEED}-member-day" in named
            store_purchases += bool(entry["kind"] == "purchase" and entry["details"].get("store_id"))
            # Simulated time: every entry was recorded within the replayed days, never at the real now.
            assert summary.start <= datetime.fromisoformat(entry["recorded_at"]).astimezone(tz).date() <= summary.end
    assert kinds["enrol"] == MEMBERS
    # The seed campaigns, created through the service: Wednesdays (by the purchase's own moment, store
    # files included) earned member-day points and no other day did; the Double 11 stayed in budget.
    assert member_day[True] > 5 and member_day[False] == 0, member_day
    results = summary.campaigns
    assert {cid: found["applied"] for cid, found in results.items() if found["applied"]} == applied  # the counters
    assert results[f"demo-{SEED}-member-day"]["points_granted"] > 0
    eleven = results[f"demo-{SEED}-double-11"]
    assert eleven["points_granted"] + eleven["budget_left"] == eleven["budget_points"]
    assert set(results) == {f"demo-{SEED}-{name}" for name in ("member-day", "double-11", "win-back")}
    # Recruited through stores (by a clerk of that store), the app, the web, referrals.
    profiles = [dynamo.get(keys.profile_key(member_id)) or {} for member_id in ids]
    channels = Counter(profile.get("enrol_channel") for profile in profiles)
    assert channels["store"] >= 3 and len(channels) >= 3 and None not in channels, channels
    for profile in profiles:
        if profile["enrol_channel"] == "store":
            assert profile["enrol_store_id"] in ("s001", "s002"), profile
            assert profile["enrol_staff_id"].startswith(f"{profile['enrol_store_id']}-clerk"), profile
    assert kinds["purchase"] > 50 and store_purchases > 10
    assert kinds["return"] >= 2 and kinds["redemption"] >= 1 and kinds["activity"] >= 10, kinds
    assert kinds["points_payment"] >= 1, kinds  # some orders paid part with points, as the quote offered
    assert kinds["referral"] >= 1 and summary.jobs["birthday members changed"] >= len(plan.birthday_days) > 0
    # Members went quiet: the dormancy job (as of the simulated days) marked them; one came back.
    assert summary.jobs["dormant members changed"] >= 2 and summary.final["status"]["dormant"] >= 1
    assert kinds["reactivation"] >= 1
    # Points expire (a month after the month they were earned, in this program) by the expiry job.
    assert summary.points_expired > 0 and kinds["expire"] >= 1
    first = plan.people[0]  # enrols at its planned moment
    enrolled = datetime.combine(plan.date_of(first.habits.enrol_day), time(*divmod(first.habits.enrol_minute, 60)), tz)
    enrolment = next(entry for entry in ledger(first.member_id) if entry["kind"] == "enrol")
    assert datetime.fromisoformat(enrolment["recorded_at"]) == enrolled

    files = summary.files
    assert files["files"] == files["files completed"] == DAYS * STORES  # one per store and day, the last day's tomorrow
    assert files["rows"] == files["applied"] + files["duplicates"] + files["rejected"]
    assert files["duplicates"] == 0 and set(summary.reasons) <= {"unknown_member"}
    assert files["non_member"] > 100
    assert not [kind for kind in summary.tally if kind.startswith("refused")], summary.tally

    # The stores' objects are in the bucket; the queue holds no S3 event of them for a pump to ingest again.
    listed = aws.client("s3").list_objects_v2(Bucket=local_stack.bucket_name, Prefix="incoming/s001/")
    assert listed["KeyCount"] == DAYS
    assert not [body for body in queued_bodies(local_stack.queue_url) if body.get("Records")]
    assert pause.scheduler_paused() is None and dynamo.get(pause.PAUSE_KEY) is None

    # Bounded work: no Scan, and a bounded number of calls per simulated member-day.
    assert calls["Scan"] == 0
    per_member_day = sum(calls.values()) / summary.member_days
    assert per_member_day < 8, (per_member_day, calls)  # ~4 measured: fixed job and file costs included

    # The same seed again: refused before writing anything.
    with pytest.raises(demo.DemoRefused, match=f"seed {SEED} is already in this table"):
        demo.run(options)
    assert len(list(check.member_ids())) == MEMBERS


def test_the_plan_is_the_seed() -> None:
    start = date(2026, 1, 1)

    def story(seed: int) -> list[Any]:
        plan = make_plan(seed, 30, 200, ["s001", "s002", "s003"], start, 180)
        actions = [
            (day, member, a.minute, a.kind, sorted(map(str, a.body.items())))
            for day, members in sorted(plan.actions.items())
            for member, acts in sorted(members.items())
            for a in acts
        ]
        rows = [
            (day, store, r.receipt_id, r.kind, r.amount, r.member_id, r.original and r.original.receipt_id)
            for day, stores in sorted(plan.store_rows.items())
            for store, rs in sorted(stores.items())
            for r in rs
        ]
        return [actions, rows, sorted(plan.birthday_days)]

    assert story(3) == story(3)
    assert story(3) != story(4)


def test_jobs_run_on_the_days_members_are_due() -> None:
    program = load_program()
    plan = make_plan(5, 60, 365, ["s001"], date(2025, 6, 1), program.dormant_after_days)
    days = schedule.job_days(plan, program, every=7)
    dormant = {day for day, names in days.items() if "dormant" in names}
    quiet = [p for p in plan.people if p.habits.stop_day and p.habits.stop_day + 200 < 365 and p.erase_day is None]
    assert quiet  # the plan has members who go quiet long enough to become dormant
    active = schedule.activity_days(plan)
    for person in quiet:
        last_before_silence = max(day for day in active[person.member_id] if day < person.habits.stop_day)
        assert last_before_silence + program.dormant_after_days in dormant
    assert set(range(0, 366, 7)) <= dormant
    assert all("pending" not in names for names in days.values())  # the program has no pending days


def test_the_simulated_clock_is_process_wide_and_exclusive() -> None:
    moment = datetime(2025, 3, 1, 2, tzinfo=UTC)
    with clock.simulated(lambda: moment):
        assert clock.now() == moment
        with pytest.raises(RuntimeError), clock.simulated(lambda: moment):
            pass
        assert clock.now() == moment
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)
    with pytest.raises(ValueError), clock.simulated(lambda: datetime(2025, 3, 1)):
        pass


def test_the_command_refuses_remote_and_missing_stacks(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "https://dynamodb.us-east-1.amazonaws.com")
    result = runner.invoke(cli, ["demo", "--members", "3"])
    assert result.exit_code == 1 and "not on this machine" in result.output and "Traceback" not in result.output
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{free_port()}")
    result = runner.invoke(cli, ["demo", "--members", "3"])
    assert result.exit_code == 1 and "no DynamoDB at" in result.output and "Traceback" not in result.output
