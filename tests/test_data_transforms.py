"""Batch transforms: exact values on small known tensors, seeded randomness."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms import v2

from bench.data import transforms


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_to_float_maps_uint8_to_the_unit_interval() -> None:
    images = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 3)
    x = transforms.to_float(images)
    assert x.dtype == torch.float32
    assert x.flatten().tolist() == pytest.approx([0.0, 0.2, 1.0])


def test_to_float_equals_torchvision_to_dtype_exactly() -> None:
    images = torch.randint(0, 256, (4, 3, 5, 5), dtype=torch.uint8, generator=generator())
    expected = v2.functional.to_dtype(images, torch.float32, scale=True)
    assert torch.equal(transforms.to_float(images), expected)


def test_normalize_subtracts_mean_and_divides_by_std_per_channel() -> None:
    x = torch.tensor([0.5, 1.0]).view(1, 2, 1, 1).expand(3, 2, 2, 2)
    cpu = torch.device("cpu")
    mean, std = (
        transforms.channel_values((0.5, 0.2), cpu),
        transforms.channel_values((0.25, 0.4), cpu),
    )
    assert mean.shape == std.shape == (2, 1, 1)
    out = transforms.normalize(x, mean, std)
    assert torch.equal(out[:, 0], torch.zeros(3, 2, 2))
    assert torch.allclose(out[:, 1], torch.full((3, 2, 2), 2.0))


def test_normalize_equals_torchvision_normalize_exactly() -> None:
    x = torch.rand(4, 3, 5, 5, generator=generator())
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    cpu = torch.device("cpu")
    out = transforms.normalize(
        x, transforms.channel_values(mean, cpu), transforms.channel_values(std, cpu)
    )
    assert torch.equal(out, v2.functional.normalize(x, list(mean), list(std)))


def test_to_device_keeps_values_and_dtype() -> None:
    values = torch.tensor([3, 1, 2])
    moved = transforms.to_device(values, torch.device("cpu"))
    assert moved.dtype == torch.int64 and moved.tolist() == [3, 1, 2]


def test_resize_equals_torchvision_resize_per_image() -> None:
    x = torch.rand(4, 3, 32, 32, generator=generator())
    for size in (64, 20):
        batch = transforms.resize(x, size)
        assert batch.shape == (4, 3, size, size)
        one_by_one = torch.stack([v2.Resize(size, antialias=True)(image) for image in x])
        assert torch.allclose(batch, one_by_one, atol=1e-6)
    assert transforms.resize(x, (16, 8)).shape == (4, 3, 16, 8)


def test_random_crop_takes_a_window_of_the_zero_padded_image() -> None:
    count, padding = 300, 1
    x = (
        (torch.arange(2 * 3 * 3, dtype=torch.float32) + 1)
        .view(1, 2, 3, 3)
        .expand(count, -1, -1, -1)
    )
    out = transforms.random_crop(x, 3, padding, generator())
    padded = F.pad(x[0], (padding,) * 4)
    windows = {
        (top, left): padded[:, top : top + 3, left : left + 3]
        for top in range(3)
        for left in range(3)
    }
    offsets = []
    for crop in out:
        matches = [at for at, window in windows.items() if torch.equal(crop, window)]
        assert len(matches) == 1
        offsets.append(matches[0])
    assert set(offsets) == set(windows)  # every offset is drawn
    assert out[0].shape == (2, 3, 3)


def test_random_crop_without_padding_at_full_size_is_the_identity() -> None:
    x = torch.rand(5, 3, 8, 8, generator=generator())
    assert torch.equal(transforms.random_crop(x, 8, 0, generator()), x)


def test_random_crop_to_a_smaller_size() -> None:
    x = torch.rand(6, 1, 8, 8, generator=generator())
    assert transforms.random_crop(x, (4, 6), 0, generator()).shape == (6, 1, 4, 6)
    with pytest.raises(ValueError, match="larger than padded image"):
        transforms.random_crop(x, 11, 1, generator())


def test_random_hflip_flips_each_image_or_leaves_it() -> None:
    x = torch.rand(200, 2, 3, 4, generator=generator())
    out = transforms.random_hflip(x, generator())
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert bool((flipped ^ kept).all())
    assert 70 < int(flipped.sum()) < 130
    assert torch.equal(transforms.random_hflip(x, generator(), p=1.0), x.flip(-1))
    assert torch.equal(transforms.random_hflip(x, generator(), p=0.0), x)


def test_same_generator_seed_gives_the_same_augmentation() -> None:
    x = torch.rand(16, 3, 8, 8, generator=generator())
    a = transforms.random_hflip(transforms.random_crop(x, 8, 2, generator(7)), generator(8))
    b = transforms.random_hflip(transforms.random_crop(x, 8, 2, generator(7)), generator(8))
    c = transforms.random_crop(x, 8, 2, generator(9))
    assert torch.equal(a, b)
    assert not torch.equal(transforms.random_crop(x, 8, 2, generator(7)), c)


def test_resize_boxes_with_the_whole_image_as_its_box_is_the_identity() -> None:
    x = torch.rand((3, 2, 6, 8), generator=generator())
    boxes = torch.tensor([[0.0, 0.0, 8.0, 6.0]] * 3)
    assert torch.allclose(transforms.resize_boxes(x, boxes), x, atol=1e-6)


def test_resize_boxes_upscales_a_quarter_of_each_image_from_its_own_box() -> None:
    x = torch.zeros((2, 1, 4, 4))
    x[0, :, :2, :2] = 1.0  # image 0: ones in its top-left quarter
    x[1, :, 2:, 2:] = 1.0  # image 1: ones in its bottom-right quarter
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [2.5, 2.5, 3.5, 3.5]])  # inside those ones
    assert torch.equal(transforms.resize_boxes(x, boxes), torch.ones((2, 1, 4, 4)))


def test_random_resized_crop_draws_boxes_as_torchvision_within_the_image(monkeypatch) -> None:
    drawn: list[torch.Tensor] = []
    monkeypatch.setattr(transforms, "resize_boxes", lambda x, boxes: drawn.append(boxes) or x)
    x = torch.zeros((500, 3, 30, 40))
    transforms.random_resized_crop(x, 0.35, generator())
    left, top, right, bottom = drawn[0].unbind(1)
    width, height = right - left, bottom - top
    assert (left >= 0).all() and (top >= 0).all() and (right <= 40).all() and (bottom <= 30).all()
    share = width * height / (30 * 40)
    assert share.max() <= 1 + 1e-6 and share.min() >= 0.35 * 0.75  # clipped boxes lose area
    ratio = width / height
    unclipped = (width < 40) & (height < 30)
    assert ((ratio[unclipped] > 0.75 - 1e-4) & (ratio[unclipped] < 4 / 3 + 1e-4)).all()
    assert share.std() > 0.1 and left.std() > 1  # drawn per image


def test_random_resized_crop_keeps_the_size_and_follows_the_seed() -> None:
    x = torch.rand((4, 3, 12, 10), generator=generator(1))
    a = transforms.random_resized_crop(x, 0.2, generator(5))
    assert a.shape == x.shape
    assert torch.equal(a, transforms.random_resized_crop(x, 0.2, generator(5)))
    assert not torch.equal(a, transforms.random_resized_crop(x, 0.2, generator(6)))
    flat = torch.full((2, 3, 12, 10), 0.5)
    assert torch.allclose(transforms.random_resized_crop(flat, 0.2, generator()), flat)
