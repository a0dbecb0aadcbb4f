"""Stateful property test: random sequences of use cases, replays, time travel and job runs
against the services and the real table, checked after every step against an independent model.

The model (below) is written from docs/program.md and the README's design notes, not from
chalicelib/domain: lots by expiry month spent oldest first, a debt that later credits settle,
pro-rata clawbacks on cumulative returned amounts, tiers from the rolling 12-month spend
(immediate upgrades, one-step review downgrades, returns never below the reviewed floor),
dormancy and reactivation, pending points (the program's `pending_days` is drawn per example).

Runs on DynamoDB Local rather than moto: moto serialises each queried ledger item in ~10 ms, and
the invariants read every touched member's whole partition after every step.
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from pydantic import BaseModel

from chalicelib import clock, config, events
from chalicelib.api import models
from chalicelib.domain.calendar import add_months, add_years, last_day_of_month, month_key
from chalicelib.domain.campaigns import Campaign
from chalicelib.domain.errors import LoyaltyError
from chalicelib.program import PROGRAM_FILE, Program, load_program
from chalicelib.services import campaigns, check, jobs, members, points, wallet
from chalicelib.store import dynamo, keys
from tests.support import (
    FixedClock,
    Outbox,
    activity_command,
    adjustment_command,
    enrol_command,
    purchase_command,
    redeem_command,
    return_command,
)

pytestmark = pytest.mark.ddb_local

TZ = ZoneInfo("Asia/Shanghai")
CENT = Decimal("0.01")
MAX_MEMBERS = 4
JOB_NAMES = ("expiry", "tier-review", "dormant", "birthday", "pending")
CATEGORIES = ("fresh", "household", "toys", None)
# Campaigns every example runs under (modelled in LoyaltyMachine.campaign_points): a Wednesday
# double on fresh lines, and a bonus for purchases of 100.00 or more; unbudgeted, no member limit.
CAMPAIGNS = [
    {
        "campaign_id": f"stateful-{name}",
        "name": name,
        "starts_at": "2025-01-01T00:00:00+08:00",
        "ends_at": "2035-01-01T00:00:00+08:00",
        **fields,
    }
    for name, fields in (
        (
            "fresh-wednesday",
            {"days": {"weekdays": [3]}, "conditions": {"categories": ["fresh"]}, "effect": {"multiplier": "2"}},
        ),
        ("big-basket", {"conditions": {"min_amount": "100.00"}, "effect": {"bonus_points": 15}}),
    )
]


# --- the model -------------------------------------------------------------------------------------


def local_day(moment: datetime) -> date:
    return moment.astimezone(TZ).date()


def lot_month_of(day: date, program: Program) -> str:
    """Points earned in month M expire at the end of month M + expiry_months."""
    return add_months(month_key(day), program.expiry_months)


def floor_int(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


@dataclass
class Bought:
    order_id: str
    amount: Decimal
    points: int
    lot_month: str
    spend_month: str
    returned: Decimal = Decimal(0)
    paid: int = 0  # points paid with (docs/api.md, points as payment)
    paid_month: str = ""  # the latest lot they came from


@dataclass
class Pending:
    entry_id: str
    points: int
    release_on: date
    month: str


@dataclass
class Expected:
    """What one member's state must be, kept by the test."""

    member_id: str
    enrolled_at: datetime
    lots: dict[str, int] = field(default_factory=dict)
    debt: int = 0
    pending: list[Pending] = field(default_factory=list)
    lifetime: int = 0
    tier: str = "member"
    tier_floor: str = "member"
    review_at: date | None = None
    status: str = "active"
    spend: dict[str, Decimal] = field(default_factory=dict)  # by month of the purchase, never pruned
    last_activity: datetime | None = None
    purchases: dict[str, Bought] = field(default_factory=dict)
    purchase_count: int = 0
    referrer: str | None = None
    referral: tuple[str, str] | None = None  # (the order that paid the referrer, the bonus's lot month)
    returned_anything: bool = False
    activities: dict[tuple[date, str], int] = field(default_factory=dict)

    @property
    def available(self) -> int:
        return sum(self.lots.values()) - self.debt

    @property
    def pending_points(self) -> int:
        return sum(p.points for p in self.pending)

    def balances(self) -> dict[str, int]:
        return {"available": self.available, "pending": self.pending_points, "lifetime_earned": self.lifetime}

    def credit(self, points: int, month: str) -> None:
        settled = min(points, self.debt)
        self.debt -= settled
        if points - settled:
            self.lots[month] = self.lots.get(month, 0) + points - settled

    def take(self, points: int, order: list[str]) -> None:
        for month in order:
            if points == 0:
                return
            taken = min(points, self.lots[month])
            self.lots[month] -= taken
            points -= taken
            if self.lots[month] == 0:
                del self.lots[month]

    def spend_points(self, points: int) -> bool:
        """Oldest lot first; False (nothing changed) when the balance is short."""
        if points > self.available:
            return False
        self.take(points, sorted(self.lots))
        return True

    def pay_with(self, points: int) -> str:
        """Spend points paying for a purchase; returns the latest lot month they came from."""
        months, left = [], points
        for month in sorted(self.lots):
            if left <= 0:
                break
            months.append(month)
            left -= self.lots[month]
        self.take(points, sorted(self.lots))
        return max(months, default="")

    def claw_back(self, points: int, own_month: str) -> None:
        """The purchase's own lot first, then oldest first; what is missing becomes a debt."""
        order = sorted(self.lots)
        if own_month in self.lots:
            order.remove(own_month)
            order.insert(0, own_month)
        can_take = min(points, max(sum(self.lots.values()), 0))
        self.take(can_take, order)
        self.debt += points - can_take

    def rolling_spend(self, day: date) -> Decimal:
        window = {add_months(month_key(day), -n) for n in range(12)}
        return sum((amount for month, amount in self.spend.items() if month in window), Decimal(0))


