"""Property tests: any sequence of use cases on one member keeps the wallet and ledger consistent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain import rules, tiers
from chalicelib.domain.calendar import add_months, month_key
from chalicelib.domain.earning import clawback_points, floor_points
from chalicelib.domain.errors import BusinessRule
from chalicelib.domain.lots import InsufficientPoints, Wallet
from chalicelib.domain.model import DORMANT, LedgerEntry, Member, MemberChange
from chalicelib.program import Program

from ._support import PROGRAM, at

START = at(2026, 1, 10, 9, 30)
PROGRAMS = [PROGRAM, PROGRAM.model_copy(update={"pending_days": 7})]
EARNING_KINDS = {"enrol", "purchase", "reactivation", "activity"}


@dataclass
class Bought:
    entry: LedgerEntry
    returned: Decimal = Decimal(0)
    clawed: int = 0
    returned_after_expiry: bool = False  # its points had lapsed: a return then takes nothing back


@dataclass
class History:
    member: Member
    entries: list[LedgerEntry]
    now: datetime
    purchases: list[Bought] = field(default_factory=list)
    returned_anything: bool = False
    steps: int = 0


def money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


# Each operation is a tuple: (name, days the clock moves first, arguments...).
advance = st.integers(0, 45)
purchases = st.tuples(
    st.just("purchase"),
    advance,
    st.integers(1, 60_000) | st.integers(100_000, 2_500_000),  # amount in cents
    st.integers(0, 20),  # days before now it happened
    st.integers(0, 100),  # percent of it in the fresh category
)
# which purchase, percent of what is left of it (100: all of it; over 100: refused)
returns = st.tuples(
    st.just("return"), advance, st.integers(0, 30), st.integers(1, 99) | st.just(100) | st.integers(101, 110)
)
operations = st.one_of(
    purchases,
    purchases,
    returns,
    returns,
    st.tuples(st.just("redeem_points"), advance, st.integers(1, 5000)),
    st.tuples(st.just("redeem_all"), advance),
    st.tuples(st.just("redeem_reward"), advance, st.sampled_from(["cash-5", "cash-20", "tote-bag", "lounge-pass"])),
    st.tuples(st.just("adjust"), advance, st.integers(-3000, -1) | st.integers(1, 3000)),
    st.tuples(st.just("activity"), advance, st.sampled_from(["check_in", "review", "share"])),
    st.tuples(st.just("dormant"), advance),
)


def apply_return(
    program: Program, history: History, ref: str, now: datetime, which: int, pct: int
) -> MemberChange | None:
    if not history.purchases:
        return None
    target = history.purchases[which % len(history.purchases)]
    left = target.entry.details["amount"] - target.returned
    amount = left if pct == 100 else (left * pct / 100).quantize(Decimal("0.01"))
    if amount <= 0:
        return None
    record = rules.PurchaseRecord(
        order_id=target.entry.ref,
        amount=target.entry.details["amount"],
        points=target.entry.points,
        returned_amount=target.returned,
        clawed_points=target.clawed,
        lot_month=target.entry.details["lot_month"],
        spend_month=target.entry.details["spend_month"],
    )
    change = rules.record_return(program, history.member, record, ref, amount, now, now)
    if record.lot_month < month_key(now.astimezone(program.tz).date()):
        target.returned_after_expiry = True
    target.returned += amount
    target.clawed += -change.entries[0].points
    history.returned_anything = True
    return change


def apply(program: Program, history: History, op: tuple) -> MemberChange | None:
    name, days, *args = op
    now = history.now + timedelta(days=days, minutes=7)
    history.now = now
    member = history.member
    ref = f"{name}-{history.steps}"
    if name == "purchase":
        cents, days_back, fresh_pct = args
        amount = money(cents)
        lines = (rules.Line("fresh", money(cents * fresh_pct // 100)),) if fresh_pct else ()
        bought = rules.Purchase(ref, amount, now - timedelta(days=days_back), lines)
        change, referral = rules.record_purchase(program, member, bought, now)
        assert referral is None
        history.purchases.append(Bought(change.entries[0]))
        return change
    if name == "return":
        return apply_return(program, history, ref, now, *args)
    if name == "redeem_points":
        return rules.redeem_points(program, member, ref, args[0], "test", now)
    if name == "redeem_all":  # spends everything: a later return then has to leave a debt
        return rules.redeem_points(program, member, ref, max(member.available, 1), "test", now)
    if name == "redeem_reward":
        return rules.redeem_reward(program, member, ref, args[0], now, f"C-{ref}")
    if name == "adjust":
        return rules.adjust(program, member, ref, args[0], "test", now)
    if name == "activity":
        return rules.record_activity(program, member, ref, args[0], now)
    # The dormant job (outside the rules): only the status changes.
    sleepy = member.clone()
    sleepy.status = DORMANT
    history.member = sleepy
    return None


def check_invariants(program: Program, history: History) -> None:
    member = history.member
    wallet = member.wallet
    assert wallet.available == sum(wallet.lots.values()) - wallet.debt
    assert wallet.debt >= 0
    assert all(points > 0 for points in wallet.lots.values())
    if wallet.debt > 0:
        assert wallet.lots == {}
    assert all(lot.points > 0 for lot in member.pending)
    assert sum(entry.points for entry in history.entries) == member.available + member.pending_points
    assert member.lifetime_earned >= 0
    earned = sum(
        e.points for e in history.entries if e.kind in EARNING_KINDS or (e.kind == "adjustment" and e.points > 0)
    )
    clawed = sum(-e.points for e in history.entries if e.kind == "return")
    assert member.lifetime_earned == earned - clawed
    pending = {lot.entry_id: lot.points for lot in member.pending}
    for bought in history.purchases:
        # Points still pending for a purchase are never more than it has left after returns.
        assert pending.get(bought.entry.entry_id, 0) <= bought.entry.points - bought.clawed
        assert bought.returned <= bought.entry.details["amount"]
        assert 0 <= bought.clawed <= bought.entry.points
        if bought.returned == bought.entry.details["amount"] and not bought.returned_after_expiry:
            assert bought.clawed == bought.entry.points
    if not history.returned_anything:
        assert member.available >= 0
    assert all(amount > 0 for amount in member.spend_by_month.values())
    today = history.now.astimezone(program.tz).date()
    spend_tier = tiers.tier_for_spend(program, tiers.rolling_spend(member.spend_by_month, today)).code
    assert program.tier_rank(member.tier) >= program.tier_rank(spend_tier)
    assert program.tier_rank(member.tier) >= program.tier_rank(member.tier_floor)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=st.sampled_from(PROGRAMS), ops=st.lists(operations, min_size=1, max_size=30))
def test_invariants_hold_after_every_step(program: Program, ops: list[tuple]) -> None:
    enrolled = rules.enrol(program, "m-prop", START, "FP-1")
    history = History(enrolled.after, list(enrolled.entries), START)
    check_invariants(program, history)

    for op in ops:
        history.steps += 1
        before = history.member.clone()
        try:
            change = apply(program, history, op)
        except BusinessRule:
            assert history.member == before  # a refused operation changes nothing
            continue
        assert history.member == before or op[0] == "dormant"  # the rules never mutate their input
        if change is not None:
            history.member = change.after
            history.entries.extend(change.entries)
        check_invariants(program, history)


@settings(max_examples=200, deadline=None)
@given(
    points=st.integers(0, 100_000),
    cents=st.integers(1, 10_000_000),
    cuts=st.lists(st.integers(1, 10_000_000), max_size=8),
)
def test_partial_returns_never_claw_back_more_than_earned(points: int, cents: int, cuts: list[int]) -> None:
    amount = money(cents)
    parts = sorted({c % cents for c in cuts} - {0})
    pieces = [money(b - a) for a, b in zip([0, *parts], [*parts, cents], strict=True)]
    returned, taken = Decimal(0), 0
    for piece in pieces:
        step = clawback_points(points, amount, returned, piece)
        assert step >= 0
        returned += piece
        taken += step
        assert taken <= points
        assert taken == floor_points(points * returned / amount)
    assert returned == amount
    assert taken == points


wallet_ops = st.lists(
    st.tuples(st.sampled_from(["credit", "spend", "claw_back", "expire"]), st.integers(0, 500), st.integers(0, 5)),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(ops=wallet_ops)
def test_wallet_accounting(ops: list[tuple[str, int, int]]) -> None:
    wallet = Wallet()
    for name, points, month_index in ops:
        month = add_months("2027-01", month_index)
        before = wallet.copy()
        if name == "credit":
            wallet.credit(points, month)
            assert wallet.available == before.available + points
        elif name == "spend":
            try:
                taken = wallet.spend(points)
            except InsufficientPoints:
                assert points > before.available
                assert wallet == before
                continue
            assert sum(taken.values()) == points
            assert wallet.available == before.available - points
            # Oldest first: every lot older than the newest one touched was emptied.
            if taken:
                newest = max(taken)
                assert all(m not in wallet.lots for m in before.lots if m < newest)
        elif name == "claw_back":
            taken = wallet.claw_back(points, month)
            assert wallet.available == before.available - points
            if month in before.lots:
                assert taken.get(month, 0) == min(points, before.lots[month])
        else:
            lapsed = wallet.expire(month)
            assert lapsed == before.lots.get(month, 0)
            assert wallet.available == before.available - lapsed
        assert wallet.debt >= 0
        assert all(value > 0 for value in wallet.lots.values())
        if wallet.debt:
            assert wallet.lots == {}
