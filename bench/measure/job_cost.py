"""A job's estimated cost in FLOPs, known before it runs: what ``--shard I/N`` balances.

Counted from shapes alone (``meta_flops``: torch.utils.flop_counter on the meta device, one
multiply-add = 2), with each data set's declared split sizes (``DATASET_SIZES``), so it needs
no data, no GPU and no network and comes out the same on every machine:

- training: the training-step FLOPs per image (forward and backward) × the training images
  per epoch (the last partial batch left out where training drops it) × the epochs, for every
  phase (``autoencode``: the autoencoder's pretraining, then the classifier's fine-tuning);
- evaluation: the forward FLOPs per image × the test images, once per epoch of every phase;
- inference: the forward FLOPs of the least forward passes of the inference sweep
  (``min_iterations`` per batch size and precision; its ``min_time_s`` floor is seconds, not
  FLOPs, and is left out).

Precision, memory layout and compilation change how fast a FLOP runs, not how many there are;
the estimate ranks jobs by work, it does not predict seconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.measure.static_profile import meta_flops
from bench.suite.matrix import Job
from bench.suite.settings import JobConfig

# A model at one input size: (name, (C, H, W), classes, model_kwargs) → (train step, forward)
# FLOPs per image.
FlopCounter = Callable[[str, tuple[int, int, int], int, Mapping[str, Any]], tuple[int, int]]


@dataclass(frozen=True)
class JobCost:
    """A job's estimated FLOPs (one multiply-add = 2) by what spends them."""

    train_flops: int
    eval_flops: int
    inference_flops: int

    @property
    def total_flops(self) -> int:
        return self.train_flops + self.eval_flops + self.inference_flops


def suite_costs(jobs: Iterable[Job], count: FlopCounter = meta_flops) -> dict[str, JobCost]:
    """Job id → estimated cost, in the order of ``jobs``; each distinct model at each input
    size is counted once."""
    counted: dict[str, tuple[int, int]] = {}

    def flops(name: str, config: JobConfig) -> tuple[int, int]:
        size, classes = config.dataset.input_shape()
        kwargs = config.model_kwargs
        key = json.dumps([name, size, classes, kwargs], sort_keys=True, default=str)
        if key not in counted:
            counted[key] = count(name, size, classes, kwargs)
        return counted[key]

    return {job.job_id: job_cost(job.model, job.config, flops) for job in jobs}


def job_cost(
    model: str, config: JobConfig, flops: Callable[[str, JobConfig], tuple[int, int]]
) -> JobCost:
    """The estimated cost of training ``model`` under ``config`` (see the module docstring);
    ``flops(name, config)`` gives a model's training-step and forward FLOPs per image."""
    train_images, test_images = config.dataset.split_sizes()
    train_images = config.trained_images(train_images)
    train = evaluation = 0
    forward = 0
    for name, epochs in _phases(model, config):
        train_step, forward = flops(name, config)
        train += train_step * train_images * epochs
        evaluation += forward * test_images * epochs
    sweep = config.inference
    passes = sweep.min_iterations * max(1, len(sweep.precisions))
    inference = forward * passes * sum(sweep.batch_sizes)  # the last phase's model is timed
    return JobCost(train, evaluation, inference)


def _phases(model: str, config: JobConfig) -> Sequence[tuple[str, int]]:
    """The model trained in each phase of the job's recipe and its epochs."""
    if config.recipe == "autoencode":
        return [
            (model, config.epochs),
            (config.finetune.model, config.finetune_epochs),
        ]
    return [(model, config.epochs)]
