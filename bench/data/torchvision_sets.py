"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 in torchvision's layout: found, fetched, read.

Files sit in torchvision's own layout under the data directory ``DIR``:
``DIR/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``, ``DIR/FashionMNIST/raw/...``,
``DIR/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}`` and
``DIR/cifar-100-python/{train,test,meta}``.

The files are read by ``idx_files`` and ``cifar_files``, never by torchvision's own readers:
nothing in a data directory can run code (CIFAR batches are pickles), and every file's contents
are checked (types, shapes, counts, labels in range) whether or not it is the official release.
torchvision only downloads the files where some are missing and ``download`` is asked for (its
archives are checked against their md5 as they arrive).

``check_files`` (``bench doctor``) says whether a data set's files are there, whether they are
the official release (CIFAR: torchvision's md5 of every file) and, where not, whether they pass
the loader's checks; it never downloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchvision import datasets
from torchvision.datasets.utils import calculate_md5

from bench.data.cifar_files import read_cifar
from bench.data.idx_files import idx_path, read_idx_split
from bench.data.imageset import ImageSet
from bench.errors import DataError, UnreadableData

SOURCES: Mapping[str, type[datasets.VisionDataset]] = {
    "mnist": datasets.MNIST,
    "fashion-mnist": datasets.FashionMNIST,
    "cifar10": datasets.CIFAR10,
    "cifar100": datasets.CIFAR100,
}
# What torchvision's download raises when it cannot fetch or unpack an archive.
DOWNLOAD_ERRORS = (RuntimeError, OSError, ValueError)


@dataclass(frozen=True)
class Files:
    """Where a data set's files sit under the data directory, and the official md5 of each."""

    cls: Any  # the torchvision class that names and downloads them
    folder: Path  # their folder
    expected: dict[str, str | None]  # file name → md5 of the official release (None: unknown)
    layout: str  # the files, relative to the data directory, for messages


@dataclass(frozen=True)
class FileCheck:
    """A data set's files: ``status`` (verified, present, missing, incomplete, unreadable or
    corrupt) and a one-line ``detail``."""

    status: str
    detail: str


def data_files(name: str, root: Path) -> Files:
    """The files of data set ``name`` (a key of ``SOURCES``) under ``root``."""
    cls = SOURCES[name]
    if issubclass(cls, datasets.MNIST):
        relative = f"{cls.__name__}/raw"
        expected: dict[str, str | None] = {Path(file).stem: None for file, _ in cls.resources}
        return Files(cls, root / relative, expected, f"{relative}/{{{','.join(expected)}}}[.gz]")
    files = [*cls.train_list, *cls.test_list, [cls.meta["filename"], cls.meta["md5"]]]
    md5: dict[str, str | None] = {file: digest for file, digest in files}
    return Files(cls, root / cls.base_folder, md5, f"{cls.base_folder}/{{{','.join(md5)}}}")


def read_torchvision_splits(name: str, root: Path, download: bool) -> tuple[ImageSet, ImageSet]:
    """The train and test splits of data set ``name`` (a key of ``SOURCES``) under ``root``,
    downloaded first where files are missing and ``download``."""
    files = data_files(name, root)
    supply = f"pass --data-dir DIR containing {files.layout}"
    if _missing(files) and download:
        try:
            _download(files.cls, root)
        except DOWNLOAD_ERRORS as err:
            folder = files.folder.resolve()
            raise DataError(
                f"could not download {name} into {folder} ({last_line(err)}); {supply} instead"
            ) from None
    missing = _missing(files)
    if missing:
        state = (
            "not found" if len(missing) == len(files.expected) else f"incomplete (no {missing[0]})"
        )
        raise DataError(f"{name} {state} in {files.folder.resolve()}; {supply}, or add --download")
    return _read(files)


def check_files(name: str, root: Path) -> FileCheck:
    """Whether data set ``name``'s files are under ``root``: the official release (md5), or
    else whether they pass the loader's checks; nothing is downloaded. Files that cannot be
    looked for or read (permissions) are ``unreadable``, not missing: a download would not
    help."""
    files = data_files(name, root)
    try:
        return _check(files)
    except UnreadableData as err:
        return FileCheck("unreadable", str(err))
    except DataError as err:
        return FileCheck("corrupt", str(err))


def _check(files: Files) -> FileCheck:
    """``check_files`` of ``files``, but for those the OS will not let us read
    (``UnreadableData``) and contents that fail the loader's checks (``DataError``)."""
    missing = _missing(files)
    if len(missing) == len(files.expected):
        return FileCheck("missing", f"no files in {files.folder}")
    if missing:
        return FileCheck("incomplete", f"no {files.folder / missing[0]}")
    differs = next(
        (f for f, md5 in files.expected.items() if md5 is None or _md5(files.folder / f) != md5),
        None,
    )
    if differs is None:
        return FileCheck("verified", f"{files.folder} (md5 of the official release)")
    _read(files)
    if files.expected[differs] is None:
        why = "idx files carry no md5"
    else:
        why = f"not the official release: {differs} md5 differs"
    return FileCheck("present", f"{files.folder} ({why}; contents pass the loader's checks)")


def _missing(files: Files) -> list[str]:
    """The files not in their folder (an idx file is there as itself or as its ``.gz``); a
    folder that cannot be looked in (permissions, a name too long) is ``UnreadableData``."""
    idx = issubclass(files.cls, datasets.MNIST)
    try:
        return [
            file
            for file in files.expected
            if not (idx_path(files.folder, file) if idx else files.folder / file).is_file()
        ]
    except OSError as err:
        raise UnreadableData(files.folder, err, "look for the files") from None


def _read(files: Files) -> tuple[ImageSet, ImageSet]:
    cls = files.cls
    if issubclass(cls, datasets.MNIST):
        train = read_idx_split(files.folder, "train", cls.classes)
        return train, read_idx_split(files.folder, "t10k", cls.classes)
    meta, key = cls.meta["filename"], cls.meta["key"]
    splits = [[file for file, _ in cls.train_list], [file for file, _ in cls.test_list]]
    train, test = read_cifar(files.folder, splits, meta, key)
    return train, test


def _download(cls: Any, root: Path) -> None:
    """torchvision's own download of ``cls``'s files into ``root``, without reading them."""
    fetcher = cls.__new__(cls)
    datasets.VisionDataset.__init__(fetcher, str(root))
    fetcher.download()


def _md5(path: Path) -> str:
    """torchvision's md5 of ``path``; a file the OS will not let us read is ``UnreadableData``."""
    try:
        return calculate_md5(path)
    except OSError as err:
        raise UnreadableData(path, err) from None


def last_line(err: BaseException) -> str:
    """The innermost cause of a download error (torchvision lists one line per mirror)."""
    lines = str(err).strip().splitlines()
    return lines[-1] if lines else type(err).__name__
