"""Synthetic run directories for the report's tests.

Every number here is made up (a deterministic function of model, seed and epoch) to exercise
the reporting code: this is test data, not a measurement. The files are written with
``bench.results.rundir.RunDir`` (the writer ``bench run`` uses) from
``bench.results.records`` dataclasses, in the run-directory layout: run.json, records.jsonl,
results.csv, epochs.csv, telemetry/<job_id>.csv, artifacts/<job_id>/*.npy.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.measure.roofline import DevicePeaks, RooflinePoint
from bench.results.job_summary import summarize_epochs, summarize_inference
from bench.results.records import EpochRecord, InferenceRow, JobRecord
from bench.results.rundir import RunDir

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TRAIN_IMAGES = 5000
INFERENCE_BATCHES = (1, 16, 128)
PEAK_TFLOPS = 100.0
GPU_BANDWIDTH = 2e12  # bytes/s
CPU_PEAK_FLOPS, CPU_BANDWIDTH = 100e9, 20e9


@dataclass(frozen=True)
class FakeModel:
    """Facts a synthetic job carries (rough magnitudes, not measured)."""

    name: str
    family: str
    year: int
    salient_feature: str
    params: int
    macs: int
    first_layer: tuple[int, int, int, int]
    recipe: str = "classify"
    published_top5: float | None = None
    paper_top5: float | None = None


MODELS = (
    FakeModel("lenet5", "LeNet", 1998, "Convolution + pooling", 61_706, 430_000, (6, 1, 5, 5)),
    FakeModel(
        "alexnet", "AlexNet", 2012, "Deeper", 57_044_810, 710_000_000, (64, 3, 11, 11), "classify",
        79.066, 84.70,
    ),
    FakeModel(
        "vgg16", "VGG", 2014, "Fixed-size kernels", 134_301_514, 15_470_000_000, (64, 3, 3, 3),
        "classify", 90.382, 92.30,
    ),
    FakeModel(
        "googlenet", "Inception", 2014, "Wider, parallel kernels", 5_610_154, 1_500_000_000,
        (64, 3, 7, 7), "classify", 89.53, 93.30,
    ),
    FakeModel(
        "resnet18", "ResNet", 2015, "Shortcut connections", 11_181_642, 1_820_000_000,
        (64, 3, 7, 7), "classify", 89.078,
    ),
    FakeModel(
        "conv-autoencoder", "Autoencoder", 2011, "Unsupervised pretraining", 2_400_000,
        60_000_000, (64, 3, 3, 3), "autoencode",
    ),
)  # fmt: skip
BY_NAME = {m.name: m for m in MODELS}


def write_run(
    path: Path,
    *,
    suite: str = "fixture-suite",
    models: Sequence[str] = ("lenet5", "vgg16"),
    seeds: Sequence[int] = (0,),
    epochs: int = 3,
    gpu: bool = True,
    telemetry: bool = True,
    artifacts: bool = True,
    failures: Mapping[tuple[str, int], str] | None = None,
    missing: Collection[tuple[str, int]] = (),
    doctor: Mapping[str, Any] | None = None,
    throttled: Mapping[tuple[str, int], tuple[float, list[str]]] | None = None,
    inference: bool = True,
) -> Path:
    """Write a synthetic run directory at ``path``.

    ``failures`` maps (model, seed) to a final status ("oom", "error", ...): that job stops
    after its first epoch with an error message. ``missing`` jobs are planned in run.json but
    have no record at all. ``doctor`` is stored as run.json's machine snapshot (none by default,
    as in runs recorded before it existed); ``throttled`` maps (model, seed) to the job's
    ``extra.throttled_pct`` and ``extra.throttle_reasons``. With ``inference``, ok jobs carry
    inference rows at ``INFERENCE_BATCHES`` (vgg16 runs out of memory at the largest).
    """
    failures = failures or {}
    throttled = throttled or {}
    path.mkdir(parents=True)
    jobs = [(BY_NAME[name], seed) for name in models for seed in seeds]
    info = _run_info(suite, jobs, gpu)
    store = RunDir.create(path, info if doctor is None else {**info, "doctor": dict(doctor)})
    for model, seed in jobs:
        if (model.name, seed) not in missing:
            key = (model.name, seed)
            _write_job(
                store,
                suite,
                model,
                seed,
                epochs,
                gpu,
                failures.get(key),
                throttled.get(key),
                inference,
            )
            if telemetry and gpu:
                _write_telemetry(store.path, _job_id(model, seed), seed)
            if artifacts:
                _write_artifacts(store, model, seed)
    store.write_tables()
    return path


def _job_id(model: FakeModel, seed: int) -> str:
    return f"{model.name}-s{seed}"


def _run_info(suite: str, jobs: Sequence[tuple[FakeModel, int]], gpu: bool) -> dict:
    return {
        "created_utc": "2025-01-02T03:04:05+00:00",
        "command": ["python", "-m", "bench", "run", "--suite", suite],
        "suite": {
            "name": suite,
            "description": "synthetic fixture",
            "dataset": {"name": "cifar10"},
        },
        "environment": {
            "machine_id": "fixture-machine",
            "hostname": "fixture-host",
            "python": "3.11.9",
            "torch": "2.11.0",
            "torchvision": "0.26.0",
            "cuda": "12.8" if gpu else None,
            "cudnn": "91000" if gpu else None,
            "gpu_name": "Synthetic GPU (fixture)" if gpu else None,
            "gpu_count": 1 if gpu else 0,
            "driver": "570.00" if gpu else None,
            "cpu_model": "Synthetic CPU",
            "cpu_count": 16,
            "ram_gib": 125.7,
            "platform": "Linux-6.1-x86_64",
            "commit": "0123456789abcdef",
            "dirty": False,
            "nvml": "available" if gpu else "no GPU",
        },
        "jobs": [
            {"job_id": _job_id(m, s), "model": m.name, "seed": s, "variant": ""} for m, s in jobs
        ],
    }


def _accuracy(model: FakeModel, seed: int, epoch: int) -> float:
    base = 40.0 + 8.0 * MODELS.index(model)
    return round(base + 20.0 * (1.0 - math.exp(-epoch / 2)) + 0.5 * seed, 2)


def _epoch(
    model: FakeModel, seed: int, suite: str, phase: str, epoch: int, gpu: bool
) -> EpochRecord:
    supervised = phase != "pretrain"
    acc = _accuracy(model, seed, epoch) if supervised else None
    loss = (2.3 if supervised else 0.06) * math.exp(-epoch / 3) + 0.01 * seed
    train_time = (0.5 + model.macs / 1e9) * (1.6 if epoch == 1 else 1.0) + 0.02 * seed
    power = 150.0 + 20.0 * seed if gpu else None
    return EpochRecord(
        job_id=_job_id(model, seed),
        suite=suite,
        model=model.name,
        seed=seed,
        variant="",
        phase=phase,
        epoch=epoch,
        train_loss=round(loss, 4),
        train_acc=None if acc is None else acc + 3.0,
        test_loss=round(loss * 1.1, 4),
        test_acc=acc,
        lr=1e-3,
        epoch_time_s=round(train_time * 1.2, 3),
        train_time_s=round(train_time, 3),
        eval_time_s=round(train_time * 0.2, 3),
        data_wait_s=0.05,
        compute_s=round(train_time - 0.05, 3),
        images=TRAIN_IMAGES,
        images_per_s=round(TRAIN_IMAGES / train_time, 1),
        peak_mem_mib=200.0 + model.params / 2e5 if gpu else None,
        peak_mem_reserved_mib=256.0 + model.params / 2e5 if gpu else None,
        peak_rss_mib=1500.0 + 10 * seed,
        gpu_util_pct=90.0 - seed if gpu else None,
        power_w=power,
        energy_j=None if power is None else round(power * train_time * 1.2, 1),
        energy_method="counter" if gpu else None,
        test_top5=None if acc is None else _top5(acc),
    )


def _top5(top1: float) -> float:
    """A made-up top-5 accuracy: four fifths of the way from top-1 to 100 %."""
    return round(top1 + 0.8 * (100.0 - top1), 2)


def _write_job(
    store: RunDir,
    suite: str,
    model: FakeModel,
    seed: int,
    epochs: int,
    gpu: bool,
    failure: str | None,
    throttling: tuple[float, list[str]] | None,
    inference: bool,
) -> None:
    phases = ("pretrain", "finetune") if model.recipe == "autoencode" else ("train",)
    records = [
        _epoch(model, seed, suite, phase, epoch, gpu)
        for phase in phases
        for epoch in range(1, (1 if failure else epochs) + 1)
    ][: 1 if failure else None]
    for record in records:
        store.append(record)
    summary = summarize_epochs(records, 6 * model.macs, PEAK_TFLOPS if gpu else None)
    summary["peak_rss_mib"] = max(r.peak_rss_mib or 0.0 for r in records)
    if inference and not failure:
        summary.update(summarize_inference(_inference_rows(model, seed, gpu)))
    accuracy = summary.get("test_acc") or 0.0
    extra: dict = {"classes": list(CLASSES)}
    if model.published_top5 is not None:
        extra["published_top5"] = model.published_top5
        extra["published_source"] = "torchvision IMAGENET1K_V1 weights (published)"
    if model.paper_top5 is not None:
        extra["paper_top5"] = model.paper_top5
    if throttling is not None:
        extra["throttled_pct"], extra["throttle_reasons"] = throttling
    if not failure:
        extra["roofline"] = _roofline_point(model, gpu).to_dict()
    job = JobRecord(
        job_id=_job_id(model, seed),
        suite=suite,
        model=model.name,
        seed=seed,
        variant="",
        status=failure or "ok",
        error=f"RuntimeError: synthetic {failure} in fixture job" if failure else None,
        dataset="cifar10",
        recipe=model.recipe,
        device="cuda" if gpu else "cpu",
        precision="fp32",
        batch_size=64,
        epochs=len(records),
        family=model.family,
        year=model.year,
        salient_feature=model.salient_feature,
        input_size=[model.first_layer[1], 32, 32],
        num_classes=len(CLASSES),
        params=model.params,
        trainable_params=model.params,
        macs=model.macs,
        flops=2 * model.macs,
        train_step_flops=6 * model.macs,
        confusion_matrix=None if failure else _confusion(accuracy, seed),
        extra=extra,
    )
    store.append(dataclasses.replace(job, **summary))


def _peaks(gpu: bool) -> DevicePeaks:
    """The GPU's (ridge point 50 FLOP/byte) or the CPU's (ridge point 5) peaks."""
    if gpu:
        return DevicePeaks(PEAK_TFLOPS * 1e12, GPU_BANDWIDTH, "datasheet")
    return DevicePeaks(CPU_PEAK_FLOPS, CPU_BANDWIDTH, "measured")


def _roofline_point(model: FakeModel, gpu: bool) -> RooflinePoint:
    """A training step of batch 64 at 10 FLOP/byte reaching half its roof: memory-bound under
    the GPU's peaks, compute-bound under the CPU's."""
    flops = 6 * model.macs * 64
    peaks = _peaks(gpu)
    roof = min(peaks.flops_per_s, 10 * peaks.bytes_per_s)
    return RooflinePoint(flops, flops / (roof / 2), flops / 10, "fp32", peaks)


def inference_point(model: FakeModel, batch: int, latency_ms: float, gpu: bool) -> RooflinePoint:
    """An inference batch at 10 × batch FLOP/byte, in the batch's time (latency): at batch 1
    memory-bound under the GPU's peaks, else compute-bound."""
    flops = 2 * model.macs * batch
    return RooflinePoint(flops, latency_ms / 1000, flops / (10 * batch), "fp32", _peaks(gpu))


