"""A job's estimated cost: FLOPs per image counted from shapes, times the images it sees."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from bench.data.datasets import load_dataset
from bench.measure.job_cost import JobCost, suite_costs
from bench.measure.static_profile import meta_flops, profile_registered
from bench.suite.matrix import build_suite
from bench.suite.settings import DATASET_SIZES

# Made-up counts per model: (training step, forward) FLOPs per image.
FLOPS = {"lenet5": (30, 10), "conv-autoencoder": (300, 100), "conv-autoencoder-classifier": (6, 2)}
calls: list[str] = []  # the models the fake counter was asked for


def fake_count(
    name: str, size: tuple[int, int, int], classes: int, kwargs: Mapping[str, Any]
) -> tuple[int, int]:
    calls.append(name)
    return FLOPS[name]


def costs_of(raw: dict[str, Any]) -> dict[str, JobCost]:
    calls.clear()
    suite = build_suite({"name": "s", **raw}, "s.toml", fit=False)
    return suite_costs(suite.jobs, count=fake_count)


def test_a_classify_job_costs_its_epochs_of_training_and_evaluation_and_its_inference() -> None:
    costs = costs_of(
        {
            "epochs": 3,
            "batch_size": 100,
            "seeds": [0, 1],
            "dataset": {"name": "cifar10", "drop_last": True, "train_size": 1050},
            "inference": {"batch_sizes": [1, 16], "precisions": ["fp32", "tf32"]},
            "models": ["lenet5"],
        }
    )
    # 1000 training images (the last 50 are a partial batch, dropped), 10,000 test images
    # (all of CIFAR-10's), 20 passes of batches 1 and 16 at two precisions
    expected = JobCost(30 * 1000 * 3, 10 * 10_000 * 3, 10 * 20 * 2 * 17)
    assert costs == {"lenet5__s0": expected, "lenet5__s1": expected}
    assert expected.total_flops == 90_000 + 300_000 + 6800
    assert calls == ["lenet5"]  # counted once for both seeds


def test_an_autoencode_job_costs_both_phases() -> None:
    costs = costs_of(
        {
            "recipe": "autoencode",
            "epochs": 2,
            "dataset": {"name": "synthetic", "normalize": False},
            "finetune": {"epochs": 5},
            "inference": {"batch_sizes": [4]},
            "models": ["conv-autoencoder"],
        }
    )
    # synthetic: 1024 training and 256 test images; the fine-tuned classifier is timed
    assert costs["conv-autoencoder__s0"] == JobCost(
        train_flops=300 * 1024 * 2 + 6 * 1024 * 5,
        eval_flops=100 * 256 * 2 + 2 * 256 * 5,
        inference_flops=2 * 20 * 4,
    )


@pytest.mark.parametrize(
    ("name", "size", "classes"),
    [("lenet5", (1, 32, 32), 10), ("conv-autoencoder", (3, 32, 32), 10)],
)
def test_counts_on_the_meta_device_equal_the_static_profiles(
    name: str, size: tuple[int, int, int], classes: int
) -> None:
    profile = profile_registered(name, size, classes)
    assert meta_flops(name, size, classes, {}) == (profile.train_step_flops, profile.flops)


@pytest.mark.parametrize("name", ["digits", "synthetic"])
def test_the_declared_sizes_are_those_the_loaders_give(name: str, tmp_path: Path) -> None:
    """(The file-based sets' sizes are the published ones: 60,000/10,000 for MNIST and
    Fashion-MNIST, 50,000/10,000 for CIFAR.)"""
    splits = load_dataset(name, tmp_path)  # neither reads files
    assert (len(splits.train), len(splits.test)) == DATASET_SIZES[name]
