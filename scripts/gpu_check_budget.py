"""Seconds each stage of the GPU acceptance run should take on one H100, from its FLOPs.

No H100 rate has been measured by bench yet, so every figure below is an assumption, stated
here and shown beside the measured time in ``figures.md``; replace them with the first
measured run's figures (each stage's measured seconds, the variants' achieved TFLOP/s).

- Compute: a stage's GPU FLOPs (FLOPs per image from bench's static profile, ``FLOPS``, times
  images, epochs and passes; the images a job trains, without the last partial batch where it
  drops it, ``JobConfig.drops_last_batch``) over the H100 SXM5 datasheet's dense peak for the
  precision (``bench.measure.peak_throughput``: 67 fp32, 494.7 tf32, 989.4 bf16/fp16
  TFLOP/s) times an assumed achieved fraction (``ACHIEVED``): CIFAR-sized convolutions at
  batch 128-512 leave tensor cores mostly idle, so the fraction is far lower for tf32 and
  bf16 than for fp32.
- Per step: ``STEP_S`` of Python, kernel launches and CUDA events per training or evaluation
  step, ``PASS_S`` per timed forward pass of inference.
- Fixed: ``PROCESS_S`` per ``python -m`` process (interpreter, imports, CUDA context),
  ``JOB_S`` per job (model build, data, collectors, cuDNN autotuning of the first steps) plus
  its static profile on the CPU at ``CPU_FLOPS_PER_S`` (the rate seen on this project's 2-core
  test machine), ``COMPILE_S`` per compiled job (TorchDynamo and Inductor, training and
  evaluation graphs, cold caches), ``TRACE_S`` per traced job, ``TRIAL_S`` per batch-search
  trial, ``DOCTOR_S`` for doctor's readings, and the preflight (``PREFLIGHT_S``) and the final
  report and archive (``REPORT_S``).
- Batch search: the largest vgg16-cifar batch that fits in 80 GB is assumed to be
  ``FOUND_BATCH``; the trials run 1, 2, 4, ... up to twice that (the last one runs out of
  memory, counted as a whole step).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.measure.peak_throughput import DTYPE_OF_PRECISION, PEAKS
from bench.models.registry import get_model_info
from bench.suite.files import find_suite, read_toml
from bench.suite.matrix import Job, build_suite
from bench.suite.settings import JobConfig, trained_images

GPU = "H100 SXM5"
ACHIEVED = {"fp32": 0.40, "tf32": 0.15, "bf16": 0.10, "fp16": 0.10}
STEP_S = 0.001
PASS_S = 0.0003
PROCESS_S = 5.0
JOB_S = 2.5
CPU_FLOPS_PER_S = 1e11
COMPILE_S = 45.0
TRACE_S = 2.0
TRIAL_S = 1.0
DOCTOR_S = 1.0
FOUND_BATCH = 8192
PREFLIGHT_S = 12.0
REPORT_S = 15.0
INFERENCE_WARMUP = 3  # bench.measure.inference.WARMUP_PASSES
BUDGET_SHARE = 2 / 3  # of the whole check's limit, by estimate

# Per image, from bench.measure.static_profile.profile_registered(model, input, classes):
# (forward FLOPs, training-step FLOPs), multiply-add = 2.
FLOPS: dict[tuple[str, tuple[int, int, int], int], tuple[int, int]] = {
    ("lenet5", (1, 32, 32), 10): (833_040, 2_263_920),
    ("lenet5", (3, 32, 32), 10): (1_303_440, 3_204_720),
    ("lenet5-relu", (1, 32, 32), 10): (833_040, 2_263_920),
    ("resnet18-cifar", (3, 32, 32), 10): (1_110_845_440, 3_328_997_376),
    ("conv-autoencoder", (3, 32, 32), 10): (59_998_208, 179_109_888),
    ("conv-autoencoder-classifier", (3, 32, 32), 10): (19_255_296, 56_881_152),
    ("alexnet-cifar", (3, 32, 32), 10): (29_914_112, 86_768_640),
    ("vgg16-cifar", (3, 32, 32), 10): (664_223_744, 1_989_132_288),
    ("googlenet-cifar", (3, 32, 32), 10): (2_674_282_496, 8_012_230_656),
    ("resnet50-cifar", (3, 32, 32), 10): (2_595_659_776, 7_783_440_384),
    ("resnet50", (3, 224, 224), 1000): (8_178_368_512, 24_299_077_632),
    ("vgg16", (3, 224, 224), 10): (30_932_418_560, 92_623_847_424),
}
# Images of a data set whose size a suite leaves at 0 (all of it).
FULL_SIZES = {"digits": (1437, 360), "synthetic": (1024, 256), "cifar10": (50_000, 10_000)}


@dataclass(frozen=True)
class Work:
    """One part of a stage: GPU FLOPs at a precision, steps, and fixed seconds."""

    flops: float = 0.0
    precision: str = "fp32"
    steps: int = 0
    fixed_s: float = 0.0

    def seconds(self) -> float:
        dtype = DTYPE_OF_PRECISION[self.precision]
        rate = getattr(PEAKS[GPU], dtype) * 1e12 * ACHIEVED[dtype]
        return self.flops / rate + self.steps * STEP_S + self.fixed_s


@dataclass(frozen=True)
class Estimate:
    """A stage's expected seconds on one H100, and its GPU FLOPs."""

    seconds: float
    flops: float

    @property
    def timeout_s(self) -> int:
        """Its limit: twice the estimate and 15 s more."""
        return math.ceil(2 * self.seconds + 15)


