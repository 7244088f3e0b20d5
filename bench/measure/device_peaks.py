"""A device's peak compute and memory bandwidth, for the roofline.

On a GPU the peaks are the datasheet's (``bench.measure.peak_throughput``); a GPU without a row
has none. On the CPU they are measured, once per process and data type: the best of a few
square matrix products (``2 n³`` FLOPs each) and the best of a few copies of a large tensor
(each reads and writes its bytes once), with torch's threads as configured.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import torch

from bench.measure.peak_throughput import DTYPE_OF_PRECISION, gpu_peaks
from bench.measure.roofline import DevicePeaks

MATMUL_SIZE = 1024
COPY_BYTES = 64 * 2**20
REPEATS = 5
_CPU_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def device_peaks(device: torch.device, precision: str) -> DevicePeaks | None:
    """The peaks of ``device`` for a job's ``precision``: the datasheet's on a GPU (None for a
    GPU or a precision without a figure), measured on the CPU."""
    dtype = DTYPE_OF_PRECISION[precision]
    if device.type == "cuda":
        peaks = gpu_peaks(torch.cuda.get_device_name(device))
        tflops = getattr(peaks, dtype) if peaks is not None else None
        if peaks is None or tflops is None:
            return None
        return DevicePeaks(tflops * 1e12, peaks.memory_gb_s * 1e9, "datasheet")
    # the CPU has no tensor-float32 mode: tf32 runs as float32
    return cpu_peaks("fp32" if dtype == "tf32" else dtype)


@functools.cache
def cpu_peaks(dtype: str = "fp32") -> DevicePeaks:
    """The CPU's peaks measured for ``dtype`` (``fp32``, ``bf16`` or ``fp16``)."""
    kind = _CPU_DTYPES[dtype]
    a = torch.ones(MATMUL_SIZE, MATMUL_SIZE, dtype=kind)
    b = torch.ones(MATMUL_SIZE, MATMUL_SIZE, dtype=kind)
    matmul_s = _best_time(lambda: torch.mm(a, b))
    return DevicePeaks(2 * MATMUL_SIZE**3 / matmul_s, _cpu_bandwidth(), "measured")


@functools.cache
def _cpu_bandwidth() -> float:
    """Bytes per second a copy reads and writes (the same for every data type)."""
    source = torch.ones(COPY_BYTES // 4, dtype=torch.float32)
    target = torch.empty_like(source)
    return 2 * COPY_BYTES / _best_time(lambda: target.copy_(source))


def _best_time(work: Callable[[], object]) -> float:
    """The shortest of ``REPEATS`` timed calls of ``work`` after one untimed call."""
    work()
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best
