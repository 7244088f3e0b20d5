"""VGG (Simonyan & Zisserman, 2014): torchvision's ImageNet layouts and CIFAR-size variants
built from the same configurations (A, B, D, E), without batch normalisation."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from bench.models.common import CIFAR_INPUT, IMAGENET_INPUT, torchvision_v1, with_in_channels
from bench.models.registry import register_model

if TYPE_CHECKING:
    from torch import nn
    from torchvision.models import VGG

_vgg = partial(
    register_model,
    family="VGG",
    year=2014,
    salient_feature="Fixed-size kernels",
    paper="Simonyan & Zisserman, ICLR 2015",
)
_imagenet = partial(_vgg, input_size=IMAGENET_INPUT, num_classes=1000)
_cifar = partial(_vgg, input_size=CIFAR_INPUT)


def _build(cfg: str, num_classes: int, in_channels: int, **kwargs: Any) -> VGG:
    """torchvision's VGG built as its constructors do, the first convolution reading
    ``in_channels`` before torchvision initialises the weights."""
    from torchvision.models.vgg import VGG, cfgs, make_layers

    features = make_layers(cfgs[cfg])
    features[0] = with_in_channels(features[0], in_channels)
    return VGG(features, num_classes=num_classes, init_weights=True, **kwargs)


def _vgg_cifar(cfg: str, num_classes: int, in_channels: int, **kwargs: Any) -> VGG:
    """VGG for 32x32: five max pools leave 512x1x1, so the classifier reads 512 features
    (512→4096→4096→classes) after a global average pool instead of 7x7 features."""
    from torch import nn

    model = _build(cfg, num_classes, in_channels, **kwargs)
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    model.classifier[0] = nn.Linear(512, 4096)
    nn.init.normal_(model.classifier[0].weight, 0, 0.01)  # as torchvision initialises VGG
    nn.init.zeros_(model.classifier[0].bias)
    return model


@_imagenet("vgg11", published=torchvision_v1(69.02, 88.628))
def vgg11(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """VGG-11 (configuration A), torchvision layout (ImageNet, 224x224)."""
    return _build("A", num_classes, in_channels, **kwargs)


@_imagenet("vgg13", published=torchvision_v1(69.928, 89.246))
def vgg13(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """VGG-13 (configuration B), torchvision layout (ImageNet, 224x224)."""
    return _build("B", num_classes, in_channels, **kwargs)


@_imagenet("vgg16", published=torchvision_v1(71.592, 90.382), paper_top5=92.30)
def vgg16(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """VGG-16 (configuration D), torchvision layout (ImageNet, 224x224)."""
    return _build("D", num_classes, in_channels, **kwargs)


@_imagenet("vgg19", published=torchvision_v1(72.376, 90.876), paper_top5=92.30)
def vgg19(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """VGG-19 (configuration E), torchvision layout (ImageNet, 224x224)."""
    return _build("E", num_classes, in_channels, **kwargs)


@_cifar("vgg11-cifar")
def vgg11_cifar(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """VGG-11 for 32x32 inputs, classifier 512→4096→4096→classes."""
    return _vgg_cifar("A", num_classes, in_channels, **kwargs)


@_cifar("vgg13-cifar")
def vgg13_cifar(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """VGG-13 for 32x32 inputs, classifier 512→4096→4096→classes."""
    return _vgg_cifar("B", num_classes, in_channels, **kwargs)


@_cifar("vgg16-cifar")
def vgg16_cifar(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """VGG-16 for 32x32 inputs, classifier 512→4096→4096→classes."""
    return _vgg_cifar("D", num_classes, in_channels, **kwargs)


@_cifar("vgg19-cifar")
def vgg19_cifar(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """VGG-19 for 32x32 inputs, classifier 512→4096→4096→classes."""
    return _vgg_cifar("E", num_classes, in_channels, **kwargs)
