"""Training recipes: ``classify`` and ``autoencode`` (pretrain, then fine-tune).

A recipe is a generator of epoch results and artifacts, picked by name: the names are the
tasks models are registered with (``bench.models.registry.TASKS``)."""

from collections.abc import Callable

from bench.recipes.autoencode import run_autoencode
from bench.recipes.classify import run_classify
from bench.recipes.common import Recipe
from bench.recipes.loop import Objective, classification_objective, reconstruction_objective
from bench.suite.settings import JobConfig

RECIPES: dict[str, Recipe] = {"classify": run_classify, "autoencode": run_autoencode}
# The objective each recipe trains the job's own model with (its first phase).
OBJECTIVES: dict[str, Objective] = {
    "classify": classification_objective,
    "autoencode": reconstruction_objective,
}
# The epochs of each phase a recipe trains (the ``phase`` of its epoch records), in order.
PHASE_EPOCHS: dict[str, Callable[[JobConfig], dict[str, int]]] = {
    "classify": lambda cfg: {"train": cfg.epochs},
    "autoencode": lambda cfg: {"pretrain": cfg.epochs, "finetune": cfg.finetune_epochs},
}
