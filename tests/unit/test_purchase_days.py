"""Active-window gains: summing them gives the distinct active members, whatever the arrival order."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.purchase_days import active_on, keep_from, window_gains, with_day

DAY0 = date(2026, 1, 1)


def test_a_first_purchase_covers_the_whole_window() -> None:
    assert window_gains([], [DAY0], 30) == [(DAY0, 30)]


def test_a_purchase_inside_the_cover_extends_it_by_the_gap_only() -> None:
    later = DAY0 + timedelta(days=10)
    assert window_gains([DAY0], [DAY0, later], 30) == [(DAY0 + timedelta(days=30), 10)]


def test_a_late_purchase_before_a_known_one_fills_the_gap_in_front() -> None:
    known, late = DAY0 + timedelta(days=40), DAY0 + timedelta(days=25)
    assert window_gains([known], [late, known], 30) == [(late, 15)]


def test_the_same_day_again_gains_nothing() -> None:
    assert window_gains([DAY0], [DAY0], 90) == []


def test_pruned_days_are_not_a_loss() -> None:
    assert window_gains([DAY0, DAY0 + timedelta(days=400)], [DAY0 + timedelta(days=400)], 30) == []


def test_with_day_keeps_the_set_sorted_and_pruned() -> None:
    days = with_day([DAY0 + timedelta(days=5), DAY0], DAY0 + timedelta(days=2), oldest=DAY0 + timedelta(days=1))
    assert days == [DAY0 + timedelta(days=2), DAY0 + timedelta(days=5)]
    assert keep_from(date(2026, 12, 31), 400) == date(2026, 12, 31) - timedelta(days=490)


members = st.lists(st.lists(st.integers(min_value=0, max_value=150), min_size=1, max_size=8), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(histories=members, window=st.sampled_from([30, 90]))
def test_summed_gains_equal_distinct_active_members(histories: list[list[int]], window: int) -> None:
    """Each member's purchases arrive in the order generated (not sorted: late files, backdating)."""
    gains: dict[date, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for offsets in histories:
        days: list[date] = []
        for offset in offsets:
            after = with_day(days, DAY0 + timedelta(days=offset), oldest=DAY0)
            for start, length in window_gains(days, after, window):
                gains[start][length] += 1
            days = after
    for probe in range(0, 150 + window, 7):
        day = DAY0 + timedelta(days=probe)
        expected = sum(
            1 for offsets in histories if any(0 <= (day - (DAY0 + timedelta(days=o))).days < window for o in offsets)
        )
        assert active_on(day, gains, window) == expected
