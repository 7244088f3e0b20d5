"""Dense peak throughput of GPUs per dtype, for model FLOP utilisation (MFU).

Values are TFLOP/s from NVIDIA's datasheets and architecture whitepapers, DENSE (the datasheets'
"with sparsity" figures are twice these). ``fp32`` is the non-tensor-core FP32 rate (what a run
with TF32 disabled can reach); ``tf32``, ``bf16`` and ``fp16`` are tensor-core rates (bf16/fp16
with FP32 accumulation, which autocast uses). ``None``: the GPU has no such mode.

Sources: NVIDIA H100 Tensor Core GPU datasheet (SXM5, PCIe, NVL); NVIDIA H200 datasheet (SXM,
NVL); NVIDIA GH200 Grace Hopper Superchip datasheet; NVIDIA A100 datasheet (SXM4 and PCIe, 40 and
80 GB); NVIDIA A10, L4, L40 and L40S datasheets; NVIDIA V100 datasheet (SXM2, PCIe, V100S PCIe);
NVIDIA T4 datasheet; NVIDIA Ada GPU architecture whitepaper (RTX 4090); NVIDIA Ampere GA102
whitepaper (RTX 3090).

Names are matched narrowly: a card with different clocks or unit counts under a similar name
(RTX 3090 Ti, RTX 4090 D, laptop parts, V100 FHHL) has no row, so its MFU is "n/a", not wrong.
"""

from __future__ import annotations

import re

# model: (fp32, tf32, bf16, fp16) dense TFLOP/s
PEAK_TFLOPS: dict[str, tuple[float, float | None, float | None, float | None]] = {
    "H100 SXM5": (67.0, 494.7, 989.4, 989.4),
    "H100 PCIe": (51.0, 378.0, 756.0, 756.0),
    "H100 NVL": (60.0, 417.5, 835.5, 835.5),
    "H200": (67.0, 494.7, 989.4, 989.4),
    "H200 NVL": (60.0, 417.5, 835.5, 835.5),
    "GH200": (67.0, 494.7, 989.4, 989.4),
    "A100": (19.5, 156.0, 312.0, 312.0),
    "A10": (31.2, 62.5, 125.0, 125.0),
    "L4": (30.3, 60.0, 121.0, 121.0),
    "L40": (90.5, 90.5, 181.05, 181.05),
    "L40S": (91.6, 183.0, 362.05, 362.05),
    "V100 SXM2": (15.7, None, None, 125.0),
    "V100 PCIe": (14.0, None, None, 112.0),
    "V100S PCIe": (16.4, None, None, 130.0),
    "T4": (8.1, None, None, 65.0),
    "RTX 4090": (82.6, 82.6, 165.2, 165.2),
    "RTX 3090": (35.6, 35.6, 71.0, 71.0),
}

# Device names as NVML / torch report them → table rows; the first match wins.
_NAME_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"H100.*PCIe", "H100 PCIe"),
    (r"H100.*NVL", "H100 NVL"),
    (r"H100", "H100 SXM5"),
    (r"GH200", "GH200"),
    (r"H200.*NVL", "H200 NVL"),
    (r"H200", "H200"),
    (r"A100", "A100"),
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
_COLUMN = {"fp32": 0, "tf32": 1, "bf16": 2, "fp16": 3}


def gpu_model(gpu_name: str | None) -> str | None:
    """The table row for a device name such as ``NVIDIA H100 80GB HBM3``; None if unknown."""
    if not gpu_name:
        return None
    for pattern, model in _NAME_PATTERNS:
        if re.search(pattern, gpu_name.strip(), flags=re.IGNORECASE):
            return model
    return None


def peak_tflops(gpu_name: str | None, precision: str) -> float | None:
    """Dense peak TFLOP/s of ``gpu_name`` at a job's precision (``fp32``, ``tf32``, ``amp-*``)."""
    model = gpu_model(gpu_name)
    dtype = DTYPE_OF_PRECISION.get(precision)
    if model is None or dtype is None:
        return None
    return PEAK_TFLOPS[model][_COLUMN[dtype]]
