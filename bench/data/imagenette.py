"""Imagenette in torchvision's layout: found, fetched, listed, decoded once, cached.

torchvision's ``datasets.Imagenette`` unpacks each of its three downloads (``size`` ``full``,
``320px``, ``160px``) into its own folder under the data directory ``DIR``:
``DIR/imagenette2[-320|-160]/{train,val}/<WordNet id>/*.JPEG``, one folder per class of the ten
(``WNIDS``). torchvision only downloads (``download``, where the folder is missing); bench lists
and reads the files itself: a folder that is not one of the ten classes, or a class folder
missing, is a one-line ``DataError``, and every file goes through ``image_files`` (JPEG or PNG,
size checked before decoding). Images are decoded once, to ``side``×``side`` (shorter edge, then
the centre crop), and kept in a cache file beside them (``decoded_cache``) that a later run reads
instead of decoding again.

The files are taken round-robin over the classes (the first file of every class, then the
second, ...), so that the first N images (``train_size``, ``test_size``) hold every class
alike; only those are decoded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, zip_longest
from pathlib import Path

import torch
from torchvision import datasets

from bench.data import decoded_cache
from bench.data.image_files import read_square
from bench.data.imageset import ImageSet
from bench.data.torchvision_sets import DOWNLOAD_ERRORS, FileCheck, last_line
from bench.errors import DataError, UnreadableData
from bench.suite.settings import IMAGENETTE_SIZES

WNIDS = tuple(sorted(datasets.Imagenette._WNID_TO_CLASS))
CLASSES = tuple(datasets.Imagenette._WNID_TO_CLASS[wnid][0] for wnid in WNIDS)
SPLITS = ("train", "val")


@dataclass(frozen=True)
class Loaded:
    """Imagenette's train and val splits, with the seconds spent decoding them (0.0 when read
    from the cache) and a one-line note on where they came from."""

    train: ImageSet
    test: ImageSet
    decode_s: float
    note: str


def folder(root: Path, size: str) -> Path:
    """The folder torchvision unpacks the ``size`` download into (``imagenette2-320``)."""
    url, _md5 = datasets.Imagenette._ARCHIVES[size]
    return root / Path(url).stem


def read_imagenette(
    root: Path,
    size: str,
    side: int,
    *,
    download: bool = False,
    counts: Sequence[int] = (0, 0),
    cache: bool = True,
) -> Loaded:
    """The train and val images of the ``size`` download under ``root`` at ``side`` px,
    downloaded first where the folder is missing and ``download``; ``counts``: the first N
    files of each split (0: all)."""
    base = folder(root, size)
    supply = f"pass --data-dir DIR containing {base.name}/{{train,val}}/<class>/*.JPEG"
    if not _exists(base) and download:
        try:
            datasets.Imagenette(str(root), split="train", size=size, download=True)
        except DOWNLOAD_ERRORS as err:
            raise DataError(
                f"could not download imagenette {size} into {base.resolve()} ({last_line(err)}); "
                f"{supply} instead"
            ) from None
    if not _exists(base):
        raise DataError(
            f"imagenette {size} not found in {base.resolve()}; {supply}, or add --download"
        )
    files = [_first(base / split, n) for split, n in zip(SPLITS, counts, strict=True)]
    path = base / f"bench-decoded-{side}px-{len(files[0][0])}-{len(files[1][0])}.bin"
    source = decoded_cache.source_hash(base, [p for paths, _ in files for p in paths], side)
    note = ""
    if cache:
        cached, note = decoded_cache.read(path, source, CLASSES)
        if cached is not None:
            return Loaded(*cached, 0.0, f"imagenette {size}: read {path} (decoded before)")
    start = time.perf_counter()
    train, test = (_decode(paths, labels, side) for paths, labels in files)
    decode_s = time.perf_counter() - start
    count = len(train) + len(test)
    done = f"imagenette {size}: decoded {count} images at {side} px in {decode_s:.2f} s"
    if cache:
        done = "; ".join(filter(None, [note, done, decoded_cache.write(path, source, train, test)]))
    return Loaded(train, test, decode_s, done)


def list_split(split: Path) -> tuple[list[Path], list[int]]:
    """The files of a split folder and their labels (indices into ``WNIDS``), round-robin over
    the classes, each class's files in name order; refused: a folder not of a known class, a
    file beside the class folders, a class folder missing."""
    try:
        entries = sorted(split.iterdir())
        found = {entry.name: entry for entry in entries}
        for entry in entries:
            if entry.name not in WNIDS:
                raise DataError(
                    f"{entry}: not one of the {len(WNIDS)} Imagenette classes (WordNet ids "
                    f"{WNIDS[0]}..{WNIDS[-1]})"
                )
            if not entry.is_dir():
                raise DataError(f"{entry}: a file where a class folder belongs")
        missing = [wnid for wnid in WNIDS if wnid not in found]
        if missing:
            raise DataError(f"{split}: incomplete, no class folder {missing[0]}")
        per_class = [sorted(found[wnid].iterdir()) for wnid in WNIDS]
    except OSError as err:
        raise UnreadableData(split, err, "be listed") from None
    pairs = [[(path, label) for path in paths] for label, paths in enumerate(per_class)]
    ordered = [pair for pair in chain.from_iterable(zip_longest(*pairs)) if pair is not None]
    return [path for path, _ in ordered], [label for _, label in ordered]


def check_imagenette(root: Path) -> FileCheck:
    """Which of the downloads are under ``root`` (``bench doctor``): their layout is listed and
    checked, no image is decoded."""
    present, problems = [], []
    for size in IMAGENETTE_SIZES:
        base = folder(root, size)
        try:
            if not _exists(base):
                continue
            counts = [len(list_split(base / split)[0]) for split in SPLITS]
        except DataError as err:
            problems.append(str(err))
            continue
        present.append(f"{size} in {base} ({counts[0]} train, {counts[1]} val files)")
    if problems:
        return FileCheck("corrupt", problems[0])
    if not present:
        return FileCheck(
            "missing", f"no {', '.join(folder(root, s).name for s in IMAGENETTE_SIZES)} in {root}"
        )
    return FileCheck("present", "; ".join(present) + " (images are checked as they are decoded)")


def _exists(base: Path) -> bool:
    try:
        return base.is_dir()
    except OSError as err:
        raise UnreadableData(base, err, "look for the files") from None


def _first(split: Path, n: int) -> tuple[list[Path], list[int]]:
    """The first ``n`` files of ``split`` (``list_split``'s order) and their labels; 0: all."""
    paths, labels = list_split(split)
    if n > len(paths):
        raise DataError(f"{split}: {n} images asked for, it holds {len(paths)}")
    return (paths[:n], labels[:n]) if n else (paths, labels)


def _decode(paths: Sequence[Path], labels: Sequence[int], side: int) -> ImageSet:
    """The images of ``paths`` at ``side`` px with their ``labels``."""
    images = torch.empty((len(paths), 3, side, side), dtype=torch.uint8)
    for index, path in enumerate(paths):
        images[index] = read_square(path, side)
    return ImageSet(images, torch.tensor(labels, dtype=torch.int64), CLASSES)
