"""Job figures derived from epoch records."""

from __future__ import annotations

import dataclasses

import pytest

from bench.results.job_summary import summarize_epochs, summarize_inference
from bench.results.records import EpochRecord, InferenceRow
from bench.results.samples import compact

BASE = EpochRecord(
    job_id="j",
    suite="s",
    model="m",
    seed=0,
    variant="",
    phase="train",
    epoch=1,
    train_loss=1.0,
    train_acc=50.0,
    test_loss=1.0,
    test_acc=50.0,
    lr=0.1,
    epoch_time_s=10.0,
    train_time_s=9.0,
    eval_time_s=1.0,
    data_wait_s=1.0,
    compute_s=8.0,
    images=900,
    images_per_s=100.0,
)


def epochs(*rows: dict) -> list[EpochRecord]:
    return [dataclasses.replace(BASE, epoch=i + 1, **row) for i, row in enumerate(rows)]


def test_first_epoch_apart_and_steady_state_median() -> None:
    out = summarize_epochs(
        epochs(
            {"epoch_time_s": 30.0, "images_per_s": 30.0},
            {"epoch_time_s": 10.0, "images_per_s": 100.0, "test_acc": 80.0},
            {"epoch_time_s": 12.0, "images_per_s": 90.0, "test_acc": 85.0, "test_top5": 99.5},
            {"epoch_time_s": 11.0, "images_per_s": 95.0, "test_acc": 84.0, "test_top5": 99.0},
        )
    )
    assert out["first_epoch_time_s"] == 30.0
    assert out["epoch_time_s"] == 11.0
    assert out["images_per_s"] == 95.0
    assert out["test_acc"] == 84.0 and out["best_test_acc"] == 85.0
    assert out["test_top5"] == 99.0  # the final epoch's, as test_acc


def test_single_epoch_has_no_steady_state() -> None:
    out = summarize_epochs(epochs({}))
    assert out["first_epoch_time_s"] == 10.0
    assert out["epoch_time_s"] is None and out["images_per_s"] is None


def test_unmeasured_gpu_figures_stay_none() -> None:
    out = summarize_epochs(epochs({}, {}), train_step_flops=3_000_000, peak_tflops=None)
    assert out["energy_j"] is None and out["power_w"] is None and out["mfu"] is None
    assert out["achieved_tflops"] == pytest.approx(3e6 * 100.0 / 1e12)


def test_energy_mfu_and_efficiency_when_measured() -> None:
    out = summarize_epochs(
        epochs({"energy_j": 100.0, "power_w": 50.0}, {"energy_j": 80.0, "power_w": 40.0}),
        train_step_flops=2 * 10**9,
        peak_tflops=0.001,
    )
    assert out["energy_j"] == 180.0 and out["energy_per_epoch_j"] == 90.0
    assert out["images_per_s_per_w"] == pytest.approx(100.0 / 40.0)
    assert out["mfu"] == pytest.approx(2e9 * 100.0 / 1e12 / 0.001)


def test_time_to_target_counts_all_epochs_until_reached() -> None:
    out = summarize_epochs(
        epochs({"test_acc": 50.0}, {"test_acc": 91.0, "energy_j": 5.0}, {"test_acc": 95.0}),
        target_acc=90.0,
    )
    assert out["time_to_target_s"] == 20.0
    assert out["energy_to_target_j"] is None  # the first epoch's energy is unknown


def test_accuracy_comes_from_the_finetune_phase_of_autoencode() -> None:
    rows = epochs(
        {"phase": "pretrain", "test_acc": None, "train_acc": None},
        {"phase": "pretrain", "test_acc": None, "train_acc": None},
        {"phase": "finetune", "test_acc": 40.0},
        {"phase": "finetune", "test_acc": 45.0},
    )
    out = summarize_epochs(rows)
    assert out["test_acc"] == 45.0 and out["best_test_acc"] == 45.0
    assert out["test_top5"] is None  # epochs without top-5 (fewer than 5 classes, old records)
    assert out["epoch_time_s"] == 10.0 and out["epochs"] == 4


def test_the_steady_epochs_steps_are_the_sample_of_epoch_time_and_throughput() -> None:
    rows = epochs(
        {"phase": "pretrain", "step_ms": [90.0, 100.0]},  # warm-up: not steady
        {"phase": "pretrain", "step_ms": [3.0, 1.0]},
        {"phase": "finetune", "step_ms": [50.0]},  # warm-up of the second phase
        {"phase": "finetune", "step_ms": [2.0]},
    )
    sample = [1.0, 2.0, 3.0]
    assert summarize_epochs(rows)["samples"] == {"epoch_time_s": sample, "images_per_s": sample}
    older = epochs({}, {}, {"step_ms": [1.0]})  # a steady epoch without steps: no sample
    assert "samples" not in summarize_epochs(older)
    many = epochs({}, *({"step_ms": [float(i)] * 20} for i in range(1, 4)))
    assert summarize_epochs(many)["samples"]["epoch_time_s"] == compact([1.0, 2.0, 3.0] * 20)


def test_the_inference_metrics_samples_are_their_rows_passes() -> None:
    def row(batch: int, status: str = "ok", precision: str = "fp32") -> InferenceRow:
        return InferenceRow(
            "m", precision, batch, status, "trained", "cpu", [1, 32, 32],
            latency_ms_p50=float(batch), images_per_s=10.0 * batch,
            pass_ms=[float(batch), 2.0 * batch] if status == "ok" else None,
        )  # fmt: skip

    rows = [row(1), row(8), row(64, "oom"), row(1, precision="amp-bf16")]
    out = summarize_inference(rows)
    assert (out["latency_ms_p50"], out["inference_images_per_s"]) == (1.0, 80.0)
    assert out["samples"] == {"latency_ms_p50": [1.0, 2.0], "inference_images_per_s": [8.0, 16.0]}
    assert summarize_inference([row(8)])["samples"] == {"inference_images_per_s": [8.0, 16.0]}
