"""BatchLoader: seeded per-epoch order, batch counts, transforms applied per batch."""

from __future__ import annotations

import pytest
import torch

from bench.data import transforms
from bench.data.imageset import ImageSet
from bench.data.loader import BatchLoader


def indexed_set(n: int = 50, size: int = 8) -> ImageSet:
    """Image i is filled with the value i and labelled i, so batches show which images they hold."""
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 3, size, size)
    return ImageSet(images.contiguous(), torch.arange(n), tuple(str(i) for i in range(n)))


def epoch(loader: BatchLoader, number: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(loader.batches(number))


def order(loader: BatchLoader, number: int = 0) -> list[int]:
    return torch.cat([labels for _, labels in loader.batches(number)]).tolist()


AUGMENTED = {"shuffle": True, "crop_padding": 2, "hflip": True, "resize": 12}


def test_same_seed_gives_identical_batches_across_loaders() -> None:
    data = indexed_set()
    a = epoch(BatchLoader(data, 8, seed=3, **AUGMENTED), 2)
    b = epoch(BatchLoader(data, 8, seed=3, **AUGMENTED), 2)
    assert len(a) == len(b) == 7
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert torch.equal(xa, xb)
        assert torch.equal(ya, yb)


def test_an_epoch_reads_the_same_whenever_it_is_read() -> None:
    loader = BatchLoader(indexed_set(), 8, seed=3, **AUGMENTED)
    first = epoch(loader, 1)
    epoch(loader, 0)
    again = epoch(loader, 1)
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(first, again, strict=True))


def test_each_epoch_and_seed_has_its_own_order_covering_every_image_once() -> None:
    data = indexed_set()
    loader = BatchLoader(data, 8, shuffle=True, seed=0)
    orders = [order(loader, e) for e in range(3)]
    orders.append(order(BatchLoader(data, 8, shuffle=True, seed=1), 0))
    for seen in orders:
        assert sorted(seen) == list(range(50))
    assert len({tuple(seen) for seen in orders}) == 4


def test_unshuffled_loader_keeps_stored_order_with_a_last_partial_batch() -> None:
    loader = BatchLoader(indexed_set(), 16)
    batches = epoch(loader)
    assert (len(loader), loader.num_images) == (4, 50)
    assert [len(labels) for _, labels in batches] == [16, 16, 16, 2]
    assert order(loader) == list(range(50))
    inputs, labels = batches[0]
    assert inputs.dtype == torch.float32 and inputs.shape == (16, 3, 8, 8)
    assert labels.dtype == torch.int64
    assert torch.equal((inputs[:, 0, 0, 0] * 255).round().long(), labels)


def test_drop_last_leaves_out_the_partial_batch() -> None:
    loader = BatchLoader(indexed_set(), 16, shuffle=True, drop_last=True)
    assert (len(loader), loader.num_images) == (3, 48)
    assert [len(labels) for _, labels in loader.batches(0)] == [16, 16, 16]
    exact = BatchLoader(indexed_set(48), 16, drop_last=True)
    assert (len(exact), exact.num_images) == (3, 48)


def test_inputs_are_resized_and_normalised_but_not_augmented_unless_asked() -> None:
    data = indexed_set(4)
    loader = BatchLoader(data, 4, resize=16, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    inputs, _ = epoch(loader)[0]
    cpu = torch.device("cpu")
    expected = transforms.normalize(
        transforms.resize(transforms.to_float(data.images), 16),
        transforms.channel_values((0.5,) * 3, cpu),
        transforms.channel_values((0.25,) * 3, cpu),
    )
    assert inputs.shape == (4, 3, 16, 16)
    assert torch.equal(inputs, expected)
    assert torch.allclose(inputs[3], torch.full((3, 16, 16), (3 / 255 - 0.5) / 0.25))


def test_augmentation_keeps_the_size_and_pads_with_zeros() -> None:
    data = indexed_set(40)
    loader = BatchLoader(data, 40, crop_padding=3, hflip=True)
    inputs, labels = epoch(loader)[0]
    assert inputs.shape == (40, 3, 8, 8)
    values = set(inputs.unique().tolist())
    assert 0.0 in values  # some crops reach into the padding
    # every pixel is its own image's value or padding
    assert bool(
        ((inputs * 255 - labels.view(-1, 1, 1, 1)).abs() < 1e-4).logical_or(inputs == 0).all()
    )


def test_mean_without_std_is_refused() -> None:
    with pytest.raises(ValueError, match="both mean and std"):
        BatchLoader(indexed_set(), 8, mean=(0.5,))


def test_a_zero_std_is_refused() -> None:
    with pytest.raises(ValueError, match="std must not be zero"):
        BatchLoader(indexed_set(), 8, mean=(0.5, 0.5, 0.5), std=(0.25, 0.0, 0.25))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_equal_cpu_batches() -> None:
    data = indexed_set()
    cpu = epoch(BatchLoader(data, 8, seed=5, **AUGMENTED), 1)
    gpu = epoch(BatchLoader(data, 8, seed=5, device="cuda", **AUGMENTED), 1)
    for (xc, yc), (xg, yg) in zip(cpu, gpu, strict=True):
        assert xg.device.type == "cuda"
        assert torch.equal(yc, yg.cpu())
        assert torch.allclose(xc, xg.cpu(), atol=1e-5)
