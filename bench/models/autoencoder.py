"""The lecture's convolutional autoencoder for 32x32 images and the classifier fine-tuned from
its encoder.

Both are ``nn.Sequential`` with named parts: the encoder is ``conv_encoder`` (three 3x3
stride-2 convolutions, 32x32 → 128x4x4), ``flatten`` and ``fc_encoder`` (2048 → 1024); the
autoencoder goes on with ``fc_decoder``, ``unflatten`` and ``conv_decoder`` (bilinear
upsampling back to the input size), the classifier with one linear ``classifier``. Inputs must
be 32x32: the fully connected layers are sized for a 4x4 feature map.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError
from bench.models.common import CIFAR_INPUT, reject_kwargs
from bench.models.registry import register_model

if TYPE_CHECKING:
    from torch import nn

ENCODER_PARTS = ("conv_encoder", "flatten", "fc_encoder")
CODE_SIZE = 1024
_FEATURE_MAP = (128, 4, 4)
_FEATURES = 128 * 4 * 4

_autoencoder = partial(
    register_model,
    family="Autoencoder",
    year=2011,
    salient_feature="Unsupervised pretraining",
    paper="Masci et al., ICANN 2011",
    input_size=CIFAR_INPUT,
)


def _encoder_parts(in_channels: int) -> list[tuple[str, nn.Module]]:
    from torch import nn

    conv_encoder = nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=3, stride=2, padding=1),
        nn.LeakyReLU(0.1),
        nn.Conv2d(64, 128, kernel_size=3, stride=2, padding=1),
        nn.LeakyReLU(0.1),
        nn.Conv2d(128, 128, kernel_size=3, stride=2, padding=1),
        nn.LeakyReLU(0.1),
    )
    fc_encoder = nn.Sequential(nn.Linear(_FEATURES, CODE_SIZE), nn.LeakyReLU(0.1))
    return [("conv_encoder", conv_encoder), ("flatten", nn.Flatten()), ("fc_encoder", fc_encoder)]


def _upsampling_conv(in_channels: int, out_channels: int) -> list[nn.Module]:
    from torch import nn

    return [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.LeakyReLU(0.1),
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
    ]


@_autoencoder("conv-autoencoder", task="autoencode")
def conv_autoencoder(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """Convolutional autoencoder: stride-2 conv encoder, 1024-unit code, upsampling decoder.

    ``num_classes`` is not used: the output is a reconstruction of the input (after a ReLU).
    """
    from collections import OrderedDict

    from torch import nn

    reject_kwargs("conv-autoencoder", kwargs)
    conv_decoder = nn.Sequential(
        *_upsampling_conv(128, 128),
        *_upsampling_conv(128, 64),
        *_upsampling_conv(64, 64),
        nn.Conv2d(64, in_channels, kernel_size=3, padding=1),
        nn.ReLU(),
    )
    return nn.Sequential(
        OrderedDict(
            [
                *_encoder_parts(in_channels),
                ("fc_decoder", nn.Sequential(nn.Linear(CODE_SIZE, _FEATURES), nn.LeakyReLU(0.1))),
                ("unflatten", nn.Unflatten(1, _FEATURE_MAP)),
                ("conv_decoder", conv_decoder),
            ]
        )
    )


@_autoencoder("conv-autoencoder-classifier")
def conv_autoencoder_classifier(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """The conv-autoencoder's encoder plus a linear classifier (1024 → classes)."""
    from collections import OrderedDict

    from torch import nn

    reject_kwargs("conv-autoencoder-classifier", kwargs)
    return nn.Sequential(
        OrderedDict(
            [*_encoder_parts(in_channels), ("classifier", nn.Linear(CODE_SIZE, num_classes))]
        )
    )


def encoder(model: nn.Module) -> nn.Sequential:
    """The encoder of a conv-autoencoder or its classifier as one module sharing its weights."""
    from collections import OrderedDict

    from torch import nn

    missing = [part for part in ENCODER_PARTS if not hasattr(model, part)]
    if missing:
        raise BenchError(
            f"{type(model).__name__} has no {', '.join(missing)}: "
            "only conv-autoencoder and conv-autoencoder-classifier share an encoder"
        )
    return nn.Sequential(OrderedDict((part, getattr(model, part)) for part in ENCODER_PARTS))


def load_encoder_from_autoencoder(classifier: nn.Module, autoencoder: nn.Module) -> None:
    """Copy the pretrained encoder weights of ``autoencoder`` into ``classifier``."""
    encoder(classifier).load_state_dict(encoder(autoencoder).state_dict())
