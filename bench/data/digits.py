"""scikit-learn's bundled handwritten digits (1797 images, 8×8, values 0..16) as a 32×32 set.

Values are scaled to 0..255 (``round(v * 255 / 16)``, half up) and each pixel becomes a 4×4 block
(nearest-neighbour upscaling): the 32×32 images hold exactly the original values, without
interpolated grey levels, and their statistics equal those of the 8×8 originals. The split is
scikit-learn's ``train_test_split(test_size=0.2, stratify=labels, random_state=0)``: 1437 training
and 360 test images, every class in the same proportion in both, in that function's (shuffled)
order.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from bench.data.imageset import ImageSet

UPSCALE = 4
TEST_FRACTION = 0.2
SPLIT_SEED = 0


def read_digits() -> tuple[ImageSet, ImageSet]:
    """The train and test splits of the digits data set (1437 and 360 images, 1×32×32)."""
    bunch = load_digits()
    values = torch.from_numpy(bunch.images).round().to(torch.int64)
    pixels = ((values * 255 + 8) // 16).to(torch.uint8).unsqueeze(1)
    images = pixels.repeat_interleave(UPSCALE, dim=2).repeat_interleave(UPSCALE, dim=3)
    labels = torch.from_numpy(bunch.target).to(torch.int64)
    classes = tuple(str(name) for name in bunch.target_names)
    train, test = train_test_split(
        np.arange(len(labels)),
        test_size=TEST_FRACTION,
        stratify=bunch.target,
        random_state=SPLIT_SEED,
    )

    def subset(index: np.ndarray) -> ImageSet:
        rows = torch.from_numpy(index)
        return ImageSet(images[rows].contiguous(), labels[rows], classes)

    return subset(train), subset(test)
