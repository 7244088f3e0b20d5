"""The step timer's split of wall time into data wait and compute."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bench.measure.timing import StepTimer


def slow_batches(count: int, wait_s: float) -> Iterator[int]:
    for i in range(count):
        time.sleep(wait_s)
        yield i


def test_data_wait_and_compute_add_up_to_the_pass_time() -> None:
    timer = StepTimer(sync=lambda: None)
    for _ in timer.timed(slow_batches(5, 0.02)):
        time.sleep(0.01)
    assert timer.steps == 5
    assert timer.data_wait_s == pytest.approx(0.1, abs=0.03)
    assert timer.compute_s == pytest.approx(0.05, abs=0.03)
    assert timer.data_wait_s + timer.compute_s == pytest.approx(timer.elapsed_s, rel=0.02)


def test_split_is_exact_with_a_scripted_clock() -> None:
    ticks = iter([0.0, 1.0, 3.0, 3.5, 6.0, 6.0])
    timer = StepTimer(sync=lambda: None, clock=lambda: next(ticks))
    consumed = list(timer.timed([10, 20]))
    assert consumed == [10, 20]
    assert (timer.data_wait_s, timer.compute_s, timer.elapsed_s) == (1.5, 4.5, 6.0)


def test_sync_runs_before_every_clock_read() -> None:
    events: list[str] = []
    timer = StepTimer(
        sync=lambda: events.append("sync"), clock=lambda: events.append("clock") or 0.0
    )
    list(timer.timed([1]))
    assert events == ["sync", "clock", "sync", "clock", "sync", "clock", "clock"]
