"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 read through torchvision's dataset classes.

Files sit in torchvision's own layout under the data directory ``DIR``:
``DIR/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``, ``DIR/FashionMNIST/raw/...``,
``DIR/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}`` and
``DIR/cifar-100-python/{train,test,meta}``.

MNIST idx files as distributed (``.gz``) are decompressed beside themselves, as torchvision's own
download does; torchvision checks no checksum on idx files once they are there.

CIFAR files are checked against torchvision's md5 list of the official release. A copy that is not
the official release (a subset, a test fixture) carries ``bench-md5.json`` beside its batches, a
JSON object mapping every file name to its md5: the files are then checked against that manifest
instead (the check itself stays), and such a folder is never replaced by a download.

``check_files`` says whether a data set's files are there and pass the same checks, without
reading them into memory and without downloading.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torchvision import datasets
from torchvision.datasets.utils import calculate_md5

from bench.data.imageset import ImageSet
from bench.errors import DataError

MD5_MANIFEST = "bench-md5.json"
SOURCES: Mapping[str, type[datasets.VisionDataset]] = {
    "mnist": datasets.MNIST,
    "fashion-mnist": datasets.FashionMNIST,
    "cifar10": datasets.CIFAR10,
    "cifar100": datasets.CIFAR100,
}
# What torchvision's readers raise on a missing, corrupt or undownloadable file.
_READ_ERRORS = (
    RuntimeError,
    OSError,
    ValueError,
    TypeError,
    AssertionError,
    KeyError,
    EOFError,
    pickle.UnpicklingError,
)


@dataclass(frozen=True)
class Files:
    """Where a data set's files sit under the data directory and how they are checked."""

    cls: Any  # the torchvision class reading them (its md5 list replaced by a manifest's)
    relative: str  # their folder, relative to the data directory
    expected: dict[str, str | None]  # file name → md5 it is checked against (None: unchecked)
    layout: str  # the files, for messages
    manifest: bool  # checked against bench-md5.json rather than the official release's list


@dataclass(frozen=True)
class FileCheck:
    """A data set's files: ``status`` (verified, present, missing, incomplete, corrupt or
    unreadable) and a one-line ``detail``."""

    status: str
    detail: str


def data_files(name: str, root: Path) -> Files:
    """The files of data set ``name`` (a key of ``SOURCES``) under ``root``; a manifest that
    cannot be used is a ``DataError``."""
    cls = SOURCES[name]
    if issubclass(cls, datasets.MNIST):
        relative = f"{cls.__name__}/raw"
        expected: dict[str, str | None] = {Path(file).stem: None for file, _ in cls.resources}
        return Files(cls, relative, expected, f"{relative}/{{{','.join(expected)}}}[.gz]", False)
    relative = cls.base_folder
    md5 = _cifar_md5(cls)
    manifest = (root / relative / MD5_MANIFEST).is_file()
    if manifest:
        md5 = _read_manifest(root / relative / MD5_MANIFEST, md5)
        cls = _with_md5(cls, md5)
    return Files(cls, relative, dict(md5), f"{relative}/{{{','.join(md5)}}}", manifest)


def read_torchvision_splits(name: str, root: Path, download: bool) -> tuple[ImageSet, ImageSet]:
    """The train and test splits of data set ``name`` (a key of ``SOURCES``) under ``root``."""
    files = data_files(name, root)
    folder = root / files.relative
    if issubclass(files.cls, datasets.MNIST):
        _decompress_idx(folder, files.expected)
    download = download and not files.manifest
    try:
        splits = [files.cls(str(root), train=train, download=download) for train in (True, False)]
    except _READ_ERRORS as err:
        raise _diagnose(name, folder, files.layout, files.expected, download, err) from err
    train, test = (_image_set(ds, name, folder) for ds in splits)
    return train, test


def check_files(name: str, root: Path) -> FileCheck:
    """Whether data set ``name``'s files are under ``root`` and pass the loader's md5 checks
    (MNIST idx files: present, as the loader checks none); nothing is loaded or downloaded."""
    try:
        files = data_files(name, root)
        folder = root / files.relative
        present = [f for f in files.expected if _present(folder, f, files.expected[f] is None)]
        if not present:
            return FileCheck("missing", f"no files in {folder}")
        if len(present) < len(files.expected):
            missing = next(f for f in files.expected if f not in present)
            return FileCheck("incomplete", f"no {folder / missing}")
        for file, md5 in files.expected.items():
            actual = calculate_md5(folder / file) if md5 else None
            if actual != md5:
                return FileCheck("corrupt", f"{folder / file}: md5 {actual}, expected {md5}")
    except (DataError, OSError) as err:
        return FileCheck("unreadable", _first_line(err))
    if all(md5 is None for md5 in files.expected.values()):
        return FileCheck("present", f"{folder} (idx files: no md5 to check, as in the loader)")
    against = MD5_MANIFEST if files.manifest else "the official release"
    return FileCheck("verified", f"{folder} (md5 of {against})")


