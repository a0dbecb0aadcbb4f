"""The audience index's due day: the first day the segment's name changes without a write,
checked day by day against the segment's own definition (domain/segments.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain import audiences, segments
from chalicelib.domain.model import ERASED, Member
from chalicelib.program import load_program

AS_OF = date(2027, 6, 1)
HORIZON = 900  # past the last day anything can move: a purchase day + 365, or + the last recency bound


def member(days: list[date], purchase_count: int | None = None) -> Member:
    program = load_program()
    return Member(
        member_id="m1",
        enrolled_at=datetime(2025, 1, 1, tzinfo=program.tz),
        version=1,
        tier="member",
        purchase_count=len(days) if purchase_count is None else purchase_count,
        purchase_days=days,
    )


def brute_force_change(program, someone: Member, as_of: date) -> date | None:
    current = segments.segment(program, someone, as_of).name
    for offset in range(1, HORIZON):
        day = as_of + timedelta(days=offset)
        if segments.segment(program, someone, day).name != current:
            return day
    return None


purchase_days = st.lists(st.integers(min_value=-600, max_value=20), max_size=40).map(
    lambda offsets: sorted({AS_OF + timedelta(days=n) for n in offsets})
)


@settings(max_examples=150, deadline=None)
@given(purchase_days, st.integers(min_value=0, max_value=3))
def test_the_due_day_is_the_first_day_the_name_changes(days: list[date], extra_purchases: int) -> None:
    program = load_program()
    someone = member(days, len(days) + extra_purchases)
    assert audiences.changes_on(program, someone, AS_OF) == brute_force_change(program, someone, AS_OF)
    for offset in (0, 13, 200):  # the fast name is the segment's name on any day
        day = AS_OF + timedelta(days=offset)
        expected = segments.segment(program, someone, day).name
        assert audiences.name_on(program, days, someone.purchase_count, day) == expected


def test_a_recent_buyer_is_due_when_recency_passes_its_first_bound() -> None:
    program = load_program()
    bound = program.segments.recency_days[0]
    entry = audiences.audience(program, member([AS_OF]), AS_OF)
    assert entry is not None
    assert (entry.segment, entry.last_purchase_day) == ("new", AS_OF)
    assert entry.changes_on == AS_OF + timedelta(days=bound + 1)


def test_members_whose_segment_can_no_longer_drift_are_never_due() -> None:
    program = load_program()
    never_bought = audiences.audience(program, member([]), AS_OF)
    long_gone = audiences.audience(program, member([AS_OF - timedelta(days=700)]), AS_OF)
    assert never_bought is not None and (never_bought.segment, never_bought.changes_on) == ("no_purchase", None)
    assert long_gone is not None and (long_gone.segment, long_gone.changes_on) == ("lost", None)


def test_an_erased_member_is_in_no_audience() -> None:
    erased = member([AS_OF])
    erased.status = ERASED
    assert audiences.audience(load_program(), erased, AS_OF) is None


@settings(max_examples=150, deadline=None)
@given(days=purchase_days, bought=st.integers(min_value=0, max_value=30))
def test_a_write_stores_a_due_day_never_later_than_the_segment_s_next_change(days: list[date], bought: int) -> None:
    """Kept or not, the stored due day is never after the real next change (the job must not visit
    late), and it is the earlier one only while the segment name stays what it was."""
    program = load_program()
    before = member(days)
    today = AS_OF + timedelta(days=bought)
    after = member(sorted({*days, today}), purchase_count=before.purchase_count + 1)
    entry = audiences.audience(program, after, today)
    assert entry is not None
    due = audiences.due_after_write(program, before, entry, today)
    if entry.changes_on is None:
        assert due is None
    else:
        assert due is not None and today < due <= entry.changes_on


def test_a_repeat_visit_keeps_the_stored_due_day_so_the_index_entry_does_not_move() -> None:
    program = load_program()
    yesterday = AS_OF - timedelta(days=1)
    regular = member([yesterday - timedelta(days=n) for n in (0, 7, 14, 21, 30)])
    stored = audiences.audience(program, regular, AS_OF)
    again = member([*regular.purchase_days, AS_OF], purchase_count=regular.purchase_count + 1)
    entry = audiences.audience(program, again, AS_OF)
    assert stored is not None and entry is not None and stored.segment == entry.segment
    assert stored.changes_on is not None and entry.changes_on is not None and stored.changes_on < entry.changes_on
    assert audiences.due_after_write(program, regular, entry, AS_OF) == stored.changes_on  # kept
    assert audiences.due_after_write(program, None, entry, AS_OF) == entry.changes_on  # no state read: fresh
