"""GoogLeNet / Inception v1 (Szegedy et al., 2014): torchvision's ImageNet layout and a
CIFAR-size variant built from the same network and Inception blocks. Auxiliary classifiers are
off unless ``aux_logits=True`` (then training-mode outputs are torchvision's
``GoogLeNetOutputs`` tuple)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from bench.models.common import CIFAR_INPUT, IMAGENET_INPUT, torchvision_v1, with_in_channels
from bench.models.registry import register_model

if TYPE_CHECKING:
    from torch import nn
    from torchvision.models import GoogLeNet

_googlenet = partial(
    register_model,
    family="GoogLeNet",
    year=2014,
    salient_feature="Wider, parallel kernels",
    paper="Szegedy et al., CVPR 2015",
)


def _init_conv(conv: nn.Conv2d) -> None:
    """torchvision's GoogLeNet initialisation of a convolution."""
    from torch import nn

    nn.init.trunc_normal_(conv.weight, mean=0.0, std=0.01, a=-2, b=2)


def _build(num_classes: int, aux_logits: bool, **kwargs: Any) -> GoogLeNet:
    """torchvision's GoogLeNet with random weights, initialised as torchvision does."""
    from torchvision import models

    return models.googlenet(
        weights=None, num_classes=num_classes, aux_logits=aux_logits, init_weights=True, **kwargs
    )


@_googlenet(
    "googlenet",
    input_size=IMAGENET_INPUT,
    num_classes=1000,
    published=torchvision_v1(69.778, 89.53),
    paper_top5=93.30,
)
def googlenet(
    num_classes: int, in_channels: int, aux_logits: bool = False, **kwargs: Any
) -> nn.Module:
    """GoogLeNet (Inception v1), torchvision layout (ImageNet, 224x224)."""
    model = _build(num_classes, aux_logits, **kwargs)
    model.conv1.conv = with_in_channels(model.conv1.conv, in_channels, _init_conv)
    return model


@_googlenet("googlenet-cifar", input_size=CIFAR_INPUT)
def googlenet_cifar(
    num_classes: int, in_channels: int, aux_logits: bool = False, **kwargs: Any
) -> nn.Module:
    """GoogLeNet for 32x32 inputs: a 3x3 stem, no early downsampling.

    As in the well-known CIFAR GoogLeNet (kuangliu/pytorch-cifar): torchvision's stem (7x7/2
    conv, max pool, 1x1 and 3x3 convs, max pool) becomes one 3x3 conv to 192 channels at
    stride 1, so the Inception blocks see 32x32, 16x16 and 8x8 maps.
    """
    from torch import nn
    from torchvision.models.googlenet import BasicConv2d

    model = _build(num_classes, aux_logits, **kwargs)
    model.conv1 = BasicConv2d(in_channels, 192, kernel_size=3, padding=1)
    _init_conv(model.conv1.conv)
    for name in ("maxpool1", "conv2", "conv3", "maxpool2"):
        setattr(model, name, nn.Identity())
    return model
