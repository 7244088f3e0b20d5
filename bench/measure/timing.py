"""Step timing: the wall time of a pass split into waiting for data and computing.

The device is synchronised before every clock read, so a step's compute time covers the
kernels it launched, and the time to produce a batch (including on-device augmentation)
counts as data wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import torch

T = TypeVar("T")


def synchronizer(device: torch.device) -> Callable[[], None]:
    """A function that waits for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


class StepTimer:
    """Times a pass: wrap its batches with ``timed(batches)`` and read the totals after."""

    def __init__(self, sync: Callable[[], None], clock: Callable[[], float] = time.perf_counter):
        self._sync = sync
        self._clock = clock
        self.data_wait_s = 0.0
        self.compute_s = 0.0
        self.elapsed_s = 0.0
        self.steps = 0

    def timed(self, batches: Iterable[T]) -> Iterator[T]:
        """Yield each batch; the time until it is ready is data wait, the time until the
        consumer asks for the next one is compute."""
        iterator = iter(batches)
        self._sync()
        start = ready = self._clock()
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                break
            self._sync()
            fetched = self._clock()
            self.data_wait_s += fetched - ready
            yield batch
            self._sync()
            ready = self._clock()
            self.compute_s += ready - fetched
            self.steps += 1
        self.elapsed_s = self._clock() - start
