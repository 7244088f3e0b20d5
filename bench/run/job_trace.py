"""Operator traces of training steps: a job's (``trace_steps``) and ``bench profile --trace``'s.

A job is traced after its training, on a fresh copy of its model built as the job builds it
(device, layout, compilation, distributed wrapper), with the job's optimizer and its recipe's
objective, on batches of its training loader: the traced steps change neither the trained model
nor the epoch figures. Every trace runs under its own precision's float32 settings (TF32 allowed
for ``tf32`` only), whatever ran before it left set: a job's inference timing sets those of each
precision it times.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import torch
from torch import nn

from bench.measure.static_profile import input_fits
from bench.measure.trace import Trace, trace_steps
from bench.models.registry import create_model, get_model_info
from bench.recipes import OBJECTIVES
from bench.recipes.common import EpochBatches
from bench.recipes.loop import Objective, Precision, train_step
from bench.recipes.optim import build_optimizer
from bench.suite.matrix import Job
from bench.suite.settings import OptimizerConfig

Batch = tuple[torch.Tensor, torch.Tensor]


def trace_job(
    job: Job,
    build: Callable[[str], nn.Module],
    train: EpochBatches,
    precision: Precision,
) -> Trace:
    """``job.config.trace_steps`` traced training steps of a fresh copy of the job's model."""
    config = job.config
    model = build(job.model)
    optimizer = build_optimizer(model.parameters(), config.optimizer)
    return trace_training(
        model, OBJECTIVES[config.recipe], optimizer, precision, _epochs(train), config.trace_steps
    )


def trace_model(
    name: str,
    input_size: tuple[int, int, int],
    num_classes: int,
    batch_size: int,
    steps: int,
    device: torch.device,
) -> Trace:
    """``steps`` traced training steps of the registered model ``name`` (random weights) on one
    random batch, used again at every step, in float32 with the default optimizer (SGD); an
    input size the model cannot take is a ``BenchError``."""
    info = get_model_info(name)
    model = create_model(name, num_classes=num_classes, in_channels=input_size[0]).to(device)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand((batch_size, *input_size), generator=generator).to(device)
    targets = torch.randint(num_classes, (batch_size,), generator=generator).to(device)
    optimizer = build_optimizer(model.parameters(), OptimizerConfig())
    precision = Precision(device, "fp32", channels_last=False)
    batch = (inputs, targets)
    with input_fits(name, input_size):
        return trace_training(
            model, OBJECTIVES[info.task], optimizer, precision, itertools.repeat(batch), steps
        )


def trace_training(
    model: nn.Module,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    precision: Precision,
    batches: Iterator[Batch],
    steps: int,
) -> Trace:
    """Trace ``steps`` training steps of ``model`` on ``batches`` (after warm-up steps), under
    ``precision``'s float32 settings."""
    precision.set_matmul_precision()
    scaler = precision.grad_scaler()
    model.train()

    def step() -> None:
        inputs, targets = next(batches)
        inputs = precision.prepare(inputs)
        train_step(model, inputs, targets, objective, optimizer, precision, scaler)

    return trace_steps(step, steps, model, precision.device)


def _epochs(train: EpochBatches) -> Iterator[Batch]:
    """The loader's batches, epoch after epoch, for as long as they are asked for."""
    epoch = 1
    while True:
        yield from train.batches(epoch)
        epoch += 1
