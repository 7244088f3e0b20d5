"""The ``autoencode`` recipe: pretrain an autoencoder with MSE, then fine-tune its encoder plus
a linear head as a classifier (both phases recorded)."""

from __future__ import annotations

import torch

from bench.models.autoencoder import load_encoder_from_autoencoder
from bench.recipes.common import Artifact, RecipeContext, RecipeOutput
from bench.recipes.loop import classification_objective, local_module, reconstruction_objective
from bench.recipes.phase import first_layer, run_phase

RECONSTRUCTION_SAMPLES = 16


def run_autoencode(ctx: RecipeContext) -> RecipeOutput:
    """Pretrain ``ctx.job.model`` on reconstruction, then fine-tune the classifier."""
    cfg = ctx.job.config
    autoencoder = ctx.build_model(ctx.job.model)
    yield Artifact("first_layer_init", first_layer(autoencoder))
    yield from run_phase(
        ctx, autoencoder, "pretrain", cfg.epochs, cfg.optimizer, reconstruction_objective, None
    )
    yield Artifact("first_layer_trained", first_layer(autoencoder))
    yield from reconstructions(ctx, autoencoder)

    classifier = ctx.build_model(cfg.finetune.model)
    load_encoder_from_autoencoder(local_module(classifier), local_module(autoencoder))
    epochs = cfg.finetune_epochs
    yield from run_phase(
        ctx,
        classifier,
        "finetune",
        epochs,
        cfg.finetune.optimizer,
        classification_objective,
        ctx.num_classes,
    )


@torch.no_grad()
def reconstructions(ctx: RecipeContext, autoencoder: torch.nn.Module) -> RecipeOutput:
    """A few test images and their reconstructions, for the report."""
    autoencoder = local_module(autoencoder)
    autoencoder.eval()
    inputs, _ = next(iter(ctx.test.batches(0)))
    inputs = inputs[:RECONSTRUCTION_SAMPLES]
    outputs = autoencoder(ctx.precision.prepare(inputs)).float()
    yield Artifact("recon_inputs", inputs.float().cpu().numpy())
    yield Artifact("recon_outputs", outputs.clamp(0, 1).cpu().numpy())
