"""Step timing: the wall time of a pass split into waiting for data and computing (seconds).

``step_timer(device)`` times one pass: wrap its batches with ``timed(batches)`` and read
``elapsed_s``, ``data_wait_s``, ``compute_s``, ``steps``, ``step_compute_s`` (each step's
compute) and ``step_s`` (each step's wall time, from its fetch to the next: data wait and
compute) once the batches are exhausted.

The timer marks three kinds of moment: the start of each fetch (before ``next()`` on the
loader), the batch's arrival (after ``next()`` returns) and the end of the pass (after the
final ``next()``). Data wait is the sum of the fetch-to-arrival intervals, compute the sum of the
arrival-to-next-fetch intervals (the training or evaluation step), elapsed the whole span; so
``data_wait_s + compute_s`` is the pass time but for the final, empty fetch.

- CPU: marks are host clock reads. The host runs each operation as it is called, so the
  figures are exact: the time to produce a batch (augmentation included) is data wait.
- CUDA: marks are CUDA events recorded on the device's current stream; the device is
  synchronised once, after the pass, and the events are read then. A synchronisation per step
  would stop the host from queueing step k+1 while the GPU runs step k, and so time a slower
  loop than the one being measured. The intervals are on the GPU's timeline: data wait is the
  time the stream spent between the end of a step and the arrival of the next batch, that is
  producing it on the device (augmentation, copies) or idle, waiting for the host to hand it
  over; time the host spent in ``next()`` while the GPU was still busy with queued steps costs
  the pass nothing and is not data wait. Elapsed spans from the stream reaching the start of
  the pass to it finishing the pass's last work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import torch

if TYPE_CHECKING:  # typing.Self is Python 3.11+
    from typing import Self

T = TypeVar("T")
M = TypeVar("M")


class TimingEvent(Protocol):
    """A recorded point on a device's timeline (``torch.cuda.Event`` with timing enabled)."""

    def elapsed_time(self, end_event: Self, /) -> float:
        """Milliseconds from this event to ``end_event``."""
        ...


def synchronizer(device: torch.device) -> Callable[[], None]:
    """A function that waits for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


class StepTimer(Generic[M]):
    """Times a pass from marks: ``mark()`` records a moment, ``span(a, b)`` is the seconds from
    mark ``a`` to mark ``b``, read only after ``sync()`` has run once at the end of the pass."""

    def __init__(
        self,
        mark: Callable[[], M],
        span: Callable[[M, M], float],
        sync: Callable[[], None] = lambda: None,
    ) -> None:
        self._mark, self._span, self._sync = mark, span, sync
        self.data_wait_s = 0.0
        self.compute_s = 0.0
        self.elapsed_s = 0.0
        self.steps = 0
        self.step_compute_s: list[float] = []  # each step's compute, in order
        self.step_s: list[float] = []  # each step's data wait + compute, in order

    def timed(self, batches: Iterable[T]) -> Iterator[T]:
        """Yield each batch; the time until it is ready is data wait, the time until the
        consumer asks for the next one is compute."""
        iterator = iter(batches)
        marks = [self._mark()]  # fetch 0, arrival 0, fetch 1, arrival 1, ..., end
        for batch in iterator:
            marks.append(self._mark())
            yield batch
            marks.append(self._mark())
        marks.append(self._mark())
        self._sync()
        self._read(marks)

    def _read(self, marks: list[M]) -> None:
        *steps, end = marks
        fetches, arrivals = steps[::2], steps[1::2]  # one more fetch: the final, empty one
        for fetch, arrival, next_fetch in zip(fetches, arrivals, fetches[1:], strict=False):
            wait, compute = self._span(fetch, arrival), self._span(arrival, next_fetch)
            self.data_wait_s += wait
            self.step_compute_s.append(compute)
            self.step_s.append(wait + compute)
        self.compute_s = sum(self.step_compute_s)
        self.steps = len(arrivals)
        self.elapsed_s = self._span(marks[0], end)


def host_timer(clock: Callable[[], float] = time.perf_counter) -> StepTimer[float]:
    """A timer reading the host clock (exact where operations run as they are called)."""
    return StepTimer(clock, lambda start, end: end - start)


def event_timer(
    event: Callable[[], TimingEvent], sync: Callable[[], None]
) -> StepTimer[TimingEvent]:
    """A timer from device events: ``event()`` records one now, ``sync()`` waits for them all."""
    return StepTimer(event, lambda start, end: start.elapsed_time(end) / 1000, sync)


def cuda_event(device: torch.device) -> Callable[[], TimingEvent]:
    """A function recording a timing event on ``device``'s current stream."""
    stream = torch.cuda.current_stream(device)

    def record() -> TimingEvent:
        event = torch.cuda.Event(enable_timing=True)
        event.record(stream)
        return event

    return record


def step_timer(device: torch.device) -> StepTimer[float] | StepTimer[TimingEvent]:
    """The timer for a pass on ``device``: CUDA events on a GPU, the host clock elsewhere."""
    if device.type == "cuda":
        return event_timer(cuda_event(device), synchronizer(device))
    return host_timer()
