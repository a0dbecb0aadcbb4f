"""Month arithmetic in program time: lot months, expiry moments, anniversaries, local dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from chalicelib.domain.calendar import (
    add_months,
    add_years,
    birthday_in_year,
    end_of_month_moment,
    expiry_month,
    last_day_of_month,
    local_date,
    month_key,
    months_between,
)
from chalicelib.domain.tiers import review_date

from ._support import PROGRAM, SHANGHAI


def test_points_earned_mid_march_expire_at_the_end_of_march_next_year() -> None:
    month = expiry_month(date(2026, 3, 14), PROGRAM.expiry_months)

    assert month == "2027-03"
    assert end_of_month_moment(month, PROGRAM.tz) == datetime(2027, 3, 31, 23, 59, 59, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("earned", "expires"),
    [
        (date(2026, 3, 1), "2027-03"),
        (date(2026, 3, 31), "2027-03"),
        (date(2026, 12, 31), "2027-12"),
        (date(2026, 1, 1), "2027-01"),
        (date(2028, 2, 29), "2029-02"),
    ],
)
def test_expiry_month_is_twelve_months_after_the_earning_month(earned: date, expires: str) -> None:
    assert expiry_month(earned, 12) == expires


def test_expiry_month_follows_the_program_setting() -> None:
    assert expiry_month(date(2026, 3, 14), 1) == "2026-04"
    assert expiry_month(date(2026, 11, 2), 3) == "2027-02"


def test_end_of_month_moment_in_program_time_is_16_utc_before_midnight() -> None:
    moment = end_of_month_moment("2027-02", PROGRAM.tz)

    assert moment.astimezone(UTC) == datetime(2027, 2, 28, 15, 59, 59, tzinfo=UTC)
    assert moment.time() == time(23, 59, 59)


@pytest.mark.parametrize(
    ("month", "count", "expected"),
    [
        ("2026-03", 12, "2027-03"),
        ("2026-12", 1, "2027-01"),
        ("2026-11", 14, "2028-01"),
        ("2026-01", -1, "2025-12"),
        ("2026-03", -15, "2024-12"),
        ("2026-03", 0, "2026-03"),
        ("0999-12", 1, "1000-01"),
    ],
)
def test_add_months_across_years(month: str, count: int, expected: str) -> None:
    assert add_months(month, count) == expected


def test_months_between() -> None:
    assert months_between("2026-03", "2027-03") == 12
    assert months_between("2026-12", "2027-01") == 1
    assert months_between("2027-01", "2026-12") == -1
    assert months_between("2026-05", "2026-05") == 0


def test_month_key_is_zero_padded() -> None:
    assert month_key(date(2026, 3, 14)) == "2026-03"
    assert month_key(date(987, 11, 1)) == "0987-11"


@pytest.mark.parametrize(
    ("month", "last"),
    [("2026-02", 28), ("2028-02", 29), ("2100-02", 28), ("2000-02", 29), ("2026-04", 30), ("2026-12", 31)],
)
def test_last_day_of_month(month: str, last: int) -> None:
    assert last_day_of_month(month).day == last


def test_anniversary_of_29_february_is_28_february_in_a_common_year() -> None:
    assert add_years(date(2028, 2, 29), 1) == date(2029, 2, 28)
    assert add_years(date(2028, 2, 29), 4) == date(2032, 2, 29)
    assert add_years(date(2026, 3, 14), 1) == date(2027, 3, 14)


def test_tier_review_of_a_29_february_upgrade_is_28_february() -> None:
    assert review_date(PROGRAM, "silver", date(2028, 2, 29)) == date(2029, 2, 28)
    assert review_date(PROGRAM, "member", date(2028, 2, 29)) is None


def test_birthday_29_february_is_celebrated_on_28_february_in_common_years() -> None:
    assert birthday_in_year(2, 29, 2027) == date(2027, 2, 28)
    assert birthday_in_year(2, 29, 2028) == date(2028, 2, 29)
    assert birthday_in_year(2, 29, 2100) == date(2100, 2, 28)
    assert birthday_in_year(2, 28, 2028) == date(2028, 2, 28)
    assert birthday_in_year(12, 31, 2027) == date(2027, 12, 31)


def test_local_date_in_shanghai_is_a_day_ahead_of_utc_after_16_utc() -> None:
    late_utc = datetime(2026, 3, 31, 16, 30, tzinfo=UTC)

    assert local_date(late_utc, SHANGHAI) == date(2026, 4, 1)
    assert local_date(late_utc, UTC) == date(2026, 3, 31)
    # ...which moves the point lot to the next month.
    assert expiry_month(local_date(late_utc, SHANGHAI), 12) == "2027-04"
    assert expiry_month(local_date(late_utc, UTC), 12) == "2027-03"


def test_local_date_just_before_shanghai_midnight() -> None:
    before = datetime(2026, 3, 31, 15, 59, 59, tzinfo=UTC)

    assert local_date(before, SHANGHAI) == date(2026, 3, 31)


def test_local_date_from_a_moment_with_another_offset() -> None:
    from datetime import timedelta, timezone

    new_york_evening = datetime(2026, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=-5)))

    assert local_date(new_york_evening, SHANGHAI) == date(2027, 1, 1)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        local_date(datetime(2026, 3, 14, 12, 0), SHANGHAI)