def _inference_rows(model: FakeModel, seed: int, gpu: bool) -> list[InferenceRow]:
    """Made-up inference rows: latency grows with batch and MACs; vgg16 ooms at 128."""
    rows = []
    for batch in INFERENCE_BATCHES:
        common = {
            "model": model.name,
            "precision": "fp32",
            "batch_size": batch,
            "weights": "trained",
            "device": "cuda" if gpu else "cpu",
            "input_size": [model.first_layer[1], 32, 32],
            "macs": model.macs,
            "flops": 2 * model.macs,
        }
        if model.name == "vgg16" and batch == 128:
            rows.append(InferenceRow(status="oom", error="OutOfMemoryError: fixture", **common))
            break
        latency = 0.5 + batch * model.macs / 2e8 + 0.01 * seed
        power = 100.0 + 2.0 * batch if gpu else None
        rows.append(
            InferenceRow(
                status="ok",
                iterations=20,
                latency_ms_p50=latency,
                latency_ms_p95=latency * 1.1,
                latency_ms_p99=latency * 1.2,
                images_per_s=1000 * batch / latency,
                peak_mem_mib=50.0 + batch * 2.0 if gpu else None,
                peak_rss_mib=900.0 + batch,
                power_w=power,
                energy_per_image_j=None if power is None else power * latency / 1000 / batch,
                roofline=inference_point(model, batch, latency, gpu).to_dict(),
                **common,
            )
        )
    return rows


