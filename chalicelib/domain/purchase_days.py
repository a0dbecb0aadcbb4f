"""A member's recent purchase days, and how a new one widens the days the member counts as active.

"Active over W days" on day D means: a purchase on some day in [D - W + 1, D]. So one purchase on
day t makes the member active on the days [t, t + W - 1] (its cover). A new purchase day adds only
the days its cover has that the member's other days do not already cover: at most one interval,
because each cover is W days long. The KPI roll-up records each such gain at its first day, with its
length; summing the gains that still cover a day gives the distinct active members of that day,
exactly, whatever the order the purchases arrive in (late files, backdated orders).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

ACTIVE_WINDOWS = (30, 90)


def keep_from(today: date, max_backdate_days: int) -> date:
    """The oldest day still needed: a purchase may be backdated `max_backdate_days`, and its gain
    depends on the days up to a window before it."""
    return today - timedelta(days=max_backdate_days + max(ACTIVE_WINDOWS))


def with_day(days: Iterable[date], day: date, oldest: date) -> list[date]:
    """The set with `day` added and days before `oldest` dropped, sorted."""
    return sorted({d for d in days if d >= oldest} | {day})


def _covered(days: Iterable[date], window: int) -> set[date]:
    return {d + timedelta(days=n) for d in days for n in range(window)}


def window_gains(before: Iterable[date], after: Iterable[date], window: int) -> list[tuple[date, int]]:
    """(first day, length) of each run of days covered by `after` and not by `before`.

    Days dropped from the set (pruned) are not a loss: a member's past activity stays true.
    """
    old = set(before)
    added = [d for d in set(after) if d not in old]
    if not added:
        return []
    # Only the old days near the added ones can overlap their covers.
    nearby = [d for d in old if any(abs((d - a).days) < window for a in added)]
    gained = sorted(_covered(added, window) - _covered(nearby, window))
    runs: list[tuple[date, int]] = []
    for day in gained:
        if runs and runs[-1][0] + timedelta(days=runs[-1][1]) == day:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((day, 1))
    return runs


def active_on(day: date, gains: dict[date, dict[int, int]], window: int) -> int:
    """Members active on `day`: the gains that started in the window ending `day` and still cover it.

    `gains[start][length]` = how many gains of that length started on that day."""
    total = 0
    for back in range(window):
        start = day - timedelta(days=back)
        for length, count in gains.get(start, {}).items():
            if length > back:
                total += count
    return total
