"""The data set registry: names, options and ``load_dataset``.

``mnist``, ``fashion-mnist``, ``cifar10`` and ``cifar100`` are read from files in torchvision's
layout (see ``bench.data.torchvision_sets``), ``imagenette`` from its JPEGs in torchvision's layout
(``bench.data.imagenette``), all normalised with their published constants (ImageNet's for
``imagenette``);
``digits`` (scikit-learn's bundled 8×8 digits at 32×32) and ``synthetic`` (seeded class patterns
plus noise) need no files and are normalised with their own training split's statistics.

Options (``None`` or ``0`` for a size means the default):
- every data set: ``train_size``, ``test_size``: keep the first N images of each split (an error
  when the split has fewer); for ``synthetic`` the number of images drawn (defaults 1024, 256).
- ``imagenette`` only: ``side`` the decoded images' side in pixels (default 224), ``size``
  torchvision's download to read (``full``, ``320px``, ``160px``; default ``320px``), ``cache``
  keep and reuse the decoded images (default true).
- ``synthetic`` only: ``image_size`` (C, H, W) default (3, 32, 32), ``num_classes`` default 10,
  ``seed`` default 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.data.digits import read_digits
from bench.data.imagenette import read_imagenette
from bench.data.imageset import DataSplits, ImageSet, channel_stats
from bench.data.synthetic import make_synthetic
from bench.data.torchvision_sets import read_torchvision_splits
from bench.errors import DataError, UnknownNameError
from bench.suite.settings import DATASET_SIZES, DATASETS, IMAGENETTE_SIZES

__all__ = ["DATASETS", "DATASET_OPTIONS", "DataSplits", "ImageSet", "load_dataset"]


# Published per-channel mean and std (in [0, 1] units) of each file-based data set's train split.
PUBLISHED_STATS: Mapping[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenette": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # ImageNet's
}

_SIZES = ("train_size", "test_size")
DATASET_OPTIONS: Mapping[str, tuple[str, ...]] = {
    **{name: _SIZES for name in DATASETS},
    "synthetic": (*_SIZES, "image_size", "num_classes", "seed"),
    "imagenette": (*_SIZES, "side", "size", "cache"),
}
IMAGENETTE_DEFAULTS: Mapping[str, Any] = {"side": 224, "size": "320px", "cache": True}
SYNTHETIC_DEFAULTS: Mapping[str, Any] = {
    "train_size": DATASET_SIZES["synthetic"][0],
    "test_size": DATASET_SIZES["synthetic"][1],
    "image_size": (3, 32, 32),
    "num_classes": 10,
    "seed": 0,
}


def load_dataset(
    name: str,
    data_dir: Path,
    download: bool = False,
    options: Mapping[str, Any] | None = None,
) -> DataSplits:
    """Load data set ``name`` into memory (files, where it has any, under ``data_dir``)."""
    if name not in DATASETS:
        raise UnknownNameError("dataset", name, DATASETS)
    opts = _check_options(name, options or {})
    if name == "synthetic":
        full = {**SYNTHETIC_DEFAULTS, **{k: v for k, v in opts.items() if v}}
        train, test = make_synthetic(
            tuple(full["image_size"]),
            full["num_classes"],
            full["train_size"],
            full["test_size"],
            full["seed"],
        )
        mean, std = channel_stats(train.images)
        return DataSplits(name, train, test, mean, std)
    if name == "imagenette":
        full = {**IMAGENETTE_DEFAULTS, **{k: v for k, v in opts.items() if v is not None}}
        counts = (full.get("train_size") or 0, full.get("test_size") or 0)
        loaded = read_imagenette(
            Path(data_dir),
            full["size"],
            full["side"] or IMAGENETTE_DEFAULTS["side"],
            download=download,
            counts=counts,
            cache=full["cache"],
        )
        mean, std = PUBLISHED_STATS[name]
        return DataSplits(name, loaded.train, loaded.test, mean, std, loaded.decode_s, loaded.note)
    if name == "digits":
        train, test = read_digits()
        mean, std = channel_stats(train.images)
    else:
        train, test = read_torchvision_splits(name, Path(data_dir), download)
        mean, std = PUBLISHED_STATS[name]
    train = _head(train, opts.get("train_size"), name, "train")
    test = _head(test, opts.get("test_size"), name, "test")
    return DataSplits(name, train, test, mean, std)


def _check_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` after checking every key applies to ``name`` and every value's type."""
    known = DATASET_OPTIONS[name]
    for key, value in options.items():
        if key not in known:
            raise UnknownNameError("option", key, known, where=f"dataset {name}")
        if key == "image_size":
            ok = _is_sizes(value) and len(value) == 3 and min(value) >= 1
        elif key == "size":
            ok = value in IMAGENETTE_SIZES
        elif key == "cache":
            ok = isinstance(value, bool)
        else:
            least = {"num_classes": 2}.get(key, 0)
            ok = value is None or (_is_int(value) and value >= least)
        if not ok:
            raise DataError(f"dataset {name}: option {key} has invalid value {value!r}")
    return dict(options)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_sizes(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(_is_int(v) for v in value)


def _head(images: ImageSet, n: int | None, name: str, split: str) -> ImageSet:
    if not n:
        return images
    if n > len(images):
        have = len(images)
        raise DataError(f"dataset {name}: {split}_size {n} exceeds the {have} images of {split}")
    return images.head(n)
