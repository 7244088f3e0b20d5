"""The stages of the GPU acceptance run: each one's command on the GPU and on the CPU, and its
estimate on one H100 (``gpu_check_budget``), made from the very settings the command runs with.

Their order is what they prove, most first: doctor; the smoke suite; resnet18-cifar in three
precision and layout variants; the cifar10-classic projection; the compiled variant; the
harness-overhead benchmark; bench infer; the batch search; the lecture's VGG16 at 224 px. A
stage cut short by the check's time is one of the last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gpu_check_budget as budget

from bench.suite.settings import InferenceConfig

SUITES = Path(__file__).resolve().parent / "gpu-check"
OVERHEAD_PAIRS = 8  # pairs of epochs of the harness-overhead benchmark on the GPU


@dataclass(frozen=True)
class Command:
    """``python -m MODULE ARGS`` with ``ENV`` added to the environment."""

    module: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Stage:
    """One stage: its command on the GPU, on the CPU (None: skipped there, with ``why``;
    otherwise ``why`` says what the reduced form changes), and its estimate on an H100.
    ``goal_line``: output that makes exit status 1 a missed goal rather than a failure."""

    name: str
    gpu: Command
    cpu: Command | None
    estimate: budget.Estimate
    why: str = ""
    goal_line: str = ""


def bench_run(suite: str, *settings: str, models: str | None = None) -> Command:
    """``bench run`` of one seed of ``suite`` with ``--set`` ``settings``."""
    sets = [arg for setting in settings for arg in ("--set", setting)]
    chosen = ("--models", models) if models else ()
    quiet = ("--quiet", "--no-report", "--history-db", "none")
    return Command("bench", ("run", "--suite", suite, "--seeds", "0", *quiet, *sets, *chosen))


def run_estimate(suite: str, *settings: str, models: str | None = None) -> budget.Estimate:
    """The H100 estimate of ``bench_run(suite, *settings, models=models)``."""
    jobs = budget.suite_jobs(suite, settings, models)
    return budget.estimate(w for job in jobs for w in budget.job_work(job))


def suite_stage(
    name: str,
    suite: str,
    gpu: Sequence[str],
    cpu: Sequence[str] | None,
    why: str = "",
    cpu_models: str | None = None,
) -> Stage:
    """A ``bench run`` stage: ``gpu`` and ``cpu`` are its settings on each; the estimate is
    made from the GPU form's jobs."""
    cpu_command = None if cpu is None else bench_run(suite, *cpu, models=cpu_models)
    return Stage(name, bench_run(suite, *gpu), cpu_command, run_estimate(suite, *gpu), why)


def infer_stage() -> Stage:
    """``bench infer`` of three models at three batch sizes in two precisions, 0.5 s (and
    20 passes) at least per point."""
    models, batches = ("lenet5", "resnet18-cifar", "resnet50"), (1, 32, 256)
    precisions, min_time_s = ("fp32", "amp-bf16"), 0.5
    iterations = InferenceConfig().min_iterations
    modes = ("--precision", ",".join(precisions), "--channels-last", "--format", "json")
    gpu = ("infer", *models, "--batch-sizes", ",".join(map(str, batches)), *modes)
    cpu = ("infer", "lenet5", "--batch-sizes", "1,8", *modes, "--device", "cpu")
    work = []
    for model in models:
        shape = budget.default_shape(model)
        work.append(budget.profile(model, shape))
        work += [
            budget.inference(model, shape, batches, p, iterations, min_time_s) for p in precisions
        ]
    return Stage(
        "infer",
        Command("bench", (*gpu, "--min-time", f"{min_time_s:g}")),
        Command("bench", (*cpu, "--min-iterations", "5", "--min-time", "0")),
        budget.estimate(work),
        "lenet5 alone, 5 passes per batch size",
    )


