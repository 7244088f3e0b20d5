"""The arithmetic that turns a short run of a job into its predicted time (exact values)."""

from __future__ import annotations

import pytest

from bench.results.prediction import (
    InferenceRun,
    JobPrediction,
    PhaseRun,
    ShortRun,
    predict,
    prediction_error_pct,
)

PHASE = PhaseRun(
    phase="train",
    epochs=3,
    train_images=1000,
    eval_images=200,
    steady_train_s=0.5,  # 100 images: 5 ms each
    short_train_images=100,
    steady_eval_s=0.1,  # 50 images: 2 ms each
    short_eval_images=50,
    warmup_s=0.3,
    short_s=4.0,
    energy_j=20.0,
)
# 8 passes of 0.25 s: 2.0 s of the short run; the real budget is 10 passes or 0.5 s
INFERENCE = InferenceRun(
    pass_s=0.25, short_passes=8, warmup_passes=3, min_iterations=10, min_time_s=0.5
)


def test_a_phase_is_its_epochs_at_the_steady_rates_plus_the_warm_up() -> None:
    # 3 × (1000 × 5 ms + 200 × 2 ms) + 0.3 s
    assert PHASE.predicted_s() == pytest.approx(3 * (5.0 + 0.4) + 0.3)


def test_a_phase_of_no_epochs_takes_no_time() -> None:
    assert PhaseRun(**{**PHASE.__dict__, "epochs": 0}).predicted_s() == 0.0


@pytest.mark.parametrize(
    ("pass_s", "expected"),
    [
        (0.25, (3 + 10) * 0.25),  # 10 passes reach 0.5 s: the iteration count decides
        (0.01, (3 + 50) * 0.01),  # 0.5 s of 10 ms passes: 50 of them
        (0.003, (3 + 167) * 0.003),  # ⌈0.5 / 0.003⌉ = 167
    ],
)
def test_inference_runs_the_warm_up_then_the_larger_of_count_and_time(
    pass_s: float, expected: float
) -> None:
    run = InferenceRun(
        pass_s=pass_s, short_passes=8, warmup_passes=3, min_iterations=10, min_time_s=0.5
    )
    assert run.predicted_s() == pytest.approx(expected)


def test_fixed_costs_are_the_short_wall_time_less_epochs_inference_and_profiles() -> None:
    short = ShortRun(
        "ok", None, total_s=10.0, phases=(PHASE,), inference=(INFERENCE,), profile_s={"a": 1.5}
    )
    assert short.fixed_s == pytest.approx(10.0 - 4.0 - 2.0 - 1.5)
    assert ShortRun("ok", None, total_s=1.0, phases=(PHASE,)).fixed_s == 0.0  # never below 0


def test_a_job_predicts_its_parts_summed_and_energy_at_the_short_runs_power() -> None:
    short = ShortRun(
        "ok", None, total_s=10.0, phases=(PHASE,), inference=(INFERENCE,), profile_s={"a": 1.5}
    )
    (job,) = predict([("j", short)])
    assert job.fixed_s == pytest.approx(2.5)
    assert job.profile_s == 1.5
    assert job.train_s == pytest.approx(16.5)
    assert job.inference_s == pytest.approx(3.25)
    assert job.total_s == pytest.approx(2.5 + 1.5 + 16.5 + 3.25)
    assert job.energy_j == pytest.approx(20.0 / 4.0 * 16.5)  # 5 W over the predicted epochs


def test_a_profile_is_counted_for_the_first_job_that_needs_it() -> None:
    lenet = ShortRun("ok", None, total_s=3.0, profile_s={"lenet": 1.0})
    autoencoder = ShortRun("ok", None, total_s=5.0, profile_s={"ae": 2.0, "lenet": 1.0})
    first, second, third = predict([("a", lenet), ("b", lenet), ("c", autoencoder)])
    assert (first.profile_s, second.profile_s, third.profile_s) == (1.0, 0.0, 2.0)
    assert first.total_s == 3.0 and second.total_s == 2.0


def test_a_failed_short_run_predicts_no_time_and_no_energy() -> None:
    (job,) = predict([("j", ShortRun("error", "ValueError: boom", total_s=1.0))])
    assert job.total_s is None and job.energy_j is None and job.error == "ValueError: boom"


def test_energy_is_unknown_where_a_phase_measured_none() -> None:
    phase = PhaseRun(**{**PHASE.__dict__, "energy_j": None})
    (job,) = predict([("j", ShortRun("ok", None, total_s=10.0, phases=(PHASE, phase)))])
    assert job.energy_j is None


@pytest.mark.parametrize(
    ("gpu_total", "status", "peak", "fits"),
    [
        (None, "ok", None, None),  # off the GPU: n/a
        (1000.0, "ok", 999.0, True),
        (1000.0, "ok", 1001.0, False),
        (1000.0, "oom", None, False),
    ],
)
def test_fits_in_gpu_memory(
    gpu_total: float | None, status: str, peak: float | None, fits: bool | None
) -> None:
    job = JobPrediction("j", status, peak_mem_mib=peak, gpu_total_mib=gpu_total)
    assert job.fits is fits


def test_prediction_error_is_relative_to_the_measurement() -> None:
    assert prediction_error_pct(12.0, 10.0) == pytest.approx(20.0)
    assert prediction_error_pct(7.5, 10.0) == pytest.approx(-25.0)
    assert prediction_error_pct(None, 10.0) is None
    assert prediction_error_pct(1.0, None) is None
    assert prediction_error_pct(1.0, 0.0) is None
