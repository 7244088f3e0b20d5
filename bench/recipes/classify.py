"""The ``classify`` recipe: train with cross-entropy, evaluate every epoch."""

from __future__ import annotations

import numpy as np
from torch import nn

from bench.config import OptimizerConfig
from bench.models import first_conv
from bench.recipes.common import Artifact, EpochResult, RecipeContext, RecipeOutput
from bench.recipes.loop import classification_objective, eval_pass, train_pass
from bench.recipes.optim import build_optimizer, build_schedule, current_lr


def run_classify(ctx: RecipeContext) -> RecipeOutput:
    """Train ``ctx.job.model``; stop early at the target accuracy if the suite asks."""
    model = ctx.build_model(ctx.job.model)
    yield Artifact("first_layer_init", first_layer(model))
    yield from train_classifier(
        ctx, model, "train", ctx.job.config.epochs, ctx.job.config.optimizer
    )
    yield Artifact("first_layer_trained", first_layer(model))


def train_classifier(
    ctx: RecipeContext, model: nn.Module, phase: str, epochs: int, optimizer_cfg: OptimizerConfig
) -> RecipeOutput:
    """Epochs of supervised training and evaluation of ``model`` under ``phase``."""
    cfg = ctx.job.config
    optimizer = build_optimizer(model.parameters(), optimizer_cfg)
    schedule = build_schedule(optimizer, cfg.schedule, epochs, len(ctx.train))
    scaler = ctx.precision.grad_scaler()
    for epoch in range(1, epochs + 1):
        lr = current_lr(optimizer)
        with ctx.phases.phase(phase, epoch):
            train = train_pass(
                model,
                ctx.train.batches(epoch),
                classification_objective,
                optimizer,
                schedule,
                ctx.precision,
                scaler,
            )
        with ctx.phases.phase("eval", epoch):
            test = eval_pass(
                model,
                ctx.test.batches(epoch),
                classification_objective,
                ctx.precision,
                ctx.num_classes,
            )
        schedule.after_epoch(test.loss)
        yield EpochResult(phase, epoch, train, test, lr)
        reached = cfg.target_acc is not None and (test.acc or 0.0) >= cfg.target_acc
        if reached and cfg.stop_at_target:
            return


def first_layer(model: nn.Module) -> np.ndarray:
    """A copy of the first convolution's weights as a float32 array."""
    return first_conv(model).weight.detach().float().cpu().numpy().copy()
