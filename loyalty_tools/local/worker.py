"""A background loop of the local stack (the SQS pump, the stream pump, the scheduler)."""

from __future__ import annotations

import threading
from typing import Self


class Worker:
    """Runs `_run` in a daemon thread until `stop()`; `_run` waits on `self._stop` between rounds."""

    def __init__(self, thread_name: str) -> None:
        self.thread_name = thread_name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Waits for the round in progress to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        raise NotImplementedError