def tier_for_spend(program: Program, spend: Decimal) -> str:
    return [t.code for t in program.tiers if t.threshold <= spend][-1] if spend >= 0 else program.tiers[0].code


def rank(program: Program, tier: str) -> int:
    return [t.code for t in program.tiers].index(tier)


def review_after(program: Program, tier: str, day: date) -> date | None:
    return None if rank(program, tier) == 0 else add_years(day, 1)


@dataclass
class Done:
    """A write that succeeded: replaying it must answer `answer` again."""

    kind: str
    member_id: str
    body: dict[str, Any]
    answer: Any
    call: Callable[[dict[str, Any]], dict[str, Any]]


def as_json(value: Any) -> Any:
    """What an HTTP client would receive (json.dumps without fallbacks: it must serialise)."""
    return json.loads(json.dumps(value))


def fields(model: type[BaseModel], raw: dict[str, Any]) -> dict[str, Any]:
    """The body a route hands to the service: validated by the API's request model."""
    return model.model_validate(raw).model_dump(exclude_unset=True)


# --- the machine -----------------------------------------------------------------------------------

waits = st.one_of(
    st.just(timedelta(0)),
    st.timedeltas(timedelta(0), timedelta(days=40)),
    st.timedeltas(timedelta(days=30), timedelta(days=120)),
)
ages = st.one_of(
    st.none(),
    st.timedeltas(timedelta(0), timedelta(days=60)),
    st.timedeltas(timedelta(days=60), timedelta(days=399)),
    st.sampled_from([timedelta(days=401), timedelta(minutes=-10)]),  # refused: too old, in the future
)
small, large = (
    st.decimals(Decimal("0.01"), Decimal("300"), places=2),
    st.decimals(Decimal(300), Decimal(9000), places=2),
)
amounts = st.one_of(small, small, large, st.decimals(Decimal(9000), Decimal(25000), places=2))
birthdays = st.none() | st.dates(date(1950, 1, 1), date(2005, 12, 31))
# One rule draws the action from this list: Hypothesis's own rule choice (swarm testing over rules
# sorted by their number of arguments) starved the purchases and returns.
ACTIONS = (
    ["purchase"] * 6
    + ["give_back"] * 3
    + ["redeem"] * 3
    + ["deliver_again"] * 3
    + ["run_job"] * 4
    + ["travel_to_boundary"] * 2
    + ["activity", "activity", "adjust", "adjust", "enrol", "travel_months", "travel_months"]
)


