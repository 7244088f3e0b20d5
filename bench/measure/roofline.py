"""The roofline model: where a measured step lies under a device's compute and bandwidth peaks.

Pure arithmetic (no torch), shared by the jobs that place their training step and by the report
that draws the roofs. A point is one step: its FLOPs, its measured compute time, the bytes it
must move at least, the precision it ran in and the device's peaks for that precision.
Conventions: FLOPs count one multiply-add as 2; bytes are 8-bit bytes; rates per second.

- achieved FLOP/s = FLOPs / seconds
- arithmetic intensity = FLOPs / minimum bytes moved (FLOP/byte)
- roof = min(peak FLOP/s, intensity × peak bytes/s)
- ridge point = peak FLOP/s / peak bytes/s; a step is compute-bound iff its intensity is at
  least the ridge point, else memory-bound
- fraction of the roof = achieved FLOP/s / roof

``docs/profiling.md`` states how the minimum bytes of a training step
(:func:`training_step_bytes`) and of an inference batch (:func:`inference_batch_bytes`) are
estimated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

COMPUTE_BOUND = "compute-bound"
MEMORY_BOUND = "memory-bound"
# Bytes per element of master weights, gradients and optimizer state: float32 in every
# precision (autocast keeps parameters in float32).
STATE_BYTES = 4
# Bytes per element of activations: autocast's 16-bit outputs under ``amp-*``, else float32.
ACTIVATION_BYTES = {"fp32": 4, "tf32": 4, "amp-bf16": 2, "amp-fp16": 2}


@dataclass(frozen=True)
class DevicePeaks:
    """A device's peak compute (FLOP/s, for one precision) and memory bandwidth (bytes/s);
    ``source`` says where they come from (``datasheet`` or ``measured``)."""

    flops_per_s: float
    bytes_per_s: float
    source: str

    @property
    def ridge(self) -> float:
        """The intensity (FLOP/byte) where the bandwidth roof meets the compute roof."""
        return self.flops_per_s / self.bytes_per_s


def roof(intensity: float, peaks: DevicePeaks) -> float:
    """The highest FLOP/s reachable at ``intensity`` (FLOP/byte) under ``peaks``."""
    return min(peaks.flops_per_s, intensity * peaks.bytes_per_s)


def bound(intensity: float, peaks: DevicePeaks) -> str:
    """``compute-bound`` where ``intensity`` reaches the ridge point, else ``memory-bound``."""
    return COMPUTE_BOUND if intensity >= peaks.ridge else MEMORY_BOUND


def training_step_bytes(
    params: int,
    trainable_params: int,
    optimizer_states: int,
    activations_per_image: int,
    batch_size: int,
    precision: str,
) -> int:
    """The bytes one training step must move at least.

    Parameters are read once and the trainable ones written once; gradients are written once
    and read once; each of the ``optimizer_states`` tensors per trainable parameter (SGD
    momentum: 1, Adam: 2) is read once and written once; every activation (``activations_per_
    image`` elements per image) is written once and read once.
    """
    weights = (params + trainable_params) * STATE_BYTES
    gradients = 2 * trainable_params * STATE_BYTES
    state = 2 * optimizer_states * trainable_params * STATE_BYTES
    activations = 2 * activations_per_image * batch_size * ACTIVATION_BYTES[precision]
    return weights + gradients + state + activations


def inference_batch_bytes(
    params: int, activations_per_image: int, batch_size: int, precision: str
) -> int:
    """The bytes one inference batch (a forward pass in eval mode, no gradients) must move at
    least.

    Every parameter is read once, in float32 (autocast keeps the weights in float32 and casts
    them per operator; the 16-bit copies are not counted); every activation
    (``activations_per_image`` elements per image, forward pass in eval mode) is written once
    and read once.
    """
    weights = params * STATE_BYTES
    activations = 2 * activations_per_image * batch_size * ACTIVATION_BYTES[precision]
    return weights + activations


@dataclass(frozen=True)
class RooflinePoint:
    """One measured step: ``flops`` in ``seconds`` of compute, moving at least ``min_bytes``,
    in ``precision`` on a device with ``peaks``."""

    flops: float
    seconds: float
    min_bytes: float
    precision: str
    peaks: DevicePeaks

    @property
    def achieved(self) -> float:
        """Achieved FLOP/s."""
        return self.flops / self.seconds

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOP/byte."""
        return self.flops / self.min_bytes

    @property
    def roof(self) -> float:
        """The roof (FLOP/s) at this point's intensity."""
        return roof(self.intensity, self.peaks)

    @property
    def bound(self) -> str:
        """``compute-bound`` or ``memory-bound``."""
        return bound(self.intensity, self.peaks)

    @property
    def roof_fraction(self) -> float:
        """Achieved FLOP/s over the roof."""
        return self.achieved / self.roof

    def to_dict(self) -> dict[str, Any]:
        """The point and its derived figures, JSON-ready (a job record's ``extra.roofline``, an
        inference row's ``roofline``)."""
        return {
            **{k: v for k, v in asdict(self).items() if k != "peaks"},
            "peak_flops_per_s": self.peaks.flops_per_s,
            "peak_bytes_per_s": self.peaks.bytes_per_s,
            "peaks_source": self.peaks.source,
            "achieved_flops_per_s": self.achieved,
            "intensity_flop_per_byte": self.intensity,
            "roof_flops_per_s": self.roof,
            "bound": self.bound,
            "roof_fraction": self.roof_fraction,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RooflinePoint | None:
        """The point :meth:`to_dict` wrote; None where ``data`` is not one (read from files,
        which are untrusted)."""
        try:
            peaks = DevicePeaks(
                _positive(data["peak_flops_per_s"]),
                _positive(data["peak_bytes_per_s"]),
                str(data["peaks_source"]),
            )
            return cls(
                _positive(data["flops"]),
                _positive(data["seconds"]),
                _positive(data["min_bytes"]),
                str(data["precision"]),
                peaks,
            )
        except (KeyError, TypeError, ValueError):
            return None


def _positive(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"not a number: {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"not a positive number: {value!r}")
    return float(value)
