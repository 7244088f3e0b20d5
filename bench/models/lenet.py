"""LeNet-5 (LeCun et al., 1998) for 32x32 inputs: the classic tanh + average-pool network and
the ReLU + max-pool variant the lecture trains on MNIST. Both have 61,706 parameters at one
input channel and ten classes."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from bench.models.common import reject_kwargs
from bench.models.registry import register_model

if TYPE_CHECKING:
    from torch import nn

_lenet = partial(
    register_model,
    family="LeNet",
    year=1998,
    salient_feature="Convolution + pooling",
    paper="LeCun et al., Proc. IEEE 1998",
    input_size=(1, 32, 32),
)


@_lenet("lenet5")
def lenet5(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """Classic LeNet-5: tanh, average pooling, C5 as a 5x5 convolution."""
    from collections import OrderedDict

    from torch import nn

    reject_kwargs("lenet5", kwargs)
    return nn.Sequential(
        OrderedDict(
            c1=nn.Conv2d(in_channels, 6, kernel_size=5),
            tanh1=nn.Tanh(),
            s2=nn.AvgPool2d(2),
            c3=nn.Conv2d(6, 16, kernel_size=5),
            tanh3=nn.Tanh(),
            s4=nn.AvgPool2d(2),
            c5=nn.Conv2d(16, 120, kernel_size=5),
            tanh5=nn.Tanh(),
            flatten=nn.Flatten(),
            f6=nn.Linear(120, 84),
            tanh6=nn.Tanh(),
            output=nn.Linear(84, num_classes),
        )
    )


@_lenet("lenet5-relu")
def lenet5_relu(num_classes: int, in_channels: int, **kwargs: Any) -> nn.Module:
    """LeNet-5 with ReLU and max pooling, as trained on MNIST in the lecture."""
    from collections import OrderedDict

    from torch import nn

    reject_kwargs("lenet5-relu", kwargs)
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(in_channels, 6, kernel_size=5),
            relu1=nn.ReLU(),
            pool1=nn.MaxPool2d(2),
            conv2=nn.Conv2d(6, 16, kernel_size=5),
            relu2=nn.ReLU(),
            pool2=nn.MaxPool2d(2),
            flatten=nn.Flatten(),
            fc1=nn.Linear(16 * 5 * 5, 120),
            relu3=nn.ReLU(),
            fc2=nn.Linear(120, 84),
            relu4=nn.ReLU(),
            fc3=nn.Linear(84, num_classes),
        )
    )
