"""The model zoo: one module per family, each registering its constructors with
:func:`bench.models.registry.register_model` when imported; importing this package imports
every family, so the registry is complete whenever it is reachable.

Importing a family module imports no torch (its metadata stays cheap to read); the
constructors import torch and torchvision when called.
"""

from bench.models import alexnet, autoencoder, googlenet, lenet, resnet, vgg
from bench.models.registry import (
    ModelInfo,
    Published,
    create_model,
    get_model_info,
    list_models,
    model_names,
    register_model,
)

FAMILIES = (lenet, alexnet, vgg, googlenet, resnet, autoencoder)

__all__ = [
    "FAMILIES",
    "ModelInfo",
    "Published",
    "create_model",
    "get_model_info",
    "list_models",
    "model_names",
    "register_model",
]
