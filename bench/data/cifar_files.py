"""CIFAR-10 and CIFAR-100 python batches, read safely and checked.

Each batch is a pickled dict with ``data`` (uint8 [N, 3072], a 3×32×32 image per row, channel
by channel) and a list of N integer labels (``labels``, or ``fine_labels`` for CIFAR-100); the
meta file lists the class names (``label_names``, ``fine_label_names``). Files are read by
``safe_pickle`` (nothing in them can run code; a file the OS will not let us read is its
``UnreadableData``) and anything else is a one-line ``DataError`` naming the file: a value of
the wrong type, shape or count, a label that is not an integer class index.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data.imageset import ImageSet
from bench.data.safe_pickle import load_data_pickle
from bench.errors import DataError

IMAGE_SHAPE = (3, 32, 32)
_ROW = int(np.prod(IMAGE_SHAPE))
# The key of the labels in a batch, by the key of the class names in the meta file.
_LABELS = {"label_names": "labels", "fine_label_names": "fine_labels"}


def read_cifar(
    folder: Path, splits: Sequence[Sequence[str]], meta: str, names_key: str
) -> list[ImageSet]:
    """Per split of ``splits``, the images and labels of its batches in ``folder`` (in that
    order), with class names from the ``names_key`` list of the meta file ``meta``."""
    classes = _class_names(folder / meta, names_key)
    return [_split(folder, files, _LABELS[names_key], classes) for files in splits]


def _split(folder: Path, files: Sequence[str], key: str, classes: tuple[str, ...]) -> ImageSet:
    parts = [_batch(folder / file, key, len(classes)) for file in files]
    images = np.concatenate([data for data, _ in parts]).reshape(-1, *IMAGE_SHAPE)
    labels = np.concatenate([labels for _, labels in parts])
    return ImageSet(torch.from_numpy(images), torch.from_numpy(labels), classes)


def _class_names(path: Path, key: str) -> tuple[str, ...]:
    (names,) = _entries(path, key)
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DataError(f"{path}: {key} is {_kind(names)}, not a list of class names")
    return tuple(names)


def _batch(path: Path, key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``data`` and ``key`` (as int64) of one batch, checked."""
    data, labels = _entries(path, "data", key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise DataError(f"{path}: data is {_kind(data)}, not a uint8 array [N, {_ROW}]")
    if data.shape[1] != _ROW:
        raise DataError(f"{path}: data rows hold {data.shape[1]} values, not {_ROW} (3×32×32)")
    if not isinstance(labels, list):
        raise DataError(f"{path}: {key} is {_kind(labels)}, not a list of integers")
    if len(labels) != len(data):
        raise DataError(f"{path}: {len(data)} images but {len(labels)} {key}")
    for index, label in enumerate(labels):
        if type(label) is not int or not 0 <= label < num_classes:
            value = repr(label)[:40]
            raise DataError(
                f"{path}: {key}[{index}] is {value}, not a class index in 0..{num_classes - 1}"
            )
    return data, np.array(labels, dtype=np.int64)


def _entries(path: Path, *keys: str) -> list[Any]:
    """The values of ``keys`` in the dict pickled in ``path``."""
    content = load_data_pickle(path)
    if not isinstance(content, dict):
        raise DataError(f"{path}: holds {_kind(content)}, not a dict")
    missing = [key for key in keys if key not in content]
    if missing:
        raise DataError(f"{path}: no {missing[0]!r} entry")
    return [content[key] for key in keys]


def _kind(value: Any) -> str:
    """``value``'s type, and an array's dtype and shape, for messages."""
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array {list(value.shape)}"
    return f"a {type(value).__name__}"
