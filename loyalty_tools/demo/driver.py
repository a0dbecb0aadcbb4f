"""Replaying the planned year against the stack, day by day, in simulated time.

Each simulated day, in program time:
  00:05  the scheduled jobs, as of that day (`services.jobs.run`): pending, expiry, tier review,
         dormancy, birthdays;
  06:30  the stores' files of the day before: uploaded and ingested;
  07-22  the members' storefront calls (enrolments, orders, returns, activities, profile updates),
         members in parallel, each member's calls in order at their own moments (the members who
         are not in the morning's files start while the files are ingested, the others after);
  22-24  redemptions, adjustments, erasures (after all of the day's purchases: a redemption is
         chosen from the balance, which must not depend on thread timing).
Every write reads its time from `clock.now()`, which answers the simulated moment (see
chalicelib/clock.py), so ledger entries, profile changes, coupons and file runs carry it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from typing import Any

from chalicelib.program import Program
from chalicelib.services import jobs
from loyalty_tools.demo import files, report, schedule
from loyalty_tools.demo.actions import MemberRunner, Wallet
from loyalty_tools.demo.model import EVENING, Action, Plan
from loyalty_tools.demo.report import Summary
from loyalty_tools.local.pause import Lease

JOBS_MINUTE = 5
FILES_MINUTE = 6 * 60 + 30


class SimulatedTime:
    """The clock source: a moment per thread while a member's call runs, else the shared moment
    (the jobs' and the ingestion's own worker threads read that one)."""

    def __init__(self, first: datetime) -> None:
        self.shared = first
        self._local = threading.local()

    def __call__(self) -> datetime:
        moment: datetime | None = getattr(self._local, "moment", None)
        return moment or self.shared

    @contextmanager
    def at(self, moment: datetime) -> Iterator[None]:
        self._local.moment = moment
        try:
            yield
        finally:
            self._local.moment = None


class Replay:
    def __init__(
        self, plan: Plan, program: Program, *, bucket: str, until: datetime, workers: int, jobs_every: int
    ) -> None:
        self.plan, self.program, self.bucket, self.until = plan, program, bucket, until
        self.workers = workers
        self.job_days = schedule.job_days(plan, program, jobs_every)
        self.clock = SimulatedTime(self.moment(0, 0))
        self.purses: dict[str, Wallet] = {person.member_id: Wallet() for person in plan.people}
        self.summary = Summary(len(plan.people), plan.start, plan.date_of(plan.days), plan.days + 1)
        self.lock = threading.Lock()

    def moment(self, day: int, minute: int) -> datetime:
        local = datetime.combine(self.plan.date_of(day), day_time(minute // 60, minute % 60), self.program.tz)
        return local.astimezone(UTC)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            seconds = self.summary.phase_seconds
            seconds[phase] = seconds.get(phase, 0.0) + time.monotonic() - started

    def run_day(self, day: int, pool: ThreadPoolExecutor, store_pool: ThreadPoolExecutor, lease: Lease) -> None:
        """The day's jobs; then the members' daytime calls, overlapping the stores' files of the day
        before for the members who are not in them; then the evening."""
        lease.renew()
        if self.moment(day, JOBS_MINUTE) <= self.until:
            with self.timed("jobs"):
                self.run_jobs(day)
        actions = self.plan.actions.get(day, {})
        daytime = {m: [a for a in planned if a.minute < EVENING] for m, planned in actions.items()}
        files = day > 0 and self.moment(day, FILES_MINUTE) <= self.until
        in_files = self.file_members(day - 1) if files else set()
        with self.timed("members (overlapping the files)"):
            running = [pool.submit(self.run_member, day, m, a) for m, a in daytime.items() if a and m not in in_files]
            if files:
                with self.timed("files"):
                    self.run_files(day - 1, store_pool)
            running += [pool.submit(self.run_member, day, m, a) for m, a in daytime.items() if a and m in in_files]
            for task in running:
                task.result()
        with self.timed("evening"):
            evening = [(m, [a for a in planned if a.minute >= EVENING]) for m, planned in actions.items()]
            list(pool.map(lambda item: self.run_member(day, *item), [(m, a) for m, a in evening if a]))

    def file_members(self, day: int) -> set[str]:
        return {row.member_id for rows in self.plan.store_rows.get(day, {}).values() for row in rows if row.member_id}

    # --- jobs ------------------------------------------------------------------------------------

    def run_jobs(self, day: int) -> None:
        self.clock.shared = self.moment(day, JOBS_MINUTE)
        for name in self.job_days.get(day, []):  # one after the other: the order is part of the outcome
            result = jobs.run(name, as_of=self.plan.date_of(day))
            self.summary.jobs[f"{name} runs"] += 1
            self.summary.jobs[f"{name} members changed"] += result.members_changed
            self.summary.points_expired += result.points_expired

    # --- files -----------------------------------------------------------------------------------

    def run_files(self, day: int, pool: ThreadPoolExecutor) -> None:
        """The stores' files of `day`, uploaded and ingested the next morning."""
        moment = self.moment(day + 1, FILES_MINUTE)
        self.clock.shared = moment
        rows = self.plan.store_rows.get(day, {})
        uploads = []
        with files.notifications_paused(self.bucket):
            for store in self.plan.stores:
                suffix, body = files.render(
                    self.plan, store, rows.get(store, []), self.program.tz, self.program.currency
                )
                key = files.file_key(self.plan, store, day, suffix)
                upload_id = f"demo{self.plan.seed}-{store}-{self.plan.date_of(day).isoformat()}"
                uploads.append((key, files.upload(self.bucket, key, body, upload_id), upload_id))
        reports = pool.map(lambda upload: files.ingest(self.bucket, upload[0], upload[1], moment, upload[2]), uploads)
        for answer in reports:
            self.count_report(answer)

    def count_report(self, answer: dict[str, Any]) -> None:
        with self.lock:
            counts = self.summary.files
            counts["files"] += 1
            counts[f"files {answer['status']}"] += 1
            for name in ("rows", "applied", "duplicates", "rejected", "non_member"):
                counts[name] += int(answer.get(name, 0))
            self.summary.reasons.update(answer.get("reasons") or {})

    # --- members ---------------------------------------------------------------------------------

    def run_member(self, day: int, member_id: str, actions: list[Action]) -> None:
        tally: Counter[str] = Counter()
        runner = MemberRunner(self.program, member_id, self.purses[member_id], tally)
        for action in actions:
            moment = self.moment(day, action.minute)
            if moment > self.until:
                break
            with self.clock.at(moment):
                runner.run(action, moment)
        with self.lock:
            self.summary.tally.update(tally)


def replay_all(replay: Replay, lease: Lease, progress: Callable[[str], None], clock_time: Callable[[], float]) -> None:
    started = clock_time()
    with (
        ThreadPoolExecutor(replay.workers, thread_name_prefix="demo") as pool,
        ThreadPoolExecutor(len(replay.plan.stores), thread_name_prefix="demo-store") as store_pool,
    ):
        for day in range(replay.plan.days + 1):
            if replay.moment(day, 0) > replay.until:
                break
            replay.run_day(day, pool, store_pool, lease)
            tomorrow = replay.plan.date_of(day) + timedelta(days=1)
            if tomorrow.day == 1 or day == replay.plan.days:
                month = replay.plan.date_of(day).isoformat()[:7]
                progress(report.month_line(month, replay.summary, clock_time() - started))


def member_days(plan: Plan) -> int:
    last = plan.days
    return sum(
        (person.erase_day if person.erase_day is not None else last) - person.habits.enrol_day + 1
        for person in plan.people
    )


def today_in(program: Program, moment: datetime) -> date:
    return moment.astimezone(program.tz).date()
