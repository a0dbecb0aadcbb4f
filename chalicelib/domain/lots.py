"""Point lots: one lot per expiry month, spent oldest first, with a debt for negative balances.

A return may take more points than are left (they were already spent); the shortfall is a debt
that later earnings settle before they fill a lot. So `sum(lots) - debt == available` always.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class InsufficientPoints(Exception):
    def __init__(self, needed: int, available: int) -> None:
        super().__init__(f"needs {needed} points, {available} available")
        self.needed = needed
        self.available = available


@dataclass
class Wallet:
    lots: dict[str, int] = field(default_factory=dict)  # expiry month "YYYY-MM" -> points left
    debt: int = 0  # points owed, >= 0

    @property
    def available(self) -> int:
        return sum(self.lots.values()) - self.debt

    def copy(self) -> Wallet:
        return Wallet(dict(self.lots), self.debt)

    def credit(self, points: int, month: str) -> None:
        """Add earned points: settle any debt first, the rest into the lot of `month`."""
        if points < 0:
            raise ValueError("credit takes a positive number of points")
        settled = min(points, self.debt)
        self.debt -= settled
        rest = points - settled
        if rest:
            self.lots[month] = self.lots.get(month, 0) + rest

    def spend(self, points: int) -> dict[str, int]:
        """Take points oldest lot first; refuse to go below zero. Returns points taken per lot."""
        if points < 0:
            raise ValueError("spend takes a positive number of points")
        if points > self.available:
            raise InsufficientPoints(points, self.available)
        return self._take(points, sorted(self.lots))

    def claw_back(self, points: int, preferred_month: str | None = None) -> dict[str, int]:
        """Take points back (a return): the purchase's own lot first, then oldest first, then debt."""
        order = sorted(self.lots)
        if preferred_month in self.lots:
            order.remove(preferred_month)
            order.insert(0, preferred_month)
        taken = self._take(min(points, max(sum(self.lots.values()), 0)), order)
        self.debt += points - sum(taken.values())
        return taken

    def expire(self, month: str) -> int:
        """Remove a lot whose month has ended; returns the points that lapsed."""
        return self.lots.pop(month, 0)

    def _take(self, points: int, order: list[str]) -> dict[str, int]:
        taken: dict[str, int] = {}
        left = points
        for month in order:
            if left == 0:
                break
            take = min(self.lots[month], left)
            if take:
                taken[month] = take
                self.lots[month] -= take
                left -= take
                if self.lots[month] == 0:
                    del self.lots[month]
        return taken
