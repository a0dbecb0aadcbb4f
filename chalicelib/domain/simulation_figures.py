"""What the program simulator counts: one member's figures under one program, their merge over
members, and the side-by-side report of the current and the proposed program. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from chalicelib.domain.model import ERASED, Member, MemberChange
from chalicelib.program import Program

EARNED_KINDS = ("purchase", "enrol", "activity", "referral", "reactivation", "adjustment", "points_payment_refund")
RETURNED_KINDS = ("return", "referral_clawback")


@dataclass
class Figures:
    """Counts for the writes in the window, and the end state. Points are integers."""

    members: int = 0  # enrolled by the end (erased ones included)
    erased: int = 0
    by_tier: Counter[str] = field(default_factory=Counter)  # members not erased
    by_status: Counter[str] = field(default_factory=Counter)
    earned: Counter[str] = field(default_factory=Counter)  # points credited, by source (ledger kind)
    returned: int = 0  # taken back by returns and referral claw-backs
    redeemed: int = 0  # spent: rewards, points redemptions, points paid at checkout, debit adjustments
    expired: int = 0
    outstanding: int = 0  # available + pending of the members not erased, at the end
    lifetime: int = 0
    coupons: Counter[str] = field(default_factory=Counter)  # issued, by kind
    refused: Counter[str] = field(default_factory=Counter)  # recorded writes this program refuses, by kind
    as_recorded: Counter[str] = field(default_factory=Counter)  # replayed with their recorded points

    def count(self, change: MemberChange) -> None:
        for entry in change.entries:
            self.count_entry(entry.kind, entry.points)
        for coupon in change.coupons:
            self.coupons[coupon.kind] += 1

    def count_entry(self, kind: str, points: int) -> None:
        if kind in ("expire", "release"):
            self.expired -= points  # a release is 0 points unless it lapsed
        elif kind in RETURNED_KINDS:
            self.returned -= points
        elif points > 0:
            self.earned[kind] += points
        else:
            self.redeemed -= points

    def end_state(self, member: Member | None, program: Program) -> None:
        if member is None:
            return
        self.members += 1
        self.by_status[member.status] += 1
        self.lifetime += member.lifetime_earned
        if member.status == ERASED:
            self.erased += 1
            return
        self.by_tier[member.tier] += 1
        self.outstanding += member.available + member.pending_points

    def merge(self, other: Figures) -> Figures:
        for name, value in vars(other).items():
            mine = getattr(self, name)
            setattr(self, name, _added(mine, value) if isinstance(mine, dict) else mine + value)
        return self

    def as_dict(self) -> dict[str, Any]:
        return {name: dict(value) if isinstance(value, Counter) else value for name, value in vars(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figures:
        found = cls()
        for name, value in data.items():
            setattr(found, name, Counter(value) if isinstance(getattr(found, name), Counter) else int(value))
        return found


def _added(first: Mapping[str, int], second: Mapping[str, int]) -> Counter[str]:
    total = Counter(first)
    for key, value in second.items():
        total[key] += value
    return total


def liability(program: Program, points: int) -> tuple[Decimal, str]:
    """The outstanding points in money: at the points-payment rate, or (a program without points
    payment) at the best rate a money reward gives; and which rate it was."""
    rule = getattr(program, "points_payment", None)
    places = Decimal(1).scaleb(-program.currency_places)
    if rule is not None:
        per_unit = Decimal(rule.points_per_unit)
        return (points / per_unit).quantize(places, ROUND_HALF_UP), f"points_payment: {per_unit} points = 1"
    rates = [(r.coupon_value / r.points_cost, r.reward_id) for r in program.rewards if r.coupon_value > 0]
    if not rates:
        return Decimal(0).quantize(places), "no money value (no points payment, no money reward)"
    rate, reward_id = max(rates)
    return (points * rate).quantize(places, ROUND_HALF_UP), f"reward {reward_id}: 1 point = {rate.normalize()}"


@dataclass
class Report:
    """Current and proposed figures over the members replayed, the tier moves from one to the other,
    and the self-check: members whose replay under the current program equals their stored state."""

    current: Figures = field(default_factory=Figures)
    proposed: Figures = field(default_factory=Figures)
    moves: Counter[str] = field(default_factory=Counter)  # "silver>gold": members in silver now, gold proposed
    checked: int = 0
    reproduced: int = 0
    differences: list[dict[str, Any]] = field(default_factory=list)  # the first few members that differ

    KEEP_DIFFERENCES = 20

    def add_member(self, current: Figures, proposed: Figures, move: str | None) -> None:
        self.current.merge(current)
        self.proposed.merge(proposed)
        if move is not None:
            self.moves[move] += 1

    def add_check(self, member_id: str, differences: dict[str, Any]) -> None:
        self.checked += 1
        if not differences:
            self.reproduced += 1
        elif len(self.differences) < self.KEEP_DIFFERENCES:
            self.differences.append({"member_id": member_id, **differences})

    def merge(self, other: Report) -> Report:
        self.current.merge(other.current)
        self.proposed.merge(other.proposed)
        self.moves = _added(self.moves, other.moves)
        self.checked += other.checked
        self.reproduced += other.reproduced
        self.differences = (self.differences + other.differences)[: self.KEEP_DIFFERENCES]
        return self

    def moved(self, program: Program, up: bool) -> int:
        def rank(code: str) -> int:
            codes = [t.code for t in program.tiers]
            return codes.index(code) if code in codes else -1

        return sum(n for move, n in self.moves.items() if (rank(move.split(">")[1]) > rank(move.split(">")[0])) == up)

    def as_dict(self) -> dict[str, Any]:
        return {
            "current": self.current.as_dict(),
            "proposed": self.proposed.as_dict(),
            "moves": dict(self.moves),
            "checked": self.checked,
            "reproduced": self.reproduced,
            "differences": self.differences,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        return cls(
            Figures.from_dict(data["current"]),
            Figures.from_dict(data["proposed"]),
            Counter(data["moves"]),
            int(data["checked"]),
            int(data["reproduced"]),
            list(data["differences"]),
        )


def tier_move(current: Member | None, proposed: Member | None) -> str | None:
    """`from>to` when the member ends in another tier under the proposed program (erased: none)."""
    if current is None or proposed is None or current.status == ERASED or current.tier == proposed.tier:
        return None
    return f"{current.tier}>{proposed.tier}"


def state_differences(replayed: Member | None, stored: Member | None) -> dict[str, Any]:
    """What differs between the replay's end state and the member as stored: {field: [stored, replayed]}."""
    if replayed is None or stored is None:
        return {} if replayed is stored else {"member": [stored is not None, replayed is not None]}
    fields = {
        "status": lambda m: m.status,
        "tier": lambda m: m.tier,
        "tier_floor": lambda m: m.tier_floor,
        "review_at": lambda m: m.review_at,
        "available": lambda m: m.available,
        "pending": lambda m: m.pending_points,
        "debt": lambda m: m.wallet.debt,
        "lots": lambda m: {month: n for month, n in m.wallet.lots.items() if n},
        "lifetime_earned": lambda m: m.lifetime_earned,
        "purchase_count": lambda m: m.purchase_count,
    }
    return {
        name: [_plain(read(stored)), _plain(read(replayed))]
        for name, read in fields.items()
        if read(stored) != read(replayed)
    }


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
