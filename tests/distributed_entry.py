"""``python -m torch.distributed.run ... tests/distributed_entry.py run ...``: ``bench`` with two
extra models that fail under DistributedDataParallel, for tests/test_distributed.py.

``test-nan-net`` diverges on every process alike; ``test-rank-one-fails`` raises in its third
training step on rank 1 only, leaving rank 0 waiting in the gradient all-reduce.
"""

from __future__ import annotations

import os
import sys

import torch
from torch import nn

from bench.cli import main
from bench.models.registry import register_model


class NanNet(nn.Module):
    """Produces NaN outputs from the first step."""

    def __init__(self, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4, 3)
        self.head = nn.Linear(4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).mean(dim=(2, 3))) * float("nan")


class RankOneFails(NanNet):
    """Trains normally, except that its third training step raises on rank 1."""

    def __init__(self, num_classes: int, in_channels: int) -> None:
        super().__init__(num_classes, in_channels)
        self.steps = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.steps += self.training
        if self.steps == 3 and os.environ.get("RANK") == "1":
            raise RuntimeError("synthetic failure on rank 1")
        return self.head(self.conv(x).mean(dim=(2, 3)))


for name, cls in (("test-nan-net", NanNet), ("test-rank-one-fails", RankOneFails)):
    register_model(
        name, family="Test", year=2024, salient_feature="fails", paper="-", input_size=(1, 32, 32)
    )(cls)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
