"""One way to wait between attempts, with one policy per kind of race.

Waits are "full jitter" (a uniform draw below an exponentially growing cap), so writers that lost
the same race do not collide again in step.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    attempts: int
    first: float  # seconds: the cap of the first wait, doubled for each later one
    cap: float  # seconds: no single wait is longer

    def wait(self, retry: int) -> float:
        return random.uniform(0, min(self.cap, self.first * 2**retry))


# Another write changed the member between our read and our transaction (its `version` moved):
# re-read and decide again at once. 20 attempts wait ~0.6 s in all at most.
MEMBER_RACE = Policy(attempts=20, first=0.002, cap=0.05)
# A TransactionConflict on items many writers share (receipts, file runs, KPI rows): they free up
# within a transaction's time, so back off longer; ~3 s in all at most.
SHARED_ITEMS = Policy(attempts=10, first=0.02, cap=0.5)


def attempts(policy: Policy) -> Iterator[int]:
    """Attempt numbers 0 .. attempts - 1, waiting before each retry (never before the first)."""
    for attempt in range(policy.attempts):
        if attempt:
            time.sleep(policy.wait(attempt - 1))
        yield attempt
