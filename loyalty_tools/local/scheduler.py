"""Runs the scheduled jobs locally at a fixed interval (moto never fires EventBridge schedules)."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from loyalty_tools.local import lambda_runtime
from loyalty_tools.local.worker import Worker

if TYPE_CHECKING:
    from chalice import Chalice

log = logging.getLogger(__name__)

Job = Callable[[], object]


def scheduled_jobs(app: Chalice) -> dict[str, Job]:
    """The app's `@app.schedule` handlers, each a job that calls it as EventBridge would."""
    from chalice.app import ScheduledEventConfig

    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    return {
        source.name: functools.partial(_invoke, app.handler_map[source.name], source.name, region)
        for source in app.event_sources
        if isinstance(source, ScheduledEventConfig)
    }


def _invoke(handler: Callable[[dict[str, Any], Any], object], name: str, region: str) -> object:
    return handler(lambda_runtime.scheduled_event(name, region), lambda_runtime.context(name))


class Scheduler(Worker):
    """Every `interval_seconds` (first run one interval after start) runs each job in turn.

    A failing job is logged and does not stop the others or the next round: the jobs are resumable
    and idempotent, so the next run catches up.
    """

    def __init__(
        self,
        jobs: Mapping[str, Job],
        interval_seconds: float = 60.0,
        paused_by: Callable[[], str | None] = lambda: None,
    ) -> None:
        super().__init__("scheduler")
        self.jobs = dict(jobs)
        self.interval_seconds = interval_seconds
        self.paused_by = paused_by  # who holds a pause (`loyalty demo` replaying history), if anyone

    def _run(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            self.run_all()

    def run_all(self) -> None:
        if holder := self.paused_by():
            log.info("scheduled jobs paused by %s", holder)
            return
        for name, job in self.jobs.items():
            if self._stop.is_set():
                return
            try:
                job()
            except Exception:
                log.exception("scheduled job %s failed", name)
