"""A lease that asks `loyalty dev`'s scheduler to skip its rounds while a demo replays history.

The scheduler runs the jobs every minute as of *today*; while the demo is still in, say, its third
simulated month, a real-time dormancy run would find its members "180 days without a purchase"
(as of today) and mark them dormant, with a real-time date, and their next simulated purchase
would then count as a reactivation. The demo runs the jobs itself, as of each simulated day.

The lease is one item (`JOB#scheduler` / `PAUSE`, beside the jobs' cursors) with a real-time
deadline that the demo renews while it runs and deletes at the end; a demo that dies lets it lapse
within LEASE_SECONDS. The scheduler side is `scheduler_paused()`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from chalicelib.store import dynamo, keys

LEASE_SECONDS = 120
RENEW_AFTER_SECONDS = 30
PAUSE_KEY = keys.scheduler_pause_key()


class Lease:
    def __init__(self, holder: str) -> None:
        self.holder = holder
        self.renewed = 0.0

    def renew(self, force: bool = False) -> None:
        """Push the deadline on (at most every RENEW_AFTER_SECONDS of real time unless forced)."""
        now = time.time()
        if force or now - self.renewed >= RENEW_AFTER_SECONDS:
            dynamo.call(
                "put_item",
                TableName=dynamo.table(),
                Item=dynamo.to_item({**PAUSE_KEY, "holder": self.holder, "until": int(now + LEASE_SECONDS)}),
            )
            self.renewed = now


@contextmanager
def scheduler_paused_by(holder: str) -> Iterator[Lease]:
    lease = Lease(holder)
    lease.renew(force=True)
    try:
        yield lease
    finally:
        dynamo.call("delete_item", TableName=dynamo.table(), Key=dynamo.to_item(PAUSE_KEY))


def scheduler_paused() -> str | None:
    """Who holds a live pause lease (None: run the jobs). For `loyalty dev`'s scheduler."""
    item = dynamo.get(PAUSE_KEY)
    if item is None or int(item.get("until", 0)) <= time.time():
        return None
    return str(item.get("holder") or "unknown")
