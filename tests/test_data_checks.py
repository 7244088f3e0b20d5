"""Nothing in a data directory can run code, and a file that does not hold what its format
holds is refused in one line naming the file and what is wrong."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from cli_errors import one_line_error
from data_files import write_cifar10, write_cifar100, write_idx, write_mnist, write_pickle
from permissions import enforced

from bench.data.datasets import load_dataset
from bench.data.idx_files import LABELS_MAGIC, read_idx
from bench.data.safe_pickle import load_data_pickle
from bench.data.torchvision_sets import FileCheck, check_files
from bench.errors import DataError, UnreadableData

CIFAR10 = "cifar-10-batches-py"


class RunsCode:
    """Pickles to a call of ``exec`` that writes ``marker``: what a hostile batch would hold."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def _poisoned_cifar10(data: Path, marker: Path, *, manifest: bool) -> Path:
    """CIFAR-10 files whose first batch runs code when unpickled, with or without the
    ``bench-md5.json`` that once made a data directory vouch for itself."""
    write_cifar10(data)
    batch = data / CIFAR10 / "data_batch_1"
    write_pickle(batch, {"batch_label": "x", "labels": [0, 1], "data": RunsCode(marker)})
    pickle.loads(batch.read_bytes())  # the payload is live: a plain pickle load runs it
    assert marker.read_text() == "ran"
    marker.unlink()
    if manifest:
        folder = data / CIFAR10
        md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}
        (folder / "bench-md5.json").write_text(json.dumps(md5))
    return batch


@pytest.mark.parametrize("manifest", [False, True], ids=["no-manifest", "matching-manifest"])
def test_a_pickle_that_runs_code_is_refused_by_bench_run_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], manifest: bool
) -> None:
    marker = tmp_path / "marker"
    batch = _poisoned_cifar10(tmp_path / "data", marker, manifest=manifest)
    argv = ["run", "--suite", "cifar10-classic", "--models", "lenet5", "--seeds", "0"]
    argv += ["--epochs", "1", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "o")]
    err = one_line_error(argv, capsys)
    # protocol 2 spells builtins.exec as Python 2's __builtin__.exec
    assert err.endswith(
        f"{batch}: refused: the pickle calls __builtin__.exec, which a data file never needs"
    )
    assert not marker.exists()
    check = check_files("cifar10", tmp_path / "data")  # as `bench doctor` and every run see it
    assert (check.status, check.detail) == ("corrupt", err.split("error: ", 1)[1])
    assert not marker.exists()


def test_the_official_release_pickle_spelling_and_protocol_5_load(tmp_path: Path) -> None:
    """numpy 1.x pickles arrays as ``numpy.core.multiarray._reconstruct`` (the official CIFAR
    files), numpy 2.x as ``numpy._core...``; protocol 5 as ``_frombuffer``: all are arrays."""
    written = write_cifar10(tmp_path)
    folder = tmp_path / CIFAR10
    legacy = folder / "data_batch_1"
    spelled = legacy.read_bytes().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"cnumpy.core.multiarray\n_reconstruct" in spelled
    legacy.write_bytes(spelled)
    test_batch = folder / "test_batch"
    test_batch.write_bytes(pickle.dumps(pickle.loads(test_batch.read_bytes()), protocol=5))
    splits = load_dataset("cifar10", tmp_path)
    assert torch.equal(splits.train.images, torch.from_numpy(written.train_images))
    assert torch.equal(splits.test.images, torch.from_numpy(written.test_images))
    assert torch.equal(splits.test.labels, torch.from_numpy(written.test_labels))


def _edit_batch(folder: Path, file: str, **changes: Any) -> Path:
    path = folder / file
    write_pickle(path, {**pickle.loads(path.read_bytes(), encoding="latin1"), **changes})
    return path


