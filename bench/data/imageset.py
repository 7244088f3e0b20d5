"""The in-memory form of a data set: uint8 images with labels, and its train/test splits."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ImageSet:
    """Images (uint8, [N, C, H, W]) with their labels (int64, [N]) and class names."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(
                f"images must be uint8 [N, C, H, W], got {self.images.dtype} "
                f"{list(self.images.shape)}"
            )
        if self.labels.dtype != torch.int64 or self.labels.shape != self.images.shape[:1]:
            raise ValueError(
                f"labels must be int64 [{len(self.images)}], got {self.labels.dtype} "
                f"{list(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int) -> ImageSet:
        """The first ``n`` images (a copy, so the full set can be freed)."""
        return ImageSet(self.images[:n].clone(), self.labels[:n].clone(), self.classes)


@dataclass(frozen=True)
class DataSplits:
    """A named data set's train and test splits with its per-channel normalisation constants
    (in [0, 1] units); for data sets of compressed images, the seconds spent decoding them
    (``decode_s``, 0.0 when read from a cache of decoded images) and a one-line ``note`` on
    where they came from."""

    name: str
    train: ImageSet
    test: ImageSet
    mean: tuple[float, ...]
    std: tuple[float, ...]
    decode_s: float | None = None
    note: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.train.classes)

    @property
    def in_channels(self) -> int:
        return self.image_size[0]

    @property
    def image_size(self) -> tuple[int, int, int]:
        """(C, H, W) of the stored images."""
        c, h, w = self.train.images.shape[1:]
        return (c, h, w)


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) standard deviation of uint8 images, in [0, 1] units."""
    std, mean = torch.std_mean(images.double() / 255, dim=(0, 2, 3), correction=0)
    return tuple(mean.tolist()), tuple(std.tolist())
