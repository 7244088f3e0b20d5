"""Record types a run directory keeps, one JSON line each, and the metrics they carry, with units.

Records are plain JSON lines; every line has ``schema_version`` and ``type``. Anything that
cannot be measured on the machine at hand is ``None`` (``null`` in JSON, "n/a" in reports).
This module imports no torch: the reporting side reads records with it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

SCHEMA_VERSION = 1

Status = Literal["ok", "oom", "diverged", "error", "interrupted"]
FINISHED_STATUSES: frozenset[str] = frozenset({"ok", "oom", "diverged", "error"})
INFERENCE_STATUSES: frozenset[str] = frozenset({"ok", "oom"})


@dataclass(frozen=True)
class Metric:
    """A figure a report or a comparison can show: its unit and which way is better."""

    name: str
    unit: str
    higher_is_better: bool
    label: str
    default_threshold: str | None = None
    """What ``bench compare`` gates on when no suite and no ``--fail-on`` names the metric."""
    machine_noise: bool = True
    """Whether the value moves with the machine's state from run to run (time, throughput,
    memory, energy), rather than with the seed alone (accuracy, loss)."""


# Job-level metrics (columns of the results table) that comparisons and reports know about, with
# the thresholds ``bench compare`` applies by default (time, throughput, memory, energy: 10 %;
# accuracy: one percentage point).
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("test_acc", "%", True, "Final test accuracy", "-1.0", False),
        Metric("best_test_acc", "%", True, "Best test accuracy", "-1.0", False),
        Metric("test_top5", "%", True, "Final test top-5 accuracy", "-1.0", False),
        Metric("train_loss", "", False, "Final train loss", None, False),
        Metric("test_loss", "", False, "Final test loss", None, False),
        Metric("epoch_time_s", "s", False, "Steady-state epoch time", "+10%"),
        Metric("first_epoch_time_s", "s", False, "First (warm-up) epoch time", "+10%"),
        Metric("images_per_s", "images/s", True, "Training throughput", "-10%"),
        Metric("peak_mem_mib", "MiB", False, "Peak GPU memory allocated", "+10%"),
        Metric("peak_mem_reserved_mib", "MiB", False, "Peak GPU memory reserved", "+10%"),
        Metric("peak_rss_mib", "MiB", False, "Peak process resident memory", "+10%"),
        Metric("gpu_util_pct", "%", True, "Mean GPU utilisation (train)"),
        Metric("power_w", "W", False, "Mean GPU power (train)"),
        Metric("energy_per_epoch_j", "J", False, "GPU energy per epoch", "+10%"),
        Metric("energy_j", "J", False, "GPU energy for the job", "+10%"),
        Metric("images_per_s_per_w", "images/s/W", True, "Throughput per watt"),
        Metric("mfu", "fraction", True, "Model FLOP utilisation"),
        Metric("time_to_target_s", "s", False, "Time to target accuracy", "+10%"),
        Metric("total_time_s", "s", False, "Job wall time", "+10%"),
        Metric("latency_ms_p50", "ms", False, "Inference latency p50 (batch 1)", "+10%"),
        Metric(
            "inference_images_per_s",
            "images/s",
            True,
            "Inference throughput (largest batch)",
            "-10%",
        ),
    )
}


# FLOPs/MACs of a model whose two counters see the same operators (multiply-add = 2 against 1);
# outside this range the counters disagree on which operators count, and reports say so.
FLOPS_PER_MAC_RANGE = (1.8, 2.2)


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of one phase of one job."""

    job_id: str
    suite: str
    model: str
    seed: int
    variant: str
    phase: str  # "train" for classify; "pretrain" / "finetune" for autoencode
    epoch: int  # 1-based
    train_loss: float | None
    train_acc: float | None  # % ; None for reconstruction phases
    test_loss: float | None
    test_acc: float | None  # %
    lr: float | None
    epoch_time_s: float  # train + eval wall time
    train_time_s: float
    eval_time_s: float
    data_wait_s: float | None
    compute_s: float | None
    images: int
    images_per_s: float
    peak_mem_mib: float | None = None
    peak_mem_reserved_mib: float | None = None
    peak_rss_mib: float | None = None
    gpu_util_pct: float | None = None
    gpu_mem_util_pct: float | None = None
    power_w: float | None = None
    energy_j: float | None = None
    energy_method: str | None = None
    power_method: str | None = None  # "counter", "instant" or "trailing-average" (telemetry)
    sm_clock_mhz: float | None = None
    temperature_c: float | None = None
    time_utc: str = ""
    step_ms: list[float] | None = None  # training steps' wall times (bench.results.samples)
    test_top5: float | None = None  # % ; None for reconstruction and fewer than 5 classes
    schema_version: int = SCHEMA_VERSION
    type: str = "epoch"