ROWS = 2  # data_batch_1 of write_cifar10's default 10 images holds 2
CIFAR_DAMAGES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "fractional-label": (
        lambda f: _edit_batch(f, "data_batch_1", labels=[1.7, 0]),
        "labels[0] is 1.7, not a class index in 0..9",
    ),
    "string-label": (
        lambda f: _edit_batch(f, "data_batch_1", labels=[0, "3"]),
        "labels[1] is '3', not a class index in 0..9",
    ),
    "none-label": (
        lambda f: _edit_batch(f, "data_batch_1", labels=[None, 0]),
        "labels[0] is None, not a class index in 0..9",
    ),
    "huge-label": (
        lambda f: _edit_batch(f, "data_batch_1", labels=[10**30, 0]),
        "labels[0] is 1000000000000000000000000000000, not a class index in 0..9",
    ),
    "label-out-of-range": (
        lambda f: _edit_batch(f, "test_batch", labels=[0, 0, 10, 0, 0]),
        "labels[2] is 10, not a class index in 0..9",
    ),
    "labels-not-a-list": (
        lambda f: _edit_batch(f, "data_batch_1", labels="01"),
        "labels is a str, not a list of integers",
    ),
    "fewer-labels": (
        lambda f: _edit_batch(f, "data_batch_1", labels=[0]),
        "2 images but 1 labels",
    ),
    "float-pixels": (
        lambda f: _edit_batch(f, "data_batch_1", data=np.zeros((ROWS, 3072), np.float32)),
        "data is a float32 array [2, 3072], not a uint8 array [N, 3072]",
    ),
    "short-rows": (
        lambda f: _edit_batch(f, "data_batch_1", data=np.zeros((ROWS, 1024), np.uint8)),
        "data rows hold 1024 values, not 3072 (3×32×32)",
    ),
    "pixels-not-an-array": (
        lambda f: _edit_batch(f, "data_batch_1", data=[[0] * 3072] * ROWS),
        "data is a list, not a uint8 array [N, 3072]",
    ),
    "no-data": (
        lambda f: _drop(f, "data_batch_2", "data"),
        "no 'data' entry",
    ),
    "not-a-dict": (
        lambda f: _write(f / "data_batch_3", [1, 2, 3]),
        "holds a list, not a dict",
    ),
    "class-names-not-a-list": (
        lambda f: _edit_batch(f, "batches.meta", label_names="airplane"),
        "label_names is a str, not a list of class names",
    ),
    "truncated": (
        lambda f: _truncate(f / "data_batch_4", 200),
        "not a readable pickle (",
    ),
    "not-a-pickle": (
        lambda f: _write_bytes(f / "test_batch", b"<html>not found</html>"),
        "not a readable pickle (UnpicklingError: ",
    ),
}


def _drop(folder: Path, file: str, key: str) -> Path:
    path = folder / file
    content = pickle.loads(path.read_bytes(), encoding="latin1")
    del content[key]
    return _write(path, content)


def _write(path: Path, content: object) -> Path:
    write_pickle(path, content)
    return path


def _write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _truncate(path: Path, cut: int) -> Path:
    return _write_bytes(path, path.read_bytes()[:-cut])


@pytest.mark.parametrize("damage", CIFAR_DAMAGES)
def test_a_cifar_file_of_the_wrong_contents_is_one_line_naming_it(
    tmp_path: Path, damage: str
) -> None:
    write_cifar10(tmp_path)
    spoil, message = CIFAR_DAMAGES[damage]
    path = spoil(tmp_path / CIFAR10)
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", tmp_path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_cifar100_labels_are_checked_against_its_100_classes(tmp_path: Path) -> None:
    write_cifar100(tmp_path)
    path = _edit_batch(tmp_path / "cifar-100-python", "train", fine_labels=[99] * 9 + [100])
    with pytest.raises(DataError, match=f"^{path}: fine_labels\\[9\\] is 100, not a class index"):
        load_dataset("cifar100", tmp_path)


def test_a_fractional_label_stops_bench_run_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_cifar10(tmp_path / "data")
    path = _edit_batch(tmp_path / "data" / CIFAR10, "data_batch_5", labels=[3, 1.7])
    argv = ["run", "--suite", "cifar10-classic", "--models", "lenet5", "--seeds", "0"]
    argv += ["--epochs", "1", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "o")]
    assert one_line_error(argv, capsys).endswith(
        f"{path}: labels[1] is 1.7, not a class index in 0..9"
    )


