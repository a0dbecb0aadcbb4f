"""`loyalty demo`: a year of realistic members, purchases, returns, redemptions, activities and
store sales files, replayed into the local stack in simulated time.

plan.py plans the year from the seed (people.py: who the members are; story.py: what each does;
tills.py: the stores' other receipts; model.py: the plan's data). driver.py replays it day by day
through the services (actions.py: one member's calls; files.py: the stores' files), with the
scheduled jobs run as of the simulated days (schedule.py: which days), `loyalty dev`'s own
scheduler asked to pause (pause.py), and a summary at the end (report.py). The same seed and
options give the same year; running a seed twice into one table is refused.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import clock
from chalicelib.config import settings
from chalicelib.domain import jobs as job_names
from chalicelib.program import load_program
from chalicelib.store import aws, dynamo, keys
from loyalty_tools.demo import campaigns
from loyalty_tools.demo.driver import Replay, member_days, replay_all, today_in
from loyalty_tools.demo.plan import Plan, make_plan
from loyalty_tools.demo.report import Summary, summary_lines
from loyalty_tools.local.pause import scheduler_paused_by

__all__ = ["DemoRefused", "Options", "Summary", "run", "summary_lines"]


class DemoRefused(Exception):
    """The demo cannot run here (no stack, or this seed's demo is already in the table)."""


@dataclass(frozen=True)
class Options:
    members: int = 200
    days: int = 365  # simulate from today - days to today
    seed: int = 1
    stores: int = 3
    workers: int = 6  # members replayed in parallel within a day
    jobs_every: int = 7  # every job every N days besides the days the demo members are due (schedule.py)
    until: datetime | None = None  # the last simulated moment; default: now


def _check_stack(bucket: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    table = settings().table_name
    try:
        aws.client("dynamodb").describe_table(TableName=table)
    except (ClientError, BotoCoreError) as error:
        raise DemoRefused(f"no table {table!r} on the local DynamoDB ({error}): is `loyalty dev` running?") from error
    try:
        aws.client("s3").head_bucket(Bucket=bucket)
    except (ClientError, BotoCoreError) as error:
        raise DemoRefused(f"no bucket {bucket!r} on the local S3 ({error}): is `loyalty dev` running?") from error


def _refuse_if_loaded(plan: Plan) -> None:
    first = plan.people[0].member_id
    if dynamo.get(keys.profile_key(first)) is not None:
        raise DemoRefused(
            f"the demo of seed {plan.seed} is already in this table (member {first}): "
            "restart `loyalty dev` for an empty table (without --data), or pass another --seed"
        )


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Per-write logs and the jobs' and ingestion's metric records (EMF lines on stdout) are for
    Lambda; the demo prints its own progress. Warnings and errors still show."""
    from chalicelib.observability import logger, metrics

    level = logger.log_level
    logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(_Discard()):
            yield
    finally:
        metrics.clear_metrics()
        logger.setLevel(level)


def _written_after(member_id: str, until: datetime) -> int:
    """Ledger entries and coupons of the member dated after the replay's last moment: written by
    something else than the replay (e.g. a scheduler running the jobs as of today meanwhile)."""
    items = dynamo.query_all(keys.member_pk(member_id), "")
    stamps = [
        item.get("recorded_at") if item[keys.SK].startswith(keys.ENTRY_PREFIX) else item.get("issued_at")
        for item in items
    ]
    return sum(1 for stamp in stamps if stamp and datetime.fromisoformat(str(stamp)) > until)


def _final_state(plan: Plan, workers: int, until: datetime) -> dict[str, Any]:
    """Where the demo members ended up, whether their books balance, and whether anything else
    wrote to them while the demo ran."""
    from chalicelib.services import check, members

    def look(member_id: str) -> tuple[dict[str, Any], int, int]:
        return members.view(member_id), len(check.check_member(member_id)), _written_after(member_id, until)

    with ThreadPoolExecutor(workers) as pool:
        looks = list(pool.map(look, [person.member_id for person in plan.people]))
    return {
        "status": Counter(view["status"] for view, _, _ in looks),
        "tier": Counter(view["tier"]["code"] for view, _, _ in looks if view["status"] != "erased"),
        "points_outstanding": sum(view["points"]["available"] + view["points"]["pending"] for view, _, _ in looks),
        "problems": sum(problems for _, problems, _ in looks),
        "written_outside_replay": sum(late for _, _, late in looks),
    }


def run(options: Options, progress: Callable[[str], None] = lambda line: None) -> Summary:
    """Fill the stack the environment points at; returns what was done."""
    if options.members < 1 or not 1 <= options.days <= 730 or not 1 <= options.stores <= 9:
        raise DemoRefused("members >= 1, days 1..730, stores 1..9")
    started = time.monotonic()
    program = load_program()
    until = (options.until or datetime.now(UTC)).astimezone(UTC)
    start = today_in(program, until) - timedelta(days=options.days)
    bucket = settings().bucket_name
    _check_stack(bucket)
    stores = [f"s{n:03d}" for n in range(1, options.stores + 1)]
    plan = make_plan(
        options.seed, options.members, options.days, stores, start, program.dormant_after_days, program.currency
    )
    _refuse_if_loaded(plan)
    replay = Replay(plan, program, bucket=bucket, until=until, workers=options.workers, jobs_every=options.jobs_every)
    progress(f"replaying {len(plan.people)} members and {len(stores)} stores from {start} to {plan.date_of(plan.days)}")
    with _quiet(), scheduler_paused_by(f"loyalty demo --seed {options.seed}") as lease:
        _current_birthday_cursor()
        with clock.simulated(replay.clock):
            seeded = campaigns.create(plan, program)  # at the replay's first moment
            replay_all(replay, lease, progress, time.monotonic)
        replay.summary.final = _final_state(plan, options.workers, until)
        replay.summary.campaigns = campaigns.results(seeded)
    replay.summary.member_days = member_days(plan)
    replay.summary.seconds = round(time.monotonic() - started, 1)
    return replay.summary


def _current_birthday_cursor() -> None:
    """Run the birthday job as of today first, as `loyalty dev`'s scheduler does every minute: with
    its cursor at today, a run for a past day looks at that day only (not the week before it)."""
    from chalicelib.services import jobs

    jobs.run(job_names.BIRTHDAY)
