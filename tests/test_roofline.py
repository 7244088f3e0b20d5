"""Roofline arithmetic on known numbers (intensity, roof, ridge, bound, fraction, bytes) and
where the peaks come from."""

from __future__ import annotations

import pytest
import torch
from fake_cuda import patch_cuda

from bench.measure.device_peaks import cpu_peaks, device_peaks
from bench.measure.roofline import (
    COMPUTE_BOUND,
    MEMORY_BOUND,
    DevicePeaks,
    RooflinePoint,
    bound,
    inference_batch_bytes,
    roof,
    training_step_bytes,
)

# 1000 FLOP/s and 100 bytes/s: the ridge point lies at 10 FLOP/byte.
PEAKS = DevicePeaks(1000.0, 100.0, "datasheet")


def test_the_ridge_is_peak_compute_over_bandwidth() -> None:
    assert PEAKS.ridge == 10.0


@pytest.mark.parametrize(
    ("intensity", "expected_roof", "expected_bound"),
    [
        (0.5, 50.0, MEMORY_BOUND),
        (5.0, 500.0, MEMORY_BOUND),
        (10.0, 1000.0, COMPUTE_BOUND),  # at the ridge point: compute-bound
        (40.0, 1000.0, COMPUTE_BOUND),
    ],
)
def test_roof_and_bound_on_either_side_of_the_ridge(
    intensity: float, expected_roof: float, expected_bound: str
) -> None:
    assert roof(intensity, PEAKS) == expected_roof
    assert bound(intensity, PEAKS) == expected_bound


def test_a_memory_bound_point() -> None:
    point = RooflinePoint(
        flops=4000.0, seconds=10.0, min_bytes=800.0, precision="fp32", peaks=PEAKS
    )
    assert point.achieved == 400.0
    assert point.intensity == 5.0
    assert point.roof == 500.0
    assert point.bound == MEMORY_BOUND
    assert point.roof_fraction == 0.8


def test_a_compute_bound_point() -> None:
    point = RooflinePoint(
        flops=8000.0, seconds=16.0, min_bytes=400.0, precision="fp32", peaks=PEAKS
    )
    assert point.intensity == 20.0
    assert point.roof == 1000.0
    assert point.bound == COMPUTE_BOUND
    assert point.roof_fraction == 0.5


def test_training_step_bytes_counts_each_part_once_each_way() -> None:
    # weights read (10) and written (8) x 4 B = 72; gradients 2 x 8 x 4 B = 64;
    # one optimizer state 2 x 8 x 4 B = 64; activations 2 x 100 x 2 images x 4 B = 1600
    assert training_step_bytes(10, 8, 1, 100, 2, "fp32") == 1800
    # autocast halves only the activations: 2 x 100 x 2 x 2 B = 800
    assert training_step_bytes(10, 8, 1, 100, 2, "amp-bf16") == 1000
    # plain SGD keeps no state; Adam two tensors
    assert training_step_bytes(10, 8, 0, 100, 2, "fp32") == 1736
    assert training_step_bytes(10, 8, 2, 100, 2, "fp32") == 1864


def test_inference_batch_bytes_read_the_weights_and_pass_the_activations_once() -> None:
    # weights read once 10 x 4 B = 40; activations 2 x 100 x 3 images x 4 B = 2400
    assert inference_batch_bytes(10, 100, 3, "fp32") == 2440
    # autocast keeps float32 weights and halves the activations: 40 + 2 x 100 x 3 x 2 B
    assert inference_batch_bytes(10, 100, 3, "amp-fp16") == 1240
    assert inference_batch_bytes(10, 100, 1, "tf32") == 840


def test_a_point_survives_its_record_and_bad_records_give_none() -> None:
    point = RooflinePoint(4000.0, 10.0, 800.0, "amp-bf16", PEAKS)
    record = point.to_dict()
    assert record["bound"] == MEMORY_BOUND and record["roof_fraction"] == 0.8
    assert record["intensity_flop_per_byte"] == 5.0 and record["peaks_source"] == "datasheet"
    assert RooflinePoint.from_dict(record) == point
    for broken in (
        {k: v for k, v in record.items() if k != "seconds"},
        {**record, "seconds": 0},
        {**record, "min_bytes": "800"},
        {**record, "peak_flops_per_s": float("inf")},
        {**record, "flops": True},
    ):
        assert RooflinePoint.from_dict(broken) is None


def test_gpu_peaks_come_from_the_datasheet_table(monkeypatch: pytest.MonkeyPatch) -> None:
    names = iter(["NVIDIA H100 80GB HBM3", "Tesla V100-SXM2-16GB", "Some Future GPU"])
    patch_cuda(monkeypatch, "get_device_name", lambda device=None: next(names))
    cuda = torch.device("cuda")
    assert device_peaks(cuda, "amp-bf16") == DevicePeaks(989.4e12, 3350e9, "datasheet")
    assert device_peaks(cuda, "amp-bf16") is None  # a V100 has no bf16 rate
    assert device_peaks(cuda, "fp32") is None  # no row for this name


def test_cpu_peaks_are_measured_and_tf32_runs_as_float32() -> None:
    peaks = device_peaks(torch.device("cpu"), "tf32")
    assert peaks == cpu_peaks("fp32") and peaks.source == "measured"
    assert peaks.flops_per_s > 0 and peaks.bytes_per_s > 0
