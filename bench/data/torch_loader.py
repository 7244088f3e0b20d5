"""torchvision's loading path (``loader = "torch"``): per-image ``transforms.v2`` in a
``DataLoader`` (optionally with worker processes), batches copied to the device.

It draws each epoch's image order exactly as ``BatchLoader`` does, so both paths see the same
images in the same order for a seed. The random augmentations differ between the paths:
torchvision draws them per image from torch's CPU random state, which is seeded from the same
``(seed, epoch)`` generator: in worker processes by the ``DataLoader`` itself (its generator seeds
each worker), without workers by a private state kept apart from torch's global one (training's
own randomness stays the same whichever loader runs). The same seed and ``num_workers`` give the
same batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from bench.data.imageset import ImageSet
from bench.data.loader import BatchLoader, epoch_seed


class _Images(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """uint8 images and labels in host memory, transformed one image at a time."""

    def __init__(self, data: BatchLoader, transform: Callable[[torch.Tensor], torch.Tensor]):
        self.images, self.labels, self.transform = data.images, data.labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(self.images[index]), self.labels[index]


class TorchDataLoader(BatchLoader):
    """``BatchLoader``'s interface over a ``torch.utils.data.DataLoader``."""

    kind = "torch"

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        *,
        device: torch.device | str = "cpu",
        num_workers: int = 0,
        **options: Any,
    ) -> None:
        super().__init__(data, batch_size, device="cpu", **options)
        self.target = torch.device(device)
        self.num_workers = num_workers
        self.dataset = _Images(self, self._transform(data))

    def _transform(self, data: ImageSet) -> v2.Compose:
        steps: list[Callable[..., Any]] = [v2.ToDtype(torch.float32, scale=True)]
        height, width = data.images.shape[-2:]
        if self.resize:
            steps.append(v2.Resize(self.resize, antialias=True))
            short = min(height, width)
            height, width = height * self.resize // short, width * self.resize // short
        if self.resized_crop:
            steps.append(
                v2.RandomResizedCrop(
                    (height, width), scale=(self.resized_crop, 1.0), antialias=True
                )
            )
        if self.crop_padding:
            steps.append(v2.RandomCrop((height, width), padding=self.crop_padding))
        if self.hflip:
            steps.append(v2.RandomHorizontalFlip())
        if self.mean is not None and self.std is not None:
            steps.append(v2.Normalize(list(self.mean), list(self.std)))
        return v2.Compose(steps)

    def batches(self, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of epoch ``epoch``, in ``BatchLoader``'s order for the same seed."""
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        order = self.epoch_order(generator)
        indices = (torch.arange(len(self.labels)) if order is None else order)[: self.num_images]
        loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=indices.tolist(),
            num_workers=self.num_workers,
            pin_memory=self.target.type == "cuda",
            generator=generator,
        )
        fetched = iter(loader) if self.num_workers else _private_rng(loader, generator)
        for inputs, labels in fetched:
            yield (
                inputs.to(self.target, non_blocking=True),
                labels.to(self.target, non_blocking=True),
            )


def _private_rng(loader: DataLoader[Any], generator: torch.Generator) -> Iterator[Any]:
    """A single-process loader's batches, its transforms drawing from a CPU random state of
    their own seeded from ``generator``, torch's global state left as it was."""
    seed = int(torch.randint(2**62, (), generator=generator))
    state = torch.Generator().manual_seed(seed).get_state()
    batches = iter(loader)
    while True:
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(state)
            batch = next(batches, None)
            state = torch.get_rng_state()
        if batch is None:
            return
        yield batch
