"""Fast-path benchmarks on the CPU, measured side by side in one process.

- harness overhead: a job through bench's runner vs a bare ~20-line training loop doing the same
  work (same model, data, batch size, optimizer, steps); training time per epoch, ratio <= 1.02;
- loaders: lenet5 on MNIST-sized synthetic data (60000 x 1 x 28 x 28 resized to 32), the
  device-resident loader vs torchvision's DataLoader path; resident >= 1.5x faster.

python -m pytest tests/benchmarks/test_fast_path.py -m benchmark -s
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from bench.suite.matrix import build_suite
from bench.data.pipeline import load_splits
from bench.results.records import EpochRecord
from bench.models.registry import create_model
from bench.run.job import JobEnvironment, dataset_key, run_job

REPEATS = 5


def runner_train_times(suite: dict[str, Any], env: JobEnvironment | None = None) -> list[float]:
    """Training time of each epoch after the first, through bench's runner."""
    (job,) = build_suite(suite, "benchmark").jobs
    if env is None:
        splits = load_splits(job.config.dataset, Path("."), download=False)
        env = JobEnvironment(datasets={dataset_key(job.config): splits})
    epochs = [r for r in run_job(job, env) if isinstance(r, EpochRecord)]
    return [e.train_time_s for e in epochs[1:]]


def bare_epoch(images: torch.Tensor, labels: torch.Tensor, mean: float, std: float) -> float:
    """One epoch of the same work in a bare loop: shuffle, uint8 -> float, normalise, step."""
    torch.manual_seed(0)
    model = create_model("lenet5")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    order = torch.randperm(len(labels))
    start = time.perf_counter()
    for i in range(0, len(labels), 64):
        index = order[i : i + 64]
        inputs = (images[index].float() / 255 - mean) / std
        loss = nn.functional.cross_entropy(model(inputs), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


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
    images, labels = splits.train.images, splits.train.labels
    mean, std = splits.mean[0], splits.std[0]
    bare_epoch(images, labels, mean, std)
    harness, bare = [], []
    for _ in range(REPEATS):
        bare.append(bare_epoch(images, labels, mean, std))
        harness.extend(runner_train_times(suite, env))
    ratio = statistics.median(harness) / statistics.median(bare)
    print(
        f"\nlenet5, 8192 images, batch 64, training time per epoch (median of {REPEATS}): "
        f"bench {statistics.median(harness):.4f} s, bare loop {statistics.median(bare):.4f} s, "
        f"ratio {ratio:.4f}"
    )
    assert ratio <= 1.02


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
