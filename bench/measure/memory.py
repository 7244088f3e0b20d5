"""Peak memory: CUDA allocated and reserved per phase, process resident memory per job."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from bench.errors import OutOfMemory, first_line

MIB = 2**20
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def reset_cuda_peaks(device: torch.device) -> None:
    """Start a new CUDA peak-memory window (no-op off CUDA)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def cuda_peaks_mib(device: torch.device) -> tuple[float | None, float | None]:
    """(peak allocated, peak reserved) in MiB since the last reset; (None, None) off CUDA."""
    if device.type != "cuda":
        return None, None
    return (
        torch.cuda.max_memory_allocated(device) / MIB,
        torch.cuda.max_memory_reserved(device) / MIB,
    )


def reset_rss_peak() -> bool:
    """Reset the kernel's peak resident set size of this process (Linux); False if unsupported."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def rss_peak_mib() -> float | None:
    """Peak resident set size (VmHWM) since the last reset, in MiB; None where unavailable."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is an allocation failure: Python's ``MemoryError``, CUDA's
    ``OutOfMemoryError``, or a ``RuntimeError`` whose message says so (the CPU allocator's "can't
    allocate memory"; cuDNN's ``CUDNN_STATUS_ALLOC_FAILED``, cuBLAS's
    ``CUBLAS_STATUS_ALLOC_FAILED``, a raw CUDA "out of memory")."""
    if isinstance(err, (MemoryError, torch.cuda.OutOfMemoryError)):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and any(m in text for m in _OOM_MESSAGES)


_OOM_MESSAGES = (
    "out of memory",
    "can't allocate memory",
    "cudnn_status_alloc_failed",
    "cublas_status_alloc_failed",
)


@contextmanager
def out_of_memory_named(what: str) -> Iterator[None]:
    """Inside, an allocation failure (``is_out_of_memory``) is an ``OutOfMemory`` naming
    ``what``, in one line; any other error passes as it is."""
    try:
        yield
    except Exception as err:
        if not is_out_of_memory(err):
            raise
        raise OutOfMemory(
            f"{what}: out of memory ({type(err).__name__}: {first_line(err)})"
        ) from None
