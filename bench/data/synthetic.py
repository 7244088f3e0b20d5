"""Seeded random images whose class can be learned: each class has its own smooth mean pattern
(a random C×4×4 grid upsampled bilinearly to H×W, values in 64..192) and every image is its class
pattern plus Gaussian noise (standard deviation 48), rounded and clipped to 0..255. Labels are
drawn uniformly. Everything is drawn on the CPU from one generator seeded with ``seed``, so a seed
gives the same images on every machine; train and test share the class patterns.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bench.data.imageset import ImageSet

PATTERN_GRID = 4
PATTERN_RANGE = (64.0, 192.0)
NOISE_STD = 48.0


def make_synthetic(
    image_size: tuple[int, int, int], num_classes: int, train_size: int, test_size: int, seed: int
) -> tuple[ImageSet, ImageSet]:
    """Train and test sets of ``train_size`` and ``test_size`` images of ``num_classes`` classes."""
    generator = torch.Generator().manual_seed(seed)
    channels, height, width = image_size
    grid = torch.rand(num_classes, channels, PATTERN_GRID, PATTERN_GRID, generator=generator)
    low, high = PATTERN_RANGE
    patterns = low + (high - low) * F.interpolate(
        grid, size=(height, width), mode="bilinear", align_corners=False
    )
    classes = tuple(f"class_{k}" for k in range(num_classes))

    def draw(n: int) -> ImageSet:
        labels = torch.randint(num_classes, (n,), generator=generator)
        noise = NOISE_STD * torch.randn(n, channels, height, width, generator=generator)
        images = (patterns[labels] + noise).round().clamp(0, 255).to(torch.uint8)
        return ImageSet(images, labels, classes)

    return draw(train_size), draw(test_size)