@dataclass(frozen=True)
class InferenceRow:
    """One inference measurement: a model's forward pass (eval mode, no gradients) at one
    precision and batch size. ``status`` is ``ok`` or ``oom`` (every figure ``None``); latency
    is per batch, counts (``macs``, ``flops``) per image, power and energy on a GPU only;
    ``roofline`` places the batch on the roofline (``bench.measure.roofline``)."""

    model: str
    precision: str
    batch_size: int
    status: str
    weights: str  # "random" (bench infer) or "trained" (after a job's training)
    device: str
    input_size: list[int]
    channels_last: bool = False
    compile: str | None = None
    macs: int | None = None  # forward, per image (fvcore: multiply-add = 1)
    flops: int | None = None  # forward, per image (FlopCounterMode: multiply-add = 2)
    iterations: int | None = None  # timed forward passes (after warm-up)
    latency_ms_p50: float | None = None
    latency_ms_p95: float | None = None
    latency_ms_p99: float | None = None
    images_per_s: float | None = None
    peak_mem_mib: float | None = None  # CUDA allocated
    peak_rss_mib: float | None = None  # process resident memory (host)
    power_w: float | None = None  # mean GPU power while timed
    energy_per_image_j: float | None = None
    power_method: str | None = None
    energy_method: str | None = None
    roofline: dict[str, Any] | None = None  # the batch's RooflinePoint.to_dict, or None
    error: str | None = None
    pass_ms: list[float] | None = None  # the timed passes (bench.results.samples)


@dataclass(frozen=True)
class JobRecord:
    """The outcome of one job (one model × seed × variant) with its summary metrics."""

    job_id: str
    suite: str
    model: str
    seed: int
    variant: str
    status: str
    error: str | None
    dataset: str
    recipe: str
    device: str
    precision: str
    batch_size: int
    epochs: int  # epochs completed (all phases)
    family: str | None = None
    year: int | None = None
    salient_feature: str | None = None
    input_size: list[int] | None = None
    num_classes: int | None = None
    params: int | None = None
    trainable_params: int | None = None
    macs: int | None = None  # forward, per image (fvcore: multiply-add = 1)
    flops: int | None = None  # forward, per image (FlopCounterMode: multiply-add = 2)
    train_step_flops: int | None = None  # forward + backward, per image
    test_acc: float | None = None
    best_test_acc: float | None = None
    train_loss: float | None = None
    test_loss: float | None = None
    first_epoch_time_s: float | None = None
    epoch_time_s: float | None = None  # steady state: median of epochs after the first
    images_per_s: float | None = None  # steady state
    peak_mem_mib: float | None = None
    peak_mem_reserved_mib: float | None = None
    peak_rss_mib: float | None = None
    gpu_util_pct: float | None = None
    power_w: float | None = None
    energy_j: float | None = None
    energy_per_epoch_j: float | None = None
    energy_method: str | None = None
    power_method: str | None = None
    images_per_s_per_w: float | None = None
    achieved_tflops: float | None = None
    mfu: float | None = None
    target_acc: float | None = None
    time_to_target_s: float | None = None
    energy_to_target_j: float | None = None
    total_time_s: float | None = None
    latency_ms_p50: float | None = None  # inference, batch 1, first inference precision
    inference_images_per_s: float | None = None  # inference, largest batch that fitted
    inference: list[dict[str, Any]] | None = None  # InferenceRow fields, one dict per row
    deterministic: bool = False
    world_size: int = 1
    confusion_matrix: list[list[int]] | None = None
    samples: dict[str, list[float]] | None = None  # per metric (bench.results.samples)
    extra: dict[str, Any] = field(default_factory=dict)
    started_utc: str = ""
    finished_utc: str = ""
    test_top5: float | None = None  # % , final epoch; None as for EpochRecord.test_top5
    schema_version: int = SCHEMA_VERSION
    type: str = "job"
    predicted_time_s: float | None = None  # total_time_s as predicted before the run (--predict)


def utc_now() -> str:
    """The current UTC time, ISO 8601 with seconds (as records and run files carry it)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def to_json_dict(record: EpochRecord | JobRecord | InferenceRow) -> dict[str, Any]:
    """A record as a JSON-safe dict (non-finite floats become ``None``)."""
    return {k: _finite(v) for k, v in dataclasses.asdict(record).items()}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


INFERENCE_COLUMNS: tuple[str, ...] = (
    "job_id",
    "suite",
    "seed",
    "variant",
    *(f.name for f in dataclasses.fields(InferenceRow)),
)
"""Columns of a run's inference table: the job's identity, then the row (whose ``model`` is the
network measured: for ``autoencode`` jobs, the fine-tuned classifier)."""
