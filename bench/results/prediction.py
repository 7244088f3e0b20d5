"""A job's predicted wall time from a short run of it (pure arithmetic, no torch).

``bench run --estimate`` runs each distinct job of a suite for two short epochs of each phase
(a few training steps and evaluation batches each) and its inference timing at a small budget;
``ShortRun`` holds what that measured. ``predict`` scales it to the real job:

- each phase: its epochs × (the real training images × the short steady epoch's training seconds
  per image + the real evaluation images × its evaluation seconds per image), plus the first
  epoch's extra (warm-up: the short first epoch over the short second, training and evaluation
  each, never below 0);
- inference: for each timed batch size, ``warmup_passes`` + max(``min_iterations``,
  ⌈``min_time_s`` / pass⌉) forward passes of the short run's mean pass, as
  ``bench.measure.inference.time_forward`` runs them;
- the static profiles the job is the first of its run to count (the run caches them per
  architecture);
- fixed costs: the short job's wall time less its epochs, its inference and its profiles (model
  building, loaders, artifacts, collectors, traces: what does not grow with the data).

Energy is the short epochs' GPU energy per second × the predicted epoch seconds (training and
evaluation, as the job record's ``energy_j``); ``None`` off the GPU.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PhaseRun:
    """One phase of a short run (two epochs) and the real job's size of that phase."""

    phase: str
    epochs: int  # the real job's epochs of this phase
    train_images: int  # the real job's training images per epoch
    eval_images: int  # the real job's evaluation images per epoch
    steady_train_s: float  # a steady short epoch's training pass
    short_train_images: int  # in that pass
    steady_eval_s: float  # a steady short epoch's evaluation pass
    short_eval_images: int  # in that pass
    warmup_s: float  # the first epoch's extra, training and evaluation (at least 0)
    short_s: float  # the seconds the short run's epochs of this phase took
    energy_j: float | None = None  # GPU energy of those epochs (training and evaluation)

    def predicted_s(self) -> float:
        """The phase's predicted seconds (see the module docstring)."""
        per_epoch = _scaled(self.steady_train_s, self.short_train_images, self.train_images)
        per_epoch += _scaled(self.steady_eval_s, self.short_eval_images, self.eval_images)
        return self.epochs * per_epoch + self.warmup_s if self.epochs else 0.0


@dataclass(frozen=True)
class InferenceRun:
    """One timed batch size of a short run: its mean forward pass and the real budget."""

    pass_s: float
    short_passes: int  # passes the short run made, warm-up included
    warmup_passes: int
    min_iterations: int
    min_time_s: float

    def predicted_s(self) -> float:
        """Seconds the real timing takes (see the module docstring)."""
        timed = max(self.min_iterations, math.ceil(self.min_time_s / self.pass_s), 1)
        return (self.warmup_passes + timed) * self.pass_s

    @property
    def short_s(self) -> float:
        return self.short_passes * self.pass_s


@dataclass(frozen=True)
class ShortRun:
    """What a short run of one job measured."""

    status: str  # the short job's status: "ok", "oom", "error", "diverged"
    error: str | None
    total_s: float  # the short job's wall time
    device: str = ""
    phases: tuple[PhaseRun, ...] = ()
    inference: tuple[InferenceRun, ...] = ()
    profile_s: Mapping[str, float] = field(default_factory=dict)  # per architecture key
    peak_mem_mib: float | None = None  # GPU reserved
    peak_rss_mib: float | None = None
    gpu_total_mib: float | None = None  # the GPU's memory (None off the GPU)

    @property
    def fixed_s(self) -> float:
        """The wall time not spent in epochs, inference or profiles (never below 0)."""
        spent = sum(p.short_s for p in self.phases) + sum(i.short_s for i in self.inference)
        return max(0.0, self.total_s - spent - sum(self.profile_s.values()))


@dataclass(frozen=True)
class JobPrediction:
    """A job's predicted time (s), split into parts, its memory and energy."""

    job_id: str
    status: str
    error: str | None = None
    device: str = ""
    fixed_s: float = 0.0
    profile_s: float = 0.0
    train_s: float = 0.0  # every phase's training and evaluation epochs
    inference_s: float = 0.0
    peak_mem_mib: float | None = None
    peak_rss_mib: float | None = None
    gpu_total_mib: float | None = None
    energy_j: float | None = None

    @property
    def total_s(self) -> float | None:
        """The job's predicted wall time; ``None`` where its short run failed."""
        if self.status != "ok":
            return None
        return self.fixed_s + self.profile_s + self.train_s + self.inference_s

    @property
    def fits(self) -> bool | None:
        """Whether the job fits in GPU memory: ``None`` off the GPU."""
        if self.gpu_total_mib is None:
            return None
        if self.status == "oom":
            return False
        return self.peak_mem_mib is not None and self.peak_mem_mib <= self.gpu_total_mib


def predict(runs: Sequence[tuple[str, ShortRun]]) -> list[JobPrediction]:
    """Each job's prediction from the short run of its kind, ``runs`` in the real run's order
    (job id, short run): a profile is counted for the first job that needs it."""
    counted: set[str] = set()
    out = []
    for job_id, short in runs:
        profile_s = sum(s for key, s in short.profile_s.items() if key not in counted)
        counted.update(short.profile_s)
        out.append(_prediction(job_id, short, profile_s))
    return out


def _prediction(job_id: str, short: ShortRun, profile_s: float) -> JobPrediction:
    common: dict[str, Any] = {
        "job_id": job_id,
        "status": short.status,
        "error": short.error,
        "device": short.device,
        "peak_mem_mib": short.peak_mem_mib,
        "peak_rss_mib": short.peak_rss_mib,
        "gpu_total_mib": short.gpu_total_mib,
    }
    if short.status != "ok":
        return JobPrediction(**common)
    phases = [(p, p.predicted_s()) for p in short.phases]
    train_s = sum(s for _, s in phases)
    return JobPrediction(
        **common,
        fixed_s=short.fixed_s,
        profile_s=profile_s,
        train_s=train_s,
        inference_s=sum(i.predicted_s() for i in short.inference),
        energy_j=_energy(phases),
    )


def _energy(phases: Sequence[tuple[PhaseRun, float]]) -> float | None:
    """Each phase's short energy per second × its predicted seconds; ``None`` unless every
    phase measured energy."""
    if not phases or any(p.energy_j is None or p.short_s <= 0 for p, _ in phases):
        return None
    return sum(s * (p.energy_j or 0.0) / p.short_s for p, s in phases)


def _scaled(seconds: float, short_images: int, images: int) -> float:
    """``seconds`` for ``short_images`` scaled to ``images``."""
    return seconds * images / short_images if short_images else 0.0


def prediction_error_pct(predicted_s: float | None, measured_s: float | None) -> float | None:
    """(predicted − measured) / measured in %; ``None`` unless both are known and measured > 0."""
    if predicted_s is None or measured_s is None or measured_s <= 0:
        return None
    return 100.0 * (predicted_s - measured_s) / measured_s
