"""What the model families share: input sizes, published figures, and the layer surgery that
fits a torchvision architecture to another input (a replaced layer is initialised as
torchvision initialises that layer in that family)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError
from bench.models.registry import Published

if TYPE_CHECKING:
    from torch import nn

IMAGENET_INPUT = (3, 224, 224)
CIFAR_INPUT = (3, 32, 32)


def torchvision_v1(top1: float, top5: float) -> Published:
    """ImageNet acc@1/acc@5 that torchvision documents for its IMAGENET1K_V1 weights."""
    return Published(top1, top5, source="torchvision IMAGENET1K_V1 weights (published)")


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The first convolution the input meets: the first ``nn.Conv2d`` in ``model.modules()``."""
    from torch import nn

    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module
    raise ValueError(f"{type(model).__name__} has no Conv2d layer")


def with_in_channels(
    conv: nn.Conv2d, in_channels: int, init: Callable[[nn.Conv2d], None] | None = None
) -> nn.Conv2d:
    """``conv`` itself if it reads ``in_channels``, else a new convolution that does, with the
    same output channels, kernel, stride, padding, dilation and bias, initialised by ``init``
    (PyTorch's default when None)."""
    from torch import nn

    if conv.in_channels == in_channels:
        return conv
    new = nn.Conv2d(
        in_channels,
        conv.out_channels,
        kernel_size=conv.kernel_size,  # type: ignore[arg-type]
        stride=conv.stride,  # type: ignore[arg-type]
        padding=conv.padding,  # type: ignore[arg-type]
        dilation=conv.dilation,  # type: ignore[arg-type]
        bias=conv.bias is not None,
    )
    if init is not None:
        init(new)
    return new


def reject_kwargs(name: str, kwargs: dict[str, Any]) -> None:
    """Raise for model arguments that ``name`` does not take."""
    if kwargs:
        raise BenchError(f"model {name!r} takes no argument {', '.join(map(repr, kwargs))}")