RAW = "MNIST/raw"
MNIST_DAMAGES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "wrong-magic": (
        lambda raw: _write_bytes(
            raw / "train-images-idx3-ubyte.gz",
            gzip.compress((2049).to_bytes(4, "big") + bytes(12)),
        ),
        "magic number 2049, expected 2051 (uint8, 3-D)",
    ),
    "empty-gz": (
        lambda raw: _write_bytes(raw / "t10k-labels-idx1-ubyte.gz", b""),
        "0 bytes, too short for an idx header of 8",
    ),
    "gz-of-nothing": (
        lambda raw: _write_bytes(raw / "t10k-labels-idx1-ubyte.gz", gzip.compress(b"")),
        "0 bytes, too short for an idx header of 8",
    ),
    "garbage-gz": (
        lambda raw: _write_bytes(raw / "train-labels-idx1-ubyte.gz", b"garbage, not gzip"),
        "cannot read (Not a gzipped file (b'ga'))",
    ),
    "truncated-gz": (
        lambda raw: _truncate(raw / "train-labels-idx1-ubyte.gz", 10),
        "cannot read (Compressed file ended before the end-of-stream marker was reached)",
    ),
    "short-payload": (
        lambda raw: _write_bytes(
            raw / "t10k-images-idx3-ubyte.gz",
            gzip.compress(gzip.decompress((raw / "t10k-images-idx3-ubyte.gz").read_bytes())[:-5]),
        ),
        "7835 bytes of values, but the header's shape [10, 28, 28] needs 7840",
    ),
    "label-out-of-range": (
        lambda raw: write_idx(raw / "t10k-labels-idx1-ubyte", np.array([0, 3, 12] + [0] * 7)),
        "label 12 at 2 is not a class index in 0..9",
    ),
}


@pytest.mark.parametrize("damage", MNIST_DAMAGES)
def test_an_idx_file_of_the_wrong_contents_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    write_mnist(tmp_path / "data")
    spoil, message = MNIST_DAMAGES[damage]
    path = spoil(tmp_path / "data" / RAW)
    argv = ["run", "--suite", "mnist-lenet", "--models", "lenet5-relu", "--epochs", "1"]
    argv += ["--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "o")]
    assert one_line_error(argv, capsys).endswith(f"{path}: {message}")


def test_images_and_labels_of_different_counts_name_both_files(tmp_path: Path) -> None:
    write_mnist(tmp_path, n_train=5)
    raw = tmp_path / RAW
    write_idx(raw / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    images, labels = raw / "train-images-idx3-ubyte.gz", raw / "train-labels-idx1-ubyte.gz"
    with pytest.raises(DataError, match=f"^{images} holds 5 images but {labels} 4$"):
        load_dataset("mnist", tmp_path)


def test_a_data_dir_whose_name_is_too_long_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / ("d" * 300)
    folder = data / "MNIST" / "raw"
    assert check_files("mnist", data).detail == (
        f"{folder}: cannot look for the files: File name too long"
    )
    argv = ["run", "--suite", "mnist-lenet", "--models", "lenet5-relu", "--epochs", "1"]
    argv += ["--data-dir", str(data), "--out", str(tmp_path / "o")]
    assert one_line_error(argv, capsys).endswith(
        f"{folder}: cannot look for the files: File name too long"
    )


def _cifar_batch(root: Path) -> Path:
    write_cifar10(root)
    return root / CIFAR10 / "data_batch_2"


def _idx_labels(root: Path) -> Path:
    write_mnist(root)
    return root / RAW / "train-labels-idx1-ubyte.gz"


# Per reader: its data set, a file of it written under a root, and the reader reading it.
READERS: dict[str, tuple[str, Callable[[Path], Path], Callable[[Path], object]]] = {
    "cifar-pickle": ("cifar10", _cifar_batch, load_data_pickle),
    "idx-gz": ("mnist", _idx_labels, lambda path: read_idx(path, LABELS_MAGIC)),
}


@pytest.mark.parametrize("reader", READERS)
def test_a_file_the_os_will_not_let_its_reader_read_is_unreadable_data(
    tmp_path: Path, reader: str
) -> None:
    """Its reader says so with the OS's reason, and `bench doctor` says `unreadable`: not a
    file that is not a pickle or not gzip (``corrupt``). Run without root's override of the
    permission bits (tests/permissions.py), so that the kernel refuses as it does any user."""
    name, write, read = READERS[reader]
    path = write(tmp_path)
    with enforced((path, 0o000)):
        with pytest.raises(UnreadableData) as err:
            read(path)
        check = check_files(name, tmp_path)
    assert str(err.value) == f"{path}: cannot be read: Permission denied"
    assert err.value.reason == "Permission denied"
    assert check == FileCheck("unreadable", str(err.value))


@pytest.mark.parametrize("name", ["cifar10", "mnist"])
def test_loading_a_data_set_opens_each_of_its_files_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Whether a file can be read is learnt by reading it, not by opening every file first."""
    folder = tmp_path / (CIFAR10 if name == "cifar10" else RAW)
    (write_cifar10 if name == "cifar10" else write_mnist)(tmp_path)
    opened: Counter[Path] = Counter()
    real_open = io.open

    def counting_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(path, int):
            opened[Path(os.fspath(path))] += 1
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(io, "open", counting_open)
    load_dataset(name, tmp_path)
    assert opened == dict.fromkeys(folder.iterdir(), 1)
