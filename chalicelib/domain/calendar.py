"""Month arithmetic in the program's time zone: lot months, expiry dates, anniversaries."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, tzinfo
from functools import cache


def local_date(moment: datetime, tz: tzinfo) -> date:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every moment must carry its time zone")
    return moment.astimezone(tz).date()


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


@cache  # pure, and called for every lot of every member by the jobs' due dates and a replay of history
def add_months(month: str, count: int) -> str:
    year, mon = (int(part) for part in month.split("-"))
    index = year * 12 + (mon - 1) + count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_between(earlier: str, later: str) -> int:
    """How many months `later` is after `earlier` (negative when before)."""
    y1, m1 = (int(p) for p in earlier.split("-"))
    y2, m2 = (int(p) for p in later.split("-"))
    return (y2 * 12 + m2) - (y1 * 12 + m1)


@cache
def last_day_of_month(month: str) -> date:
    year, mon = (int(part) for part in month.split("-"))
    return date(year, mon, calendar.monthrange(year, mon)[1])


def expiry_month(earned_on: date, expiry_months: int) -> str:
    """Points earned in month M expire at the end of month M + expiry_months."""
    return add_months(month_key(earned_on), expiry_months)


def end_of_month_moment(month: str, tz: tzinfo) -> datetime:
    """The last second of a month in program time (when a lot of that expiry month lapses)."""
    return datetime.combine(last_day_of_month(month), time(23, 59, 59), tzinfo=tz)


def add_years(day: date, years: int) -> date:
    """Same month and day `years` later; 29 Feb becomes 28 Feb in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def birthday_in_year(month: int, day: int, year: int) -> date:
    """The member's birthday in a given year (29 Feb is celebrated on 28 Feb in common years)."""
    if month == 2 and day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, month, day)
