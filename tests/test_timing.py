"""Step timers: the split of a pass into data wait and compute, on the host clock and from
device events read after one synchronisation per pass."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import torch
from fake_cuda import ScriptedEvent, patch_cuda, scripted_events

from bench.measure.timing import event_timer, host_timer, step_timer


class CountingSync:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def slow_batches(count: int, wait_s: float) -> Iterator[int]:
    for i in range(count):
        time.sleep(wait_s)
        yield i


def test_data_wait_and_compute_cover_the_sleeps_on_the_host_clock() -> None:
    timer = host_timer()
    for _ in timer.timed(slow_batches(5, 0.02)):
        time.sleep(0.01)
    assert timer.steps == 5
    assert timer.data_wait_s >= 5 * 0.02
    assert timer.compute_s >= 5 * 0.01
    assert timer.data_wait_s + timer.compute_s <= timer.elapsed_s


def test_split_is_exact_with_a_scripted_clock() -> None:
    ticks = iter([0.0, 1.0, 3.0, 3.5, 6.0, 6.0])
    timer = host_timer(clock=lambda: next(ticks))
    consumed = list(timer.timed([10, 20]))
    assert consumed == [10, 20]
    assert (timer.data_wait_s, timer.compute_s, timer.elapsed_s) == (1.5, 4.5, 6.0)
    assert timer.steps == 2
    assert timer.step_compute_s == [2.0, 2.5]
    assert timer.step_s == [3.0, 3.0]  # fetch to next fetch: 0 -> 3 and 3 -> 6


def test_a_pass_without_batches_takes_only_its_own_time() -> None:
    ticks = iter([2.0, 2.5])
    timer = host_timer(clock=lambda: next(ticks))
    assert list(timer.timed([])) == []
    assert (timer.steps, timer.data_wait_s, timer.compute_s, timer.elapsed_s) == (0, 0, 0, 0.5)


def test_events_give_the_same_split_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    marks = scripted_events(monkeypatch, [0.0, 1.0, 3.0, 3.5, 6.0, 6.25])
    timer = event_timer(marks, CountingSync())
    assert list(timer.timed([10, 20])) == [10, 20]
    assert (timer.data_wait_s, timer.compute_s, timer.elapsed_s) == (1.5, 4.5, 6.25)
    assert timer.steps == 2


@pytest.mark.parametrize("steps", [0, 1, 3, 50])
def test_events_are_read_after_a_single_sync_whatever_the_number_of_steps(
    monkeypatch: pytest.MonkeyPatch, steps: int
) -> None:
    """Step i's batch takes 1 s to arrive and its step i + 1 s; the pass ends 0.5 s after the
    last step."""
    stamps = [0.0]
    for i in range(steps):
        stamps += [stamps[-1] + 1, stamps[-1] + 1 + (i + 1)]
    stamps.append(stamps[-1] + 0.5)
    log: list[str] = []
    sync = CountingSync()

    class LoggedEvent(ScriptedEvent):
        def record(self, stream: object = None) -> None:
            log.append("record")
            super().record(stream)

        def elapsed_time(self, end_event: ScriptedEvent) -> float:
            log.append("read")
            return super().elapsed_time(end_event)

    record = scripted_events(monkeypatch, stamps, LoggedEvent)

    def synchronize() -> None:
        log.append("sync")
        sync()

    timer = event_timer(record, synchronize)
    for _ in timer.timed(range(steps)):
        assert sync.calls == 0
    assert sync.calls == 1
    assert log.index("sync") == log.count("record") == 2 * steps + 2
    assert timer.steps == steps
    assert timer.data_wait_s == steps * 1.0
    assert timer.compute_s == steps * (steps + 1) / 2
    assert timer.elapsed_s == timer.data_wait_s + timer.compute_s + 0.5


def test_step_timer_times_the_cpu_on_the_host_clock() -> None:
    timer = step_timer(torch.device("cpu"))
    assert list(timer.timed([1, 2])) == [1, 2]
    assert timer.steps == 2
    assert timer.elapsed_s > 0


def test_step_timer_times_a_gpu_with_events_and_one_device_sync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``torch.cuda``'s calls as the timer makes them: events with timing on, recorded on the
    device's current stream, one device synchronisation."""
    sync = CountingSync()
    streams: list[object] = []

    class StreamEvent(ScriptedEvent):
        def __init__(self, enable_timing: bool = False) -> None:
            assert enable_timing
            super().__init__(enable_timing)

        def record(self, stream: object = None) -> None:
            streams.append(stream)
            super().record(stream)

    scripted_events(monkeypatch, [0.0, 0.25, 1.0, 1.0], StreamEvent)
    patch_cuda(monkeypatch, "Event", StreamEvent)
    patch_cuda(monkeypatch, "current_stream", lambda device=None: f"stream of {device}")
    patch_cuda(monkeypatch, "synchronize", lambda device=None: sync())
    timer = step_timer(torch.device("cuda", 1))
    assert list(timer.timed(["batch"])) == ["batch"]
    assert streams == ["stream of cuda:1"] * 4 and sync.calls == 1
    assert (timer.data_wait_s, timer.compute_s, timer.elapsed_s) == (0.25, 0.75, 1.0)
