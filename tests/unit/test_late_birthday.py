"""When an enrolment or a PATCH on the birthday comes after that day's birthday run."""

from datetime import date

import pytest

from chalicelib.domain.jobs import birthday_run_missed


@pytest.mark.parametrize(
    ("birthday", "today", "done_through", "missed"),
    [
        (date(1990, 5, 3), date(2026, 5, 3), date(2026, 5, 3), True),
        (date(1990, 5, 3), date(2026, 5, 3), date(2026, 5, 2), False),  # the run is still to come
        (date(1990, 5, 3), date(2026, 5, 3), None, False),  # never ran: the first run catches up
        (date(1990, 5, 3), date(2026, 5, 4), date(2026, 5, 4), False),
        (date(2000, 2, 29), date(2027, 2, 28), date(2027, 2, 28), True),  # common year: 28 Feb
        (date(2000, 2, 29), date(2028, 2, 28), date(2028, 2, 28), False),  # leap year: 29 Feb
        (date(2000, 2, 29), date(2028, 2, 29), date(2028, 2, 29), True),
        (date(2000, 2, 29), date(2027, 3, 1), date(2027, 3, 1), False),
        (None, date(2026, 5, 3), date(2026, 5, 3), False),
    ],
)
def test_birthday_run_missed(birthday: date | None, today: date, done_through: date | None, missed: bool) -> None:
    assert birthday_run_missed(birthday, today, done_through) is missed
