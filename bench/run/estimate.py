"""Predicting a suite's jobs before they run (``bench run --estimate``, ``--predict``).

Each distinct kind of job (model and settings; seeds share one) runs once, short, through the
real job (``bench.run.job.run_job``: the same model building, profile, loaders, recipe, loop,
timers and inference timing): ``SHORT_EPOCHS`` epochs of each phase, each of ``SHORT_STEPS``
training batches and as many evaluation batches (plus the partial batch the real epoch ends
with), and ``SHORT_PASSES`` timed forward passes per inference batch size. Its data set is the
head of the loaded one; nothing is written. ``bench.results.prediction`` turns what it measured
into each job's prediction.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence

import torch

from bench.data.imageset import DataSplits
from bench.data.pipeline import dataset_key
from bench.measure.inference import WARMUP_PASSES
from bench.measure.memory import MIB
from bench.recipes import PHASE_EPOCHS
from bench.results.prediction import InferenceRun, JobPrediction, PhaseRun, ShortRun, predict
from bench.results.records import EpochRecord, JobRecord
from bench.run.job import JobEnvironment, run_job
from bench.suite.matrix import Job
from bench.suite.settings import JobConfig

SHORT_EPOCHS = 2  # the first is warm-up, the second steady
SHORT_STEPS = 4  # training batches (and evaluation batches) per short epoch
SHORT_PASSES = 5  # timed forward passes per inference batch size (after the warm-up passes)
MIN_STEADY_S = 0.5  # a steady short training pass shorter than this is timed again, longer


def estimate_jobs(
    jobs: Sequence[Job],
    datasets: Mapping[str, DataSplits],
    say: Callable[[str], None] = lambda _text: None,
) -> list[JobPrediction]:
    """Each job's prediction, in the order given (the order they will run in). The short runs
    share one environment, as a run's jobs do, so an architecture is profiled once."""
    env = JobEnvironment(datasets={})
    shorts: dict[str, ShortRun] = {}
    for job in jobs:
        kind = job_kind(job)
        if kind not in shorts:
            say(f"estimating {job.job_id}")
            shorts[kind] = measure_short(job, datasets[dataset_key(job.config)], env)
    return predict([(job.job_id, shorts[job_kind(job)]) for job in jobs])


def job_kind(job: Job) -> str:
    """Jobs of one kind (all but the seed alike) share a short run."""
    return repr((job.model, job.config))


def measure_short(job: Job, splits: DataSplits, env: JobEnvironment) -> ShortRun:
    """Run ``job`` short in ``env`` (see the module docstring) and keep what the prediction
    needs. Where a steady short training pass took under ``MIN_STEADY_S`` and the real epoch is
    longer, the job runs short once more with enough batches for it (at most the real
    epoch's), and the steady rates come from that run; warm-up, fixed costs and profiles from
    the first."""
    first = _short_run(job, splits, SHORT_STEPS, env)
    slowest = min((p.steady_train_s for p in first.phases), default=MIN_STEADY_S)
    longer = any(p.short_train_images < p.train_images for p in first.phases)
    if first.status != "ok" or slowest >= MIN_STEADY_S or not longer:
        return first
    steps = math.ceil(SHORT_STEPS * MIN_STEADY_S / max(slowest, 1e-6))
    second = _short_run(job, splits, steps, env)
    if second.status != "ok":
        return first
    steady = {p.phase: p for p in second.phases}
    return dataclasses.replace(
        first,
        phases=tuple(
            dataclasses.replace(
                p,
                steady_train_s=steady[p.phase].steady_train_s,
                short_train_images=steady[p.phase].short_train_images,
                steady_eval_s=steady[p.phase].steady_eval_s,
                short_eval_images=steady[p.phase].short_eval_images,
            )
            for p in first.phases
        ),
    )


