"""Collectors (memory peaks, NVML telemetry) cost little: the same job with them on and off,
interleaved in one process, compared by steady-state epoch time.

Run: python -m pytest tests/benchmarks/test_collectors_overhead.py -m benchmark -s
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from bench.data.pipeline import dataset_key, load_splits
from bench.run.job import JobEnvironment, run_job
from bench.suite.matrix import build_suite

REPEATS = 5
SUITE = {
    "name": "collectors-overhead",
    "epochs": 4,
    "batch_size": 64,
    "device": "cpu",
    "dataset": {"name": "synthetic", "image_size": [1, 32, 32], "train_size": 8192},
    "models": ["lenet5"],
}


def steady_epoch_time(collectors: bool, env: JobEnvironment) -> float:
    suite = build_suite(SUITE, "benchmark", overrides=[f"collectors={str(collectors).lower()}"])
    (job,) = suite.jobs
    record = [r for r in run_job(job, env) if getattr(r, "type", "") == "job"][-1]
    assert record.status == "ok" and record.epoch_time_s is not None
    return record.epoch_time_s


@pytest.mark.benchmark
def test_collectors_cost_at_most_two_percent_of_epoch_time() -> None:
    (job,) = build_suite(SUITE, "benchmark").jobs
    splits = load_splits(job.config.dataset, Path("."), download=False)
    env = JobEnvironment(datasets={dataset_key(job.config): splits})
    steady_epoch_time(True, env)  # warm-up: allocator, caches, profile cache
    on, off = [], []
    for _ in range(REPEATS):
        off.append(steady_epoch_time(False, env))
        on.append(steady_epoch_time(True, env))
    ratio = statistics.median(on) / statistics.median(off)
    print(
        f"\nsteady epoch time, median of {REPEATS}: collectors on {statistics.median(on):.4f} s, "
        f"off {statistics.median(off):.4f} s, ratio {ratio:.4f}"
    )
    assert ratio <= 1.02