class LoyaltyMachine(RuleBasedStateMachine):
    clock: FixedClock
    program_files: dict[int, str | None]
    published: list[Any]

    def __init__(self) -> None:
        super().__init__()
        self.prefix = f"s{uuid.uuid4().hex[:8]}-"
        self.expected: dict[str, Expected] = {}
        self.done: list[Done] = []
        self.touched: set[str] = set()
        self.counter = 0
        self.job_turn = 0
        self.stock: dict[str, int] = {}
        self.program = load_program()

    # -- helpers ---------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self.clock.moment

    @property
    def today(self) -> date:
        return local_day(self.now)

    def next_id(self, kind: str) -> str:
        self.counter += 1
        return f"{kind}{self.counter}"

    def pick(self, data: st.DataObject, among: list[str] | None = None) -> Expected:
        member_id = data.draw(st.sampled_from(sorted(among or self.expected)), label="member")
        return self.expected[member_id]

    def attempt(
        self,
        kind: str,
        member_id: str,
        body: dict[str, Any],
        call: Callable[[dict[str, Any]], dict[str, Any]],
        after: Expected | None,
        refusal: str | None,
    ) -> dict[str, Any] | None:
        """Run a write whose outcome the model predicted: `refusal` (an error code), or success
        leaving the member as `after`."""
        self.touched.add(member_id)
        try:
            answer = call(body)
        except LoyaltyError as exc:
            assert exc.code == refusal, f"{kind} {body}: refused with {exc.code} ({exc.message}), expected {refusal}"
            return None
        assert refusal is None, f"{kind} {body}: succeeded ({answer}), expected {refusal}"
        assert after is not None
        assert answer["balances"] == after.balances(), (kind, body, answer)
        self.expected[member_id] = after
        self.done.append(Done(kind, member_id, body, as_json(answer), call))
        return answer

    # -- set-up and the step ---------------------------------------------------------------------

    @initialize(days=st.integers(0, 364), hour=st.integers(0, 23), pending_days=st.sampled_from([0, 7]), data=st.data())
    def start(self, days: int, hour: int, pending_days: int, data: st.DataObject) -> None:
        # The hour matters: Shanghai's day and month change 8 hours before UTC's.
        self.clock.moment = datetime(2026, 1, 1, hour, 7, tzinfo=TZ) + timedelta(days=days)
        program_file = self.program_files[pending_days]
        if program_file:
            os.environ["PROGRAM_FILE"] = program_file
        else:
            os.environ.pop("PROGRAM_FILE", None)
        config.reset()
        load_program.cache_clear()
        self.program = load_program()
        assert self.program.pending_days == pending_days
        self.stock = {r.reward_id: r.stock for r in self.program.rewards if r.stock is not None}
        for _ in range(data.draw(st.integers(1, 3), label="members")):
            self.enrol(data)

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        action = data.draw(st.sampled_from(ACTIONS), label="action")
        if action == "give_back" and not any(m.purchases for m in self.expected.values()):
            action = "purchase"
        if action == "deliver_again" and not self.done:
            action = "activity"
        if action == "enrol" and len(self.expected) >= MAX_MEMBERS:
            action = "redeem"
        if action not in ("travel_months", "travel_to_boundary"):
            self.advance(self.now + data.draw(waits, label="wait first"))
        getattr(self, action)(data)

    # -- use cases -------------------------------------------------------------------------------

    def enrol(self, data: st.DataObject) -> None:
        member_id = self.prefix + self.next_id("m")
        raw: dict[str, Any] = {"member_id": member_id}
        birthday = data.draw(birthdays, label="birthday")
        if birthday:
            raw["birthday"] = birthday.isoformat()
        referrer = None
        if self.expected and data.draw(st.booleans(), label="referred"):
            referrer = self.pick(data).member_id
            raw["referrer_id"] = referrer
        after = Expected(member_id, self.now, referrer=referrer, last_activity=self.now)
        after.credit(self.program.welcome_points, lot_month_of(self.today, self.program))
        after.lifetime = self.program.welcome_points
        enrol = lambda b: members.enrol(enrol_command(b))  # noqa: E731
        self.attempt("enrol", member_id, fields(models.EnrolRequest, raw), enrol, after, None)

    def purchase(self, data: st.DataObject) -> None:
        member = self.pick(data)
        amount = data.draw(amounts, label="amount")
        age = data.draw(ages, label="age")
        # Line amounts are percentages of the purchase; over 100 % in all is refused.
        shares = data.draw(st.lists(st.tuples(st.sampled_from(CATEGORIES), st.integers(1, 45)), max_size=3))
        order_id = self.next_id("o")
        raw: dict[str, Any] = {"order_id": order_id, "amount": str(amount), "currency": "CNY"}
        lines = [(category, (amount * share / 100).quantize(CENT)) for category, share in shares]
        lines = [(c, a) for c, a in lines if a > 0]
        if lines:
            raw["lines"] = [
                {"sku": f"sku{n}", "amount": str(a), **({"category": c} if c else {})} for n, (c, a) in enumerate(lines)
            ]
        occurred_at = self.now
        if age is not None:
            occurred_at = self.now - age
            raw["occurred_at"] = occurred_at.isoformat()
        window = timedelta(days=self.program.max_backdate_days)
        bad_time = age is not None and (age < -timedelta(minutes=5) or age > window)
        bad_lines = sum((a for _, a in lines), Decimal(0)) > amount
        pay = data.draw(st.none() | st.integers(100, 800) | st.integers(1, 99) | st.integers(800, 8000), label="pay")
        if pay is not None:
            raw["points_payment"] = pay
        refusal = "invalid_request" if bad_time or bad_lines or not self.payment_allowed(amount, pay) else None
        if refusal is None and pay is not None and pay > member.available:
            refusal = "insufficient_points"
        after = None if refusal else self.after_purchase(member, order_id, amount, lines, occurred_at, pay or 0)
        self.attempt(
            "purchase",
            member.member_id,
            fields(models.PurchaseRequest, raw),
            lambda b, m=member.member_id: points.record_purchase(purchase_command(m, b)),  # type: ignore[misc]
            after,
            refusal,
        )
        if after is not None and member.purchase_count == 0 and member.referrer:
            self.pay_referral(member.referrer, member.member_id, order_id)

    def after_purchase(
        self,
        member: Expected,
        order_id: str,
        amount: Decimal,
        lines: list[tuple[str | None, Decimal]],
        occurred_at: datetime,
        paid: int = 0,
    ) -> Expected:
        program, today = self.program, self.today
        after = copy.deepcopy(member)
        paid_month = after.pay_with(paid) if paid else ""  # before anything is credited
        money = amount - Decimal(paid) / 100  # 100 points = 1.00; earns on the money part only
        bought_on = local_day(occurred_at)
        weighted = amount - sum((a for _, a in lines), Decimal(0))
        weighted += sum((a * program.categories.get(c or "", Decimal(1)) for c, a in lines), Decimal(0))
        earned = floor_int(weighted * program.tier(member.tier).multiplier * money / amount)
        earned += self.campaign_points(member, amount, lines, occurred_at, money)
        lot_month = lot_month_of(bought_on, program)
        if lot_month < month_key(today):
            earned = 0  # so late that these points would already have expired
        release_on = bought_on + timedelta(days=program.pending_days)
        if program.pending_days and release_on > today and earned:
            after.pending.append(Pending(f"purchase#{order_id}", earned, release_on, lot_month))
        else:
            after.credit(earned, lot_month)
        after.lifetime += earned
        after.purchase_count += 1
        after.purchases[order_id] = Bought(order_id, amount, earned, lot_month, month_key(bought_on), paid=paid)
        after.purchases[order_id].paid_month = paid_month
        after.spend[month_key(bought_on)] = after.spend.get(month_key(bought_on), Decimal(0)) + amount
        if after.last_activity is None or occurred_at > after.last_activity:
            after.last_activity = occurred_at
        if member.status == "dormant":
            after.status = "active"
            after.credit(program.reactivation_points, lot_month_of(today, program))
            after.lifetime += program.reactivation_points
        earns = tier_for_spend(program, after.rolling_spend(today))
        if rank(program, earns) > rank(program, after.tier):
            after.tier, after.review_at = earns, review_after(program, earns, today)
        return after

    def campaign_points(
        self, member: Expected, amount: Decimal, lines: list[tuple[str | None, Decimal]], at: datetime, money: Decimal
    ) -> int:
        """The two campaigns of CAMPAIGNS (docs/campaigns.md): Wednesdays (program time) double the
        tier x category points of `fresh` lines, on the money share; 100.00 or more adds 15."""
        points = 0
        fresh = sum((a for c, a in lines if c == "fresh"), Decimal(0))
        if local_day(at).isoweekday() == 3 and fresh:
            base = fresh * self.program.categories["fresh"] * self.program.tier(member.tier).multiplier
            points += floor_int(base * money / amount)  # x (2 - 1)
        if amount >= 100:
            points += 15
        return points

    def payment_allowed(self, amount: Decimal, pay: int | None) -> bool:
        """The program's points_payment: at least min_points, at most max_share of the amount."""
        rule = self.program.points_payment
        if pay is None:
            return True
        assert rule is not None
        return rule.min_points <= pay <= floor_int(amount * rule.max_share * rule.points_per_unit)

    def pay_referral(self, referrer_id: str, referred_id: str, order_id: str) -> None:
        referrer = self.expected[referrer_id]
        month = lot_month_of(self.today, self.program)
        referrer.credit(self.program.referral_points, month)
        referrer.lifetime += self.program.referral_points
        self.expected[referred_id].referral = (order_id, month)
        self.touched.add(referrer_id)

    def claw_back_referral(self, referred: Expected, order_id: str) -> None:
        """The order that paid the referral is now fully returned: the referrer gives the bonus back, once."""
        bought = referred.purchases[order_id]
        if referred.referral is None or referred.referral[0] != order_id or bought.returned < bought.amount:
            return
        assert referred.referrer is not None
        referrer = self.expected[referred.referrer]
        referrer.claw_back(self.program.referral_points, referred.referral[1])
        referrer.lifetime -= self.program.referral_points
        referrer.returned_anything = True  # a spent bonus becomes debt, as a return's points do
        referred.referral = None
        self.touched.add(referred.referrer)

    def give_back(self, data: st.DataObject) -> None:
        member = self.pick(data, [m for m, e in self.expected.items() if e.purchases])
        bought = member.purchases[data.draw(st.sampled_from(sorted(member.purchases)), label="order")]
        how = data.draw(st.sampled_from(["all", "part", "part", "too_much", "unknown"]), label="how")
        left = bought.amount - bought.returned
        if how == "part" and left > CENT:
            amount = data.draw(st.decimals(CENT, left - CENT, places=2), label="amount")
        elif how == "too_much" or left == 0:
            amount = left + data.draw(st.decimals(CENT, Decimal(100), places=2), label="excess")
        else:
            amount = left
        order_id = bought.order_id if how != "unknown" else "never-bought"
        raw: dict[str, Any] = {"return_id": self.next_id("r"), "order_id": order_id, "amount": str(amount)}
        if data.draw(st.booleans(), label="dated"):
            raw["occurred_at"] = (self.now - timedelta(hours=3)).isoformat()
        refusal = None
        if how == "unknown":
            refusal = "not_found"
        elif amount > left:
            refusal = "return_exceeds_purchase"
        after = None if refusal else self.after_return(member, bought, amount)
        self.attempt(
            "return",
            member.member_id,
            fields(models.ReturnRequest, raw),
            lambda b, m=member.member_id: points.record_return(return_command(m, b)),  # type: ignore[misc]
            after,
            refusal,
        )
        if after is not None:
            self.claw_back_referral(self.expected[member.member_id], bought.order_id)

    def after_return(self, member: Expected, bought: Bought, amount: Decimal) -> Expected:
        program, today = self.program, self.today
        after = copy.deepcopy(member)
        mine = after.purchases[bought.order_id]
        # Pro rata, on the cumulative amount returned: never more in all than the purchase earned.
        clawed = floor_int(mine.points * (mine.returned + amount) / mine.amount) - floor_int(
            mine.points * mine.returned / mine.amount
        )
        if mine.lot_month < month_key(today):
            clawed = 0  # those points have expired already
        mine.returned += amount
        still_pending = next((p for p in after.pending if p.entry_id == f"purchase#{mine.order_id}"), None)
        from_pending = min(clawed, still_pending.points) if still_pending else 0
        if still_pending and from_pending:
            still_pending.points -= from_pending
            if still_pending.points == 0:
                after.pending.remove(still_pending)
        after.claw_back(clawed - from_pending, mine.lot_month)
        after.lifetime -= clawed
        if mine.paid:  # the points paid with come back pro rata, into a lot that ends no sooner
            returned_before = mine.returned - amount
            refund = floor_int(mine.paid * mine.returned / mine.amount) - floor_int(
                mine.paid * returned_before / mine.amount
            )
            after.credit(refund, max(mine.paid_month, month_key(today)))
        after.spend[mine.spend_month] = after.spend.get(mine.spend_month, Decimal(0)) - amount
        after.returned_anything = True
        keeps = max(rank(program, after.tier_floor), rank(program, tier_for_spend(program, after.rolling_spend(today))))
        if keeps < rank(program, after.tier):
            after.tier = program.tiers[keeps].code
            after.review_at = review_after(program, after.tier, today)
        return after

    def redeem(self, data: st.DataObject) -> None:
        member = self.pick(data)
        rewards = st.sampled_from(["cash-5", "cash-20", "tote-bag"])
        wanted = data.draw(st.integers(1, 400) | st.integers(400, 3000) | rewards, label="wanted")
        raw: dict[str, Any] = {"redemption_id": self.next_id("d")}
        after = copy.deepcopy(member)
        refusal = None
        if isinstance(wanted, int):
            raw.update(points=wanted, reason="gift")
            if not after.spend_points(wanted):
                refusal = "insufficient_points"
        else:
            reward = self.program.reward(wanted)
            assert reward is not None
            raw["reward_id"] = wanted
            if rank(self.program, member.tier) < rank(self.program, reward.min_tier):
                refusal = "tier_too_low"
            elif not after.spend_points(reward.points_cost):
                refusal = "insufficient_points"
            elif self.stock.get(wanted, 1) < 1:
                refusal = "reward_out_of_stock"
        answer = self.attempt(
            "redemption",
            member.member_id,
            fields(models.RedemptionRequest, raw),
            lambda b, m=member.member_id: points.redeem(redeem_command(m, b)),  # type: ignore[misc]
            None if refusal else after,
            refusal,
        )
        if answer is not None and isinstance(wanted, str):
            assert answer["coupon"]["reward_id"] == wanted
            if wanted in self.stock:
                self.stock[wanted] -= 1

    def activity(self, data: st.DataObject) -> None:
        member = self.pick(data)
        kind = data.draw(st.sampled_from(["check_in", "review", "share"]), label="type")
        limit = self.program.activities[kind]
        done_today = member.activities.get((self.today, kind), 0)
        after = copy.deepcopy(member)
        refusal = "activity_limit_reached" if done_today >= limit.daily_limit else None
        after.activities[(self.today, kind)] = done_today + 1
        after.credit(limit.points, lot_month_of(self.today, self.program))
        after.lifetime += limit.points
        after.last_activity = self.now
        self.attempt(
            "activity",
            member.member_id,
            fields(models.ActivityRequest, {"activity_id": self.next_id("a"), "type": kind}),
            lambda b, m=member.member_id: points.record_activity(activity_command(m, b)),  # type: ignore[misc]
            None if refusal else after,
            refusal,
        )

    def adjust(self, data: st.DataObject) -> None:
        member = self.pick(data)
        delta = data.draw(st.integers(-1000, -1) | st.integers(1, 1000), label="points")
        after = copy.deepcopy(member)
        refusal = None
        if delta > 0:
            after.credit(delta, lot_month_of(self.today, self.program))
            after.lifetime += delta
        elif not after.spend_points(-delta):
            refusal = "insufficient_points"
        raw = {"adjustment_id": self.next_id("j"), "points": delta, "reason": "ops correction"}
        self.attempt(
            "adjustment",
            member.member_id,
            fields(models.AdjustmentRequest, raw),
            lambda b, m=member.member_id: points.adjust(adjustment_command(m, b)),  # type: ignore[misc]
            None if refusal else after,
            refusal,
        )

    # -- duplicate deliveries --------------------------------------------------------------------

    def deliver_again(self, data: st.DataObject) -> None:
        """The same id and body answers the first answer and changes nothing; another body is a conflict."""
        earlier = data.draw(st.sampled_from(self.done), label="earlier request")
        before = copy.deepcopy(self.expected)
        self.touched.add(earlier.member_id)
        if data.draw(st.booleans(), label="same body"):
            answer = earlier.call(copy.deepcopy(earlier.body))
            assert as_json(answer) == earlier.answer, f"replayed {earlier.kind} answered differently"
        else:
            with pytest.raises(LoyaltyError) as refused:
                earlier.call(altered(earlier.kind, earlier.body))
            assert refused.value.code == "conflict", (earlier.kind, refused.value.code, refused.value.message)
        assert self.expected == before

    # -- time and jobs ---------------------------------------------------------------------------

    def advance(self, target: datetime) -> None:
        """Move the clock forward. The hourly scheduler never sleeps through a whole lot's life:
        pending points whose lot month would end on the way are released first (see
        test_pending_points_released_after_their_lot_month_ended_still_expire for what happens if not)."""
        overdue = [
            p.release_on
            for m in self.expected.values()
            for p in m.pending
            if last_day_of_month(p.month) < local_day(target)
        ]
        if overdue:
            day = max(max(overdue), self.today)
            if day > self.today:
                self.clock.moment = datetime(day.year, day.month, day.day, 9, tzinfo=TZ)
            self.run_one_job("pending")
        self.clock.moment = target

    def travel_months(self, data: st.DataObject) -> None:
        months = data.draw(st.integers(1, 8), label="months")
        self.advance(self.now + timedelta(days=30 * months, hours=data.draw(st.integers(0, 23), label="hours")))

    def travel_to_boundary(self, data: st.DataObject) -> None:
        """Jump to a date where something is due (the last or first day of a lot's life, a review,
        dormancy, a release) and often run that job there: boundaries are where off-by-ones live."""
        boundaries: list[tuple[date, str]] = []
        for member in self.expected.values():
            for month in member.lots:
                boundaries += [
                    (last_day_of_month(month), "expiry"),
                    (last_day_of_month(month) + timedelta(1), "expiry"),
                ]
            if member.review_at:
                boundaries += [(member.review_at - timedelta(1), "tier-review"), (member.review_at, "tier-review")]
            last = local_day(member.last_activity or member.enrolled_at)
            dormant_on = last + timedelta(days=self.program.dormant_after_days)
            boundaries += [(dormant_on - timedelta(1), "dormant"), (dormant_on, "dormant")]
            boundaries += [(p.release_on, "pending") for p in member.pending]
        future = sorted(b for b in boundaries if b[0] > self.today)
        if not future:
            self.travel_months(data)
            return
        day, job = data.draw(st.sampled_from(future[:8]), label="boundary")
        hour = data.draw(st.sampled_from([0, 9, 23]), label="hour")
        self.advance(datetime(day.year, day.month, day.day, hour, 30, tzinfo=TZ))
        if data.draw(st.booleans(), label="run its job"):
            self.run_one_job(job)

    def run_one_job(self, name: str) -> None:
        result = jobs.run(name, as_of=self.today)
        assert result.complete and result.members_failed == 0, result
        for member in self.expected.values():
            self.touched.add(member.member_id)
            getattr(self, "job_" + name.replace("-", "_"))(member, self.today)

    def run_job(self, data: st.DataObject) -> None:
        """The next two jobs in turn, as of today (a drawn job name left some jobs almost unrun)."""
        for _ in range(2):
            self.run_one_job(JOB_NAMES[self.job_turn % len(JOB_NAMES)])
            self.job_turn += 1

    def job_expiry(self, member: Expected, day: date) -> None:
        for month in [m for m in member.lots if m < month_key(day)]:
            del member.lots[month]

    def job_pending(self, member: Expected, day: date) -> None:
        for lot in sorted(member.pending, key=lambda p: (p.release_on, p.entry_id)):
            if lot.release_on <= day:
                member.pending.remove(lot)
                member.credit(lot.points, lot.month)

    def job_dormant(self, member: Expected, day: date) -> None:
        last = local_day(member.last_activity or member.enrolled_at)
        if member.status == "active" and last + timedelta(days=self.program.dormant_after_days) <= day:
            member.status = "dormant"

    def job_birthday(self, member: Expected, day: date) -> None:
        """A coupon and a 0-point entry: no balance changes."""

    def job_tier_review(self, member: Expected, day: date) -> None:
        program = self.program
        while member.review_at is not None and member.review_at <= day:
            review_day = member.review_at
            spend = member.rolling_spend(review_day)
            current = rank(program, member.tier)
            if current and spend < program.tier(member.tier).threshold:
                member.tier = program.tiers[current - 1].code
            member.tier_floor = member.tier
            member.review_at = review_after(program, member.tier, review_day)
        # Upgrades are immediate: what the rolling spend earns today stands after a late review too.
        earns = tier_for_spend(program, member.rolling_spend(day))
        if rank(program, earns) > rank(program, member.tier):
            member.tier, member.review_at = earns, review_after(program, earns, day)

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def books_balance_and_match_the_model(self) -> None:
        for member_id in sorted(self.touched):
            self.check_member(self.expected[member_id])
        self.touched.clear()

    def check_member(self, expected: Expected) -> None:
        member_id, program = expected.member_id, self.program
        assert check.check_member(member_id) == [], check.check_member(member_id)
        view = members.view(member_id)
        balances = view["points"]
        if not expected.returned_anything:
            assert balances["available"] >= 0, view
        assert {k: balances[k] for k in ("available", "pending", "lifetime_earned")} == expected.balances(), (
            view,
            expected,
        )
        wanted_lots = [
            {"date": last_day_of_month(m).isoformat(), "points": p} for m, p in sorted(expected.lots.items())
        ]
        assert balances["expiring"] == wanted_lots, (balances["expiring"], expected.lots, expected.debt)
        assert view["status"] == expected.status
        # The tier: never below what the rolling spend earns, nor below the floor of the last review.
        spend = Decimal(view["progress"]["qualifying_spend"])
        assert spend == expected.rolling_spend(self.today).quantize(CENT), (spend, expected.spend)
        tier = view["tier"]["code"]
        profile = dynamo.get(keys.profile_key(member_id))
        assert profile is not None
        assert rank(program, tier) >= rank(program, tier_for_spend(program, spend)), (tier, spend)
        assert rank(program, tier) >= rank(program, profile["tier_floor"]), (tier, profile["tier_floor"])
        assert (tier, profile["tier_floor"]) == (expected.tier, expected.tier_floor), (view["tier"], expected)
        review_at = view["tier"]["review_at"]
        assert review_at == (expected.review_at.isoformat() if expected.review_at else None)

    def teardown(self) -> None:
        try:
            if not self.expected:
                return
            for expected in self.expected.values():
                self.check_member(expected)
                entries = ledger(expected.member_id)
                ids = [e["entry_id"] for e in entries]
                assert len(ids) == len(set(ids)), f"an entry id appears twice: {ids}"
                assert sum(e["points"] for e in entries) == expected.available + expected.pending_points
        finally:
            for member_id in self.expected:
                drop_partition(member_id)
            dynamo.call("delete_item", TableName=dynamo.table(), Key=dynamo.to_item(keys.job_cursor_key("birthday")))


