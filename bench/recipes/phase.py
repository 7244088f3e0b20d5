"""One training phase: epochs of training and evaluation of a model under one objective."""

from __future__ import annotations

import numpy as np
from torch import nn

from bench.models.common import first_conv
from bench.recipes.common import EpochResult, RecipeContext, RecipeOutput
from bench.recipes.loop import Objective, eval_pass, train_pass
from bench.recipes.optim import build_optimizer, build_schedule, current_lr
from bench.suite.settings import OptimizerConfig


def run_phase(
    ctx: RecipeContext,
    model: nn.Module,
    phase: str,
    epochs: int,
    optimizer_cfg: OptimizerConfig,
    objective: Objective,
    num_classes: int | None,
) -> RecipeOutput:
    """Train and evaluate ``model`` for ``epochs`` epochs labelled ``phase``; with
    ``num_classes`` (classification), stop early at the target accuracy if the suite asks."""
    cfg = ctx.job.config
    optimizer = build_optimizer(model.parameters(), optimizer_cfg)
    schedule = build_schedule(optimizer, cfg.schedule, epochs, len(ctx.train))
    scaler = ctx.precision.grad_scaler()
    for epoch in range(1, epochs + 1):
        lr = current_lr(optimizer)
        with ctx.phases.phase(phase, epoch, "train"):
            train = train_pass(
                model,
                ctx.train.batches(epoch),
                objective,
                optimizer,
                schedule,
                ctx.precision,
                scaler,
                ctx.reduce,
            )
        with ctx.phases.phase(phase, epoch, "eval"):
            test = eval_pass(
                model, ctx.test.batches(epoch), objective, ctx.precision, num_classes, ctx.reduce
            )
        schedule.after_epoch(test.loss)
        yield EpochResult(phase, epoch, train, test, lr)
        reached = cfg.target_acc is not None and (test.acc or 0.0) >= cfg.target_acc
        if reached and cfg.stop_at_target and num_classes:
            return


def first_layer(model: nn.Module) -> np.ndarray:
    """A copy of the first convolution's weights as a float32 array."""
    return first_conv(model).weight.detach().float().cpu().numpy().copy()
