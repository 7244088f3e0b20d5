"""The device part of a variant name (``cpu+amp-bf16``): which device a variant trains on, and
the rest of its name, so that a report can pair the jobs that differ by device alone. No torch:
the reading side uses it."""

from __future__ import annotations

DEVICE_PARTS = ("cpu", "cuda")
"""Variant parts that set the job's device, over the suite's ``device`` and ``--device``."""


def split_device(variant: str) -> tuple[str | None, str]:
    """``"cuda+amp-bf16"`` → ``("cuda", "amp-bf16")``; a variant without a device part →
    ``(None, variant)``. The parts keep their order."""
    parts = variant.split("+") if variant else []
    devices = [p for p in parts if p in DEVICE_PARTS]
    rest = "+".join(p for p in parts if p not in DEVICE_PARTS)
    return (devices[0] if devices else None), rest
