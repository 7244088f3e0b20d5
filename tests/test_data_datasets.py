"""Data sets load from files in their real formats, exactly, and refuse bad or missing files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from data_files import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    Written,
    write_cifar10,
    write_cifar100,
    write_fashion_mnist,
    write_mnist,
)
from sklearn.datasets import load_digits
from torchvision import datasets
from torchvision.datasets import cifar

from bench.data.datasets import DATASETS, load_dataset
from bench.data.imageset import channel_stats
from bench.errors import DataError, UnknownNameError


def assert_loaded(splits, written: Written) -> None:
    assert splits.train.images.dtype == torch.uint8
    assert splits.train.labels.dtype == torch.int64
    assert torch.equal(splits.train.images, torch.from_numpy(written.train_images))
    assert torch.equal(splits.train.labels, torch.from_numpy(written.train_labels))
    assert torch.equal(splits.test.images, torch.from_numpy(written.test_images))
    assert torch.equal(splits.test.labels, torch.from_numpy(written.test_labels))


def test_mnist_gzipped_idx_files_load_exact_pixels_and_labels(tmp_path: Path) -> None:
    written = write_mnist(tmp_path, n_train=12, n_test=7)
    splits = load_dataset("mnist", tmp_path)
    assert_loaded(splits, written)
    assert splits.name == "mnist"
    assert splits.image_size == (1, 28, 28)
    assert (splits.in_channels, splits.num_classes) == (1, 10)
    assert splits.train.classes == tuple(datasets.MNIST.classes)
    assert (splits.mean, splits.std) == ((0.1307,), (0.3081,))
    assert sorted(p.name for p in (tmp_path / "MNIST/raw").iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ]  # read in memory: nothing is written into the data directory


def test_fashion_mnist_uncompressed_idx_files_load(tmp_path: Path) -> None:
    written = write_fashion_mnist(tmp_path, n_train=9, n_test=4, compress=False)
    splits = load_dataset("fashion-mnist", tmp_path)
    assert_loaded(splits, written)
    assert splits.train.classes[0] == "T-shirt/top"
    assert (splits.mean, splits.std) == ((0.2860,), (0.3530,))


def test_cifar10_batches_load_exact_pixels_labels_and_class_names(tmp_path: Path) -> None:
    written = write_cifar10(tmp_path, n_train=13, n_test=6)
    splits = load_dataset("cifar10", tmp_path)
    assert_loaded(splits, written)  # batches 1..5 concatenated in order
    assert splits.image_size == (3, 32, 32)
    assert splits.train.classes == CIFAR10_CLASSES
    assert splits.mean == (0.4914, 0.4822, 0.4465)
    assert splits.std == (0.2470, 0.2435, 0.2616)


def test_cifar100_files_load_fine_labels(tmp_path: Path) -> None:
    written = write_cifar100(tmp_path, n_train=8, n_test=3)
    splits = load_dataset("cifar100", tmp_path)
    assert_loaded(splits, written)
    assert splits.num_classes == 100
    assert splits.train.classes == CIFAR100_CLASSES
    assert splits.mean == (0.5071, 0.4865, 0.4409)


@pytest.mark.parametrize(
    ("name", "folder"),
    [
        ("mnist", "MNIST/raw"),
        ("fashion-mnist", "FashionMNIST/raw"),
        ("cifar10", "cifar-10-batches-py"),
        ("cifar100", "cifar-100-python"),
    ],
)
def test_missing_dataset_says_where_it_looked_and_how_to_supply_it(
    tmp_path: Path, name: str, folder: str
) -> None:
    with pytest.raises(DataError) as e:
        load_dataset(name, tmp_path)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"{name} not found in {(tmp_path / folder).resolve()}; ")
    assert f"pass --data-dir DIR containing {folder}/" in message
    assert message.endswith("or add --download")


def test_download_fetches_missing_files_with_torchvision_then_reads_them_as_any(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched = []

    def archive(url: str, root: str, filename: str, md5: str) -> None:
        fetched.append((url, filename, md5))
        write_cifar10(Path(root), n_train=6)  # stands in for the official archive

    monkeypatch.setattr(cifar, "download_and_extract_archive", archive)
    splits = load_dataset("cifar10", tmp_path, download=True)
    cls = datasets.CIFAR10
    assert fetched == [(cls.url, cls.filename, cls.tgz_md5)]
    assert (len(splits.train), len(splits.test)) == (6, 5)
    load_dataset("cifar10", tmp_path, download=True)  # all there: nothing fetched again
    assert len(fetched) == 1


def test_a_failed_download_says_where_and_how_to_supply_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Error downloading cifar-100-python.tar.gz:\nno route to host")

    monkeypatch.setattr(cifar, "download_and_extract_archive", offline)
    folder = (tmp_path / "cifar-100-python").resolve()
    with pytest.raises(DataError) as err:
        load_dataset("cifar100", tmp_path, download=True)
    assert str(err.value) == (
        f"could not download cifar100 into {folder} (no route to host); pass --data-dir DIR "
        "containing cifar-100-python/{train,test,meta} instead"
    )


def test_incomplete_mnist_names_the_missing_file(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    (tmp_path / "MNIST/raw/t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"mnist incomplete \(no t10k-labels-idx1-ubyte\) in "):
        load_dataset("mnist", tmp_path)


def test_unknown_dataset_name_suggests_close_names(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="unknown dataset 'cifar'; did you mean cifar10"):
        load_dataset("cifar", tmp_path)


def test_option_that_does_not_apply_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="dataset digits: unknown option 'num_classes'"):
        load_dataset("digits", tmp_path, options={"num_classes": 10})


@pytest.mark.parametrize(
    "options",
    [{"train_size": -1}, {"test_size": 2.5}, {"image_size": [3, 32]}, {"num_classes": 1}],
)
def test_invalid_option_value_is_refused(tmp_path: Path, options: dict) -> None:
    with pytest.raises(DataError, match=f"dataset synthetic: option {next(iter(options))} "):
        load_dataset("synthetic", tmp_path, options=options)


def test_sizes_keep_the_first_images_of_each_split(tmp_path: Path) -> None:
    written = write_cifar10(tmp_path, n_train=10, n_test=5)
    splits = load_dataset("cifar10", tmp_path, options={"train_size": 7, "test_size": 2})
    assert torch.equal(splits.train.images, torch.from_numpy(written.train_images[:7]))
    assert torch.equal(splits.test.labels, torch.from_numpy(written.test_labels[:2]))
    full = load_dataset("cifar10", tmp_path, options={"train_size": 0, "test_size": None})
    assert (len(full.train), len(full.test)) == (10, 5)


def test_size_beyond_the_split_is_refused(tmp_path: Path) -> None:
    write_mnist(tmp_path, n_train=6)
    with pytest.raises(DataError, match="mnist: train_size 7 exceeds the 6 images of train"):
        load_dataset("mnist", tmp_path, options={"train_size": 7})


def test_digits_are_scikit_learn_digits_at_32px_in_a_stratified_80_20_split(
    tmp_path: Path,
) -> None:
    splits = load_dataset("digits", tmp_path)
    assert (len(splits.train), len(splits.test)) == (1437, 360)
    assert splits.image_size == (1, 32, 32)
    assert splits.train.classes == tuple("0123456789")
    assert splits.test.labels.bincount().tolist() == [36, 36, 35, 37, 36, 37, 36, 36, 35, 36]
    images = torch.cat([splits.train.images, splits.test.images])
    small = images[:, :, ::4, ::4]
    assert torch.equal(images, small.repeat_interleave(4, 2).repeat_interleave(4, 3))
    # every (image, label) pair of scikit-learn's set appears exactly once, values scaled to 0..255
    digits = load_digits()
    expected = np.column_stack(
        [(digits.images.reshape(-1, 64).astype(np.int64) * 255 + 8) // 16, digits.target]
    )
    labels = torch.cat([splits.train.labels, splits.test.labels])
    got = np.column_stack([small.reshape(-1, 64).numpy().astype(np.int64), labels.numpy()])
    assert np.array_equal(got[np.lexsort(got.T)], expected[np.lexsort(expected.T)])
    assert (splits.mean, splits.std) == channel_stats(splits.train.images)
    assert torch.equal(load_dataset("digits", tmp_path).train.images, splits.train.images)


def test_synthetic_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    a = load_dataset("synthetic", tmp_path, options={"seed": 3, "train_size": 64})
    b = load_dataset("synthetic", tmp_path, options={"seed": 3, "train_size": 64})
    c = load_dataset("synthetic", tmp_path, options={"seed": 4, "train_size": 64})
    assert torch.equal(a.train.images, b.train.images)
    assert torch.equal(a.test.labels, b.test.labels)
    assert not torch.equal(a.train.images, c.train.images)
    assert (a.mean, a.std) == channel_stats(a.train.images)


def test_synthetic_defaults_and_options_set_shapes(tmp_path: Path) -> None:
    default = load_dataset("synthetic", tmp_path)
    assert (len(default.train), len(default.test), default.image_size) == (1024, 256, (3, 32, 32))
    assert default.num_classes == 10
    options = {"image_size": [1, 20, 12], "num_classes": 3, "train_size": 30, "test_size": 9}
    small = load_dataset("synthetic", tmp_path, options=options)
    assert small.train.images.shape == (30, 1, 20, 12)
    assert (len(small.test), small.num_classes, len(small.mean)) == (9, 3, 1)
    assert int(small.train.labels.max()) < 3


def test_synthetic_classes_are_learnable_from_the_train_split(tmp_path: Path) -> None:
    splits = load_dataset("synthetic", tmp_path, options={"train_size": 512, "test_size": 256})
    train = splits.train.images.flatten(1).float()
    centroids = torch.stack(
        [train[splits.train.labels == k].mean(0) for k in range(splits.num_classes)]
    )
    predicted = torch.cdist(splits.test.images.flatten(1).float(), centroids).argmin(1)
    assert (predicted == splits.test.labels).float().mean() > 0.9


def test_every_dataset_name_is_known() -> None:
    assert DATASETS == (
        "mnist",
        "fashion-mnist",
        "cifar10",
        "cifar100",
        "imagenette",
        "digits",
        "synthetic",
    )
