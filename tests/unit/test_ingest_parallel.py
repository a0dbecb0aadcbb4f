"""Bounded parallel application of rows: per-key order, every item once, errors surface."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest

from chalicelib.ingest import parallel


@pytest.mark.parametrize("workers", [1, 4])
def test_every_item_once_and_items_of_a_key_in_order(workers: int) -> None:
    items = [(f"k{i % 7}", i) for i in range(300)]
    seen: dict[str, list[int]] = defaultdict(list)
    lock = threading.Lock()
    threads = set()

    def work(item: tuple[str, int], state: list[int]) -> None:
        with lock:
            seen[item[0]].append(item[1])
            threads.add(threading.get_ident())
        state.append(item[1])
        time.sleep(0.0005)

    states = parallel.run_keyed(items, lambda item: item[0], work, workers, list)
    assert sorted(n for state in states for n in state) == list(range(300))
    assert all(numbers == sorted(numbers) for numbers in seen.values())
    assert len(threads) == min(workers, 7)


def test_the_first_error_is_raised_after_every_thread_stopped() -> None:
    done: list[int] = []
    before = threading.active_count()

    def work(item: int, state: list[int]) -> None:
        if item == 50:
            raise RuntimeError("boom")
        done.append(item)

    with pytest.raises(RuntimeError, match="boom"):
        parallel.run_keyed(range(10_000), str, work, 4, list)
    assert len(done) < 10_000  # it stopped early
    assert threading.active_count() == before


def test_an_error_of_the_reader_stops_the_workers() -> None:
    def items() -> object:
        yield 1
        raise OSError("stream broken")

    with pytest.raises(OSError, match="stream broken"):
        parallel.run_keyed(items(), str, lambda item, state: None, 4, list)  # type: ignore[arg-type]
