"""Dense peak throughput and memory bandwidth of GPUs, for model FLOP utilisation (MFU) and for
``bench doctor``.

Throughput values are TFLOP/s from NVIDIA's datasheets and architecture whitepapers, DENSE (the
datasheets' "with sparsity" figures are twice these). ``fp32`` is the non-tensor-core FP32 rate
(what a run with TF32 disabled can reach); ``tf32``, ``bf16`` and ``fp16`` are tensor-core rates
(bf16/fp16 with FP32 accumulation, which autocast uses). ``None``: the GPU has no such mode.
``memory_gb_s`` is the datasheet's peak memory bandwidth in GB/s (10^9 bytes per second; the
datasheets' "3.35 TB/s" is 3350).

Sources: NVIDIA H100 Tensor Core GPU datasheet (SXM5, PCIe, NVL); NVIDIA H200 datasheet (SXM,
NVL); NVIDIA GH200 Grace Hopper Superchip datasheet (96 GB HBM3 and 144 GB HBM3e); NVIDIA A100
datasheet (SXM4 and PCIe, 40 and 80 GB: same throughput, bandwidth per memory); NVIDIA A10, L4,
L40 and L40S datasheets; NVIDIA V100 datasheet (SXM2, PCIe, V100S PCIe); NVIDIA T4 datasheet;
NVIDIA Ada GPU architecture whitepaper (RTX 4090); NVIDIA Ampere GA102 whitepaper (RTX 3090).

Names are matched narrowly: a card with different clocks, unit counts or memory under a similar
name (RTX 3090 Ti, RTX 4090 D, laptop parts, V100 FHHL, an A100 without its memory size in the
name) has no row, so its MFU is "n/a", not wrong.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class Peaks(NamedTuple):
    """One GPU's datasheet peaks: dense TFLOP/s per dtype and memory bandwidth in GB/s."""

    fp32: float
    tf32: float | None
    bf16: float | None
    fp16: float | None
    memory_gb_s: float


PEAKS: dict[str, Peaks] = {
    "H100 SXM5": Peaks(67.0, 494.7, 989.4, 989.4, 3350.0),
    "H100 PCIe": Peaks(51.0, 378.0, 756.0, 756.0, 2000.0),
    "H100 NVL": Peaks(60.0, 417.5, 835.5, 835.5, 3900.0),
    "H200": Peaks(67.0, 494.7, 989.4, 989.4, 4800.0),
    "H200 NVL": Peaks(60.0, 417.5, 835.5, 835.5, 4800.0),
    "GH200": Peaks(67.0, 494.7, 989.4, 989.4, 4000.0),
    "GH200 HBM3e": Peaks(67.0, 494.7, 989.4, 989.4, 4900.0),
    "A100 40GB": Peaks(19.5, 156.0, 312.0, 312.0, 1555.0),
    "A100 SXM4 80GB": Peaks(19.5, 156.0, 312.0, 312.0, 2039.0),
    "A100 PCIe 80GB": Peaks(19.5, 156.0, 312.0, 312.0, 1935.0),
    "A10": Peaks(31.2, 62.5, 125.0, 125.0, 600.0),
    "L4": Peaks(30.3, 60.0, 121.0, 121.0, 300.0),
    "L40": Peaks(90.5, 90.5, 181.05, 181.05, 864.0),
    "L40S": Peaks(91.6, 183.0, 362.05, 362.05, 864.0),
    "V100 SXM2": Peaks(15.7, None, None, 125.0, 900.0),
    "V100 PCIe": Peaks(14.0, None, None, 112.0, 900.0),
    "V100S PCIe": Peaks(16.4, None, None, 130.0, 1134.0),
    "T4": Peaks(8.1, None, None, 65.0, 320.0),
    "RTX 4090": Peaks(82.6, 82.6, 165.2, 165.2, 1008.0),
    "RTX 3090": Peaks(35.6, 35.6, 71.0, 71.0, 936.0),
}

# Device names as NVML / torch report them → table rows; the first match wins.
NAME_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"H100.*PCIe", "H100 PCIe"),
    (r"H100.*NVL", "H100 NVL"),
    (r"H100", "H100 SXM5"),
    (r"GH200.*HBM3e", "GH200 HBM3e"),
    (r"GH200", "GH200"),
    (r"H200.*NVL", "H200 NVL"),
    (r"H200", "H200"),
    (r"A100.*80GB.*PCIe|A100-PCIE-80GB", "A100 PCIe 80GB"),
    (r"A100.*80GB", "A100 SXM4 80GB"),
    (r"A100.*40GB", "A100 40GB"),
    (r"\bA10\b", "A10"),
    (r"L40S", "L40S"),
    (r"\bL40\b", "L40"),
    (r"\bL4\b", "L4"),
    (r"V100S", "V100S PCIe"),
    (r"V100-PCIE", "V100 PCIe"),
    (r"V100-SXM", "V100 SXM2"),
    (r"\bT4\b", "T4"),
    (r"RTX 4090$", "RTX 4090"),
    (r"RTX 3090$", "RTX 3090"),
)

DTYPE_OF_PRECISION = {"fp32": "fp32", "tf32": "tf32", "amp-bf16": "bf16", "amp-fp16": "fp16"}


def gpu_model(gpu_name: str | None) -> str | None:
    """The table row for a device name such as ``NVIDIA H100 80GB HBM3``; None if unknown."""
    if not gpu_name:
        return None
    for pattern, model in NAME_PATTERNS:
        if re.search(pattern, gpu_name.strip(), flags=re.IGNORECASE):
            return model
    return None


def peak_tflops(gpu_name: str | None, precision: str) -> float | None:
    """Dense peak TFLOP/s of ``gpu_name`` at a job's precision (``fp32``, ``tf32``, ``amp-*``)."""
    peaks = gpu_peaks(gpu_name)
    dtype = DTYPE_OF_PRECISION.get(precision)
    if peaks is None or dtype is None:
        return None
    value: float | None = getattr(peaks, dtype)
    return value


def gpu_peaks(gpu_name: str | None) -> Peaks | None:
    """Every datasheet peak of ``gpu_name``; None for a device without a row."""
    model = gpu_model(gpu_name)
    return PEAKS[model] if model is not None else None