def altered(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """The same client id with another body."""
    changed = copy.deepcopy(body)
    if kind == "enrol":
        changed["name"] = "Someone Else"
    elif kind in ("purchase", "return"):
        changed["amount"] += CENT
    elif kind == "redemption":
        changed["reason" if "points" in changed else "reward_id"] = (
            "other" if "points" in changed else ("cash-20" if changed["reward_id"] != "cash-20" else "cash-5")
        )
    elif kind == "activity":
        changed["type"] = "share" if changed["type"] != "share" else "review"
    else:
        changed["reason"] = "another reason"
    return changed


def ledger(member_id: str) -> list[dict[str, Any]]:
    """Every entry, page by page through the signed cursor (pages of 7 to cross page boundaries)."""
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = wallet.ledger(member_id, 7, cursor)
        entries.extend(page["entries"])
        cursor = page["next_cursor"]
        if not cursor:
            return entries


def drop_partition(member_id: str) -> None:
    items = dynamo.query_all(keys.member_pk(member_id), "")
    for start in range(0, len(items), 25):
        requests = [
            {"DeleteRequest": {"Key": dynamo.to_item({keys.PK: i[keys.PK], keys.SK: i[keys.SK]})}}
            for i in items[start : start + 25]
        ]
        dynamo.call("batch_write_item", RequestItems={dynamo.table(): requests})


@pytest.fixture
def machine(ddb_local_table: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[LoyaltyMachine]]:
    fixed = FixedClock(datetime(2026, 1, 1, tzinfo=TZ))
    monkeypatch.setattr(clock, "now", fixed)
    published: list[Any] = []

    def publish(batch: Any) -> set[int]:
        published.extend(batch)
        return set()

    monkeypatch.setattr(events, "publish", publish)
    pending = json.loads(PROGRAM_FILE.read_text(encoding="utf-8"))
    pending["pending_days"] = 7
    pending_file = tmp_path / "program-pending.json"
    pending_file.write_text(json.dumps(pending, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("PROGRAM_FILE", str(PROGRAM_FILE))
    campaigns.clear_cache()
    for body in CAMPAIGNS:  # active for every example on this table
        campaigns.create(Campaign.model_validate(body))
    LoyaltyMachine.clock = fixed
    LoyaltyMachine.program_files = {0: None, 7: str(pending_file)}
    LoyaltyMachine.published = published
    try:
        yield LoyaltyMachine
    finally:
        config.reset()
        load_program.cache_clear()
        campaigns.clear_cache()


@pytest.mark.stream
def test_random_use_cases_replays_time_travel_and_jobs_keep_every_invariant(
    machine: type[LoyaltyMachine], ddb_local_table: str
) -> None:
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=int(os.environ.get("STATEFUL_EXAMPLES", "30")),
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
    # The events come from the table's stream (the outbox), each id once.
    Outbox(ddb_local_table).deliver()
    assert machine.published, "no events at all: the outbox's handler was not called"
    ids = [event.event_id for event in machine.published]
    assert len(ids) == len(set(ids))


# --- sequences the machine found, kept as plain regression tests -------------------------------------


def test_a_replay_after_the_backdating_window_still_answers_the_first_answer(machine: type[LoyaltyMachine]) -> None:
    # Given a purchase back-dated 300 days, and a return of part of it
    machine.clock.moment = datetime(2026, 6, 1, 10, tzinfo=TZ)
    members.enrol(enrol_command({"member_id": "late-1"}))
    bought = {"order_id": "o1", "amount": Decimal("50.00"), "currency": "CNY"}
    bought["occurred_at"] = machine.clock.moment - timedelta(days=300)
    returned = {"return_id": "r1", "order_id": "o1", "amount": Decimal("10.00")}
    returned["occurred_at"] = machine.clock.moment - timedelta(days=299)
    first = as_json(points.record_purchase(purchase_command("late-1", dict(bought))))
    first_return = as_json(points.record_return(return_command("late-1", dict(returned))))
    # When both are delivered again after their occurred_at left the 400-day window
    machine.clock.moment += timedelta(days=200)
    # Then the same bodies get the first answers, other bodies a conflict (not "too old")
    assert as_json(points.record_purchase(purchase_command("late-1", dict(bought)))) == first
    assert as_json(points.record_return(return_command("late-1", dict(returned)))) == first_return
    with pytest.raises(LoyaltyError) as refused:
        points.record_purchase(purchase_command("late-1", {**bought, "amount": Decimal("51.00")}))
    assert refused.value.code == "conflict"
    # And a new purchase that old is still refused
    with pytest.raises(LoyaltyError) as too_old:
        points.record_purchase(purchase_command("late-1", {**bought, "order_id": "o2"}))
    assert too_old.value.code == "invalid_request"
    assert check.check_member("late-1") == []


def test_a_late_tier_review_keeps_the_tier_the_spend_since_has_earned(machine: type[LoyaltyMachine]) -> None:
    # Given a member who reached gold on 2026-03-10 (review on 2027-03-10)
    machine.clock.moment = datetime(2026, 3, 10, 12, tzinfo=TZ)
    members.enrol(enrol_command({"member_id": "late-2"}))
    points.record_purchase(
        purchase_command("late-2", {"order_id": "o1", "amount": Decimal("8000.00"), "currency": "CNY"})
    )
    assert members.view("late-2")["tier"]["code"] == "gold"
    # When the review runs late, after the member bought gold's threshold again in a later month
    machine.clock.moment = datetime(2027, 4, 15, 12, tzinfo=TZ)
    points.record_purchase(
        purchase_command("late-2", {"order_id": "o2", "amount": Decimal("8000.00"), "currency": "CNY"})
    )
    jobs.run("tier-review", as_of=date(2027, 4, 15))
    # Then the review's one-step downgrade (no spend in the 12 months to 2027-03-10) is followed by
    # the upgrade today's rolling spend earns, as a purchase would have made at once
    view = members.view("late-2")
    assert view["progress"]["qualifying_spend"] == "8000.00"
    assert view["tier"]["code"] == "gold", view["tier"]
    assert dynamo.get(keys.profile_key("late-2"))["tier_floor"] == "silver"  # type: ignore[index]
    assert check.check_member("late-2") == []


def test_a_tier_review_run_late_still_counts_the_spend_of_its_own_twelve_months(machine: type[LoyaltyMachine]) -> None:
    # Given a gold member (review on 2027-11-20) who spent 8,000 in December 2026
    for moment, order, amount in [((2026, 11, 20), "o1", "9000.00"), ((2026, 12, 10), "o2", "8000.00")]:
        machine.clock.moment = datetime(*moment, 12, tzinfo=TZ)
        if order == "o1":
            members.enrol(enrol_command({"member_id": "late-3"}))
        points.record_purchase(
            purchase_command("late-3", {"order_id": order, "amount": Decimal(amount), "currency": "CNY"})
        )
    # When a purchase in January 2028 arrives before the overdue review has run, and then it runs
    machine.clock.moment = datetime(2028, 1, 15, 12, tzinfo=TZ)
    points.record_purchase(
        purchase_command("late-3", {"order_id": "o3", "amount": Decimal("10.00"), "currency": "CNY"})
    )
    jobs.run("tier-review", as_of=date(2028, 1, 15))
    # Then the review saw the 8,000 of December 2026 (within its 12 months) and kept gold
    view = members.view("late-3")
    assert (view["tier"]["code"], view["tier"]["review_at"]) == ("gold", "2028-11-20"), view["tier"]
    assert dynamo.get(keys.profile_key("late-3"))["tier_floor"] == "gold"  # type: ignore[index]


def test_pending_points_released_after_their_lot_month_ended_still_expire(machine: type[LoyaltyMachine]) -> None:
    """Only when the pending job does not run for about a year: points released after their lot month
    ended lapse at release (an earlier expiry run already used the entry id expire#<month>)."""
    os.environ["PROGRAM_FILE"] = machine.program_files[7] or ""
    config.reset()
    load_program.cache_clear()
    # Given 557 points pending from 2026-08-16 (lot 2027-08), the welcome lot 2027-08 expired in 2028
    machine.clock.moment = datetime(2026, 8, 16, 0, 7, tzinfo=TZ)
    members.enrol(enrol_command({"member_id": "late-4"}))
    points.record_purchase(
        purchase_command("late-4", {"order_id": "o1", "amount": Decimal("557.80"), "currency": "CNY"})
    )
    machine.clock.moment = datetime(2028, 4, 3, 12, tzinfo=TZ)
    jobs.run("expiry", as_of=date(2028, 4, 3))
    # When the pending points are released at last, and the expiry job runs
    machine.clock.moment = datetime(2028, 7, 5, 12, tzinfo=TZ)
    jobs.run("pending", as_of=date(2028, 7, 5))
    jobs.run("expiry", as_of=date(2028, 7, 5))
    # Then they have expired too (their lot month ended on 2027-08-31)
    assert members.view("late-4")["points"]["available"] == 0
