"""On which simulated days the demo runs which scheduled job.

A run costs one Query per shard of the job's index (16) even when nothing is due: ~0.1 s here, so
all five jobs every day of a year would cost minutes. The plan says when the demo members can be
due, with the domain's own due-date functions, so each job runs on those days (the result is the
same as running it daily), plus every `every` days and on the last day as a safety net (members
that are not the demo's, or a due date these rules missed: jobs catch up on everything due up to
their day, only later).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from chalicelib.domain import jobs
from chalicelib.domain.calendar import add_months, expiry_month
from chalicelib.domain.tiers import review_date
from chalicelib.program import Program
from loyalty_tools.demo.model import SALE, Plan

ORDER = (jobs.PENDING, jobs.EXPIRY, jobs.TIER_REVIEW, jobs.DORMANT_JOB, jobs.BIRTHDAY)  # releases before expiry


def activity_days(plan: Plan) -> dict[str, set[int]]:
    """The days each member did what keeps a member active: enrol, buy (online or in a store), an activity."""
    days: dict[str, set[int]] = defaultdict(set)
    for day, members in plan.actions.items():
        for member_id, actions in members.items():
            if any(action.kind in ("enrol", "order", "activity") for action in actions):
                days[member_id].add(day)
    for day, stores in plan.store_rows.items():
        for rows in stores.values():
            for row in rows:
                if row.kind == SALE and row.member_id:
                    days[row.member_id].add(day)
    return days


def dormant_days(plan: Plan, after: int) -> set[int]:
    """`after` days past each last activity before a longer silence (jobs.dormant_due_on)."""
    found: set[int] = set()
    active = activity_days(plan)
    for person in plan.people:
        last = plan.days if person.erase_day is None else person.erase_day
        days = sorted(active.get(person.member_id, ()))
        for day, following in zip(days, [*days[1:], None], strict=True):
            due = day + after
            if due <= last and (following is None or following > due):
                found.add(due)
    return found


def expiry_days(plan: Plan, program: Program) -> set[int]:
    """Lot expiries and their notices for every lot month earned during the demo (jobs.expiry_due_on)."""
    first = expiry_month(plan.start, program.expiry_months)
    months = [add_months(first, n) for n in range(plan.days // 28 + 2)]
    dates = [jobs.lot_expires_on(month) for month in months] + [jobs.lot_notice_on(program, m) for m in months]
    return {(day - plan.start).days for day in dates if 0 <= (day - plan.start).days <= plan.days}


def first_review_day(plan: Plan, program: Program) -> int:
    """No tier reached during the demo is reviewed (or at risk) before this day (jobs.tier_review_due_on)."""
    top = program.tiers[-1].code
    review = review_date(program, top, plan.start) or plan.start + timedelta(days=plan.days + 1)
    return (jobs.at_risk_on(program, review) - plan.start).days


def job_days(plan: Plan, program: Program, every: int) -> dict[int, list[str]]:
    """{day: the jobs to run as of that day, in ORDER}."""
    last = plan.days
    safety = set(range(0, last + 1, every)) | {last}
    due = {name: set(safety) for name in ORDER}
    due[jobs.PENDING] = set(range(last + 1)) if program.pending_days else set()  # 0: nothing is ever pending
    due[jobs.EXPIRY] |= expiry_days(plan, program)
    due[jobs.TIER_REVIEW] |= set(range(max(0, first_review_day(plan, program)), last + 1))
    due[jobs.DORMANT_JOB] |= dormant_days(plan, program.dormant_after_days)
    due[jobs.BIRTHDAY] |= plan.birthday_days
    return {day: [name for name in ORDER if day in due[name]] for day in range(last + 1)}