def _present(folder: Path, file: str, packed_counts: bool) -> bool:
    """``file`` is in ``folder`` (or, where ``packed_counts``, its ``.gz`` the loader unpacks)."""
    return (folder / file).is_file() or (packed_counts and (folder / f"{file}.gz").is_file())


def _decompress_idx(folder: Path, files: Iterable[str]) -> None:
    """Decompress each ``X.gz`` whose ``X`` is missing (through a temporary file, so that an
    interrupted run leaves no truncated ``X``)."""
    for file in files:
        packed, target = folder / f"{file}.gz", folder / file
        if target.is_file() or not packed.is_file():
            continue
        part = folder / f"{file}.part"
        try:
            with gzip.open(packed) as src, part.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(part, target)
        except (OSError, EOFError) as err:
            part.unlink(missing_ok=True)
            raise DataError(f"cannot decompress {packed}: {_first_line(err)}") from err


def _cifar_md5(cls: Any) -> dict[str, str]:
    """torchvision's md5 of every file of a CIFAR class, by file name."""
    files = [*cls.train_list, *cls.test_list, [cls.meta["filename"], cls.meta["md5"]]]
    return {file: md5 for file, md5 in files}


def _read_manifest(path: Path, official: Mapping[str, str]) -> dict[str, str]:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read md5 manifest: {_first_line(err)}") from err
    if not isinstance(manifest, dict):
        raise DataError(f"{path}: must be a JSON object mapping file name to md5")
    missing = [file for file in official if not isinstance(manifest.get(file), str)]
    if missing:
        raise DataError(f"{path}: no md5 for {', '.join(missing)}")
    return {file: manifest[file] for file in official}


def _with_md5(cls: Any, md5: Mapping[str, str]) -> Any:
    """``cls`` checking its files against ``md5`` instead of its built-in list."""
    return type(
        cls.__name__,
        (cls,),
        {
            "train_list": [[file, md5[file]] for file, _ in cls.train_list],
            "test_list": [[file, md5[file]] for file, _ in cls.test_list],
            "meta": {**cls.meta, "md5": md5[cls.meta["filename"]]},
        },
    )


def _diagnose(
    name: str,
    folder: Path,
    layout: str,
    expected: Mapping[str, str | None],
    download: bool,
    err: Exception,
) -> DataError:
    """A one-line error saying what is wrong with ``folder`` and how to supply the data set."""
    folder = folder.resolve()
    missing = [file for file in expected if not (folder / file).is_file()]
    supply = f"pass --data-dir DIR containing {layout}"
    if missing and download:
        return DataError(
            f"could not download {name} into {folder} ({_last_line(err)}); {supply} instead"
        )
    if missing:
        state = "not found" if len(missing) == len(expected) else f"incomplete (no {missing[0]})"
        return DataError(f"{name} {state} in {folder}; {supply}, or add --download")
    for file, md5 in expected.items():
        actual = calculate_md5(folder / file) if md5 else None
        if actual == md5:
            continue
        if (folder / MD5_MANIFEST).is_file():
            fix = f"the file or its entry in {MD5_MANIFEST} is wrong"
        else:
            fix = "not the official release; delete it and add --download"
        return DataError(f"{folder / file}: md5 {actual} is not the expected {md5}; {fix}")
    return DataError(f"cannot read {name} from {folder}: {_first_line(err)}")


def _image_set(ds: Any, name: str, folder: Path) -> ImageSet:
    """torchvision's ``data``/``targets`` as uint8 [N, C, H, W] images and int64 labels."""
    if isinstance(ds.data, torch.Tensor):  # MNIST: [N, H, W]
        images = ds.data.unsqueeze(1)
    else:  # CIFAR: numpy [N, H, W, C]
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    labels = torch.as_tensor(ds.targets, dtype=torch.int64)
    classes = tuple(ds.classes)
    split = "train" if ds.train else "test"
    if len(labels) != len(images):
        raise DataError(
            f"{folder}: {name} {split} split has {len(images)} images but {len(labels)} labels"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise DataError(f"{folder}: {name} {split} split has labels outside 0..{len(classes) - 1}")
    return ImageSet(images, labels, classes)


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def _last_line(err: BaseException) -> str:
    """The innermost cause of a download error (torchvision lists one line per mirror)."""
    lines = str(err).strip().splitlines()
    return lines[-1] if lines else type(err).__name__
