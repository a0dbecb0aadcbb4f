"""A member's recorded history as the program simulator reads it (store/exports.py builds it from
the table's items), the window it counts over, and the figures of the history as recorded. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from chalicelib.domain.attribution import Attribution
from chalicelib.domain.calendar import local_date
from chalicelib.domain.model import Member
from chalicelib.domain.simulation_figures import Figures
from chalicelib.program import Program

ERASURE = "erasure"  # not a ledger kind: the profile's `erased_at`, replayed as a fact
# A write recorded in the same instant as another: applied in this order (an enrolment first).
_ORDER = {"enrol": 0, "purchase": 1, "return": 2, "referral": 3, "referral_clawback": 4, "activity": 5}


@dataclass(frozen=True)
class Fact:
    """One recorded write of a member: its ledger entry (or the erasure)."""

    kind: str
    ref: str
    points: int
    occurred_at: datetime
    at: datetime  # when it was recorded: the `now` its rule ran with
    details: Mapping[str, Any] = field(default_factory=dict)

    def sort_key(self) -> tuple[datetime, int, str]:
        return self.at, _ORDER.get(self.kind, 9), self.ref


@dataclass(frozen=True)
class History:
    """A member's recorded history, as the table holds it (store/history.py reads it)."""

    member_id: str
    facts: tuple[Fact, ...]  # sorted by Fact.sort_key
    birthday: date | None = None
    referrer_id: str | None = None
    enrolment: Attribution = field(default_factory=Attribution)
    coupons: tuple[tuple[str, datetime], ...] = ()  # (kind, issued_at) of the coupons issued live


@dataclass(frozen=True)
class Window:
    """Flows (earned, expired...) are counted for writes on days `first`..`last`; the state is as of
    the end of `last` (the jobs of `last` included)."""

    last: date
    first: date | None = None

    def counts(self, day: date) -> bool:
        return (self.first is None or day >= self.first) and day <= self.last


def recorded(program: Program, history: History, stored: Member | None, window: Window) -> Figures:
    """The current program's figures as recorded (what happened), for a window ending on the export's
    day: the stored state and the ledger's own entries, no replay."""
    figures = Figures()
    tz = program.tz
    for fact in history.facts:
        if fact.kind != ERASURE and window.counts(local_date(fact.at, tz)):
            figures.count_entry(fact.kind, fact.points)
    for kind, issued_at in history.coupons:
        if window.counts(local_date(issued_at, tz)):
            figures.coupons[kind] += 1
    figures.end_state(stored, program)
    return figures