def estimate(work: Iterable[Work], processes: int = 1) -> Estimate:
    parts = list(work)
    seconds = processes * PROCESS_S + sum(w.seconds() for w in parts)
    return Estimate(round(seconds, 1), sum(w.flops for w in parts))


def flops_of(model: str, shape: tuple[tuple[int, int, int], int]) -> tuple[int, int]:
    (input_size, classes) = shape
    return FLOPS[(model, tuple(input_size), classes)]  # type: ignore[index]


def default_shape(model: str) -> tuple[tuple[int, int, int], int]:
    """The input size and classes bench builds a registered model with by default (``bench
    infer``), from the registry (its metadata imports no torch)."""
    info = get_model_info(model)
    return info.input_size, info.num_classes


def training(
    model: str,
    shape: tuple[tuple[int, int, int], int],
    images: tuple[int, int],
    epochs: int,
    batches: tuple[int, int],
    precision: str,
    drop_last: bool = False,
) -> Work:
    """``epochs`` of training on ``images[0]`` (its last partial batch left out with
    ``drop_last``) and evaluation on ``images[1]``, at training and evaluation batches
    ``batches``."""
    forward, step = flops_of(model, shape)
    (train, test), (batch, eval_batch) = images, batches
    trained = trained_images(train, batch, drop_last)
    flops = epochs * (trained * step + test * forward)
    steps = epochs * (math.ceil(trained / batch) + math.ceil(test / eval_batch))
    return Work(flops, precision, steps)


def inference(
    model: str,
    shape: tuple[tuple[int, int, int], int],
    batches: Sequence[int],
    precision: str,
    min_iterations: int,
    min_time_s: float,
) -> Work:
    """Timed forward passes at each batch size: warm-up passes, then at least
    ``min_iterations`` passes and ``min_time_s`` seconds."""
    forward, _ = flops_of(model, shape)
    flops = fixed_s = 0.0
    for batch in batches:
        one_s = Work(batch * forward, precision, fixed_s=PASS_S).seconds()
        passes = INFERENCE_WARMUP + max(min_iterations, min_time_s / one_s)
        flops += passes * batch * forward
        fixed_s += passes * PASS_S
    return Work(flops, precision, fixed_s=fixed_s)


