"""The program simulator's replay: one member's recorded history run again through the live rules
(domain/rules.py, jobs.py, campaigns.py, referrals.py) under a program, writing nothing. Pure: no
I/O, no clock reads; docs/simulate.md says what is replayed and what is taken as recorded.

The recorded writes (enrolment, purchases, returns, activities, redemptions, adjustments, referral
bonuses and their claw-backs, the erasure) are applied at the moment they were recorded, with the
moment their client gave (a purchase's `occurred_at`). Before the first write of each day the
scheduled jobs run as of that day, in the order the scheduler runs them (pending, expiry, tier
review, dormancy, birthday), on the days their rules are due (jobs.*_due_on), as a daily schedule
would. What the jobs and the rules wrote live (expiries, releases, birthday gifts, reactivation
bonuses) is not read: the replay makes its own.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.domain import campaigns as offers
from chalicelib.domain import checkout, jobs, referrals, rules
from chalicelib.domain.calendar import birthday_in_year, expiry_month, local_date
from chalicelib.domain.earning import Line
from chalicelib.domain.errors import LoyaltyError
from chalicelib.domain.history import ERASURE, Fact, History, Window
from chalicelib.domain.model import ERASED, Member, MemberChange
from chalicelib.domain.simulation_figures import Figures
from chalicelib.program import Program

# Written by the rules and the jobs themselves: the replay makes its own, never reads these.
ENROL = "enrolment"  # the campaigns' trigger of an enrolment
MADE_BY_THE_REPLAY = frozenset(
    {"expire", "release", "birthday", "reactivation", "points_payment", "points_payment_refund"}
)


@dataclass(frozen=True)
class Campaigns:
    """The campaigns a replay applies. `as_recorded`: the table's own campaigns, whose status over
    time is not stored: a campaign a purchase's entry names (granted or skipped) was running then;
    otherwise its current status decides. A budget is per program, not per member: the replay skips a
    campaign only where the live purchase recorded `budget_exhausted`."""

    running: tuple[offers.Campaign, ...] = ()
    as_recorded: bool = False


@dataclass(frozen=True)
class Scenario:
    program: Program
    campaigns: Campaigns = field(default_factory=Campaigns)


@dataclass
class Outcome:
    member: Member | None  # None: enrolled after the window
    figures: Figures


def replay(scenario: Scenario, history: History, window: Window) -> Outcome:
    run = _Replay(scenario, history, window)
    for fact in history.facts:
        day = local_date(fact.at, scenario.program.tz)
        if day > window.last:
            break
        run.jobs_through(day)
        run.day = day
        run.apply(fact)
    run.jobs_through(window.last)
    run.figures.end_state(run.member, scenario.program)
    return Outcome(run.member, run.figures)


class _Replay:
    def __init__(self, scenario: Scenario, history: History, window: Window) -> None:
        self.program, self.campaigns, self.history, self.window = scenario.program, scenario.campaigns, history, window
        self.member: Member | None = None
        self.next_job_day: date | None = None  # the first day whose jobs have not run yet
        self.orders: dict[str, rules.PurchaseRecord] = {}
        self.referrals: dict[str, referrals.PaidReferral] = {}
        self.activities: Counter[tuple[date, str]] = Counter()
        self.birthdays: set[int] = set()  # years gifted
        self.coupons = 0
        self.figures = Figures()
        self.day = date.min  # the program-local day of the write being applied

    # --- the jobs ---------------------------------------------------------------------------------

    def jobs_through(self, day: date) -> None:
        """Every job due on a day up to `day`, at the start of that day."""
        while self.member is not None and self.next_job_day is not None and self.next_job_day <= day:
            due = self._next_due(self.member, self.next_job_day)
            if due is None or due > day:
                break
            self._jobs_on(due)
            self.next_job_day = due + timedelta(days=1)
        if self.next_job_day is not None and self.next_job_day <= day:
            self.next_job_day = day + timedelta(days=1)

    def _next_due(self, member: Member, earliest: date) -> date | None:
        program = self.program
        dates = [
            jobs.pending_due_on(member),
            jobs.expiry_due_on(program, member),
            jobs.tier_review_due_on(program, member),
            jobs.dormant_due_on(program, member),
            self._next_birthday(member, earliest),
        ]
        found = [max(found, earliest) for found in dates if found is not None]
        return min(found, default=None)

    def _next_birthday(self, member: Member, earliest: date) -> date | None:
        if member.status == ERASED or member.birthday is None:
            return None
        for year in (earliest.year, earliest.year + 1):
            day = birthday_in_year(member.birthday.month, member.birthday.day, year)
            if day >= earliest and year not in self.birthdays:
                return day
        return None

    def _jobs_on(self, day: date) -> None:
        program, moment = self.program, datetime.combine(day, time(0, 0), tzinfo=self.program.tz)
        for rule in (jobs.release_pending, jobs.expire_points, jobs.review_tier):
            self._take(rule(program, self._state(), day), day)
        self._take(jobs.mark_dormant(program, self._state(), day, moment, self._code()), day)
        self._birthday(day, moment)

    def _birthday(self, day: date, moment: datetime) -> None:
        member = self._state()
        if member.birthday is None or day.year in self.birthdays or not jobs.celebrated_on(member.birthday, day):
            return
        self.birthdays.add(day.year)
        self._take(jobs.grant_birthday(self.program, member, day, moment, self._code()), day)

    # --- the recorded writes ----------------------------------------------------------------------

    def apply(self, fact: Fact) -> None:
        if fact.kind in MADE_BY_THE_REPLAY:
            return
        if fact.kind == "enrol":
            self._enrol(fact)
            return
        if self.member is None:
            return  # nothing before an enrolment (a history cut by --from has none)
        try:
            self._take(self._decide(self.member, fact), self.day)
        except LoyaltyError:
            # The program refuses what the live one took (too few points, a reward gone, a tier too low).
            self.figures.refused[fact.kind] += 1

    def _decide(self, member: Member, fact: Fact) -> MemberChange | None:
        program, details = self.program, fact.details
        if fact.kind == "purchase":
            return self._purchase(member, fact)
        if fact.kind == "return":
            return self._return(member, fact)
        if fact.kind == "activity":
            return self._activity(member, fact)
        if fact.kind == "redemption":
            if details.get("reward_id"):
                return rules.redeem_reward(program, member, fact.ref, str(details["reward_id"]), fact.at, self._code())
            return rules.redeem_points(program, member, fact.ref, -fact.points, str(details.get("reason")), fact.at)
        if fact.kind == "referral":
            return self._referral(member, fact)
        if fact.kind == referrals.CLAWBACK:
            paid = self.referrals.get(fact.ref)
            return referrals.claw_back(program, member, paid, fact.ref, str(details.get("order_id")), fact.at)
        if fact.kind == ERASURE:
            change = MemberChange(before=member, after=member.clone())
            change.after.status, change.after.birthday = ERASED, None
            return change
        # An adjustment, or a kind this replay does not know: its points as recorded, as an adjustment.
        self.figures.as_recorded[fact.kind] += 1
        return rules.adjust(program, member, fact.ref, fact.points, str(details.get("reason", fact.kind)), fact.at)

    def _enrol(self, fact: Fact) -> None:
        history = self.history
        change = rules.enrol(
            self.program, history.member_id, fact.at, self._code(), history.birthday, history.referrer_id,
            None, history.enrolment,
        )  # fmt: skip
        day = self.day
        self.next_job_day = day + timedelta(days=1)  # that day's jobs ran before the enrolment
        where = history.enrolment
        facts = offers.PurchaseFacts(Decimal(0), fact.at, channel=where.channel, store_id=where.store_id, trigger=ENROL)
        self._campaign_points(change.after, facts, change, fact, self._lot_of(day))
        self._take(change, day)
        self._birthday(day, fact.at)  # enrolled on the birthday, after that day's run: the gift now

    def _purchase(self, member: Member, fact: Fact) -> MemberChange:
        details = fact.details
        lines = tuple(Line(line.get("category"), Decimal(str(line["amount"]))) for line in details.get("lines") or ())
        paid = checkout.Payment.from_details(details.get(checkout.FIELD))
        purchase = rules.Purchase(
            order_id=fact.ref,
            amount=Decimal(str(details["amount"])),
            occurred_at=fact.occurred_at,
            lines=lines,
            channel=details.get("channel"),
            store_id=details.get("store_id"),
            staff_id=details.get("staff_id"),
            points_payment=paid.points if paid else None,
        )
        # The referral it may pay is a fact of the referrer's own history.
        try:
            change, _ = rules.record_purchase(self.program, member, purchase, fact.at)
        except LoyaltyError:
            if paid is None:
                raise
            # The program does not take those points (too few, no points payment): paid with money.
            self.figures.refused[checkout.FIELD] += 1
            purchase = dataclasses.replace(purchase, points_payment=None)
            change, _ = rules.record_purchase(self.program, member, purchase, fact.at)
        entry = change.entries[0]
        paid = checkout.Payment.from_details(entry.details.get(checkout.FIELD))
        if self._campaigns_for(details):
            share = checkout.money_share(purchase.amount, paid.value if paid else Decimal(0))  # earns on money only
            where = (purchase.channel, purchase.store_id)
            facts = offers.PurchaseFacts(purchase.amount, purchase.occurred_at, lines, *where, money_share=share)
            self._campaign_points(member, facts, change, fact)
        self.orders[fact.ref] = rules.PurchaseRecord(
            order_id=fact.ref,
            amount=purchase.amount,
            points=entry.points,
            returned_amount=Decimal(0),
            clawed_points=0,
            lot_month=str(entry.details["lot_month"]),
            spend_month=str(entry.details["spend_month"]),
            payment=paid,
        )
        return change

    def _campaign_points(
        self, member: Member, facts: offers.PurchaseFacts, change: MemberChange, fact: Fact, lot: str | None = None
    ) -> None:
        """The campaigns of a purchase, enrolment or activity, as the live write applies them
        (services/campaigns.apply): points into the write's entry (or `lot`), their coupons."""
        running = self._campaigns_for(fact.details)
        if not running:
            return
        exhausted = frozenset(_named(fact.details.get("campaigns_skipped"), offers.BUDGET_EXHAUSTED))
        outcome = offers.evaluate(self.program, running, member, facts, exhausted)
        offers.credit(change, outcome, self.program, self._code, lot, fact.at)

    def _lot_of(self, day: date) -> str:
        return expiry_month(day, self.program.expiry_months)

    def _campaigns_for(self, details: Mapping[str, Any]) -> list[offers.Campaign]:
        if not self.campaigns.running or not self.campaigns.as_recorded:
            return list(self.campaigns.running)
        named = _named(details.get("campaigns")) | _named(details.get("campaigns_skipped"))
        return [
            c if c.status == "active" else c.model_copy(update={"status": "active"})
            for c in self.campaigns.running
            if c.status == "active" or c.campaign_id in named
        ]

    def _return(self, member: Member, fact: Fact) -> MemberChange | None:
        record = self.orders.get(str(fact.details.get("order_id")))
        if record is None:
            return None  # its purchase is outside the replayed history
        amount = Decimal(str(fact.details["amount"]))
        change = rules.record_return(self.program, member, record, fact.ref, amount, fact.occurred_at, fact.at)
        self.orders[record.order_id] = dataclasses.replace(
            record,
            returned_amount=record.returned_amount + amount,
            clawed_points=record.clawed_points - change.entries[0].points,
        )
        return change

    def _activity(self, member: Member, fact: Fact) -> MemberChange | None:
        kind = str(fact.details.get("type"))
        rule = self.program.activities.get(kind)
        day = self.day
        if rule is None or self.activities[(day, kind)] >= rule.daily_limit:
            self.figures.refused["activity"] += 1
            return None
        self.activities[(day, kind)] += 1
        change = rules.record_activity(self.program, member, fact.ref, kind, fact.at)
        if self._campaigns_for(fact.details):
            facts = offers.PurchaseFacts(Decimal(0), fact.at, trigger="activity", base_points=rule.points)
            self._campaign_points(member, facts, change, fact, self._lot_of(day))
        return change

    def _referral(self, member: Member, fact: Fact) -> MemberChange:
        """The referred member's first purchase paid the referrer (a fact of the referrer's ledger:
        the referred member's history is replayed elsewhere); the bonus is this program's."""
        change = MemberChange(before=member, after=member.clone())
        points = self.program.referral_points
        rules._credit_bonus(self.program, change, "referral", fact.ref, points, fact.at, **dict(fact.details))
        order_id = fact.details.get("order_id")
        self.referrals[fact.ref] = referrals.PaidReferral(points, fact.at, str(order_id) if order_id else None)
        return change

    # --- bookkeeping ------------------------------------------------------------------------------

    def _state(self) -> Member:
        assert self.member is not None
        return self.member

    def _code(self) -> str:
        self.coupons += 1
        return f"sim-{self.coupons}"

    def _take(self, change: MemberChange | None, day: date) -> None:
        """The change becomes the state; its flows count when its day is in the window."""
        if change is None:
            return
        self.member = change.after
        if self.window.counts(day):
            self.figures.count(change)


def _named(entries: Sequence[Mapping[str, Any]] | None, reason: str | None = None) -> set[str]:
    return {str(e["campaign_id"]) for e in entries or () if reason is None or e.get("reason") == reason}
