"""Image grids from arrays (numpy only): first-layer filters and reconstructions."""

from __future__ import annotations

import numpy as np


def scale_to_unit(array: np.ndarray) -> np.ndarray:
    """``array`` scaled to [0, 1] by its own minimum and maximum (zeros where it is flat)."""
    low, high = float(array.min()), float(array.max())
    if high <= low:
        return np.zeros_like(array, dtype=np.float32)
    return ((array - low) / (high - low)).astype(np.float32)


def scale_each_to_unit(images: np.ndarray) -> np.ndarray:
    """Each of ``images`` [n, ...] scaled to [0, 1] by its own minimum and maximum."""
    return np.stack([scale_to_unit(image) for image in images])


def tile(images: np.ndarray, per_row: int = 8, pad: int = 1, fill: float = 1.0) -> np.ndarray:
    """``images`` [n, h, w, c] laid out ``per_row`` to a row with ``pad`` pixels of ``fill``."""
    count, height, width, channels = images.shape
    cols = min(per_row, count)
    rows = -(-count // cols)
    grid = np.full(
        (rows * (height + pad) + pad, cols * (width + pad) + pad, channels), fill, np.float32
    )
    for index, image in enumerate(images):
        top = pad + (index // cols) * (height + pad)
        left = pad + (index % cols) * (width + pad)
        grid[top : top + height, left : left + width] = image
    return grid


def filter_grid(weights: np.ndarray, per_row: int = 8) -> np.ndarray:
    """First-layer weights [out, in, kh, kw] as one image, scaled over the whole grid.

    Three input channels are shown as RGB; otherwise the mean over input channels is shown
    in grey (as torchvision's ``make_grid(..., normalize=True)`` does for one channel).
    """
    if weights.shape[1] == 3:
        tiles = weights.transpose(0, 2, 3, 1)
    else:
        tiles = weights.mean(axis=1)[..., np.newaxis]
    return tile(scale_to_unit(tiles), per_row)


def image_grid(images: np.ndarray, per_row: int = 8, each: bool = False) -> np.ndarray:
    """Images [n, C, H, W] as one grid image.

    With ``each``, every image is scaled to its own range; otherwise values in [0, 1] are shown
    as they are and others (normalised inputs) are scaled by their common range.
    """
    if each:
        shown = scale_each_to_unit(images)
    elif images.min() >= 0.0 and images.max() <= 1.0:
        shown = images
    else:
        shown = scale_to_unit(images)
    return tile(shown.astype(np.float32).transpose(0, 2, 3, 1), per_row)