BENCHMARK = (
    "tests/benchmarks/test_fast_path.py",
    *("-m", "benchmark", "-k", "harness", "-s", "-q", "-p", "no:cacheprovider"),
)
# what test_fast_path.py runs on the GPU: model, training and test images, batch
OVERHEAD_WORK = ("resnet18-cifar", 16_384, 256, 256)


def overhead_stage() -> Stage:
    """The harness-overhead benchmark: on the GPU, resnet18-cifar at batch 256 in deterministic
    fp32, a warm-up epoch and ``OVERHEAD_PAIRS`` timed epochs on each side."""
    model, train, test, batch = OVERHEAD_WORK
    shape = budget.default_shape(model)
    epochs = 2 * (1 + OVERHEAD_PAIRS)
    work = [
        budget.profile(model, shape),
        budget.training(model, shape, (train, test), epochs, (batch, batch), "fp32"),
    ]
    return Stage(
        "overhead",
        Command("pytest", BENCHMARK, (("BENCH_BENCHMARK_DEVICE", "cuda"), _pairs(OVERHEAD_PAIRS))),
        Command("pytest", BENCHMARK, (("BENCH_BENCHMARK_DEVICE", "cpu"), _pairs(2))),
        budget.estimate(work),
        "lenet5, 2 pairs of epochs",
        goal_line="harness/bare=",
    )


def _pairs(pairs: int) -> tuple[str, str]:
    return ("BENCH_BENCHMARK_PAIRS", str(pairs))


DOCTOR = Command("bench", ("doctor", "--format", "json"))
CPU = "device=cpu"
VARIANTS, SEARCH, VGG = (
    str(SUITES / name) for name in ("variants.toml", "batch-search.toml", "vgg16-224.toml")
)
CLASSIC = ("epochs=2", "dataset.name=synthetic", "inference.batch_sizes=[]")
CPU_VARIANTS = 'variants=["fp32", "amp-bf16+channels_last"]'
STAGES = (
    Stage("doctor", DOCTOR, DOCTOR, budget.estimate([budget.Work(fixed_s=budget.DOCTOR_S)])),
    suite_stage(
        "smoke",
        "smoke",
        ("device=cuda", "trace_steps=5"),
        (CPU, "epochs=2", "trace_steps=2"),
        "lenet5-relu alone, 2 epochs",
        cpu_models="lenet5-relu",
    ),
    suite_stage(
        "variants",
        VARIANTS,
        (),
        (CPU, "dataset.train_size=64", "dataset.test_size=32", "batch_size=32", CPU_VARIANTS),
        "64 + 32 images at batch 32; no tf32 on the CPU",
    ),
    suite_stage(
        "classic",
        "cifar10-classic",
        ("device=cuda", *CLASSIC, "dataset.train_size=10000", "dataset.test_size=2000"),
        (CPU, *CLASSIC, "dataset.train_size=1024", "dataset.test_size=256"),
        "lenet5 alone, on 1,024 + 256 images",
        cpu_models="lenet5",
    ),
    suite_stage(
        "compile",
        VARIANTS,
        ('variants=["amp-bf16+channels_last+compile"]',),
        None,
        "compiling takes a minute on a CPU",
    ),
    overhead_stage(),
    infer_stage(),
    suite_stage(
        "batch-search",
        SEARCH,
        (),
        None,
        "the search probes GPU memory, and is a no-op on the CPU",
    ),
    suite_stage("vgg16-224", VGG, (), None, "VGG16 at 224 px needs seconds per step on a CPU"),
)
STAGE_NAMES = tuple(stage.name for stage in STAGES)
PREFLIGHT_ESTIMATE = budget.Estimate(budget.PREFLIGHT_S, 0.0)
REPORT_ESTIMATE = budget.Estimate(budget.REPORT_S, 0.0)


def total_estimate_s() -> float:
    """The whole check's estimate on an H100: preflight, every stage, the report."""
    stages = sum(stage.estimate.seconds for stage in STAGES)
    return PREFLIGHT_ESTIMATE.seconds + stages + REPORT_ESTIMATE.seconds
