"""The two loading paths: the device-resident loader and torchvision's DataLoader path."""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from fake_cuda import patch_cuda
from torch import nn
from torchvision.transforms import v2

from bench.cli import get_args_parser, main
from bench.commands.run import job_overrides
from bench.data.datasets import load_dataset
from bench.data.loader import BatchLoader
from bench.data.pipeline import loader_class, make_loaders
from bench.data.torch_loader import TorchDataLoader
from bench.recipes.loop import Precision
from bench.results.rundir import RunDir
from bench.run import batch_search
from bench.suite.matrix import build_suite
from bench.suite.settings import DatasetConfig, JobConfig

ROOT = Path(__file__).resolve().parent.parent


def digits_loaders(workers: int = 0, **options: object) -> tuple[BatchLoader, TorchDataLoader]:
    splits = load_dataset("digits", Path("."))
    common = {"batch_size": 64, "shuffle": True, "seed": 5, "mean": splits.mean, "std": splits.std}
    common.update(options)
    resident = BatchLoader(splits.train, **common)  # type: ignore[arg-type]
    return resident, TorchDataLoader(splits.train, num_workers=workers, **common)  # type: ignore[arg-type]


def test_resident_loader_repeats_its_batches_for_a_seed() -> None:
    first, _ = digits_loaders(crop_padding=2, hflip=True)
    second, _ = digits_loaders(crop_padding=2, hflip=True)
    for (x1, y1), (x2, y2) in zip(first.batches(3), second.batches(3), strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_torch_loader_sees_the_resident_order_and_pixels_without_augmentation() -> None:
    resident, torch_path = digits_loaders()
    assert len(resident) == len(torch_path) and resident.num_images == torch_path.num_images
    for (x1, y1), (x2, y2) in zip(resident.batches(1), torch_path.batches(1), strict=True):
        assert torch.equal(y1, y2)
        torch.testing.assert_close(x1, x2)


@pytest.mark.parametrize("workers", [0, 2])
def test_torch_loader_repeats_its_augmented_batches_for_a_seed(workers: int) -> None:
    """Order and per-image augmentation follow the seed, not torch's global random state, which
    the loader leaves as it was."""
    _, first = digits_loaders(workers=workers, crop_padding=2, hflip=True)
    _, second = digits_loaders(workers=workers, crop_padding=2, hflip=True)
    torch.manual_seed(1)
    a = list(first.batches(2))
    torch.manual_seed(2)
    global_state = torch.get_rng_state()
    b = list(second.batches(2))
    assert torch.equal(torch.get_rng_state(), global_state)
    for (x1, y1), (x2, y2) in zip(a, b, strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    _, plain = digits_loaders(workers=workers)
    unaugmented = list(plain.batches(2))
    assert torch.equal(torch.cat([y for _, y in a]), torch.cat([y for _, y in unaugmented]))
    assert not torch.equal(torch.cat([x for x, _ in a]), torch.cat([x for x, _ in unaugmented]))


def test_auto_picks_resident_on_the_cpu_and_torch_when_asked() -> None:
    splits = load_dataset("digits", Path("."))
    assert loader_class("auto", splits, torch.device("cpu")) is BatchLoader
    assert loader_class("torch", splits, torch.device("cpu")) is TorchDataLoader
    (job,) = build_suite({"models": ["lenet5"], "loader": "torch"}, "x.toml").jobs
    train, test = make_loaders(splits, job.config, 0, torch.device("cpu"))
    assert (train.kind, test.kind) == ("torch", "torch")


SUITE = """
name = "loaders"
epochs = 3
batch_size = 64
seeds = [0, 1, 2]
device = "cpu"
[dataset]
name = "digits"
random_crop_padding = 2
[optimizer]
name = "sgd"
lr = 0.05
momentum = 0.9
[[models]]
name = "lenet5-relu"
"""


def job_records(tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    """The job records of a quiet ``bench run`` of ``SUITE`` with ``args``."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    suite = tmp_path / "loaders.toml"
    suite.write_text(SUITE)
    out = tmp_path / "out"
    command = ["run", "--suite", str(suite), "--quiet", "--no-report", "--history-db", "none"]
    assert main([*command, "--out", str(out), *args]) == 0
    (records,) = out.glob("*/*/records.jsonl")
    return [r for r in RunDir.open(records.parent).records() if r["type"] == "job"]


def final_accuracies(tmp_path: Path, loader: str) -> list[float]:
    jobs = job_records(tmp_path / loader, "--loader", loader)
    assert {j["extra"]["loader"] for j in jobs} == {loader}
    return [j["test_acc"] for j in jobs]


def test_precision_layout_and_batch_search_flags_run_and_are_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--precision", "amp-bf16", "--channels-last", "--find-batch-size"]
    (job,) = job_records(tmp_path, "--seeds", "0", "--epochs", "1", *flags)
    assert job["status"] == "ok" and job["precision"] == "amp-bf16" and job["batch_size"] == 64
    extra = job["extra"]
    assert (extra["channels_last"], extra["compile"], extra["loader"]) == (True, None, "resident")
    assert extra["batch_size_searched"] is False
    message = "not run on cpu, which has no out-of-memory to probe; batch size 64 kept"
    assert extra["batch_size_search"] == message
    assert f"lenet5-relu__s0: --find-batch-size: {message}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "pairs"),
    [
        (["--compile"], ["compile=default"]),
        (
            ["--compile", "max-autotune", "--channels-last"],
            ["channels_last=true", "compile=max-autotune"],
        ),
        (["--precision", "tf32", "--loader", "torch"], ["precision=tf32", "loader=torch"]),
        (
            ["--set", "num_workers=2", "--find-batch-size"],
            ["num_workers=2", "find_batch_size=true"],
        ),
    ],
)
def test_fast_path_flags_become_set_pairs(flags: list[str], pairs: list[str]) -> None:
    args = get_args_parser().parse_args(["run", "--suite", "smoke", *flags])
    assert job_overrides(args) == pairs


@pytest.mark.slow
def test_both_loaders_reach_the_same_accuracy_on_digits_within_seed_noise(tmp_path: Path) -> None:
    """Within noise: the means differ by at most twice the pooled std over seeds plus 1 point."""
    resident = final_accuracies(tmp_path, "resident")
    torch_path = final_accuracies(tmp_path, "torch")
    pooled = ((statistics.variance(resident) + statistics.variance(torch_path)) / 2) ** 0.5
    assert min(resident + torch_path) > 50.0  # chance is 10%
    assert abs(statistics.mean(resident) - statistics.mean(torch_path)) <= 2 * pooled + 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--precision", "fp8"], "argument --precision: invalid choice: 'fp8'"),
        (["--loader", "fast"], "argument --loader: invalid choice: 'fast'"),
        (["--compile", "turbo"], "argument --compile: invalid choice: 'turbo'"),
    ],
)
def test_bad_fast_path_flags_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--suite", "smoke", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr


# Allocation failures as torch raises them at the limit of GPU memory: the caching allocator's
# own error, and the plain RuntimeErrors of cuDNN and cuBLAS and of a raw CUDA allocation.
ALLOCATION_FAILURES = [
    torch.cuda.OutOfMemoryError(
        "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.19 GiB "
        "of which 1.06 GiB is free."
    ),
    RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"),
    RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
    RuntimeError(
        "CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported at some "
        "other API call, so the stacktrace below might be incorrect."
    ),
]


class FailsAbove(nn.Module):
    """A model whose forward pass raises ``error`` for batches larger than ``limit``."""

    def __init__(self, error: Exception, limit: int) -> None:
        super().__init__()
        self.error, self.limit = error, limit
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(x) > self.limit:
            raise self.error
        return self.fc(x.flatten(1))


@pytest.mark.parametrize("error", ALLOCATION_FAILURES, ids=["allocator", "cudnn", "cublas", "cuda"])
def test_batch_search_keeps_the_last_batch_that_fitted_whatever_allocation_failed(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    """The real probe (one training step per batch), on a model that fails above 48 images."""
    patch_cuda(monkeypatch, "synchronize", lambda device=None: None)
    precision = Precision(torch.device("cpu"), "fp32", False)
    fitted = [
        batch_search.fits(lambda: FailsAbove(error, 48), b, (1, 8, 8), 10, precision)
        for b in (1, 32, 64)
    ]
    assert fitted == [True, True, False]


def test_batch_search_raises_an_error_that_is_not_out_of_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    patch_cuda(monkeypatch, "synchronize", lambda device=None: None)
    precision = Precision(torch.device("cpu"), "fp32", False)
    error = RuntimeError("cuDNN error: CUDNN_STATUS_NOT_SUPPORTED")
    with pytest.raises(RuntimeError, match="CUDNN_STATUS_NOT_SUPPORTED"):
        batch_search.fits(lambda: FailsAbove(error, 48), 64, (1, 8, 8), 10, precision)


def test_batch_search_takes_the_largest_power_of_two_that_fits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The search logic, with the memory probe replaced by a known limit of 48 images."""
    tried: list[int] = []

    def fits_below_48(_build: object, batch: int, *_args: object) -> bool:
        tried.append(batch)
        return batch <= 48

    monkeypatch.setattr(batch_search, "fits", fits_below_48)
    cuda = Precision(torch.device("cuda"), "fp32", False)
    assert batch_search.largest_batch(nn.Identity, (1, 8, 8), 10, cuda, cap=1024) == 32
    assert tried == [1, 2, 4, 8, 16, 32, 64]
    assert batch_search.largest_batch(nn.Identity, (1, 8, 8), 10, cuda, cap=16) == 16
    cpu = Precision(torch.device("cpu"), "fp32", False)
    assert batch_search.largest_batch(nn.Identity, (1, 8, 8), 10, cpu, cap=1024) is None


def test_random_resized_crop_reaches_both_loading_paths_for_training_only() -> None:
    resident, torch_path = digits_loaders(resized_crop=0.5)
    plain, _ = digits_loaders()
    (x, y), (x0, y0) = next(resident.batches(1)), next(plain.batches(1))
    assert torch.equal(y, y0) and x.shape == x0.shape and not torch.equal(x, x0)
    (crop,) = [
        t for t in torch_path.dataset.transform.transforms if isinstance(t, v2.RandomResizedCrop)
    ]
    assert (tuple(crop.size), crop.scale) == ((32, 32), (0.5, 1.0))
    config = JobConfig(dataset=DatasetConfig(name="digits", random_resized_crop=0.35))
    splits = load_dataset("digits", Path("."))
    train, test = make_loaders(splits, config, 0, torch.device("cpu"))
    assert (train.resized_crop, test.resized_crop) == (0.35, 0.0)
