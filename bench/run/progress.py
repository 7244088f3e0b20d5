"""What ``bench run`` shows while it works: a bar per epoch on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

from tqdm import tqdm

from bench.results.records import EpochRecord, JobRecord

T = TypeVar("T")


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{unit}"


class Progress:
    """Progress output on ``stream``; silent when ``quiet``."""

    def __init__(self, quiet: bool = False, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.interactive = not quiet and self.stream.isatty()

    def say(self, message: str) -> None:
        """One line of information."""
        if self.quiet:
            return
        if self.interactive:
            tqdm.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def batches(self, batches: Iterable[T], total: int, label: str) -> Iterable[T]:
        """``batches`` with a bar counting them on a terminal (unchanged otherwise)."""
        if not self.interactive:
            return batches
        return _bar(batches, total, label, self.stream)

    def job_started(self, index: int, count: int, job_id: str) -> None:
        self.say(f"[{index}/{count}] {job_id}")

    def epoch_done(self, record: EpochRecord) -> None:
        acc = f" acc {_fmt(record.train_acc, '.2f', '%')}" if record.train_acc is not None else ""
        test_acc = (
            f" test acc {_fmt(record.test_acc, '.2f', '%')}" if record.test_acc is not None else ""
        )
        self.say(
            f"  {record.phase} epoch {record.epoch}: loss {_fmt(record.train_loss, '.4f')}{acc}"
            f" | test loss {_fmt(record.test_loss, '.4f')}{test_acc}"
            f" | {record.images_per_s:,.0f} img/s, {record.epoch_time_s:.2f} s"
        )

    def job_done(self, record: JobRecord) -> None:
        detail = f": {record.error}" if record.error else ""
        acc = f", test acc {record.test_acc:.2f}%" if record.test_acc is not None else ""
        self.say(f"  -> {record.status}{acc}{detail}")


def _bar(batches: Iterable[T], total: int, label: str, stream: IO[str]) -> Iterator[T]:
    bar: Any = tqdm(batches, total=total, desc=label, unit="batch", leave=False, file=stream)
    with bar:
        yield from bar
