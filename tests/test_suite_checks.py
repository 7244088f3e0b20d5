"""Values a job would fail on are refused when the suite is read, before anything runs (so
``--dry-run`` refuses them too), in one line naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_errors import one_line_error
from data_files import write_cifar10, write_cifar100, write_fashion_mnist, write_mnist
from imagenette_files import write_imagenette

from bench.cli import main
from bench.data.datasets import load_dataset
from bench.suite.settings import DATASET_SHAPES

# Suite lines (dotted keys, so that they add to BASE's tables) and the message they give.
CASES = {
    "lr-nan": ("optimizer.lr = nan", "field 'optimizer.lr' must be a finite number, got nan"),
    "lr-inf": ("optimizer.lr = inf", "field 'optimizer.lr' must be a finite number, got inf"),
    "pct-start-1": (
        'schedule.name = "one-cycle"\nschedule.pct_start = 1.0',
        "field 'schedule.pct_start' must be below 1, got 1.0",
    ),
    "pct-start-0": (
        'schedule.name = "one-cycle"\nschedule.pct_start = 0.0',
        "field 'schedule.pct_start' must be above 0, got 0.0",
    ),
    "beta-1": (
        'optimizer.name = "adam"\noptimizer.betas = [0.9, 1.0]',
        "field 'optimizer.betas' must be below 1, got 1.0",
    ),
    "beta-negative": (
        'optimizer.name = "adam"\noptimizer.betas = [-0.1, 0.9]',
        "field 'optimizer.betas' must be at least 0, got -0.1",
    ),
    "beta-nan": (
        'optimizer.name = "adam"\noptimizer.betas = [nan, 0.9]',
        "field 'optimizer.betas' must be a finite number, got nan",
    ),
    "plateau-factor-1": (
        'schedule.name = "plateau"\nschedule.factor = 1.0',
        "field 'schedule.factor' must be below 1, got 1.0",
    ),
    "target-acc-above-100": (
        "target_acc = 100.5",
        "field 'target_acc' must be at most 100, got 100.5",
    ),
    "target-acc-negative": ("target_acc = -1", "field 'target_acc' must be at least 0, got -1.0"),
    "nesterov-without-momentum": (
        "optimizer.nesterov = true",
        "field 'optimizer.nesterov' needs 'optimizer.momentum' above 0",
    ),
    "kwargs-set-num-classes": (
        "model_kwargs = { num_classes = 3 }",
        "model 'lenet5' on digits: model_kwargs may not set num_classes: the job sets it from "
        "its data set",
    ),
    "kwargs-not-taken": (
        "model_kwargs = { depth = 3 }",
        "model 'lenet5' on digits: cannot be built with model_kwargs {'depth': 3}: model "
        "'lenet5' takes no argument 'depth'",
    ),
    "too-small-for-the-model": (
        "dataset.resize = 8",
        "model 'lenet5' on digits resized to 8: images of 1x8x8 do not fit it: Calculated "
        "padded input size per channel: (2 x 2). Kernel size: (5 x 5). Kernel size can't be "
        "greater than actual input size",
    ),
    "resize-beyond-reason": (
        "dataset.resize = 100000",
        "field 'dataset.resize' must be at most 4096, got 100000",
    ),
    "name-of-5000-characters": (
        f'name = "{"x" * 5000}"',
        "field 'name' must be at most 100 characters (it names run directories), got 5000",
    ),
}


def _suite(tmp_path: Path, lines: str, model: str = "lenet5", dataset: str = "digits") -> Path:
    """A one-model suite on ``dataset`` with ``lines`` (dotted keys) added."""
    name = "" if lines.startswith("name = ") else 'name = "checks"\n'
    path = tmp_path / "suite.toml"
    path.write_text(
        f'{name}epochs = 1\ndevice = "cpu"\ndataset.name = "{dataset}"\n{lines}\n'
        f'[[models]]\nname = "{model}"\n'
    )
    return path


@pytest.mark.parametrize("case", CASES)
def test_a_value_a_job_would_fail_on_is_refused_by_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    lines, message = CASES[case]
    path = _suite(tmp_path, lines)
    err = one_line_error(["run", "--suite", str(path), "--dry-run"], capsys)
    assert err == f"bench run: error: {path}: {message}"


def test_a_refused_value_stops_bench_run_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _suite(tmp_path, "optimizer.lr = nan")
    one_line_error(["run", "--suite", str(path), "--out", str(tmp_path / "runs")], capsys)
    assert not (tmp_path / "runs").exists()


def test_set_values_are_checked_the_same_way(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _suite(tmp_path, "")
    argv = ["run", "--suite", str(path), "--dry-run", "--set", "schedule.pct_start=1.5"]
    assert one_line_error(argv, capsys).endswith(
        "--set schedule.pct_start must be below 1, got 1.5"
    )


def test_an_autoencoder_that_cannot_give_back_its_input_shape_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = 'recipe = "autoencode"\ndataset.normalize = false\ndataset.image_size = [3, 30, 30]'
    path = _suite(tmp_path, lines, "conv-autoencoder", "synthetic")
    err = one_line_error(["run", "--suite", str(path), "--dry-run"], capsys)
    assert err.endswith(
        "model 'conv-autoencoder' on synthetic: images of 3x30x30 come back from it as 3x32x32, "
        "so they cannot be reconstructed"
    )


def test_every_suite_setting_that_passes_leaves_the_dry_run_listing_its_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bounds are where a job fails, not tighter: values at their edges pass."""
    lines = 'optimizer.name = "adam"\noptimizer.betas = [0.0, 0.999999]\ntarget_acc = 100.0\n'
    lines += "dataset.resize = 32\nmodel_kwargs = {}"
    path = _suite(tmp_path, lines)
    capsys.readouterr()
    assert main(["run", "--suite", str(path), "--dry-run"]) == 0
    assert "lenet5__s0" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(DATASET_SHAPES))
def test_the_published_shapes_the_checks_use_are_those_the_loaders_give(
    tmp_path: Path, name: str
) -> None:
    writers = {
        "mnist": write_mnist,
        "fashion-mnist": write_fashion_mnist,
        "cifar10": write_cifar10,
        "cifar100": write_cifar100,
        "imagenette": lambda root: write_imagenette(root, folder="imagenette2-320"),
    }
    if name in writers:
        writers[name](tmp_path)
    splits = load_dataset(name, tmp_path)
    assert (splits.image_size, splits.num_classes) == DATASET_SHAPES[name]


def test_a_binary_suite_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "binary.toml"
    path.write_bytes(b"name = 'x'\n\xff\xfe\x00")
    err = one_line_error(["run", "--suite", str(path), "--dry-run"], capsys)
    assert err.endswith(f"{path}: not UTF-8 text, as TOML must be (byte 0xff at offset 11)")


@pytest.mark.parametrize("suite", ["a" * 300, f"{'a' * 300}/suite.toml"])
def test_a_suite_path_with_a_name_too_long_is_one_line(
    capsys: pytest.CaptureFixture[str], suite: str
) -> None:
    err = one_line_error(["run", "--suite", suite, "--dry-run"], capsys)
    assert err == f"bench run: error: --suite: cannot read {suite}: File name too long"
