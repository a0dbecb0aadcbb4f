"""Scheduled jobs: expiry, tier review, dormancy, birthdays, pending points.

A run, for one job and one date (`as_of`, program time):
- finds the members due on the job's sparse index, shard by shard and page by page (never a
  Scan): its reads grow with the members due, not with all members;
- for each one reads the member's state (one consistent Query, as the API does), applies the
  job's pure rule (domain/jobs.py) and commits with the same version-guarded transaction as the
  API: a purchase that lands in between makes the commit fail, and the job reads again, so it
  never overwrites a newer balance; its events are committed with it (the stream publishes them);
- is idempotent: a member the job dealt with leaves the index (its due date moves on), and the
  entries that change points have fixed ids (`expire#<yyyy-mm>`, `release#<purchase entry>`,
  `birthday#<yyyy>`), so running the job twice for a date changes nothing the second time;
- is resumable: when the Lambda's remaining time gets short it stops and returns where it was
  (`resume`). The next scheduled run (hourly) simply continues: the members already done have left
  the index. Passing `resume` back only saves re-reading the pages before that point.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from datetime import time as day_time
from typing import Any

from chalicelib import clock
from chalicelib.domain import jobs
from chalicelib.domain.calendar import local_date
from chalicelib.domain.errors import Busy
from chalicelib.domain.model import Member, MemberChange
from chalicelib.observability import logger, metrics
from chalicelib.program import Program, load_program
from chalicelib.services import cards
from chalicelib.services.writes import fingerprint, new_coupon_code
from chalicelib.store import due, keys, members, retry

# Stop this long before the Lambda's time limit (checked before each member; one takes milliseconds).
STOP_MARGIN_MS = 10_000
NOTICES = ("points.expiring", "tier.at_risk")

Rule = Callable[[Program, Member, date, datetime], MemberChange | None]


class UnknownJob(ValueError):
    pass


def _expiry(program: Program, member: Member, day: date, now: datetime) -> MemberChange | None:
    return jobs.expire_points(program, member, day)


def _tier_review(program: Program, member: Member, day: date, now: datetime) -> MemberChange | None:
    return jobs.review_tier(program, member, day)


def _dormant(program: Program, member: Member, day: date, now: datetime) -> MemberChange | None:
    return jobs.mark_dormant(program, member, day, now, new_coupon_code())


def _birthday(program: Program, member: Member, day: date, now: datetime) -> MemberChange | None:
    return jobs.grant_birthday(program, member, day, now, new_coupon_code())


def _pending(program: Program, member: Member, day: date, now: datetime) -> MemberChange | None:
    return jobs.release_pending(program, member, day)


RULES: dict[str, tuple[keys.DueIndex, Rule]] = {
    jobs.EXPIRY: (keys.DUE_EXPIRY, _expiry),
    jobs.TIER_REVIEW: (keys.DUE_TIER_REVIEW, _tier_review),
    jobs.DORMANT_JOB: (keys.DUE_DORMANT, _dormant),
    jobs.BIRTHDAY: (keys.DUE_BIRTHDAY, _birthday),
    jobs.PENDING: (keys.DUE_PENDING, _pending),
}


@dataclass
class JobResult:
    job: str
    as_of: date
    members_read: int = 0  # member states read (one Query each)
    members_changed: int = 0
    members_failed: int = 0  # left due: the next run retries them
    points_expired: int = 0
    points_released: int = 0
    coupons_issued: int = 0
    notices_sent: int = 0
    events: int = 0
    complete: bool = True
    resume: dict[str, Any] | None = None  # where a run stopped for time: {"partition", "start"}
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        answer = asdict(self)
        answer["as_of"] = self.as_of.isoformat()
        return answer


@dataclass(frozen=True)
class Partition:
    """One Query target: a shard of the job's index, and the day the rule acts for."""

    shard: str
    day: date
    up_to: str | None = None  # due date <= this
    equal_to: str | None = None  # birthday key == this