def _confusion(accuracy: float, seed: int, per_class: int = 100) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    size = len(CLASSES)
    matrix = rng.multinomial(per_class - round(per_class * accuracy / 100), [1 / size] * size, size)
    matrix[np.diag_indices(size)] += round(per_class * accuracy / 100)
    return matrix.tolist()


def _write_telemetry(run: Path, job_id: str, seed: int, samples: int = 300) -> None:
    time_s = np.arange(samples) * 0.1
    phase = np.where((np.arange(samples) // 50) % 2 == 0, "train", "eval")
    train = phase == "train"
    frame = pd.DataFrame(
        {
            "time_s": time_s.round(3),
            "phase": phase,
            "gpu_util_pct": np.where(train, 92.0 - seed, 40.0),
            "mem_util_pct": np.where(train, 55.0, 20.0),
            "mem_used_mib": 2048.0,
            "power_w": np.where(train, 180.0 + 10 * seed, 90.0) + 5 * np.sin(time_s),
            "temperature_c": 60.0 + time_s / 10,
            "sm_clock_mhz": 1755.0,
        }
    )
    (run / "telemetry").mkdir(exist_ok=True)
    frame.to_csv(run / "telemetry" / f"{job_id}.csv", index=False)


def _write_artifacts(store: RunDir, model: FakeModel, seed: int) -> None:
    rng = np.random.default_rng(seed)
    job_id = _job_id(model, seed)
    init = rng.normal(0.0, 0.1, model.first_layer).astype(np.float32)
    trained = init + rng.normal(0.0, 0.05, model.first_layer).astype(np.float32)
    store.save_array(job_id, "first_layer_init", init)
    store.save_array(job_id, "first_layer_trained", trained)
    if model.recipe == "autoencode":
        inputs = rng.random((16, 3, 32, 32), dtype=np.float32)
        outputs = np.clip(inputs + rng.normal(0.0, 0.1, inputs.shape), 0, 1).astype(np.float32)
        store.save_array(job_id, "recon_inputs", inputs)
        store.save_array(job_id, "recon_outputs", outputs)
