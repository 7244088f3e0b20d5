"""Fast-path benchmarks, measured side by side in one process.

- harness overhead: a job through bench's job generator vs a bare loop doing the same work, epoch
  by epoch in turn, both timed from outside by one clock (training and evaluation); median
  ratio <= 1.02. On the CPU by default; ``BENCH_BENCHMARK_DEVICE=cuda`` runs it on the GPU
  (resnet18-cifar, batch 256), where the bare loop synchronises once per epoch, to read its
  figures, never per step;
- loaders: lenet5 on MNIST-sized synthetic data (60000 x 1 x 28 x 28 resized to 32), the
  device-resident loader vs torchvision's DataLoader path; resident >= 1.5x faster.

python -m pytest tests/benchmarks/test_fast_path.py -m benchmark -s
BENCH_BENCHMARK_DEVICE=cuda python -m pytest tests/benchmarks/test_fast_path.py -m benchmark -s \
    -k harness
"""

from __future__ import annotations

import os
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

DEVICE = os.environ.get("BENCH_BENCHMARK_DEVICE", "cpu")
# per device: model, image size, training images, batch, pairs of epochs; on the GPU a model
# whose kernels, not their launches, set the pace, as in the runs the harness is made for. Short
# epochs, many of them: on a shared machine the noise of one epoch grows with its length, and
# the harness's costs per epoch weigh more in a short one (the figure errs on the high side).
CASES: dict[str, tuple[str, list[int], int, int, int]] = {
    "cpu": ("lenet5", [1, 32, 32], 2048, 64, 100),
    "cuda": ("resnet18-cifar", [3, 32, 32], 16384, 256, 40),
}
MODEL, IMAGE_SIZE, TRAIN_IMAGES, BATCH, DEFAULT_PAIRS = CASES[DEVICE]
PAIRS = int(os.environ.get("BENCH_BENCHMARK_PAIRS", DEFAULT_PAIRS))
EPOCHS = 1 + PAIRS  # each side: a warm-up epoch, then one epoch per timed pair
HARNESS_SUITE: dict[str, Any] = {
    "epochs": EPOCHS,
    "batch_size": BATCH,
    "device": DEVICE,
    "dataset": {"name": "synthetic", "image_size": IMAGE_SIZE, "train_size": TRAIN_IMAGES},
    "optimizer": {"name": "sgd", "lr": 0.01},
    # on the GPU, deterministic kernels (set by bench for the whole process, so for both sides)
    # let the two sides' figures be compared
    "deterministic": DEVICE == "cuda",
    "models": [MODEL],
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
    bench's loader draws it, uint8 -> float and normalise (the operations bench's loader runs),
    SGD step, loss and correct predictions summed on the device; then evaluate. Yields each
    epoch's training loss and accuracy and test loss and accuracy, computed as bench computes
    them."""
    device = torch.device(DEVICE)
    mean, std = (torch.tensor(v, device=device).view(-1, 1, 1) for v in (splits.mean, splits.std))
    train_images, train_labels = splits.train.images.to(device), splits.train.labels.to(device)
    test_images, test_labels = splits.test.images.to(device), splits.test.labels.to(device)
    torch.manual_seed(seed)
    model = create_model(MODEL, num_classes=splits.num_classes, in_channels=IMAGE_SIZE[0])
    model = model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for epoch in range(1, epochs + 1):
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        generator = torch.Generator().manual_seed(epoch_seed(seed, epoch))
        order = torch.randperm(len(train_labels), generator=generator).to(device)
        for i in range(0, len(order), BATCH):
            index = order[i : i + BATCH]
            inputs = train_images[index].float().mul_(1 / 255).sub(mean).div_(std)
            labels = train_labels[index]
            outputs = model(inputs)
            loss = nn.functional.cross_entropy(outputs, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(labels)
            correct += (outputs.argmax(1) == labels).sum()
        model.eval()
        test_loss = torch.zeros((), device=device)
        test_correct = torch.zeros((), device=device, dtype=torch.long)
        with torch.no_grad():
            for i in range(0, len(test_labels), BATCH):
                inputs = test_images[i : i + BATCH].float().mul_(1 / 255).sub(mean).div_(std)
                labels = test_labels[i : i + BATCH]
                outputs = model(inputs)
                test_loss += nn.functional.cross_entropy(outputs, labels) * len(labels)
                test_correct += (outputs.argmax(1) == labels).sum()
        n, m = len(train_labels), len(test_labels)
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

    Work (both sides, checked equal figure by figure; on the GPU, with deterministic kernels on
    both sides, to 0.1%): lenet5 on the same synthetic data (2048 training, 256 test
    images of 1 x 32 x 32), batch 64 (on the GPU: resnet18-cifar, 16384 training and 256 test
    images of 3 x 32 x 32, batch 256), the same normalisation, plain SGD, the
    same initial weights and batch order; per epoch one training pass with the training loss and
    accuracy summed on the device, then an evaluation pass with the test loss and accuracy: the
    figures any training loop reports.
    Harness cost (bench only): step timing, the confusion matrix (a figure of bench's reports,
    not of training), collectors, records, and everything else between two epoch records.
    The two run side by side in one process, epoch by epoch in turn, so that both see the same
    machine; each pair of epochs gives a ratio, bench's wall time over the bare loop's. The
    assertion is on the median ratio; min, quartiles and max show the spread (wide on a busy
    machine: other processes slow single epochs by tens of percent), and the ratio of the two
    sides' fastest tenth of epochs (the ones least slowed by the rest of the machine) is shown
    beside it.
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
        measured = (record.train_loss, record.train_acc, record.test_loss, record.test_acc)
        assert measured == (figures if DEVICE == "cpu" else pytest.approx(figures, rel=1e-3))
    ratios = sorted(b / a for b, a in zip(walls["bench"], walls["bare"], strict=True))
    median = statistics.median(ratios)
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    tenth = max(1, len(ratios) // 10)
    fastest = {side: statistics.fmean(sorted(w)[:tenth]) for side, w in walls.items()}
    own = sum(r.epoch_time_s for r in results["bench"]) / sum(walls["bench"])
    size = "x".join(map(str, IMAGE_SIZE))
    print(
        f"\n{MODEL} on {DEVICE}, {TRAIN_IMAGES} + 256 images of {size}, batch {BATCH}, "
        f"{len(ratios)} pairs of steady epochs; wall time "
        f"per epoch from outside, median: bench {statistics.median(walls['bench']):.4f} s, "
        f"bare loop {statistics.median(walls['bare']):.4f} s"
        f"\n  ratio bench / bare per pair: median {median:.4f}, min {ratios[0]:.4f}, quartiles "
        f"{q1:.4f}-{q3:.4f}, max {ratios[-1]:.4f}; fastest tenth of epochs: "
        f"{fastest['bench'] / fastest['bare']:.4f}"
        f"\n  bench's records (epoch_time_s) cover {own:.2%} of its outside wall time"
        f"\nharness/bare={median:.4f} (quartiles {q1:.4f}-{q3:.4f}, {len(ratios)} pairs, "
        f"{MODEL} on {DEVICE})"
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
