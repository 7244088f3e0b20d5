"""MNIST-style idx files (MNIST, Fashion-MNIST), read and checked.

An idx file is a big-endian header (a magic number whose low byte is the number of dimensions,
2051 for uint8 images [N, H, W] and 2049 for uint8 labels [N], then one 32-bit size per
dimension) followed by exactly that many bytes. A file is read as ``NAME`` or, where that is
absent, as its gzipped ``NAME.gz`` (as distributed); anything wrong is a one-line
``DataError`` naming the file and what is wrong (``UnreadableData`` where the OS will not let
us read it).
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from bench.data.imageset import ImageSet
from bench.errors import DataError, UnreadableData

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049


def idx_path(folder: Path, name: str) -> Path:
    """The file ``name`` in ``folder`` is read from: itself, or else its ``.gz``."""
    plain = folder / name
    return plain if plain.is_file() else folder / f"{name}.gz"


def read_idx_split(folder: Path, prefix: str, classes: Sequence[str]) -> ImageSet:
    """The images and labels of ``{prefix}-images-idx3-ubyte`` and ``{prefix}-labels-idx1-ubyte``
    in ``folder``, labels checked against ``classes``."""
    images_path = idx_path(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = idx_path(folder, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(f"{images_path} holds {len(images)} images but {labels_path} {len(labels)}")
    if len(labels) and labels.max() >= len(classes):
        index = int(np.argmax(labels >= len(classes)))
        raise DataError(
            f"{labels_path}: label {labels[index]} at {index} is not a class index "
            f"in 0..{len(classes) - 1}"
        )
    return ImageSet(
        torch.from_numpy(images.copy()).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        tuple(classes),
    )


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The uint8 array of the idx file ``path``, whose magic number must be ``magic``."""
    data = _read_bytes(path)
    ndim = magic % 256
    header = 4 * (1 + ndim)
    if len(data) < header:
        raise DataError(f"{path}: {len(data)} bytes, too short for an idx header of {header}")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DataError(f"{path}: magic number {found}, expected {magic} (uint8, {ndim}-D)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    count = math.prod(shape)
    if len(data) - header != count:
        raise DataError(
            f"{path}: {len(data) - header} bytes of values, but the header's shape "
            f"{list(shape)} needs {count}"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _read_bytes(path: Path) -> bytes:
    """The content of ``path``, decompressed where it ends in ``.gz``; a file the OS will not
    let us read is ``UnreadableData``."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UnreadableData(path, err) from None
    if path.suffix != ".gz":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read ({err})") from None
