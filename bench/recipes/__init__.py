"""Training recipes: ``classify`` and ``autoencode`` (pretrain, then fine-tune).

A recipe is a generator of epoch results and artifacts, picked by name: the names are the
tasks models are registered with (``bench.models.registry.TASKS``)."""

from bench.recipes.autoencode import run_autoencode
from bench.recipes.classify import run_classify
from bench.recipes.common import Recipe

RECIPES: dict[str, Recipe] = {"classify": run_classify, "autoencode": run_autoencode}
