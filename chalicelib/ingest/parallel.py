"""Bounded parallel application of a chunk's rows.

Each worker has its own bounded queue and its own state, so memory is bounded and nothing is
shared but the results at the end. Items with the same key (a member, a receipt) always go to the
same worker: they are applied one after the other in file order, never racing each other.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import zlib
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

Item = TypeVar("Item")
State = TypeVar("State")

QUEUE_DEPTH = 64
_DONE = object()


class _Worker(Generic[Item, State]):
    def __init__(
        self, work: Callable[[Item, State], None], state: State, failed: threading.Event, errors: list[BaseException]
    ) -> None:
        self.queue: queue.Queue[object] = queue.Queue(maxsize=QUEUE_DEPTH)
        self.state = state
        self._work, self._failed, self._errors = work, failed, errors
        # With the caller's context: the log keys of the invocation (correlation id, function name).
        self.thread = threading.Thread(target=contextvars.copy_context().run, args=(self._run,), daemon=True)

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is _DONE:
                return
            if self._failed.is_set():
                continue  # another worker failed: drain, the chunk will be retried as a whole
            try:
                self._work(item, self.state)  # type: ignore[arg-type]
            except BaseException as exc:  # handed to the caller, which re-raises the first one
                self._errors.append(exc)
                self._failed.set()


def run_keyed(
    items: Iterable[Item],
    key_of: Callable[[Item], str],
    work: Callable[[Item, State], None],
    workers: int,
    new_state: Callable[[], State],
) -> list[State]:
    """Call work(item, state) for every item with at most `workers` threads (1: on the calling
    thread). Returns the workers' states; raises the first error a worker met, once every thread
    has stopped."""
    if workers <= 1:
        state = new_state()
        for item in items:
            work(item, state)
        return [state]
    failed = threading.Event()
    errors: list[BaseException] = []
    pool = [_Worker(work, new_state(), failed, errors) for _ in range(workers)]
    for worker in pool:
        worker.thread.start()
    try:
        for item in items:
            if failed.is_set():
                break
            pool[zlib.crc32(key_of(item).encode()) % workers].queue.put(item)
    finally:
        for worker in pool:
            worker.queue.put(_DONE)
        for worker in pool:
            worker.thread.join()
    if errors:
        raise errors[0]
    return [worker.state for worker in pool]
