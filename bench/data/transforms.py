"""Batch transforms on image tensors [B, C, H, W], on whatever device the tensors are.

Random choices (crop offsets, flips) are drawn from a CPU ``torch.Generator`` and then moved to the
images' device, so one seed gives the same augmentation on the CPU and on a GPU. Nothing here waits
for a GPU: host values reach it by asynchronous copies from pinned memory, and normalisation takes
its per-channel values as tensors made once on the device (see ``channel_values``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from torchvision.ops import roi_align


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images → float32 in [0, 1]: torchvision's ``to_dtype(..., scale=True)`` (as its
    ``ToTensor``), the same two operations without its per-call dispatch."""
    return images.to(torch.float32).mul_(1 / 255)


def to_device(values: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU tensor on ``device``; to a GPU by an asynchronous copy from pinned memory (a plain
    copy from pageable memory would wait for the GPU to finish its queued work)."""
    if device.type == "cuda":
        return values.pin_memory().to(device, non_blocking=True)
    return values.to(device)


def channel_values(values: Sequence[float], device: torch.device) -> torch.Tensor:
    """Per-channel values as a float32 ``[C, 1, 1]`` tensor on ``device``, for ``normalize``."""
    return torch.tensor(values, dtype=torch.float32, device=device).view(-1, 1, 1)


def normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """``(x - mean) / std`` per channel (as torchvision's ``Normalize``, the same operations);
    ``mean`` and ``std`` from ``channel_values`` on ``x``'s device."""
    return x.sub(mean).div_(std)


def resize(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Bilinear resize with antialiasing, exactly torchvision's ``Resize(size)`` on tensors: an int
    sets the smaller edge (keeping the aspect ratio), a pair sets (H, W)."""
    target = [size] if isinstance(size, int) else list(size)
    return TF.resize(x, target, interpolation=TF.InterpolationMode.BILINEAR, antialias=True)


def random_crop(
    x: torch.Tensor, size: int | tuple[int, int], padding: int, generator: torch.Generator
) -> torch.Tensor:
    """Pad with zeros by ``padding`` on every side, then crop each image to ``size`` at its own
    uniformly drawn offset (as torchvision's ``RandomCrop(size, padding)``, per image)."""
    height, width = (size, size) if isinstance(size, int) else size
    padded = F.pad(x, (padding, padding, padding, padding))
    batch, channels, padded_h, padded_w = padded.shape
    if padded_h < height or padded_w < width:
        raise ValueError(f"crop {height}x{width} larger than padded image {padded_h}x{padded_w}")
    top = to_device(torch.randint(padded_h - height + 1, (batch,), generator=generator), x.device)
    left = to_device(torch.randint(padded_w - width + 1, (batch,), generator=generator), x.device)
    rows = top[:, None] + torch.arange(height, device=x.device)
    cols = left[:, None] + torch.arange(width, device=x.device)
    return padded[
        torch.arange(batch, device=x.device)[:, None, None, None],
        torch.arange(channels, device=x.device)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]


def random_resized_crop(
    x: torch.Tensor, min_scale: float, generator: torch.Generator
) -> torch.Tensor:
    """Crop each image to a random box and resize it back to the images' size (as torchvision's
    ``RandomResizedCrop(size, scale=(min_scale, 1))``, per image): the box's area a uniform
    share of the image in [``min_scale``, 1], its aspect ratio log-uniform in [3/4, 4/3]
    (clipped to the image where it is wider or taller), its place uniform. The boxes are
    resampled together on the images' device (``resize_boxes``)."""
    batch, _channels, height, width = x.shape
    area = torch.empty(batch).uniform_(min_scale, 1.0, generator=generator) * height * width
    log_ratio = torch.empty(batch).uniform_(math.log(3 / 4), math.log(4 / 3), generator=generator)
    ratio = log_ratio.exp()
    box_w = (area * ratio).sqrt().clamp(1, width)
    box_h = (area / ratio).sqrt().clamp(1, height)
    left = torch.rand(batch, generator=generator) * (width - box_w)
    top = torch.rand(batch, generator=generator) * (height - box_h)
    boxes = torch.stack([left, top, left + box_w, top + box_h], dim=1)
    return resize_boxes(x, to_device(boxes, x.device))


def resize_boxes(x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Each image's box ``(left, top, right, bottom)`` (pixel edges, float) resampled to the
    images' size: torchvision's ``roi_align`` (bilinear, averaging as many samples per output
    pixel as the box is larger than the output, which antialiases a downscale)."""
    rows = torch.arange(len(x), device=x.device, dtype=boxes.dtype)[:, None]
    return roi_align(
        x, torch.cat([rows, boxes], dim=1), tuple(x.shape[-2:]), sampling_ratio=-1, aligned=True
    )


def random_hflip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Flip each image left-right with probability ``p``."""
    flip = to_device(torch.rand(len(x), generator=generator) < p, x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)
