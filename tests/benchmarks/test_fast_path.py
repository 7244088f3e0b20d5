"""Fast-path benchmarks on the CPU, measured side by side in one process.

- harness overhead: a job through bench's runner vs a bare ~20-line training loop doing the same
  work (same model, data, batch size, optimizer, steps); training time per epoch, ratio <= 1.02;
- loaders: lenet5 on MNIST-sized synthetic data (60000 x 1 x 28 x 28 resized to 32), the
  device-resident loader vs torchvision's DataLoader path; resident >= 1.5x faster.

python -m pytest tests/benchmarks/test_fast_path.py -m benchmark -s
"""

from __future__ import annotations

import itertools
import statistics
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from bench.data.imageset import DataSplits
from bench.data.pipeline import dataset_key, load_splits
from bench.models.registry import create_model
from bench.results.records import EpochRecord
from bench.run.job import JobEnvironment, run_job
from bench.suite.matrix import build_suite

REPEATS = 7


def runner_train_times(suite: dict[str, Any], env: JobEnvironment | None = None) -> list[float]:
    """Training time of each epoch after the first, through bench's runner."""
    return [e.train_time_s for e in runner_epochs(suite, env)[0][1:]]


def runner_epochs(
    suite: dict[str, Any], env: JobEnvironment | None = None
) -> tuple[list[EpochRecord], list[float]]:
    """A job's epoch records through bench's runner, and the wall time between consecutive
    records as seen from outside the runner."""
    (job,) = build_suite(suite, "benchmark").jobs
    if env is None:
        splits = load_splits(job.config.dataset, Path("."), download=False)
        env = JobEnvironment(datasets={dataset_key(job.config): splits})
    epochs, stamps = [], []
    for item in run_job(job, env):
        if isinstance(item, EpochRecord):
            epochs.append(item)
            stamps.append(time.perf_counter())
    return epochs, [b - a for a, b in itertools.pairwise(stamps)]


def bare_loop(splits: DataSplits, epochs: int = 2) -> tuple[float, float]:
    """The same job in a bare loop (shuffle, uint8 -> float, normalise, SGD step; then evaluate):
    the training time and the whole time of its last epoch."""
    mean, std = splits.mean[0], splits.std[0]
    train, test = splits.train, splits.test
    torch.manual_seed(0)
    model = create_model("lenet5")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(train.labels))
        for i in range(0, len(order), 64):
            index = order[i : i + 64]
            inputs = (train.images[index].float() / 255 - mean) / std
            loss = nn.functional.cross_entropy(model(inputs), train.labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        trained = time.perf_counter()
        model.eval()
        with torch.no_grad():
            correct = 0
            for i in range(0, len(test.labels), 64):
                inputs = (test.images[i : i + 64].float() / 255 - mean) / std
                correct += int((model(inputs).argmax(1) == test.labels[i : i + 64]).sum())
        done = time.perf_counter()
    return trained - start, done - start


@pytest.mark.benchmark
def test_harness_costs_at_most_two_percent_over_a_bare_loop() -> None:
    suite = {
        "epochs": 2,
        "batch_size": 64,
        "device": "cpu",
        "dataset": {"name": "synthetic", "image_size": [1, 32, 32], "train_size": 8192},
        "optimizer": {"name": "sgd", "lr": 0.01},
        "models": ["lenet5"],
    }
    (job,) = build_suite(suite, "benchmark").jobs
    splits = load_splits(job.config.dataset, Path("."), download=False)
    env = JobEnvironment(datasets={dataset_key(job.config): splits})
    bare_loop(splits)
    runner_epochs(suite, env)
    times: dict[str, list[float]] = {
        k: [] for k in ("train", "epoch", "wall", "bare", "bare_train")
    }
    for repeat in range(REPEATS):
        for side in ("bare", "bench") if repeat % 2 == 0 else ("bench", "bare"):
            if side == "bare":
                train, whole = bare_loop(splits)
                times["bare_train"].append(train)
                times["bare"].append(whole)
            else:
                records, walls = runner_epochs(suite, env)
                times["train"].append(records[-1].train_time_s)
                times["epoch"].append(records[-1].epoch_time_s)
                times["wall"].append(walls[-1])
    median = {k: statistics.median(v) for k, v in times.items()}
    ratios = {
        "training pass (records' train_time_s)": median["train"] / median["bare_train"],
        "epoch (records' epoch_time_s)": median["epoch"] / median["bare"],
        "epoch (wall clock between records)": median["wall"] / median["bare"],
    }
    print(
        f"\nlenet5, 8192 + 256 images, batch 64, steady epoch, medians of {REPEATS}: "
        f"bench train {median['train']:.4f} s, epoch {median['epoch']:.4f} s, wall "
        f"{median['wall']:.4f} s; bare loop train {median['bare_train']:.4f} s, epoch "
        f"{median['bare']:.4f} s"
    )
    for name, ratio in ratios.items():
        print(f"  ratio bench / bare, {name}: {ratio:.4f}")
    assert max(ratios.values()) <= 1.02


@pytest.mark.benchmark
def test_resident_loader_is_at_least_one_and_a_half_times_faster() -> None:
    def suite(loader: str) -> dict[str, Any]:
        return {
            "epochs": 2,
            "batch_size": 64,
            "device": "cpu",
            "loader": loader,
            "dataset": {
                "name": "synthetic",
                "image_size": [1, 28, 28],
                "train_size": 60000,
                "test_size": 1000,
                "resize": 32,
            },
            "models": ["lenet5"],
        }

    (job,) = build_suite(suite("resident"), "benchmark").jobs
    splits = load_splits(job.config.dataset, Path("."), download=False)
    env = JobEnvironment(datasets={dataset_key(job.config): splits})
    resident = runner_train_times(suite("resident"), env)
    torch_path = runner_train_times(suite("torch"), env)
    speedup = statistics.median(torch_path) / statistics.median(resident)
    print(
        f"\nlenet5, 60000 images 28->32, batch 64, steady training epoch: resident "
        f"{statistics.median(resident):.2f} s, DataLoader {statistics.median(torch_path):.2f} s, "
        f"resident {speedup:.2f}x faster"
    )
    assert speedup >= 1.5
