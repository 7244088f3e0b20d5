"""Job-level figures derived from a job's epoch records (pure functions, no torch).

Conventions: the first epoch of each phase is warm-up (cudnn autotuning, compilation, caches)
and is reported apart; steady-state figures are medians over the later epochs, ``None`` when a
phase has a single epoch. Accuracy figures come from the last supervised phase. ``samples``
keeps the times behind the metrics of ``bench.results.samples.SAMPLED_METRICS``: the training
steps of the steady-state epochs, and the forward passes of the inference rows the two
inference metrics come from.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from bench.results.records import EpochRecord, InferenceRow, to_json_dict
from bench.results.samples import compact

SUPERVISED_PHASES = ("train", "finetune")


def summarize_epochs(
    epochs: Sequence[EpochRecord],
    train_step_flops: int | None = None,
    peak_tflops: float | None = None,
    target_acc: float | None = None,
) -> dict[str, Any]:
    """Summary metrics of one job, keyed by ``JobRecord`` field names."""
    if not epochs:
        return {}
    supervised = [e for e in epochs if e.phase in SUPERVISED_PHASES]
    accuracy_phase = (
        [e for e in supervised if e.phase == supervised[-1].phase] if supervised else []
    )
    steady = [e for i, e in enumerate(epochs) if i > 0 and e.phase == epochs[i - 1].phase]
    last = accuracy_phase[-1] if accuracy_phase else epochs[-1]
    energies = [e.energy_j for e in epochs]
    images_per_s = _median([e.images_per_s for e in steady])
    power = _mean([e.power_w for e in steady or epochs])
    out: dict[str, Any] = {
        "epochs": len(epochs),
        "test_acc": last.test_acc,
        "best_test_acc": _max([e.test_acc for e in accuracy_phase]),
        "test_top5": last.test_top5,
        "train_loss": last.train_loss,
        "test_loss": last.test_loss,
        "first_epoch_time_s": epochs[0].epoch_time_s,
        "epoch_time_s": _median([e.epoch_time_s for e in steady]),
        "images_per_s": images_per_s,
        "peak_mem_mib": _max([e.peak_mem_mib for e in epochs]),
        "peak_mem_reserved_mib": _max([e.peak_mem_reserved_mib for e in epochs]),
        "gpu_util_pct": _mean([e.gpu_util_pct for e in steady or epochs]),
        "power_w": power,
        "energy_j": sum(_known(energies)) if _all_known(energies) else None,
        "energy_per_epoch_j": _mean(energies) if _all_known(energies) else None,
        "energy_method": epochs[-1].energy_method,
        "power_method": epochs[-1].power_method,
        "images_per_s_per_w": _ratio(images_per_s, power),
        "target_acc": target_acc,
    }
    tflops = None
    if train_step_flops is not None and images_per_s is not None:
        tflops = train_step_flops * images_per_s / 1e12
    out["achieved_tflops"] = tflops
    out["mfu"] = _ratio(tflops, peak_tflops)
    out.update(time_to_target(epochs, target_acc))
    steps = [e.step_ms for e in steady]
    if steps and all(steps):
        sample = compact(ms for step_ms in steps for ms in step_ms or ())
        out["samples"] = {"epoch_time_s": sample, "images_per_s": sample}
    return out


def time_to_target(epochs: Sequence[EpochRecord], target_acc: float | None) -> dict[str, Any]:
    """Wall time (and energy, where measured) of all epochs up to the first at ``target_acc``."""
    if target_acc is None:
        return {"time_to_target_s": None, "energy_to_target_j": None}
    elapsed, energy = 0.0, 0.0
    known_energy = True
    for epoch in epochs:
        elapsed += epoch.epoch_time_s
        known_energy = known_energy and epoch.energy_j is not None
        energy += epoch.energy_j or 0.0
        if epoch.phase in SUPERVISED_PHASES and (epoch.test_acc or 0.0) >= target_acc:
            return {
                "time_to_target_s": elapsed,
                "energy_to_target_j": energy if known_energy else None,
            }
    return {"time_to_target_s": None, "energy_to_target_j": None}


def _known(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def _all_known(values: Sequence[float | None]) -> bool:
    return bool(values) and all(v is not None for v in values)


def _median(values: Sequence[float | None]) -> float | None:
    known = _known(values)
    return statistics.median(known) if known else None


def _mean(values: Sequence[float | None]) -> float | None:
    known = _known(values)
    return statistics.fmean(known) if known else None


def _max(values: Sequence[float | None]) -> float | None:
    known = _known(values)
    return max(known) if known else None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def summarize_inference(rows: Sequence[InferenceRow]) -> dict[str, Any]:
    """A job's inference rows (``inference``) and their two metrics, at the first precision
    measured: ``latency_ms_p50`` at batch 1 (``None`` where batch 1 was not measured) and
    ``inference_images_per_s`` at the largest batch that fitted in memory."""
    if not rows:
        return {}
    fitted = [r for r in rows if r.precision == rows[0].precision and r.status == "ok"]
    largest = max(fitted, key=lambda r: r.batch_size, default=None)
    single = next((r for r in fitted if r.batch_size == 1), None)
    samples = {
        metric: row.pass_ms
        for metric, row in (("latency_ms_p50", single), ("inference_images_per_s", largest))
        if row is not None and row.pass_ms
    }
    return {
        "latency_ms_p50": single.latency_ms_p50 if single else None,
        "inference_images_per_s": largest.images_per_s if largest else None,
        "inference": [to_json_dict(r) for r in rows],
        "samples": samples,
    }
