"""What a chunk did (counts, amounts, rejected rows) and the report built from a file's counters."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

APPLIED, DUPLICATE, REJECTED = "applied", "duplicate", "rejected"
COUNTERS = ("rows", "applied", "duplicates", "rejected", "non_member")
AMOUNTS = ("member_sales", "non_member_sales")


class Outcome(NamedTuple):
    status: str  # applied | duplicate | rejected
    reason: str = ""
    message: str = ""
    member: bool = False  # an applied row of a member (points moved)


class Rejected(NamedTuple):
    row: int
    reason: str
    message: str
    fields: list[str]


@dataclass
class Tally:
    """Counts of one chunk (or of one worker of it). Amounts are gross sales of applied rows;
    `days` are the store/day roll-up deltas: {day: {attribute: count or amount}}."""

    rows: int = 0
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    non_member: int = 0
    member_sales: Decimal = Decimal(0)
    non_member_sales: Decimal = Decimal(0)
    reasons: Counter[str] = field(default_factory=Counter)
    days: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    rejects: list[Rejected] = field(default_factory=list)

    def reject(self, row: int, reason: str, message: str, fields: list[str]) -> None:
        self.rejected += 1
        self.reasons[reason] += 1
        self.rejects.append(Rejected(row, reason, message, fields))

    def count(self, outcome: Outcome, row: int, fields: list[str]) -> None:
        if outcome.status == APPLIED:
            self.applied += 1
        elif outcome.status == DUPLICATE:
            self.duplicates += 1
        else:
            self.reject(row, outcome.reason, outcome.message, fields)

    def sold(self, day: str, member: bool, kind: str, amount: Decimal) -> None:
        """An applied row, for the report's sales figures and the store/day roll-up."""
        who = "member" if member else "non_member"
        if kind != "SALE":
            _add(self.days, day, {f"{who}_returns": Decimal(1), f"{who}_return_amount": amount})
            return
        if member:
            self.member_sales += amount
        else:
            self.non_member_sales += amount
            self.non_member += 1
        _add(self.days, day, {f"{who}_receipts": Decimal(1), f"{who}_amount": amount})

    def merge(self, other: Tally) -> None:
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.member_sales += other.member_sales
        self.non_member_sales += other.non_member_sales
        self.reasons.update(other.reasons)
        for day, totals in other.days.items():
            _add(self.days, day, totals)
        self.rejects.extend(other.rejects)


def _add(days: dict[str, dict[str, Decimal]], day: str, deltas: dict[str, Decimal]) -> None:
    totals = days.setdefault(day, {})
    for name, value in deltas.items():
        totals[name] = totals.get(name, Decimal(0)) + value


def report(item: dict[str, Any]) -> dict[str, Any]:
    """The report of a file (docs/sales-files.md), from its FILE item (also what GET /files answers)."""
    view: dict[str, Any] = {
        "file_id": item["file_id"],
        "key": item["key"],
        "store_id": item.get("store_id"),
        "status": item["status"],
        **{name: int(item.get(name, 0)) for name in COUNTERS},
        **{name: f"{Decimal(item.get(name, 0)):.2f}" for name in AMOUNTS},
        "reasons": {code: int(n) for code, n in sorted((item.get("reasons") or {}).items()) if int(n)},
        "started_at": item["started_at"],
        "finished_at": item.get("finished_at"),
    }
    for optional in ("reason", "message", "rejects_key", "report_key", "upload_id", "file_date"):
        if item.get(optional):
            view[optional] = item[optional]
    return view