def partitions(name: str, as_of: date) -> list[Partition]:
    if name != jobs.BIRTHDAY:
        return [Partition(shard, as_of, up_to=as_of.isoformat()) for shard in keys.member_shards()]
    days = jobs.catch_up_days(as_of, due.job_cursor(name))
    return [
        Partition(shard, day, equal_to=key)
        for day in days
        for key in jobs.birthday_keys_on(day)
        for shard in keys.member_shards()
    ]


def time_left_from(context: Any) -> Callable[[], int] | None:
    """The Lambda context's remaining-time function (None outside Lambda: no time limit)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining if callable(remaining) else None


@dataclass
class _Run:
    name: str
    rule: Rule
    index: keys.DueIndex
    program: Program
    moment: datetime
    result: JobResult
    time_left_ms: Callable[[], int] | None
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        self.digest = fingerprint({"job": self.name, "as_of": self.result.as_of})

    def time_is_short(self) -> bool:
        return self.time_left_ms is not None and self.time_left_ms() < STOP_MARGIN_MS

    def partition(self, number: int, part: Partition, start: dict[str, Any] | None) -> bool:
        """Process one partition from `start`; False when it stopped for time (result.resume set)."""
        while True:
            if self.time_is_short():
                return self._stop(number, start)
            page = due.due_page(self.index, part.shard, up_to=part.up_to, equal_to=part.equal_to, start=start)
            for member_id in page.member_ids:
                if self.time_is_short():
                    return self._stop(number, start)  # this page again: the members done are no-ops
                self.member(member_id, part.day)
            if page.next_start is None:
                return True
            start = page.next_start

    def _stop(self, number: int, start: dict[str, Any] | None) -> bool:
        self.result.complete = False
        self.result.resume = {"partition": number, "start": start}
        return False

    def member(self, member_id: str, day: date) -> None:
        """One member, isolated: a failure is logged and counted, and the member stays due."""
        try:
            self._apply(member_id, day)
        except Exception:
            self.result.members_failed += 1
            logger.exception("job failed for a member", extra={"job": self.name, "member_id": member_id})

    def _apply(self, member_id: str, day: date) -> None:
        for _ in retry.attempts(retry.MEMBER_RACE):
            member = members.load_member(member_id)
            if member is None:
                return
            self.result.members_read += 1
            change = self.rule(self.program, member, day, self.moment)
            if change is None:
                return  # the index was behind the table: nothing to do
            try:
                extras = cards.missing([change])  # a member from before cards gets one with this write
                members.commit(members.Commit([change], self.digest, {"job": self.name}, extras), self.moment)
            except members.Replay:
                return  # an earlier run already did it
            except (members.VersionConflict, cards.CardNumberTaken):
                continue
            self.result.events += len(change.events)  # committed with the change: the stream publishes them
            self._count(change)
            return
        raise Busy(f"member {member_id} kept changing during the {self.name} job")

    def _count(self, change: MemberChange) -> None:
        result = self.result
        result.members_changed += 1
        result.points_expired -= sum(e.points for e in change.entries if e.kind == "expire")
        result.points_released += sum(int(e.details["points"]) for e in change.entries if e.kind == "release")
        result.coupons_issued += len(change.coupons)
        result.notices_sent += sum(1 for e in change.events if e.detail_type in NOTICES)


def run(
    name: str,
    as_of: date | None = None,
    time_left_ms: Callable[[], int] | None = None,
    resume: dict[str, Any] | None = None,
) -> JobResult:
    """Run job `name` as of `as_of` (default: today in program time)."""
    if name == jobs.AUDIENCE:
        from chalicelib.services import audience_job  # it builds on this module

        return audience_job.run(as_of, time_left_ms, resume)
    if name not in RULES:
        raise UnknownJob(f"unknown job {name!r}: one of {', '.join(jobs.JOB_NAMES)}")
    started = time.monotonic()
    program = load_program()
    now = clock.now()
    today = local_date(now, program.tz)
    as_of = as_of or today
    # A run for another day acts as at the start of that day (coupon validity, ledger times).
    moment = now if as_of == today else datetime.combine(as_of, day_time(0, 0), tzinfo=program.tz)
    index, rule = RULES[name]
    job = _Run(name, rule, index, program, moment, JobResult(name, as_of), time_left_ms)
    first, start = (int(resume["partition"]), resume.get("start")) if resume else (0, None)
    targets = partitions(name, as_of)
    for number in range(first, len(targets)):
        if not job.partition(number, targets[number], start):
            break
        start = None
    if job.result.complete and name == jobs.BIRTHDAY:
        due.advance_job_cursor(name, as_of)
    job.result.seconds = round(time.monotonic() - started, 3)
    emit_metrics(job.result)
    logger.info("job run", extra=job.result.as_dict())
    return job.result


def grant_missed_birthday(member_id: str, birthday: date | None) -> bool:
    """The birthday gift of a member who enrolled, or gave their birthday, on their birthday after
    that day's run: granted now by the job's own rule and commit, so the once-a-year entry
    (`birthday#<yyyy>`) still makes it at most one. Never fails the caller's write, which is
    already committed: a failure is logged. True: granted now."""
    program = load_program()
    now = clock.now()
    today = local_date(now, program.tz)
    if birthday is None or not jobs.celebrated_on(birthday, today):
        return False  # every other day of the year: no read
    index, rule = RULES[jobs.BIRTHDAY]
    job = _Run(jobs.BIRTHDAY, rule, index, program, now, JobResult(jobs.BIRTHDAY, today), None)
    try:
        if not jobs.birthday_run_missed(birthday, today, due.job_cursor(jobs.BIRTHDAY)):
            return False  # today's run is still to come: it will find the member on its index
        job.member(member_id, today)  # logs a failure of the member's write
    except Exception:
        logger.exception("late birthday gift failed", extra={"member_id": member_id})
        return False
    # No job metrics: JobHeartbeat would tell the alarms the birthday job ran.
    logger.info("late birthday gift", extra={"member_id": member_id, "granted": job.result.members_changed})
    return job.result.members_changed == 1


def emit_metrics(result: JobResult) -> None:
    """One EMF record per run, with dimension `job` (its own set: the API's shared metrics keep theirs).
    `JobHeartbeat` is 1 on every run that got through its pages; the infra alarms when it is missing."""
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    record = EphemeralMetrics(namespace=metrics.namespace, service=metrics.service)
    record.add_dimension(name="job", value=result.job)
    record.add_metric(name="JobHeartbeat", unit=MetricUnit.Count, value=1)
    record.add_metric(name="JobMembersProcessed", unit=MetricUnit.Count, value=result.members_read)
    record.add_metric(name="JobMembersChanged", unit=MetricUnit.Count, value=result.members_changed)
    record.add_metric(name="JobMembersFailed", unit=MetricUnit.Count, value=result.members_failed)
    record.add_metric(name="JobIncomplete", unit=MetricUnit.Count, value=0 if result.complete else 1)
    record.add_metric(name="JobDuration", unit=MetricUnit.Seconds, value=result.seconds)
    if result.job == jobs.EXPIRY:
        record.add_metric(name="PointsExpired", unit=MetricUnit.Count, value=result.points_expired)
    if result.job == jobs.PENDING:
        record.add_metric(name="PointsReleased", unit=MetricUnit.Count, value=result.points_released)
    if result.coupons_issued:
        record.add_metric(name="JobCouponsIssued", unit=MetricUnit.Count, value=result.coupons_issued)
    record.flush_metrics()


# Each job as a callable with everything defaulted (as of today): what `loyalty dev`'s scheduler runs.
JOBS: dict[str, Callable[..., JobResult]] = {name: functools.partial(run, name) for name in jobs.JOB_NAMES}
