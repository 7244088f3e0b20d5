"""Small Imagenette folders in torchvision's layout, JPEGs written by PIL, and damaged files.

``write_imagenette(root)`` lays out ``root/imagenette2-160/{train,val}/<WordNet id>/*.JPEG`` (the
``160px`` download's folder, as ``torchvision.datasets.Imagenette`` unpacks it) with a few small
JPEGs per class, each a flat colour of its own (class and index) plus a little noise; it returns
the size folder.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image

WNIDS = (
    "n01440764",
    "n02102040",
    "n02979186",
    "n03000684",
    "n03028079",
    "n03394916",
    "n03417042",
    "n03425413",
    "n03445777",
    "n03888257",
)


def jpeg_bytes(height: int, width: int, colour: tuple[int, int, int], seed: int = 0) -> bytes:
    """A JPEG (quality 95) of a ``colour`` image with a little seeded noise."""
    noise = np.random.default_rng(seed).integers(-8, 9, (height, width, 3))
    pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=95)
    return out.getvalue()


def bomb_bytes(width: int, height: int) -> bytes:
    """A tiny (8x8) JPEG whose frame header claims ``width`` x ``height`` pixels: what a
    decompression bomb's header looks like, without its gigabytes."""
    data = bytearray(jpeg_bytes(8, 8, (0, 0, 0)))
    frame = data.find(b"\xff\xc0")  # start of frame: length, precision, height, width
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def write_imagenette(
    root: Path,
    per_class: tuple[int, int] = (2, 1),
    size: tuple[int, int] = (40, 52),
    folder: str = "imagenette2-160",
) -> Path:
    """``per_class`` (train, val) JPEGs of ``size`` (height, width) per class under
    ``root/folder``."""
    base = root / folder
    for split, count in zip(("train", "val"), per_class, strict=True):
        for label, wnid in enumerate(WNIDS):
            folder = base / split / wnid
            folder.mkdir(parents=True)
            for index in range(count):
                colour = (25 * label, 255 - 25 * label, 60 * index % 256)
                data = jpeg_bytes(*size, colour, seed=label * 100 + index)
                (folder / f"{wnid}_{index:05d}.JPEG").write_bytes(data)
    return base
