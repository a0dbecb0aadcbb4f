"""The one place the engine reads the time (tests and `--as-of` runs replace it).

`now()` is the only read. Tests replace the function itself (monkeypatch `clock.now`); a replay of
history in simulated time (`loyalty demo`) wraps a block in `simulated(source)` instead, and every
thread of the process then reads `source()`: request code, jobs and the ingestion's row workers
alike, which a thread-local or context variable would not reach.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

Source = Callable[[], datetime]

_source: Source | None = None
_lock = threading.Lock()


def now() -> datetime:
    source = _source
    return source() if source is not None else datetime.now(UTC)


@contextmanager
def simulated(source: Source) -> Iterator[None]:
    """Within the block `now()` answers `source()` (a timezone-aware moment) in every thread.
    One simulation at a time: a second one while another is active is refused."""
    global _source
    first = source()
    if first.tzinfo is None:
        raise ValueError("a simulated clock must answer timezone-aware moments")
    with _lock:
        if _source is not None:
            raise RuntimeError("a simulated clock is already active in this process")
        _source = source
    try:
        yield
    finally:
        with _lock:
            _source = None
