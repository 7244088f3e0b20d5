"""Writers of small data sets in the real on-disk formats, in torchvision's layout under ``root``.

Import from tests as ``from data_files import write_mnist``. Each writer returns the arrays it wrote
in the layout ``bench.data`` loads them into (images uint8 [N, C, H, W], labels int64 [N]).

- MNIST / Fashion-MNIST: big-endian idx files (magic 2051 for images, 2049 for labels), gzipped
  as distributed, in ``root/MNIST/raw`` and ``root/FashionMNIST/raw``.
- CIFAR-10 / CIFAR-100: pickled dicts (protocol 2, as the originals) with ``data`` uint8
  [N, 3072] (channel-major rows) and ``labels`` / ``fine_labels``, plus the meta file with the
  class names. The originals were pickled by Python 2, whose ``str`` keys load as ``'data'`` under
  ``encoding="latin1"`` (the loader's, as torchvision's); Python 3 ``str`` keys load the same
  way. ``bench`` reads and checks them exactly as it does the official release.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
CIFAR100_CLASSES = tuple(f"fine_{k:02d}" for k in range(100))


@dataclass(frozen=True)
class Written:
    """The arrays a writer put on disk, as ``bench.data`` loads them."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def random_split(
    n: int, shape: tuple[int, int, int], num_classes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random uint8 images of ``shape`` and int64 labels below ``num_classes``."""
    images = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    return images, rng.integers(0, num_classes, size=n, dtype=np.int64)


def write_idx(path: Path, array: np.ndarray, *, compress: bool = True) -> Path:
    """An idx file of uint8 ``array`` (1-D labels or [N, H, W] images), gzipped when
    ``compress`` (``path`` then gets ``.gz``)."""
    magic = IMAGES_MAGIC if array.ndim == 3 else LABELS_MAGIC
    header = struct.pack(f">{1 + array.ndim}I", magic, *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def write_mnist(
    root: Path,
    n_train: int = 20,
    n_test: int = 10,
    *,
    folder: str = "MNIST",
    seed: int = 0,
    compress: bool = True,
) -> Written:
    """MNIST-format idx files (28×28) in ``root/folder/raw``."""
    rng = np.random.default_rng(seed)
    raw = Path(root) / folder / "raw"
    train = random_split(n_train, (1, 28, 28), 10, rng)
    test = random_split(n_test, (1, 28, 28), 10, rng)
    for prefix, (images, labels) in (("train", train), ("t10k", test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images[:, 0], compress=compress)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, compress=compress)
    return Written(*train, *test)


def write_fashion_mnist(
    root: Path, n_train: int = 20, n_test: int = 10, *, seed: int = 0, compress: bool = True
) -> Written:
    """Fashion-MNIST-format idx files in ``root/FashionMNIST/raw``."""
    return write_mnist(root, n_train, n_test, folder="FashionMNIST", seed=seed, compress=compress)


def write_cifar10(root: Path, n_train: int = 10, n_test: int = 5, *, seed: int = 0) -> Written:
    """CIFAR-10 python batches (``n_train`` images spread over data_batch_1..5) in
    ``root/cifar-10-batches-py``."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    train = random_split(n_train, (3, 32, 32), 10, rng)
    test = random_split(n_test, (3, 32, 32), 10, rng)
    parts = np.array_split(np.arange(n_train), 5)
    for k, rows in enumerate(parts, start=1):
        batch = (train[0][rows], train[1][rows])
        write_pickle(
            folder / f"data_batch_{k}", _batch(f"training batch {k} of 5", *batch, "labels")
        )
    write_pickle(folder / "test_batch", _batch("testing batch 1 of 1", *test, "labels"))
    meta = {"num_cases_per_batch": len(parts[0]), "label_names": list(CIFAR10_CLASSES)}
    write_pickle(folder / "batches.meta", {**meta, "num_vis": 3072})
    return Written(*train, *test)


def write_cifar100(root: Path, n_train: int = 10, n_test: int = 5, *, seed: int = 0) -> Written:
    """CIFAR-100 python files (train, test, meta) in ``root/cifar-100-python``."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-100-python"
    train = random_split(n_train, (3, 32, 32), 100, rng)
    test = random_split(n_test, (3, 32, 32), 100, rng)
    for name, (images, labels) in (("train", train), ("test", test)):
        entry = _batch(name, images, labels, "fine_labels")
        write_pickle(folder / name, {**entry, "coarse_labels": [int(v) // 5 for v in labels]})
    coarse = [f"coarse_{k:02d}" for k in range(20)]
    write_pickle(
        folder / "meta", {"fine_label_names": list(CIFAR100_CLASSES), "coarse_label_names": coarse}
    )
    return Written(*train, *test)


def _batch(label: str, images: np.ndarray, labels: np.ndarray, key: str) -> dict[str, object]:
    return {
        "batch_label": label,
        key: [int(v) for v in labels],
        "data": images.reshape(len(images), -1),
        "filenames": [f"image_{i:05d}.png" for i in range(len(images))],
    }


def write_pickle(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(obj, f, protocol=2)
