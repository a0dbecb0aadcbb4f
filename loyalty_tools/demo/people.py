"""The demo's members: who they are (obviously fake contact data) and their shopping habits.

Everything comes from one seeded `random.Random`, drawn in a fixed order, so the same seed gives
the same people. Days are offsets from the first simulated day.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from datetime import date, timedelta

FIRST_NAMES = (
    "Ada", "Bo", "Chen", "Dana", "Eli", "Fang", "Gita", "Hao", "Ines", "Jun", "Kai", "Lena", "Ming", "Nora",
    "Omar", "Ping", "Qiu", "Rosa", "Sami", "Tao", "Uma", "Vik", "Wei", "Xin", "Yara", "Zhi",
)  # fmt: skip
LAST_NAMES = ("Example", "Sample", "Demo", "Placeholder", "Mock", "Dummy", "Fictive", "Madeup", "Pretend")

# Segment: share of members, orders per week (low, high), median basket (low, high).
SEGMENTS: dict[str, tuple[float, tuple[float, float], tuple[float, float]]] = {
    "regular": (0.34, (0.7, 1.4), (140, 260)),
    "occasional": (0.28, (0.12, 0.35), (80, 180)),
    "vip": (0.07, (1.6, 3.0), (380, 900)),
    "one_off": (0.10, (0.0, 0.0), (60, 200)),  # a few orders in the first weeks, then nothing
    "churner": (0.14, (0.5, 1.2), (100, 240)),  # stops after a few months: goes dormant
    "returner": (0.07, (0.5, 1.0), (100, 220)),  # stops, goes dormant, comes back (reactivation)
}
COHORT_SHARE = 0.22  # enrolled in the first two weeks: the program's launch cohort
COHORT_DAYS = 14


@dataclass(frozen=True)
class Habits:
    enrol_day: int
    enrol_minute: int  # minute of the day, program time
    segment: str
    orders_per_week: float
    basket: float  # median order amount
    online_share: float
    home_store: str
    fresh: float  # share of a basket in `fresh` (2x points) and in `household`; the rest has no category
    household: float
    check_in_rate: float  # per day (app users only)
    review_rate: float  # per order
    share_rate: float  # per day
    redeemer: float  # how keen on rewards, 0..1
    stop_day: int | None
    return_day: int | None
    birthday: date | None  # given at enrolment
    birthday_later: tuple[int, date] | None  # (day, birthday) given later with a profile update


@dataclass(frozen=True)
class Person:
    index: int
    member_id: str
    habits: Habits
    name: str
    phone: str | None
    email: str | None
    referrer_id: str | None
    erase_day: int | None
    adjust_day: int | None


def member_id(seed: int, index: int) -> str:
    return f"demo{seed}-{index:05d}"


def _enrol_day(rng: random.Random, segment: str, days: int) -> int:
    """More enrolments early; the members who go quiet need time left to become dormant."""
    if segment in ("returner", "churner") or rng.random() < COHORT_SHARE:
        return rng.randrange(min(COHORT_DAYS, days))
    return min(days - 1, int(days * rng.random() ** 1.5))


def _quiet_days(
    rng: random.Random, segment: str, enrol_day: int, days: int, dormant_after: int
) -> tuple[int | None, int | None]:
    """(stop_day, return_day) of the members who go quiet, and of those who come back."""
    if segment == "one_off":
        return enrol_day + rng.randint(10, 40), None
    if segment == "churner":
        return enrol_day + rng.randint(20, 150), None
    if segment == "returner":
        stop = enrol_day + rng.randint(15, 60)
        back = stop + dormant_after + rng.randint(5, 60)
        return stop, (back if back < days else None)
    return None, None


def _birthdays(rng: random.Random, enrol_day: int, days: int) -> tuple[date | None, tuple[int, date] | None]:
    born = date(1955, 1, 1) + timedelta(days=rng.randrange(52 * 365))
    roll = rng.random()
    if roll < 0.65:
        return born, None
    if roll < 0.8 and enrol_day + 5 < days:
        return None, (rng.randint(enrol_day + 1, min(days - 1, enrol_day + 60)), born)
    return None, None


def _habits(rng: random.Random, days: int, stores: list[str], dormant_after: int) -> Habits:
    names = list(SEGMENTS)
    segment = rng.choices(names, weights=[SEGMENTS[name][0] for name in names])[0]
    _, frequency, basket = SEGMENTS[segment]
    enrol_day = _enrol_day(rng, segment, days)
    stop_day, return_day = _quiet_days(rng, segment, enrol_day, days, dormant_after)
    app_user = rng.random() < 0.45
    birthday, birthday_later = _birthdays(rng, enrol_day, days)
    fresh = rng.uniform(0.0, 0.7)
    return Habits(
        enrol_day=enrol_day,
        enrol_minute=rng.randrange(8 * 60, 19 * 60),
        segment=segment,
        orders_per_week=rng.uniform(*frequency),
        basket=rng.uniform(*basket),
        online_share=rng.choice((0.0, 0.1, 0.3, 0.5, 0.8, 1.0)),
        home_store=rng.choice(stores),
        fresh=fresh,
        household=rng.uniform(0.0, 1.0 - fresh) * 0.8,
        check_in_rate=rng.uniform(0.02, 0.2) if app_user else 0.0,
        review_rate=rng.uniform(0.05, 0.3) if app_user else 0.0,
        share_rate=rng.uniform(0.005, 0.03) if app_user else 0.0,
        redeemer=rng.uniform(0.1, 1.0),
        stop_day=stop_day,
        return_day=return_day,
        birthday=birthday,
        birthday_later=birthday_later,
    )


def _contact(rng: random.Random, seed: int, index: int) -> tuple[str, str | None, str | None]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    phone = f"+1555{seed % 100:02d}{index % 100_000:05d}" if rng.random() < 0.9 else None  # 555: fictional
    email = f"{first}.{last}.{seed}-{index}@example.com".lower() if rng.random() < 0.8 else None
    return f"{first} {last}", phone, email


def make_people(seed: int, count: int, days: int, stores: list[str], dormant_after: int) -> list[Person]:
    """`count` members, numbered in enrolment order (member 1 enrols first)."""
    rng = random.Random(f"demo/{seed}/people")
    drafts = sorted(
        (_habits(rng, days, stores, dormant_after) for _ in range(count)),
        key=lambda habits: (habits.enrol_day, habits.enrol_minute),
    )
    erasable = [i for i, habits in enumerate(drafts) if habits.enrol_day + 40 < days]
    erased = set(rng.sample(erasable, min(len(erasable), max(1, count // 100))))
    enrol_days = [habits.enrol_day for habits in drafts]
    people: list[Person] = []
    for position, habits in enumerate(drafts):
        index = position + 1
        name, phone, email = _contact(rng, seed, index)
        earlier = bisect.bisect_left(enrol_days, habits.enrol_day)  # enrolled on an earlier day
        referred = earlier > 0 and rng.random() < 0.12
        people.append(
            Person(
                index=index,
                member_id=member_id(seed, index),
                habits=habits,
                name=name,
                phone=phone,
                email=email,
                referrer_id=people[rng.randrange(earlier)].member_id if referred else None,
                erase_day=rng.randint(habits.enrol_day + 30, days - 5) if position in erased else None,
                adjust_day=rng.randint(habits.enrol_day, days - 1) if rng.random() < 0.03 else None,
            )
        )
    return people
