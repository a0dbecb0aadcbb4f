"""The daily `audience` job: keeps each member's segment on the audience index as it drifts.

Every member write stores the member's segment as of that day, and the next day it can change
without a write (domain/audiences.py). This job finds the members whose day has come on their own
sparse due index (`due_audience`, shard by shard, never a Scan), reads each profile (one GetItem)
and stores the segment as of today with its next day. So a run reads about one index entry and one
profile per member whose segment changes that day, not every member.

Idempotent: a member done leaves the index (its due day moves past today), so a second run of the
day reads nothing but the empty index pages. Resumable like the other jobs: it stops with
STOP_MARGIN_MS of Lambda time left and the next hourly run continues. The update is guarded by
the profile's version without bumping it (the member's state does not change): a write in between
stored its own segment, and the job reads again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import Any

from chalicelib import clock
from chalicelib.domain import jobs as job_rules
from chalicelib.domain.calendar import local_date
from chalicelib.domain.errors import Busy
from chalicelib.observability import logger
from chalicelib.program import load_program
from chalicelib.services.jobs import STOP_MARGIN_MS, JobResult, emit_metrics
from chalicelib.store import due, dynamo, keys, members, retry

TimeLeft = Callable[[], int] | None


def _refresh(member_id: str, day: date, result: JobResult, when_missing: bool) -> None:
    for _ in retry.attempts(retry.MEMBER_RACE):
        result.members_read += 1
        try:
            if due.refresh_audience_if_due(member_id, day, when_missing=when_missing):
                result.members_changed += 1
            return
        except (dynamo.ConditionFailed, dynamo.TransactionConflict):
            continue  # a write landed in between: read again
    raise Busy(f"member {member_id} kept changing during the audience job")


def _member(member_id: str, day: date, result: JobResult, when_missing: bool = False) -> None:
    """One member, isolated: a failure is logged and counted, and the member stays due."""
    try:
        _refresh(member_id, day, result, when_missing)
    except Exception:
        result.members_failed += 1
        logger.exception("job failed for a member", extra={"job": job_rules.AUDIENCE, "member_id": member_id})


def _shard(number: int, start: dict[str, Any] | None, result: JobResult, time_left_ms: TimeLeft) -> bool:
    """One shard of the due index from `start`; False when it stopped for time (result.resume set)."""
    shard, up_to = keys.member_shards()[number], result.as_of.isoformat()
    while True:
        if time_left_ms is not None and time_left_ms() < STOP_MARGIN_MS:
            result.complete, result.resume = False, {"partition": number, "start": start}
            return False
        page = due.due_page(keys.DUE_AUDIENCE, shard, up_to=up_to, start=start)
        for member_id in page.member_ids:  # a page takes well under the stop margin
            _member(member_id, result.as_of, result)
        if page.next_start is None:
            return True
        start = page.next_start


def run(
    as_of: date | None = None,
    time_left_ms: TimeLeft = None,
    resume: dict[str, Any] | None = None,
) -> JobResult:
    """Store the segment as of `as_of` (default: today in program time) of every member due."""
    started = time.monotonic()
    result = JobResult(job_rules.AUDIENCE, as_of or local_date(clock.now(), load_program().tz))
    first, start = (int(resume["partition"]), resume.get("start")) if resume else (0, None)
    for number in range(first, len(keys.member_shards())):
        if not _shard(number, start, result, time_left_ms):
            break
        start = None
    result.seconds = round(time.monotonic() - started, 3)
    emit_metrics(result)
    logger.info("job run", extra=result.as_dict())
    return result


def backfill(as_of: date | None = None) -> JobResult:
    """Members stored before the audience index (or written by code that did not store it) get
    their entry as of `as_of` (default today): every profile through the audit index (never a
    Scan), one GetItem each, a write only for those without an entry or whose entry lacks its day
    (`audience_day`: the KPI roll-up counts members by segment from entries that have it). Safe to
    run again. After this the daily job and the writes keep them current."""
    started = time.monotonic()
    result = JobResult("audience-backfill", as_of or local_date(clock.now(), load_program().tz))
    for member_id in members.member_ids():
        _member(member_id, result.as_of, result, when_missing=True)
    result.seconds = round(time.monotonic() - started, 3)
    logger.info("audience backfill", extra=result.as_dict())
    return result
