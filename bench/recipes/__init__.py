"""Training recipes: ``classify`` and ``autoencode`` (pretrain, then fine-tune).

A recipe is a generator of epoch results and artifacts, picked by name: the names are the
tasks models are registered with (``bench.models.registry.TASKS``)."""

from bench.recipes.autoencode import run_autoencode
from bench.recipes.classify import run_classify
from bench.recipes.common import Recipe
from bench.recipes.loop import Objective, classification_objective, reconstruction_objective

RECIPES: dict[str, Recipe] = {"classify": run_classify, "autoencode": run_autoencode}
# The objective each recipe trains the job's own model with (its first phase).
OBJECTIVES: dict[str, Objective] = {
    "classify": classification_objective,
    "autoencode": reconstruction_objective,
}
