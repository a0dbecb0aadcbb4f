"""One member's year, planned day by day from the member's own seeded `random.Random` (so a
member's story does not depend on the others): enrolment, orders online or at a store, returns,
activities, redemption attempts, profile updates, an adjustment, an erasure."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from decimal import Decimal
from typing import Any

from loyalty_tools.demo.model import (
    CENT,
    CLOSE,
    EVENING,
    HOUR_WEIGHTS,
    OPEN,
    RETURN,
    RETURN_SHARE,
    SALE,
    Action,
    Plan,
    StoreRow,
    demand,
    money,
)
from loyalty_tools.demo.people import Person


class MemberStory:
    """Plans one member's year, day by day."""

    def __init__(self, plan: Plan, person: Person) -> None:
        self.plan, self.person, self.habits = plan, person, person.habits
        self.rng = random.Random(f"demo/{plan.seed}/member/{person.index}")
        self.last_day = person.erase_day if person.erase_day is not None else plan.days
        # A store's file is applied the next morning: nothing at a till on the day of an erasure.
        self.last_store_day = self.last_day - 1 if person.erase_day is not None else plan.days
        self.store_of_day: dict[int, str] = {}
        self.counters: dict[str, int] = defaultdict(int)
        self.one_off_days: set[int] = set()

    def next_id(self, letter: str) -> str:
        self.counters[letter] += 1
        return f"{self.person.member_id}-{letter}{self.counters[letter]:04d}"

    def add(self, day: int, minute: int, kind: str, body: dict[str, Any], pick: float = 0.0) -> None:
        if day > self.last_day or (day == self.habits.enrol_day and minute <= self.habits.enrol_minute):
            return
        self.plan.actions[day].setdefault(self.person.member_id, []).append(Action(minute, kind, body, pick))

    def active(self, day: int) -> bool:
        stop, back = self.habits.stop_day, self.habits.return_day
        return stop is None or day < stop or (back is not None and day >= back)

    def plan_year(self) -> None:
        self.enrol()
        if self.habits.segment == "one_off":
            stop = self.habits.stop_day or self.habits.enrol_day + 1
            span = range(self.habits.enrol_day, min(stop, self.last_day + 1))
            self.one_off_days = set(self.rng.sample(span, min(len(span), self.rng.randint(1, 3))))
        for day in range(self.habits.enrol_day, self.last_day + 1):
            if self.active(day):
                self.shop(day)
                self.engage(day)
            self.occasions(day)

    def enrol(self) -> None:
        person = self.person
        body = {
            "member_id": person.member_id,
            "name": person.name,
            "phone": person.phone,
            "email": person.email,
            "birthday": person.habits.birthday,
            "referrer_id": person.referrer_id,
            **self.recruited(),
        }
        action = Action(self.habits.enrol_minute, "enrol", {k: v for k, v in body.items() if v is not None})
        self.plan.actions[self.habits.enrol_day].setdefault(person.member_id, []).insert(0, action)

    def recruited(self) -> dict[str, str]:
        """Where the member signed up: at a till with a clerk (most), the app or mini program (often
        from a QR code at a store, without a clerk), the web shop, or a friend's referral. Drawn from
        its own seeded Random, so the rest of the member's year is the same as before it."""
        rng = random.Random(f"demo/{self.plan.seed}/recruited/{self.person.index}")
        store = self.habits.home_store
        if self.person.referrer_id:
            return {"channel": "referral"}
        roll = rng.random()
        if roll < 0.55:  # a few clerks per store, some better recruiters than others
            clerk = rng.choices(range(1, 5), weights=(5, 3, 2, 1))[0]
            return {"channel": "store", "store_id": store, "staff_id": f"{store}-clerk{clerk}"}
        if roll < 0.85:
            channel = "app" if roll < 0.72 else "mini_program"
            return {"channel": channel, "store_id": store} if rng.random() < 0.4 else {"channel": channel}
        return {"channel": "web"}

    def minute(self) -> int:
        hour = self.rng.choices(range(7, 22), weights=HOUR_WEIGHTS)[0]
        return hour * 60 + self.rng.randrange(60)

    def orders_today(self, day: int, online: bool) -> bool:
        if self.habits.segment == "one_off":
            return day in self.one_off_days
        chance = self.habits.orders_per_week / 7 * demand(self.plan.date_of(day), online)
        return self.rng.random() < min(0.9, chance)

    def shop(self, day: int) -> None:
        online = self.rng.random() < self.habits.online_share or day > self.last_store_day
        if not self.orders_today(day, online):
            return
        minute = self.minute()
        if day == self.habits.enrol_day:  # the first order comes after the enrolment
            minute = max(minute, self.habits.enrol_minute + self.rng.randint(1, 30))
        amount = money(self.habits.basket * math.exp(self.rng.gauss(0, 0.55)))
        if online:
            self.online_order(day, minute, amount)
        else:
            self.store_sale(day, minute, amount)
        if self.rng.random() < self.habits.review_rate and minute + 180 < CLOSE:
            activity_id = self.next_id("v")
            self.add(
                day, minute + self.rng.randint(30, 180), "activity", {"activity_id": activity_id, "type": "review"}
            )

    def category(self) -> str:
        """A category by the member's taste; "" (none) for the uncategorised rest."""
        roll = self.rng.random()
        if roll < self.habits.fresh:
            return "fresh"
        if roll < self.habits.fresh + self.habits.household:
            return "household"
        return ""

    def lines(self, goods: Decimal) -> list[dict[str, Any]]:
        count = min(self.rng.choice((1, 1, 2, 2, 3, 4, 5)), int(goods / CENT))
        weights = [self.rng.random() + 0.2 for _ in range(count)]
        parts = [(goods * Decimal(w / sum(weights))).quantize(CENT) for w in weights[:-1]]
        parts.append(goods - sum(parts, Decimal(0)))
        lines = []
        for part in parts:
            if part <= 0:
                continue
            line: dict[str, Any] = {"sku": f"SKU-{self.rng.randrange(10_000, 100_000)}", "amount": part}
            if category := self.category():
                line["category"] = category
            lines.append(line)
        return lines

    def online_order(self, day: int, minute: int, amount: Decimal) -> None:
        shipping = Decimal("8.00") if amount < 99 else Decimal(0)  # the unlined rest of the order
        order_id = self.next_id("o")
        body = {
            "order_id": order_id,
            "amount": amount + shipping,
            "currency": self.plan.currency,
            "occurred_at": None,  # set to the order's moment when it runs
            "channel": "app" if self.habits.check_in_rate and self.rng.random() < 0.7 else "web",
            "lines": self.lines(amount),
        }
        self.add(day, minute, "order", body, self.rng.random())
        if self.rng.random() < RETURN_SHARE:
            back = day + self.rng.randint(1, 14)
            body = {"return_id": self.next_id("r"), "order_id": order_id, "amount": self.returned(amount + shipping)}
            self.add(back, self.rng.randrange(10 * 60, 21 * 60), "return", {**body, "occurred_at": None})

    def returned(self, amount: Decimal) -> Decimal:
        if self.rng.random() < 0.35:
            return amount
        return min(amount, money(float(amount) * self.rng.uniform(0.1, 0.7)))

    def store(self, day: int) -> str:
        """A member shops at one store a day (their rows of a day are applied in one file, in order)."""
        if day not in self.store_of_day:
            home = self.habits.home_store
            self.store_of_day[day] = home if self.rng.random() < 0.85 else self.rng.choice(self.plan.stores)
        return self.store_of_day[day]

    def store_sale(self, day: int, minute: int, amount: Decimal) -> None:
        store = self.store(day)
        sale = StoreRow(day, minute, SALE, amount, self.person.member_id, self.category())
        self.plan.store_rows[day].setdefault(store, []).append(sale)
        if self.rng.random() >= RETURN_SHARE:
            return
        for back in range(day + self.rng.randint(1, 10), self.last_store_day + 1):
            if self.store_of_day.setdefault(back, store) == store:
                row = StoreRow(back, self.rng.randrange(10 * 60, 21 * 60), RETURN, self.returned(amount))
                row.member_id, row.original = self.person.member_id, sale
                self.plan.store_rows[back].setdefault(store, []).append(row)
                return

    def engage(self, day: int) -> None:
        habits = self.habits
        if self.rng.random() < habits.check_in_rate:
            self.add(
                day,
                self.rng.randrange(OPEN, 10 * 60),
                "activity",
                {"activity_id": self.next_id("c"), "type": "check_in"},
            )
        if self.rng.random() < habits.share_rate:
            self.add(
                day, self.rng.randrange(9 * 60, CLOSE), "activity", {"activity_id": self.next_id("s"), "type": "share"}
            )
        if day > habits.enrol_day and self.rng.random() < 0.01 + habits.redeemer * 0.07:
            self.add(
                day, EVENING + self.rng.randrange(90), "redeem", {"redemption_id": self.next_id("x")}, self.rng.random()
            )

    def occasions(self, day: int) -> None:
        person = self.person
        later = person.habits.birthday_later
        if later is not None and later[0] == day:
            self.add(day, self.rng.randrange(12 * 60, 21 * 60), "update", {"birthday": later[1]})
        if person.adjust_day == day:
            body = {
                "adjustment_id": self.next_id("j"),
                "points": self.rng.choice((50, 100, 200)),
                "reason": "goodwill: late delivery",
            }
            self.add(day, EVENING + 100, "adjust", body)
        if person.erase_day == day:
            self.add(day, EVENING + 110, "erase", {})
