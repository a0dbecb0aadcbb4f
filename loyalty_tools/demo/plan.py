"""The demo's year, planned up front from the seed: what each member does on which day (the
storefront calls, story.py), and what each store's till records (the rows of its daily sales file,
story.py and tills.py).

Pure: no I/O and no clock. What depends on the engine's answers (which reward a balance allows,
which coupon is in the wallet) is decided when the plan runs, from `Action.pick`.
"""

from __future__ import annotations

import calendar
from datetime import date

from loyalty_tools.demo.model import Plan
from loyalty_tools.demo.people import Person, make_people
from loyalty_tools.demo.story import MemberStory
from loyalty_tools.demo.tills import number_receipts, store_traffic


def _birthday_days(plan: Plan, person: Person) -> set[int]:
    """The days the birthday job has a gift for this member (known by then, not erased)."""
    habits = person.habits
    known = (habits.enrol_day, habits.birthday) if habits.birthday else habits.birthday_later
    if known is None:
        return set()
    since, born = known
    last = person.erase_day if person.erase_day is not None else plan.days
    found = set()
    for year in range(plan.start.year, plan.date_of(plan.days).year + 1):
        day = 28 if (born.month, born.day) == (2, 29) and not calendar.isleap(year) else born.day
        offset = (date(year, born.month, day) - plan.start).days
        if since < offset <= last:
            found.add(offset)
    return found


def make_plan(
    seed: int, members: int, days: int, stores: list[str], start: date, dormant_after: int, currency: str = "CNY"
) -> Plan:
    """Days 0..`days` from `start` (day `days` is the last, today); `dormant_after`: the program's."""
    people = make_people(seed, members, days, stores, dormant_after)
    plan = Plan(seed, start, days, stores, people, currency=currency)
    for person in people:
        MemberStory(plan, person).plan_year()
        plan.birthday_days |= _birthday_days(plan, person)
    for position, store in enumerate(stores):
        store_traffic(plan, store, position)
    for members_actions in plan.actions.values():
        for actions in members_actions.values():
            actions.sort(key=lambda action: action.minute)
    number_receipts(plan)
    return plan
