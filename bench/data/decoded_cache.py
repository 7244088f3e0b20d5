"""A cache of decoded images (train and test ``ImageSet``s), checked like any other input.

The file is ``MAGIC``, an 8-byte big-endian header length, a JSON header (``source``: the hash of
the source files it was decoded from, ``classes``, and per split the shape [N, C, H, W] of its
uint8 images), then each split's images and its labels (one uint8 each), nothing more. A cache
is used only where its header holds exactly these fields, its source hash is the one of the files
now there (their names, sizes and modification times, and the decoded size: ``source_hash``),
its classes are the expected ones, the file's length is what the shapes need and every label is
a class index; anything else leaves it unused with a one-line note (it is rebuilt). It is
written atomically (``write_atomic``): a reader never sees half of one.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from io import BufferedReader
from pathlib import Path
from typing import Any

import torch

from bench.data.imageset import ImageSet
from bench.errors import UnreadableData, WriteError, os_reason
from bench.results.atomic import write_atomic

MAGIC = b"bench-decoded-images 1\n"
MAX_HEADER = 2**20


class _Unusable(Exception):
    """Why a cache file cannot be used."""


def source_hash(base: Path, files: Sequence[Path], side: int) -> str:
    """SHA-256 of the decoded size and of each file's name (relative to ``base``), size and
    modification time, in order: a file added, removed, renamed or rewritten changes it."""
    digest = hashlib.sha256(f"{side}\n".encode())
    for path in files:
        try:
            stat = path.stat()
        except OSError as err:
            raise UnreadableData(path, err) from None
        digest.update(f"{path.relative_to(base)}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def read(
    path: Path, source: str, classes: Sequence[str]
) -> tuple[tuple[ImageSet, ImageSet] | None, str]:
    """The splits cached in ``path`` where it is there and matches ``source`` and ``classes``;
    else ``None`` and a one-line note on why it is not used (empty where there is none)."""
    try:
        with path.open("rb") as handle:
            return _read(handle, path.stat().st_size, source, tuple(classes)), ""
    except FileNotFoundError:
        return None, ""
    except OSError as err:
        return None, f"cache {path} unused ({os_reason(err)}); decoding again"
    except _Unusable as why:
        return None, f"cache {path} unused ({why}); decoding again"


def write(path: Path, source: str, train: ImageSet, test: ImageSet) -> str:
    """Write ``train`` and ``test`` to the cache ``path``; a one-line note on the outcome (a
    cache that cannot be written is only a note: the images are there)."""
    header = {
        "source": source,
        "classes": list(train.classes),
        "shapes": [list(train.images.shape), list(test.images.shape)],
    }
    text = json.dumps(header).encode()
    chunks = [memoryview(part) for part in (MAGIC, len(text).to_bytes(8, "big"), text)]
    for split in (train, test):
        chunks += [split.images.numpy().data, split.labels.to(torch.uint8).numpy().data]
    try:
        write_atomic(path, chunks)
    except WriteError as err:
        return f"decoded images not cached ({err})"
    return f"kept in {path}"


def _read(
    handle: BufferedReader, length: int, source: str, classes: tuple[str, ...]
) -> tuple[ImageSet, ImageSet]:
    if handle.read(len(MAGIC)) != MAGIC:
        raise _Unusable("not a bench cache of decoded images")
    size = int.from_bytes(handle.read(8), "big")
    if size > MAX_HEADER:
        raise _Unusable(f"header of {size} bytes, at most {MAX_HEADER}")
    header = _header(handle.read(size))
    if header["source"] != source:
        raise _Unusable("the image files changed since it was written")
    if tuple(header["classes"]) != classes:
        raise _Unusable("other classes")
    shapes = header["shapes"]
    need = len(MAGIC) + 8 + size + sum(math.prod(shape) + shape[0] for shape in shapes)
    if length != need:
        raise _Unusable(f"{length} bytes, its header's shapes need {need}")
    train, test = (_split(handle, shape, classes) for shape in shapes)
    return train, test


def _header(text: bytes) -> dict[str, Any]:
    """The header's fields, checked: a source hash, class names, two [N, 3, H, W] shapes."""
    try:
        header = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise _Unusable("header is not JSON") from None
    ok = (
        isinstance(header, dict)
        and set(header) == {"source", "classes", "shapes"}
        and isinstance(header["source"], str)
        and isinstance(header["classes"], list)
        and all(isinstance(name, str) for name in header["classes"])
        and isinstance(header["shapes"], list)
        and len(header["shapes"]) == 2
        and all(_is_shape(shape) for shape in header["shapes"])
    )
    if not ok:
        raise _Unusable("header lacks or misstates its fields")
    return header


def _is_shape(shape: Any) -> bool:
    return (
        isinstance(shape, list)
        and len(shape) == 4
        and all(type(n) is int and n >= 0 for n in shape)
        and shape[1] == 3
    )


def _split(handle: BufferedReader, shape: list[int], classes: tuple[str, ...]) -> ImageSet:
    images = torch.empty(shape, dtype=torch.uint8)
    labels = torch.empty(shape[0], dtype=torch.uint8)
    for tensor in (images, labels):
        if handle.readinto(tensor.numpy().data) != tensor.numel():
            raise _Unusable("shorter than its header says")
    if len(labels) and int(labels.max()) >= len(classes):
        raise _Unusable(f"a label is not a class index in 0..{len(classes) - 1}")
    return ImageSet(images, labels.to(torch.int64), classes)
