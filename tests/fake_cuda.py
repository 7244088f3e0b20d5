"""Stand-ins for the ``torch.cuda`` calls bench makes, for tests on a machine without a GPU.

``tests/test_cuda_contract.py`` holds them to torch: ``ScriptedEvent``'s methods are
``torch.cuda.Event``'s with compatible signatures, and ``patch_cuda`` is the one way tests
replace a ``torch.cuda`` function, refusing a double that accepts a call torch would reject.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import pytest
import torch
from contract import signature_mismatch


class ScriptedEvent:
    """A stand-in ``torch.cuda.Event``: ``record`` stamps it with ``_clock()`` (seconds; tests
    script the clock with ``scripted_events``), ``elapsed_time`` gives milliseconds, as CUDA."""

    _clock: ClassVar[Callable[[], float]] = time.perf_counter

    def __init__(self, enable_timing: bool = False) -> None:
        self._at: float | None = None

    def record(self, stream: Any = None) -> None:
        self._at = type(self)._clock()

    def synchronize(self) -> None:
        pass

    def elapsed_time(self, end_event: ScriptedEvent) -> float:
        assert self._at is not None and end_event._at is not None, "an event was never recorded"
        return (end_event._at - self._at) * 1000


def scripted_events(
    monkeypatch: pytest.MonkeyPatch,
    times: Iterable[float],
    event: type[ScriptedEvent] = ScriptedEvent,
) -> Callable[[], ScriptedEvent]:
    """Events recorded at ``times``, one after the other; returns a mark function as
    ``bench.measure.timing.cuda_event`` does (each call records a new event)."""
    clock = iter(times)
    monkeypatch.setattr(event, "_clock", staticmethod(lambda: next(clock)))

    def mark() -> ScriptedEvent:
        recorded = event(enable_timing=True)
        recorded.record()
        return recorded

    return mark


def cuda_mismatches(double: Any, real: Any) -> dict[str, str]:
    """Where ``double`` accepts a call ``real`` (a ``torch.cuda`` function or class) rejects: for
    a class, its constructor and each public method, by name; else the call itself."""
    if not isinstance(double, type):
        problem = signature_mismatch(double, real)
        return {"call": problem} if problem else {}
    found = {}
    problem = signature_mismatch(double, real)
    if problem:
        found["constructor"] = problem
    for name, _ in inspect.getmembers(double, inspect.isfunction):
        if name.startswith("_"):
            continue
        theirs = getattr(real, name, None)
        if theirs is None:
            found[name] = f"torch's {real.__name__} has no {name}"
        elif problem := signature_mismatch(
            getattr(object.__new__(double), name), _bound(real, name)
        ):
            found[name] = problem
    return found


def _bound(cls: type, name: str) -> Callable[..., Any]:
    """``cls.name`` as a caller of an instance sees it (without ``self``)."""
    method = getattr(cls, name)
    params = list(inspect.signature(method).parameters.values())[1:]

    def bound(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    bound.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return bound


def patch_cuda(monkeypatch: pytest.MonkeyPatch, name: str, double: Any) -> None:
    """Replace ``torch.cuda.<name>`` by ``double`` for the test, after checking that it takes no
    call torch's would reject."""
    mismatches = cuda_mismatches(double, getattr(torch.cuda, name))
    assert not mismatches, f"torch.cuda.{name}: {mismatches}"
    monkeypatch.setattr(torch.cuda, name, double)
