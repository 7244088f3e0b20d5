"""Inference timing: a model's forward pass on one batch, repeated until the figure is stable.

``time_forward`` first runs ``WARMUP_PASSES`` forward passes and waits for them (compilation,
cuDNN autotuning and caches land there), then times forward passes in eval mode without
gradients through ``step_timer``: CUDA events synchronised once per timed pass on a GPU, the
host clock on the CPU. It times until at least ``min_iterations`` forward passes and
``min_time_s`` seconds of them are done; each timed pass is sized from the time per forward
pass seen so far, so a second one is needed only where that estimate was off.

Figures: latency percentiles over the timed forward passes (ms per batch), and the passes
themselves in compact form (``bench.results.samples``); images/s, the images over the summed
forward time; the CUDA allocator's peak (GPU) and the process's peak resident
memory (host, where the kernel lets it be reset) over the timed passes; mean GPU power and the
energy per image over the timed passes, a telemetry segment of their own (from the energy counter
over exactly that span where the GPU has one; ``None`` without a GPU or NVML). Allocation
failures propagate (``bench.measure.memory.is_out_of_memory``).
"""

from __future__ import annotations

import math
import statistics
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from bench.measure.memory import cuda_peaks_mib, reset_cuda_peaks, reset_rss_peak, rss_peak_mib
from bench.measure.telemetry import NvmlSampler, percentile
from bench.measure.timing import step_timer, synchronizer
from bench.results.samples import compact

WARMUP_PASSES = 3


class Casting(Protocol):
    """A precision's autocast and input layout (``bench.recipes.loop.Precision``)."""

    def autocast(self) -> AbstractContextManager[object]: ...

    def prepare(self, inputs: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class Budget:
    """How much to time: at least ``min_iterations`` forward passes and ``min_time_s`` seconds."""

    min_iterations: int
    min_time_s: float


@dataclass(frozen=True)
class ForwardTiming:
    """What ``time_forward`` measured (field names as in ``InferenceRow``)."""

    iterations: int
    latency_ms_p50: float
    latency_ms_p95: float
    latency_ms_p99: float
    images_per_s: float
    peak_mem_mib: float | None
    peak_rss_mib: float | None
    power_w: float | None
    energy_per_image_j: float | None
    power_method: str | None
    energy_method: str | None
    pass_ms: list[float]  # each timed pass, compact (bench.results.samples)


@torch.no_grad()
def time_forward(
    model: nn.Module,
    inputs: torch.Tensor,
    casting: Casting,
    budget: Budget,
    sampler: NvmlSampler | None = None,
    label: str = "inference",
) -> ForwardTiming:
    """Time ``model`` on ``inputs`` (a batch on the model's device, already in its layout);
    ``sampler``'s segment over the timed passes is labelled ``label``."""
    model.eval()
    device = inputs.device
    sync = synchronizer(device)
    start = time.perf_counter()
    for _ in range(WARMUP_PASSES):
        with casting.autocast():
            model(inputs)
    sync()
    per_pass = (time.perf_counter() - start) / WARMUP_PASSES
    reset_cuda_peaks(device)
    rss_resettable = reset_rss_peak()
    segment = sampler.begin(label) if sampler is not None else 0
    steps: list[float] = []
    while len(steps) < budget.min_iterations or sum(steps) < budget.min_time_s:
        timer = step_timer(device)
        for _ in timer.timed(range(_passes_left(steps, per_pass, budget))):
            with casting.autocast():
                model(inputs)
        steps += timer.step_compute_s
        per_pass = statistics.fmean(steps)
    if sampler is not None:
        sampler.end()
    telemetry = sampler.summary(segment) if sampler is not None else None
    images = len(inputs) * len(steps)
    energy = telemetry.energy_j if telemetry is not None else None
    milliseconds = [1000 * s for s in steps]
    return ForwardTiming(
        iterations=len(steps),
        latency_ms_p50=percentile(milliseconds, 50),
        latency_ms_p95=percentile(milliseconds, 95),
        latency_ms_p99=percentile(milliseconds, 99),
        images_per_s=images / sum(steps) if sum(steps) > 0 else math.inf,
        peak_mem_mib=cuda_peaks_mib(device)[0],
        peak_rss_mib=rss_peak_mib() if rss_resettable else None,
        power_w=telemetry.power_mean_w if telemetry is not None else None,
        energy_per_image_j=energy / images if energy is not None else None,
        power_method=telemetry.power_method if telemetry is not None else None,
        energy_method=telemetry.energy_method if telemetry is not None else None,
        pass_ms=compact(milliseconds),
    )


def _passes_left(steps: list[float], per_pass: float, budget: Budget) -> int:
    """Forward passes still needed, at ``per_pass`` seconds each (at least one)."""
    time_left = budget.min_time_s - sum(steps)
    by_time = math.ceil(time_left / per_pass) if time_left > 0 and per_pass > 0 else 0
    return max(budget.min_iterations - len(steps), by_time, 1)
