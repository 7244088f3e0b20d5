"""ResNet (He et al., 2015): torchvision's ImageNet layouts and CIFAR-size variants with a
3x3 stride-1 stem and no stem max pool, so the four stages see 32, 16, 8 and 4 pixel maps."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from bench.models.common import CIFAR_INPUT, IMAGENET_INPUT, torchvision_v1, with_in_channels
from bench.models.registry import register_model

if TYPE_CHECKING:
    from torch import nn
    from torchvision.models import ResNet

_resnet = partial(
    register_model,
    family="ResNet",
    year=2015,
    salient_feature="Shortcut connections",
    paper="He et al., CVPR 2016",
)
_imagenet = partial(_resnet, input_size=IMAGENET_INPUT, num_classes=1000)
_cifar = partial(_resnet, input_size=CIFAR_INPUT)


def _init_conv(conv: nn.Conv2d) -> None:
    """torchvision's ResNet initialisation of a convolution."""
    from torch import nn

    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")


def _resnet_imagenet(arch: str, num_classes: int, in_channels: int, **kwargs: Any) -> ResNet:
    from torchvision import models

    model = getattr(models, arch)(weights=None, num_classes=num_classes, **kwargs)
    model.conv1 = with_in_channels(model.conv1, in_channels, _init_conv)
    return model


def _resnet_cifar(arch: str, num_classes: int, in_channels: int, **kwargs: Any) -> ResNet:
    from torch import nn
    from torchvision import models

    model = getattr(models, arch)(weights=None, num_classes=num_classes, **kwargs)
    model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    _init_conv(model.conv1)
    model.maxpool = nn.Identity()
    return model


@_imagenet("resnet18", published=torchvision_v1(69.758, 89.078))
def resnet18(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """ResNet-18, torchvision layout (ImageNet, 224x224)."""
    return _resnet_imagenet("resnet18", num_classes, in_channels, **kwargs)


@_imagenet("resnet34", published=torchvision_v1(73.314, 91.42))
def resnet34(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """ResNet-34, torchvision layout (ImageNet, 224x224)."""
    return _resnet_imagenet("resnet34", num_classes, in_channels, **kwargs)


@_imagenet("resnet50", published=torchvision_v1(76.13, 92.862))
def resnet50(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """ResNet-50 (bottleneck blocks), torchvision layout (ImageNet, 224x224)."""
    return _resnet_imagenet("resnet50", num_classes, in_channels, **kwargs)


@_imagenet("resnet101", published=torchvision_v1(77.374, 93.546))
def resnet101(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """ResNet-101 (bottleneck blocks), torchvision layout (ImageNet, 224x224)."""
    return _resnet_imagenet("resnet101", num_classes, in_channels, **kwargs)


@_imagenet("resnet152", published=torchvision_v1(78.312, 94.046), paper_top5=95.51)
def resnet152(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """ResNet-152 (bottleneck blocks), torchvision layout (ImageNet, 224x224)."""
    return _resnet_imagenet("resnet152", num_classes, in_channels, **kwargs)


@_cifar("resnet18-cifar")
def resnet18_cifar(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """ResNet-18 for 32x32 inputs (3x3 stride-1 stem, no stem max pool)."""
    return _resnet_cifar("resnet18", num_classes, in_channels, **kwargs)


@_cifar("resnet34-cifar")
def resnet34_cifar(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """ResNet-34 for 32x32 inputs (3x3 stride-1 stem, no stem max pool)."""
    return _resnet_cifar("resnet34", num_classes, in_channels, **kwargs)


@_cifar("resnet50-cifar")
def resnet50_cifar(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """ResNet-50 for 32x32 inputs (3x3 stride-1 stem, no stem max pool)."""
    return _resnet_cifar("resnet50", num_classes, in_channels, **kwargs)
