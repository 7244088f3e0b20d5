"""The ``autoencode`` recipe: pretrain an autoencoder with MSE, then fine-tune its encoder plus
a linear head as a classifier (both phases recorded)."""

from __future__ import annotations

import torch

from bench.models.autoencoder import load_encoder_from_autoencoder
from bench.recipes.classify import first_layer, train_classifier
from bench.recipes.common import Artifact, EpochResult, RecipeContext, RecipeOutput
from bench.recipes.loop import eval_pass, reconstruction_objective, train_pass
from bench.recipes.optim import build_optimizer, build_schedule, current_lr

RECONSTRUCTION_SAMPLES = 16


def run_autoencode(ctx: RecipeContext) -> RecipeOutput:
    """Pretrain ``ctx.job.model`` on reconstruction, then fine-tune the classifier."""
    cfg = ctx.job.config
    autoencoder = ctx.build_model(ctx.job.model)
    yield Artifact("first_layer_init", first_layer(autoencoder))
    optimizer = build_optimizer(autoencoder.parameters(), cfg.optimizer)
    schedule = build_schedule(optimizer, cfg.schedule, cfg.epochs, len(ctx.train))
    scaler = ctx.precision.grad_scaler()
    for epoch in range(1, cfg.epochs + 1):
        lr = current_lr(optimizer)
        with ctx.phases.phase("pretrain", epoch):
            train = train_pass(
                autoencoder,
                ctx.train.batches(epoch),
                reconstruction_objective,
                optimizer,
                schedule,
                ctx.precision,
                scaler,
            )
        with ctx.phases.phase("eval", epoch):
            test = eval_pass(
                autoencoder, ctx.test.batches(epoch), reconstruction_objective, ctx.precision, None
            )
        schedule.after_epoch(test.loss)
        yield EpochResult("pretrain", epoch, train, test, lr)
    yield Artifact("first_layer_trained", first_layer(autoencoder))
    yield from reconstructions(ctx, autoencoder)

    classifier = ctx.build_model(cfg.finetune.model)
    load_encoder_from_autoencoder(classifier, autoencoder)
    epochs = cfg.finetune.epochs or cfg.epochs
    yield from train_classifier(ctx, classifier, "finetune", epochs, cfg.finetune.optimizer)


@torch.no_grad()
def reconstructions(ctx: RecipeContext, autoencoder: torch.nn.Module) -> RecipeOutput:
    """A few test images and their reconstructions, for the report."""
    autoencoder.eval()
    inputs, _ = next(iter(ctx.test.batches(0)))
    inputs = inputs[:RECONSTRUCTION_SAMPLES]
    outputs = autoencoder(ctx.precision.prepare(inputs)).float()
    yield Artifact("recon_inputs", inputs.float().cpu().numpy())
    yield Artifact("recon_outputs", outputs.clamp(0, 1).cpu().numpy())
