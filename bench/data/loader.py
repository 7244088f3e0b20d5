"""``BatchLoader``: batches of an in-memory ``ImageSet``, prepared on the device, seeded per epoch.

The images stay uint8 on the device (a quarter of the memory of float32); each batch is turned
into float32 there, in this order: to [0, 1] → resize → random resized crop → random crop with
zero padding (back to the same size) → random horizontal flip → normalise. Epoch ``e`` of a
loader with seed ``s`` draws its order and its augmentation from a CPU generator seeded from
``(s, e)``: the same seed gives the same batches in every run and on every device, whichever
epochs are read and in whatever order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from bench.data import transforms
from bench.data.imageset import ImageSet


class BatchLoader:
    """One epoch of ``(inputs float32 [B, C, H, W], labels int64 [B])`` batches at a time.

    ``shuffle``: a new random order each epoch (else the stored order). ``drop_last``: leave out
    the final incomplete batch. ``resize``: as torchvision's ``Resize(resize)`` (an int sets the
    smaller edge). ``mean``/``std``: normalise per channel (both or neither). ``crop_padding``:
    random crop after zero padding by that many pixels (0 or None: no crop). ``resized_crop``: a
    random crop of at least this share of each image's area, resized back (0 or None: none).
    ``hflip``: flip each
    image left-right with probability 0.5. A training loader shuffles and augments; a test loader
    does neither.

    ``rank`` of ``world_size`` processes (distributed training): each process takes every
    ``world_size``-th image of the epoch's order, starting at ``rank``. All processes draw the
    same seeded order; a shuffled loader first leaves out its last ``n mod world_size`` images
    (other ones each epoch) so that every process gets as many batches, an unshuffled one
    gives each image to exactly one process (evaluation counts every image once).
    """

    kind = "resident"

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        *,
        device: torch.device | str = "cpu",
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        resize: int | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        crop_padding: int | None = None,
        resized_crop: float | None = None,
        hflip: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must lie in 0..world_size-1, got {rank} of {world_size}")
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        self.device = torch.device(device)
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.resize = resize
        self.mean, self.std = mean, std
        self._normalize = None  # mean and std as tensors on the device, made once
        if mean is not None and std is not None:
            if not all(std):
                raise ValueError("std must not be zero")
            self._normalize = (
                transforms.channel_values(mean, self.device),
                transforms.channel_values(std, self.device),
            )
        self.crop_padding = crop_padding or 0
        self.resized_crop = resized_crop or 0.0
        self.hflip = hflip
        self.rank, self.world_size = rank, world_size
        stored = len(self.labels)
        self._share = stored // world_size if shuffle else len(range(rank, stored, world_size))

    def __len__(self) -> int:
        """Batches per epoch."""
        full, rest = divmod(self._share, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    @property
    def num_images(self) -> int:
        """Images per epoch (fewer than stored when ``drop_last`` leaves a batch out)."""
        return min(len(self) * self.batch_size, self._share)

    def batches(self, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of epoch ``epoch``."""
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        order = self.epoch_order(generator)
        for start in range(0, self.num_images, self.batch_size):
            rows = slice(start, start + self.batch_size)
            index = rows if order is None else order[rows]
            yield self.prepare(self.images[index], generator), self.labels[index]

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor | None:
        """This process's image order for an epoch (``None``: the stored order, all images)."""
        order = None
        if self.shuffle:
            order = transforms.to_device(
                torch.randperm(len(self.labels), generator=generator), self.device
            )
        if self.world_size > 1:
            order = self._process_share(order)
        return order

    def _process_share(self, order: torch.Tensor | None) -> torch.Tensor:
        """This process's images of the epoch's ``order`` (``None``: the stored order)."""
        if order is None:
            order = torch.arange(len(self.labels), device=self.device)
        else:
            order = order[: self._share * self.world_size]
        return order[self.rank :: self.world_size]

    def prepare(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """uint8 images → the float inputs of a batch (see the module docstring for the order)."""
        x = transforms.to_float(images)
        if self.resize:
            x = transforms.resize(x, self.resize)
        if self.resized_crop:
            x = transforms.random_resized_crop(x, self.resized_crop, generator)
        if self.crop_padding:
            x = transforms.random_crop(x, (x.shape[-2], x.shape[-1]), self.crop_padding, generator)
        if self.hflip:
            x = transforms.random_hflip(x, generator)
        if self._normalize is not None:
            x = transforms.normalize(x, *self._normalize)
        return x


def epoch_seed(seed: int, epoch: int) -> int:
    """A 64-bit seed for ``(seed, epoch)``; distinct pairs give unrelated streams."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0])
