"""Audiences: the members of a segment, kept on a sparse index instead of computed member by member.

A segment's name is a pure function of the member's purchase days and the day (domain/segments.py):
it drifts with recency without any write. What the index holds is therefore the name *as of a day*
plus the next day that name can change without a write (`changes_on`). Every member write stores
both (as of the write's day); the daily `audience` job re-stores them for the members whose day
has come. Both read only the profile.

Without a write only two things move the name: the recency score falls when the days since the
last purchase day pass a recency boundary, and the frequency score falls when a purchase day
leaves the 365-day window. Either happens on a day computable from the purchase days, so the next
change is the first such day on which the grid's name differs: a member whose name can no longer
change (e.g. `lost` with every purchase day out of the window) has none and leaves the due index.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta

from chalicelib.domain.model import ERASED, Member
from chalicelib.domain.segments import FREQUENCY_WINDOW_DAYS, NO_PURCHASE, grid_name, recency_score, rising_score
from chalicelib.program import Program

NO_STORE, NO_DAY = "-", "-"  # sort-key parts of a member without an enrolment store / purchase day


@dataclass(frozen=True)
class Audience:
    """What the audience index keeps of a member as of a day."""

    segment: str
    tier: str
    status: str
    store_id: str | None
    last_purchase_day: date | None
    changes_on: date | None  # the next day the segment can change without a write (None: never)


def name_on(program: Program, days: list[date], purchase_count: int, day: date) -> str:
    """`segments.segment(...).name` from sorted distinct purchase days, in O(log n): the due date
    search evaluates it on many days."""
    rules = program.segments
    known = bisect_right(days, day)
    if known == 0 and purchase_count == 0:
        return NO_PURCHASE
    last = days[known - 1] if known else None
    in_window = known - bisect_right(days, day - timedelta(days=FREQUENCY_WINDOW_DAYS))
    r = recency_score((day - last).days if last else None, rules.recency_days)
    return grid_name(r, rising_score(in_window, rules.frequency_days))


def _candidates(program: Program, days: list[date], after: date) -> list[date]:
    """Every day after `after` on which R or F can move: a recency boundary passed (counted from the
    last day known then: `after`'s, or a back-dated run's later purchase day), such a later purchase
    day itself, and a purchase day leaving the window when it takes the count below a boundary."""
    known = bisect_right(days, after)
    window = timedelta(days=FREQUENCY_WINDOW_DAYS)
    in_window = days[bisect_right(days, after - window) : known]
    if known < len(days):  # later days (a back-dated run): any departure may matter
        found = {day + window for day in in_window}
    else:  # the i-th oldest leaving leaves len - i - 1: below boundary b when i = len - b
        count = len(in_window)
        found = {in_window[count - bound] + window for bound in program.segments.frequency_days if 0 < bound <= count}
    for last in days[max(known - 1, 0) :]:
        found.add(last)
        found.update(last + timedelta(days=bound + 1) for bound in program.segments.recency_days)
    return sorted(candidate for candidate in found if candidate > after)


def changes_on(program: Program, member: Member, as_of: date) -> date | None:
    """The first day after `as_of` whose segment name differs from `as_of`'s, if nothing is written."""
    return _changes_on(program, sorted(set(member.purchase_days)), member.purchase_count, as_of)


def _changes_on(program: Program, days: list[date], purchase_count: int, as_of: date) -> date | None:
    current = name_on(program, days, purchase_count, as_of)
    for candidate in _candidates(program, days, as_of):
        if name_on(program, days, purchase_count, candidate) != current:
            return candidate
    return None


def audience(program: Program, member: Member, as_of: date) -> Audience | None:
    """The member's audience entry as of `as_of`; None for an erased member (in no audience)."""
    if member.status == ERASED:
        return None
    days = sorted(set(member.purchase_days))
    known = [day for day in days if day <= as_of]
    return Audience(
        segment=name_on(program, days, member.purchase_count, as_of),
        tier=member.tier,
        status=member.status,
        store_id=member.enrolment.store_id,
        last_purchase_day=known[-1] if known else None,
        changes_on=_changes_on(program, days, member.purchase_count, as_of),
    )


def due_after_write(program: Program, before: Member | None, after: Audience, as_of: date) -> date | None:
    """The audience job's due day to store with a write. When the write leaves the segment as it was
    and only puts its next change off (a purchase resets recency), the earlier due day already
    stored is kept: its index entry does not move on every visit (a delete and a put in the write's
    transaction, 4 write units), and the job, visiting that day, finds the segment unchanged and
    stores the later day once. Visiting early is harmless; visiting late would not be."""
    if before is None or after.changes_on is None:
        return after.changes_on
    stored = audience(program, before, as_of)
    if stored is None or stored.segment != after.segment or stored.changes_on is None:
        return after.changes_on
    return min(stored.changes_on, after.changes_on)
