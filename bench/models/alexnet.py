"""AlexNet (Krizhevsky et al., 2012): torchvision's ImageNet layout and a CIFAR-size variant."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from bench.models.common import (
    CIFAR_INPUT,
    IMAGENET_INPUT,
    reject_kwargs,
    torchvision_v1,
    with_in_channels,
)
from bench.models.registry import register_model

if TYPE_CHECKING:
    from torch import nn

_alexnet = partial(
    register_model,
    family="AlexNet",
    year=2012,
    salient_feature="Deeper",
    paper="Krizhevsky et al., NeurIPS 2012",
)


@_alexnet(
    "alexnet",
    input_size=IMAGENET_INPUT,
    num_classes=1000,
    published=torchvision_v1(56.522, 79.066),
    paper_top5=84.70,
)
def alexnet(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """AlexNet, torchvision layout (ImageNet, 224x224)."""
    from torchvision import models

    model = models.alexnet(weights=None, num_classes=num_classes, **kwargs)
    model.features[0] = with_in_channels(model.features[0], in_channels)
    return model


@_alexnet("alexnet-cifar", input_size=CIFAR_INPUT)
def alexnet_cifar(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """AlexNet for 32x32 inputs: AlexNet's five convolutions, one linear classifier.

    The widely used CIFAR layout of bearpaw/pytorch-classification (Wei Yang): torchvision's
    kernels and channels (11x11/4, 5x5, 3x3 x3; 64, 192, 384, 256, 256) with padding 5 and
    2x2 max pools so that 32x32 becomes 256x1x1, and no 4096-wide hidden layers. 2.47M
    parameters at ten classes.
    """
    from collections import OrderedDict

    from torch import nn

    reject_kwargs("alexnet-cifar", kwargs)
    features = nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=5),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=2, stride=2),
    )
    return nn.Sequential(
        OrderedDict(features=features, flatten=nn.Flatten(), classifier=nn.Linear(256, num_classes))
    )
