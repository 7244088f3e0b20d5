"""The model registry: one decorator registers a constructor and the facts about it.

Nothing else in the code knows the list of models: each family module of ``bench.models``
registers its own when imported, and importing ``bench.models`` (which any import of this
module does first) imports every family. Metadata imports no torch, so the reporting side can
read it; constructors import torch when called.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError, UnknownNameError

if TYPE_CHECKING:
    from torch import nn

ModelFactory = Callable[..., "nn.Module"]


@dataclass(frozen=True)
class Published:
    """Accuracy figures published by others for ImageNet weights, never measured here."""

    top1: float
    top5: float
    source: str


@dataclass(frozen=True)
class ModelInfo:
    """Facts about one registered architecture."""

    name: str
    family: str
    year: int
    salient_feature: str
    paper: str
    input_size: tuple[int, int, int]
    num_classes: int
    task: str = "classify"
    published: Published | None = None
    paper_top5: float | None = None
    description: str = ""
    factory: ModelFactory | None = field(default=None, compare=False, repr=False)


# What a model is trained for; each task is trained by the recipe of the same name.
TASKS = ("classify", "autoencode")
_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str,
    *,
    family: str,
    year: int,
    salient_feature: str,
    paper: str,
    input_size: tuple[int, int, int],
    num_classes: int = 10,
    task: str = "classify",
    published: Published | None = None,
    paper_top5: float | None = None,
    description: str = "",
) -> Callable[[ModelFactory], ModelFactory]:
    """Register ``factory(num_classes=..., in_channels=..., **kwargs)`` under ``name``."""

    def decorator(factory: ModelFactory) -> ModelFactory:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        if task not in TASKS:
            raise ValueError(f"model {name!r}: task {task!r} is not one of {TASKS}")
        _REGISTRY[name] = ModelInfo(
            name=name,
            family=family,
            year=year,
            salient_feature=salient_feature,
            paper=paper,
            input_size=input_size,
            num_classes=num_classes,
            task=task,
            published=published,
            paper_top5=paper_top5,
            description=description or (factory.__doc__ or "").strip().splitlines()[0],
            factory=factory,
        )
        return factory

    return decorator


def model_names() -> list[str]:
    """All registered names, sorted."""
    return sorted(_REGISTRY)


def list_models(pattern: str = "*") -> list[ModelInfo]:
    """Registered models whose name matches the shell-style ``pattern`` (``resnet*``)."""
    return [_REGISTRY[n] for n in model_names() if fnmatch.fnmatchcase(n, pattern)]


def get_model_info(name: str, where: str = "") -> ModelInfo:
    """The metadata of ``name``; an unknown name raises with the closest names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError("model", name, _REGISTRY, where) from None


def create_model(
    name: str,
    num_classes: int | None = None,
    in_channels: int | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build ``name`` with random weights; defaults come from its metadata."""
    info = get_model_info(name)
    assert info.factory is not None
    classes = info.num_classes if num_classes is None else num_classes
    channels = info.input_size[0] if in_channels is None else in_channels
    if classes < 1 or channels < 1:
        raise BenchError(f"{name}: num_classes and in_channels must be positive")
    return info.factory(num_classes=classes, in_channels=channels, **kwargs)
