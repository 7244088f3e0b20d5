"""Operator traces of training steps: ``torch.profiler`` around a few steady steps.

:func:`trace_steps` runs a step function ``WARMUP_STEPS`` times untraced, then once more under
the profiler's own warm-up, then records ``steps`` steps (CPU activity, and CUDA activity where
the model is on a GPU, with input shapes). It returns the Chrome trace (gzipped JSON, opens in
Perfetto or chrome://tracing), the top operators by self time and the forward time of each
top-level module of the model (a ``record_function`` range named ``module::<name>`` around
each child, opened and closed by forward hooks that are removed afterwards). Times are per
traced step, in milliseconds, on the device's clock on a GPU (kernel time) and the CPU's
clock on the CPU. The trace names its rank in ``distributedInfo`` (the profiler writes it under
``torch.distributed``; a process alone is rank 0 of 1), as HolisticTraceAnalysis reads it.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile, record_function, schedule

from bench.results.checks import MODULE_FIELDS, OPERATOR_FIELDS
from bench.results.rundir import TraceFiles

WARMUP_STEPS = 3
TOP_OPERATORS = 25
MODULE_PREFIX = "module::"
OPERATOR_COLUMNS = tuple(OPERATOR_FIELDS)
MODULE_COLUMNS = tuple(MODULE_FIELDS)


@dataclass(frozen=True)
class Trace:
    """What the profiler recorded over ``steps`` steps; ``clock`` is ``device`` (GPU kernel
    time) or ``cpu``; ``modules`` is empty for a compiled model (its modules are fused)."""

    chrome_trace_gz: bytes
    operators: tuple[dict[str, Any], ...]
    modules: tuple[dict[str, Any], ...]
    steps: int
    clock: str

    def operators_csv(self) -> str:
        """The operator table as CSV text."""
        return _csv(self.operators, OPERATOR_COLUMNS)

    def files(self) -> TraceFiles:
        """The Chrome trace and both tables as CSV text, as a run directory keeps them."""
        return TraceFiles(
            self.chrome_trace_gz,
            _csv(self.operators, OPERATOR_COLUMNS),
            _csv(self.modules, MODULE_COLUMNS),
        )


def trace_steps(
    step: Callable[[], object], steps: int, model: nn.Module, device: torch.device
) -> Trace:
    """Warm up, then record ``steps`` calls of ``step`` (one training step of ``model`` each;
    the module ranges go around the children of the module a DistributedDataParallel wrapper
    holds)."""
    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    for _ in range(WARMUP_STEPS):
        step()
    on_gpu = device.type == "cuda"
    if not torch.cuda.is_available():  # else kineto logs "gpuGetDeviceCount failed" as an ERROR
        os.environ.setdefault("KINETO_LOG_LEVEL", "5")
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if on_gpu else [])]
    inner = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    compiled = isinstance(inner, torch._dynamo.eval_frame.OptimizedModule)
    captured: dict[str, Any] = {}

    def keep(prof: profile) -> None:
        captured["averages"] = prof.key_averages()
        captured["events"] = list(prof.events())
        captured["chrome"] = _chrome_trace_gz(prof)

    with (
        _module_ranges(inner, enabled=not compiled),
        profile(
            activities=activities,
            record_shapes=True,
            schedule=schedule(wait=0, warmup=1, active=steps, repeat=1),
            on_trace_ready=keep,
        ) as prof,
    ):
        for _ in range(steps + 1):
            step()
            prof.step()
    clock = "device" if on_gpu else "cpu"
    averages = captured["averages"]
    return Trace(
        chrome_trace_gz=captured["chrome"],
        operators=tuple(_operator_rows(averages, steps, clock)),
        modules=tuple(_module_rows(captured["events"], steps, clock)),
        steps=steps,
        clock=clock,
    )


def _chrome_trace_gz(prof: profile) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trace.json"
        prof.export_chrome_trace(str(path))
        return gzip.compress(with_rank(path.read_bytes()), compresslevel=6)


def with_rank(chrome_trace: bytes) -> bytes:
    """``chrome_trace`` (JSON) with ``distributedInfo`` first: as the profiler wrote it under
    ``torch.distributed``, else rank 0 of 1. HolisticTraceAnalysis takes a trace's rank from the
    first ``"rank": N`` in its text (``hta/common/trace_file.py``) and calls every trace without
    one rank 0."""
    trace = json.loads(chrome_trace)
    info = trace.pop("distributedInfo", None) or {"rank": 0, "world_size": 1}
    return json.dumps({"distributedInfo": info, **trace}).encode()


@contextmanager
def _module_ranges(model: nn.Module, enabled: bool) -> Iterator[None]:
    """A ``record_function`` range around each forward of each child of ``model``."""
    if not enabled:
        yield
        return
    handles = []
    for name, child in model.named_children():
        open_ranges: list[record_function] = []

        def enter(_m: nn.Module, _i: Any, label: str = name, stack: list = open_ranges) -> None:
            stack.append(record_function(MODULE_PREFIX + label).__enter__())

        def leave(_m: nn.Module, _i: Any, _o: Any, stack: list = open_ranges) -> None:
            stack.pop().__exit__(None, None, None)

        handles += [child.register_forward_pre_hook(enter), child.register_forward_hook(leave)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _operator_rows(averages: Sequence[Any], steps: int, clock: str) -> Iterator[dict[str, Any]]:
    """The operators with the most self time, per step."""
    self_attr = "self_device_time_total" if clock == "device" else "self_cpu_time_total"
    total_attr = "device_time_total" if clock == "device" else "cpu_time_total"
    operators = [
        a
        for a in averages
        if not a.key.startswith((MODULE_PREFIX, "ProfilerStep")) and getattr(a, self_attr) > 0
    ]
    whole = sum(getattr(a, self_attr) for a in operators) or 1
    operators.sort(key=lambda a: getattr(a, self_attr), reverse=True)
    for a in operators[:TOP_OPERATORS]:
        yield {
            "operator": a.key,
            "calls_per_step": a.count / steps,
            "self_ms_per_step": _ms(getattr(a, self_attr), steps),
            "self_pct": round(100 * getattr(a, self_attr) / whole, 2),
            "total_ms_per_step": _ms(getattr(a, total_attr), steps),
            "clock": clock,
        }


def _module_rows(events: Sequence[Any], steps: int, clock: str) -> Iterator[dict[str, Any]]:
    """The forward time of each top-level module, per step, in calling order: the host-side
    ranges only, each with its own time (on a GPU, that of the kernels launched inside it)."""
    total_attr = "device_time_total" if clock == "device" else "cpu_time_total"
    calls: dict[str, int] = {}
    times: dict[str, float] = {}
    for event in events:
        if event.device_type == DeviceType.CPU and event.name.startswith(MODULE_PREFIX):
            name = event.name.removeprefix(MODULE_PREFIX)
            calls[name] = calls.get(name, 0) + 1
            times[name] = times.get(name, 0.0) + getattr(event, total_attr)
    for name, count in calls.items():
        yield {
            "module": name,
            "calls_per_step": count / steps,
            "forward_ms_per_step": _ms(times[name], steps),
            "clock": clock,
        }


def _ms(total_us: float, steps: int) -> float:
    """A profiler total (microseconds) as milliseconds per step, to the microsecond."""
    return round(total_us / 1000 / steps, 3)


def _csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
