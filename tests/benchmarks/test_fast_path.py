"""Fast-path benchmarks on the CPU, measured side by side in one process.

- harness overhead: a job through bench's job generator vs a bare loop doing the same work, epoch
  by epoch in turn, both timed from outside by one clock (training and evaluation); median
  ratio <= 1.02;
- loaders: lenet5 on MNIST-sized synthetic data (60000 x 1 x 28 x 28 resized to 32), the
  device-resident loader vs torchvision's DataLoader path; resident >= 1.5x faster.

python -m pytest tests/benchmarks/test_fast_path.py -m benchmark -s
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from bench.data.imageset import DataSplits
from bench.data.loader import epoch_seed
from bench.data.pipeline import dataset_key, load_splits
from bench.models.registry import create_model
from bench.results.records import EpochRecord
from bench.run.job import JobEnvironment, run_job
from bench.suite.matrix import build_suite

EPOCHS = 41  # the first is warm-up; the other 40 are timed, in pairs
BATCH = 64
HARNESS_SUITE: dict[str, Any] = {
    "epochs": EPOCHS,
    "batch_size": BATCH,
    "device": "cpu",
    "dataset": {"name": "synthetic", "image_size": [1, 32, 32], "train_size": 8192},
    "optimizer": {"name": "sgd", "lr": 0.01},
    "models": ["lenet5"],
}


def bench_epochs(suite: dict[str, Any], env: JobEnvironment) -> Iterator[EpochRecord]:
    """A job's epoch records, each as bench's job generator yields it."""
    (job,) = build_suite(suite, "benchmark").jobs
    return (item for item in run_job(job, env) if isinstance(item, EpochRecord))


def runner_train_times(suite: dict[str, Any], env: JobEnvironment) -> list[float]:
    """Training time of each epoch after the first, through bench's runner."""
    return [e.train_time_s for e in list(bench_epochs(suite, env))[1:]]


def bare_epochs(splits: DataSplits, epochs: int, seed: int) -> Iterator[tuple[float, ...]]:
    """The job as a bare loop: the model seeded as bench seeds it, each epoch's order drawn as
    bench's loader draws it, uint8 -> float, normalise, SGD step, loss and correct predictions
    summed on the device; then evaluate. Yields each epoch's training loss and accuracy and test
    loss and accuracy, computed as bench computes them."""
    mean, std = (torch.tensor(v).view(-1, 1, 1) for v in (splits.mean, splits.std))
    train, test = splits.train, splits.test
    torch.manual_seed(seed)
    model = create_model("lenet5", num_classes=splits.num_classes, in_channels=1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for epoch in range(1, epochs + 1):
        model.train()
        loss_sum, correct = torch.zeros(()), torch.zeros((), dtype=torch.long)
        generator = torch.Generator().manual_seed(epoch_seed(seed, epoch))
        order = torch.randperm(len(train.labels), generator=generator)
        for i in range(0, len(order), BATCH):
            index = order[i : i + BATCH]
            inputs = (train.images[index].float() * (1 / 255) - mean) / std
            labels = train.labels[index]
            outputs = model(inputs)
            loss = nn.functional.cross_entropy(outputs, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(labels)
            correct += (outputs.argmax(1) == labels).sum()
        model.eval()
        test_loss, test_correct = torch.zeros(()), torch.zeros((), dtype=torch.long)
        with torch.no_grad():
            for i in range(0, len(test.labels), BATCH):
                inputs = (test.images[i : i + BATCH].float() * (1 / 255) - mean) / std
                labels = test.labels[i : i + BATCH]
                outputs = model(inputs)
                test_loss += nn.functional.cross_entropy(outputs, labels) * len(labels)
                test_correct += (outputs.argmax(1) == labels).sum()
        n, m = len(train.labels), len(test.labels)
        yield (
            float(loss_sum) / n,
            100.0 * float(correct) / n,
            float(test_loss) / m,
            100.0 * float(test_correct) / m,
        )


def alternating_walls(
    sides: dict[str, Iterator[Any]], pairs: int
) -> tuple[dict[str, list[float]], dict[str, list[Any]]]:
    """Run the sides' epochs in turn (ABBA order), after one warm-up epoch each. Per side: the
    wall time of each epoch, read from outside around the step to its next result (everything
    the side does for an epoch, whether or not it times it itself), and the results."""
    for side in sides.values():
        next(side)  # set-up and the first epoch: allocator, caches, bench's profile cache
    walls: dict[str, list[float]] = {name: [] for name in sides}
    results: dict[str, list[Any]] = {name: [] for name in sides}
    for pair in range(pairs):
        for name in list(sides)[:: 1 if pair % 2 == 0 else -1]:
            start = time.perf_counter()
            result = next(sides[name])
            walls[name].append(time.perf_counter() - start)
            results[name].append(result)
    for side in sides.values():
        for _ in side:  # what follows the last epoch (bench's job record)
            pass
    return walls, results


@pytest.mark.benchmark
def test_harness_costs_at_most_two_percent_over_a_bare_loop() -> None:
    """bench's job generator vs a bare loop doing the same work, on one outside clock.

    Work (both sides, checked equal figure by figure): lenet5 on the same synthetic data (8192
    training, 256 test images of 1 x 32 x 32), batch 64, the same normalisation, plain SGD, the
    same initial weights and batch order; per epoch one training pass with the training loss and
    accuracy summed on the device, then an evaluation pass with the test loss and accuracy: the
    figures any training loop reports.
    Harness cost (bench only): step timing, the confusion matrix (a figure of bench's reports,
    not of training), collectors, records, and everything else between two epoch records.
    The two run side by side in one process, epoch by epoch in turn, so that both see the same
    machine; each pair of epochs gives a ratio, bench's wall time over the bare loop's. The
    assertion is on the median ratio; min, quartiles and max show the spread (wide on a busy
    machine: other processes slow single epochs by tens of percent).
    """
    (job,) = build_suite(HARNESS_SUITE, "benchmark").jobs
    splits = load_splits(job.config.dataset, Path("."), download=False)
    env = JobEnvironment(datasets={dataset_key(job.config): splits})
    sides = {
        "bench": bench_epochs(HARNESS_SUITE, env),
        "bare": bare_epochs(splits, EPOCHS, job.seed),
    }
    walls, results = alternating_walls(sides, EPOCHS - 1)
    for record, figures in zip(results["bench"], results["bare"], strict=True):
        assert (record.train_loss, record.train_acc, record.test_loss, record.test_acc) == figures
    ratios = sorted(b / a for b, a in zip(walls["bench"], walls["bare"], strict=True))
    median = statistics.median(ratios)
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    own = sum(r.epoch_time_s for r in results["bench"]) / sum(walls["bench"])
    print(
        f"\nlenet5, 8192 + 256 images, batch 64, {len(ratios)} pairs of steady epochs; wall time "
        f"per epoch from outside, median: bench {statistics.median(walls['bench']):.4f} s, "
        f"bare loop {statistics.median(walls['bare']):.4f} s"
        f"\n  ratio bench / bare per pair: median {median:.4f}, min {ratios[0]:.4f}, quartiles "
        f"{q1:.4f}-{q3:.4f}, max {ratios[-1]:.4f}"
        f"\n  bench's records (epoch_time_s) cover {own:.2%} of its outside wall time"
    )
    assert median <= 1.02


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
