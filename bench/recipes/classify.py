"""The ``classify`` recipe: train with cross-entropy (label smoothing where the suite asks),
evaluate every epoch."""

from __future__ import annotations

from functools import partial

from bench.recipes.common import Artifact, RecipeContext, RecipeOutput
from bench.recipes.loop import classification_objective
from bench.recipes.phase import first_layer, run_phase


def run_classify(ctx: RecipeContext) -> RecipeOutput:
    """Train ``ctx.job.model``, keeping its first-layer filters before and after."""
    cfg = ctx.job.config
    model = ctx.build_model(ctx.job.model)
    yield Artifact("first_layer_init", first_layer(model))
    objective = partial(classification_objective, label_smoothing=cfg.label_smoothing)
    yield from run_phase(ctx, model, "train", cfg.epochs, cfg.optimizer, objective, ctx.num_classes)
    yield Artifact("first_layer_trained", first_layer(model))