def _short_run(job: Job, splits: DataSplits, steps: int, env: JobEnvironment) -> ShortRun:
    """One short run of ``job`` with ``steps`` batches per pass; the profiles it counted (none
    that ``env`` already holds) are its own."""
    config = job.config
    short = short_splits(splits, config, steps)
    env.datasets = {dataset_key(config): short}
    counted = set(env.profile_s)
    epochs: list[EpochRecord] = []
    records: list[JobRecord] = []
    for item in run_job(dataclasses.replace(job, config=short_config(config)), env):
        if isinstance(item, EpochRecord):
            epochs.append(item)
        elif isinstance(item, JobRecord):
            records.append(item)
    (record,) = records
    device = torch.device(record.device)
    run = ShortRun(
        status=record.status,
        error=record.error,
        total_s=record.total_time_s or 0.0,
        device=record.device,
        profile_s={repr(k): s for k, s in env.profile_s.items() if k not in counted},
        peak_mem_mib=_largest(record.peak_mem_reserved_mib, *_inference_peaks(record)),
        peak_rss_mib=record.peak_rss_mib,
        gpu_total_mib=(
            torch.cuda.get_device_properties(device).total_memory / MIB
            if device.type == "cuda"
            else None
        ),
    )
    if record.status != "ok":
        return run
    return dataclasses.replace(
        run,
        phases=tuple(
            _phase(name, count, epochs, config, splits, len(short.test))
            for name, count in PHASE_EPOCHS[config.recipe](config).items()
        ),
        inference=tuple(_inference(record, config)),
    )


def short_config(config: JobConfig) -> JobConfig:
    """``config`` with ``SHORT_EPOCHS`` epochs in every phase, no early stop, and the inference
    timing cut to ``SHORT_PASSES`` passes."""
    return dataclasses.replace(
        config,
        epochs=SHORT_EPOCHS,
        stop_at_target=False,
        finetune=dataclasses.replace(config.finetune, epochs=SHORT_EPOCHS),
        inference=dataclasses.replace(
            config.inference, min_iterations=SHORT_PASSES, min_time_s=0.0
        ),
    )


def short_splits(splits: DataSplits, config: JobConfig, steps: int = SHORT_STEPS) -> DataSplits:
    """The head of each split: ``steps`` batches, plus the partial batch the real epoch ends
    with (training drops it where the job does)."""
    train = _short_size(len(splits.train), config.batch_size, config.drops_last_batch, steps)
    test = _short_size(len(splits.test), config.eval_batch_size or config.batch_size, False, steps)
    return dataclasses.replace(splits, train=splits.train.head(train), test=splits.test.head(test))


def _short_size(images: int, batch: int, drop_last: bool, steps: int) -> int:
    partial = 0 if drop_last else images % batch
    return min(images, steps * batch + partial)


def _phase(
    name: str,
    count: int,
    epochs: Sequence[EpochRecord],
    config: JobConfig,
    splits: DataSplits,
    short_test_images: int,
) -> PhaseRun:
    """The short run's epochs of phase ``name`` (its first, and its last: steady), with the
    real job's sizes."""
    ran = [e for e in epochs if e.phase == name]
    first, steady = ran[0], ran[-1]
    images = config.trained_images(len(splits.train))
    energies = (first.energy_j, steady.energy_j)
    return PhaseRun(
        phase=name,
        epochs=count,
        train_images=images,
        eval_images=len(splits.test),
        steady_train_s=steady.train_time_s,
        short_train_images=steady.images,
        steady_eval_s=steady.eval_time_s,
        short_eval_images=short_test_images,
        warmup_s=max(0.0, first.train_time_s - steady.train_time_s)
        + max(0.0, first.eval_time_s - steady.eval_time_s),
        short_s=first.epoch_time_s + steady.epoch_time_s,
        energy_j=None if None in energies else sum(e or 0.0 for e in energies),
    )


def _inference(record: JobRecord, config: JobConfig) -> list[InferenceRun]:
    """Each inference batch size the short run timed."""
    return [
        InferenceRun(
            pass_s=row["batch_size"] / row["images_per_s"],
            short_passes=WARMUP_PASSES + row["iterations"],
            warmup_passes=WARMUP_PASSES,
            min_iterations=config.inference.min_iterations,
            min_time_s=config.inference.min_time_s,
        )
        for row in record.inference or []
        if row["status"] == "ok" and row.get("images_per_s")
    ]


def _inference_peaks(record: JobRecord) -> list[float | None]:
    return [row.get("peak_mem_mib") for row in record.inference or []]


def _largest(*values: float | None) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None