def profile(model: str, shape: tuple[tuple[int, int, int], int]) -> Work:
    """Building a model and counting it on the CPU (bench's static profile: two forward
    passes and a training step at batch 1)."""
    forward, step = flops_of(model, shape)
    return Work(fixed_s=JOB_S + (2 * forward + step) / CPU_FLOPS_PER_S)


def job_work(job: Job) -> list[Work]:
    """What one job of ``bench run`` does on the GPU."""
    config = job.config
    shape = config.dataset.input_shape()
    images = _sizes(config)
    batches = (config.batch_size, config.eval_batch_size or config.batch_size)
    work = [profile(job.model, shape)]
    if config.find_batch_size:
        batch = min(FOUND_BATCH, 2 ** int(math.log2(images[0])))
        trials = int(math.log2(batch)) + 2
        _, step = flops_of(job.model, shape)
        work.append(Work((2**trials - 1) * step, config.precision, 0, trials * TRIAL_S))
        batches = (batch, config.eval_batch_size or batch)
    drop_last = config.drops_last_batch
    work.append(
        training(job.model, shape, images, config.epochs, batches, config.precision, drop_last)
    )
    if config.recipe == "autoencode":
        classifier = config.finetune.model
        epochs = config.finetune_epochs
        work += [
            profile(classifier, shape),
            training(classifier, shape, images, epochs, batches, config.precision, drop_last),
        ]
    if config.compile:
        work.append(Work(fixed_s=COMPILE_S))
    if config.trace_steps:
        work.append(Work(fixed_s=TRACE_S))
    timing = config.inference
    for precision in timing.precisions or (config.precision,):
        work.append(
            inference(
                job.model,
                shape,
                timing.batch_sizes,
                precision,
                timing.min_iterations,
                timing.min_time_s,
            )
        )
    return work


def suite_jobs(suite: str, overrides: Sequence[str], models: str | None) -> tuple[Job, ...]:
    """The jobs ``bench run --suite SUITE --set ... --models MODELS`` runs (one seed)."""
    path = find_suite(suite)
    built = build_suite(
        read_toml(path), str(path), overrides=overrides, models=models, seeds=[0], fit=False
    )
    return built.jobs


def run_configs(info: Mapping[str, Any], where: str) -> dict[str, JobConfig]:
    """Each job's settings in a run, by job id, rebuilt from its ``run.json`` (``info``: the
    suite document and the ``--set`` overrides it ran with)."""
    overrides = info.get("overrides") or []
    built = build_suite(info["suite"], where, overrides=overrides, fit=False)
    return {job.job_id: job.config for job in built.jobs}


def _sizes(config: JobConfig) -> tuple[int, int]:
    dataset = config.dataset
    train, test = FULL_SIZES[dataset.name]
    return dataset.train_size or train, dataset.test_size or test


def assumptions() -> str:
    """What every estimate assumes, in one paragraph."""
    peaks = PEAKS[GPU]
    rates = ", ".join(
        f"{dtype} {getattr(peaks, dtype):g} x {ACHIEVED[dtype]:.0%}"
        for dtype in ("fp32", "tf32", "bf16")
    )
    return (
        f"Estimates for one {GPU}, none of them measured yet (replace them with the measured "
        f"column): datasheet dense TFLOP/s x assumed achieved fraction ({rates}); "
        f"{PROCESS_S:g} s per process; {JOB_S:g} s per job and its static profile on the CPU "
        f"at {CPU_FLOPS_PER_S / 1e9:g} GFLOP/s; {STEP_S * 1e3:g} ms per training or evaluation "
        f"step, {PASS_S * 1e3:g} ms per inference pass; {COMPILE_S:g} s per compiled job; "
        f"{TRACE_S:g} s per traced job; {TRIAL_S:g} s per batch-search trial (largest batch "
        f"assumed {FOUND_BATCH}); doctor {DOCTOR_S:g} s, preflight {PREFLIGHT_S:g} s, report "
        f"{REPORT_S:g} s. Limits: twice the estimate and 15 s."
    )
