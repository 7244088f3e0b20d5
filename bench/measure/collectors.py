"""Collectors that run beside a job's training loop: memory peaks per phase, process RSS, and
NVML telemetry (utilisation, power, energy, clocks, throttling) per phase, epoch and job.

The recipe marks what it does with ``with collectors.phase("pretrain", epoch, "train"): ...``
(then ``"eval"``); each such part is a telemetry segment of its own, begun and ended by a
reading, so an epoch's figures cover exactly its training and evaluation, whatever other phase
has an epoch of the same number. The runner reads ``epoch_figures`` after each epoch and
``job_figures`` at the end. Off CUDA, or without NVML, the GPU figures are ``None``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

import torch

from bench.measure.memory import cuda_peaks_mib, reset_cuda_peaks, reset_rss_peak, rss_peak_mib
from bench.measure.telemetry import EVAL, NvmlSampler

TRAIN = "train"  # the parts of an epoch: training, then evaluation (EVAL)


class JobCollectors:
    """Memory and telemetry collection for one job; a context manager around its training."""

    def __init__(
        self, device: torch.device, telemetry_interval_s: float = 0.1, enabled: bool = True
    ) -> None:
        self.device = device
        self.enabled = enabled
        cuda_index = (device.index or 0) if device.type == "cuda" and enabled else None
        uuid = (
            str(torch.cuda.get_device_properties(cuda_index).uuid)
            if cuda_index is not None
            else None
        )
        self.sampler = NvmlSampler(cuda_index, interval_s=telemetry_interval_s, device_uuid=uuid)
        self._peaks: dict[tuple[str, int, str], tuple[float | None, float | None]] = {}
        self._segments: dict[tuple[str, int, str], int] = {}
        self._rss_resettable = False
        self._rss_kept: float | None = None

    def __enter__(self) -> JobCollectors:
        if self.enabled:
            self._rss_resettable = reset_rss_peak()
            self.sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sampler.stop()

    @contextlib.contextmanager
    def phase(self, phase: str, epoch: int, part: str) -> Iterator[None]:
        """Attribute memory peaks and telemetry samples to ``part`` (``train`` or ``eval``) of
        epoch ``epoch`` of the training phase ``phase``; the telemetry segment is labelled
        ``phase`` for training and ``eval`` for evaluation."""
        if not self.enabled:
            yield
            return
        reset_cuda_peaks(self.device)
        key = (phase, epoch, part)
        self._segments[key] = self.sampler.begin(phase if part == TRAIN else part, epoch)
        try:
            yield
        finally:
            self.sampler.end()
            self._peaks[key] = cuda_peaks_mib(self.device)

    def epoch_figures(self, phase: str, epoch: int) -> dict[str, Any]:
        """Memory and telemetry of one epoch of ``phase``: peaks and telemetry of its training,
        energy of its training and evaluation together."""
        if not self.enabled:
            return {}
        allocated, reserved = self._peaks.get((phase, epoch, TRAIN), (None, None))
        train = self.sampler.summary(*self._parts(phase, epoch, TRAIN))
        whole = self.sampler.summary(*self._parts(phase, epoch, TRAIN, EVAL))
        return {
            "peak_mem_mib": allocated,
            "peak_mem_reserved_mib": reserved,
            "peak_rss_mib": rss_peak_mib(),
            "gpu_util_pct": train.gpu_util_mean,
            "gpu_mem_util_pct": train.mem_util_mean,
            "power_w": train.power_mean_w,
            "power_method": train.power_method,
            "energy_j": whole.energy_j,
            "energy_method": whole.energy_method,
            "sm_clock_mhz": train.sm_clock_mean_mhz,
            "temperature_c": train.temperature_mean_c,
        }

    def _parts(self, phase: str, epoch: int, *parts: str) -> list[int]:
        """The telemetry segments of those ``parts`` of the epoch that ran."""
        keys = [(phase, epoch, part) for part in parts]
        return [self._segments[key] for key in keys if key in self._segments]

    def keep_rss_peak(self) -> None:
        """Remember the process's peak memory so far, before something resets the kernel's
        counter (inference timing does, per batch size)."""
        self._rss_kept = rss_peak_mib()

    def job_figures(self) -> dict[str, Any]:
        """Job-level figures: peak process memory over the job (None where it cannot be reset
        per job)."""
        if not self._rss_resettable:
            return {"peak_rss_mib": None}
        peaks = [p for p in (self._rss_kept, rss_peak_mib()) if p is not None]
        return {"peak_rss_mib": max(peaks, default=None)}

    def job_extra(self) -> dict[str, Any]:
        """Job-level facts for the record's ``extra``: ``throttled_pct``, the % of NVML readings
        in which the GPU throttled (None off the GPU or without NVML), and ``throttle_reasons``,
        the reasons seen, most frequent first (see ``bench.measure.gpu_state``)."""
        pct, reasons = self.sampler.throttling()
        return {"throttled_pct": pct, "throttle_reasons": reasons}

    def telemetry_csv(self) -> str | None:
        """The job's NVML time series as CSV text; None when nothing was sampled."""
        if not self.sampler.samples():
            return None
        buffer = io.StringIO()
        self.sampler.write_csv(buffer)
        return buffer.getvalue()
