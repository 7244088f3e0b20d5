"""What the GPU acceptance run checks in the records its stages wrote (scripts/
gpu_check_evaluate.py, gpu_check_energy.py): planted run directories, written with the run
directory's own writer, stand in for a GPU's. Every number here is made up to make the expected
figures exact: an epoch's counter energy against its telemetry segments' integral of
instantaneous power, a compiled job's graph counts, power methods, projections from the images
a job trained."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bench.measure.telemetry import CSV_COLUMNS, IDLE, Sample
from bench.results.records import EpochRecord, JobRecord
from bench.results.rundir import RunDir
from bench.suite.files import find_suite, read_toml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import gpu_check  # noqa: E402
import gpu_check_budget as budget  # noqa: E402
import gpu_check_evaluate as evaluate  # noqa: E402

INTERVAL_S = 0.5  # between two readings of the planted telemetry
IDLE_W = 50.0
CLASSIC_SETTINGS = ["compile=default", "batch_size=128", "dataset.train_size=10000"]
Segment = tuple[str, int | None, float, float]  # label, epoch, seconds, watts


def sampled(segments: list[Segment], source: str | None = "instant") -> list[Sample]:
    """Samples as a job's sampler takes them for consecutive segments: a reading every 0.5 s, and
    at each change of segment one reading stored twice (the end of one segment, the start of the
    next); an idle segment draws 50 W inside, and its edges read the power of the segment they
    touch (so a segment's readings all show its own power)."""
    samples: list[Sample] = []
    start = 0.0
    for number, (label, epoch, seconds, watts) in enumerate(segments):
        steps = round(seconds / INTERVAL_S)
        for step in range(steps + 1):
            power = watts
            if label == IDLE and step == 0 and number > 0:
                power = segments[number - 1][3]
            elif label == IDLE and step == steps and number + 1 < len(segments):
                power = segments[number + 1][3]
            samples.append(_sample(start + step * INTERVAL_S, number, label, epoch, power, source))
        start += seconds
    return samples


def _sample(
    time_s: float, segment: int, label: str, epoch: int | None, watts: float, source: str | None
) -> Sample:
    return Sample(
        time_s, segment, label, epoch, 90.0, 40.0, 1000.0, watts, 60.0, 1980.0, 2619.0, 0, None,
        source,
    )  # fmt: skip


def epochs_of(phase: str, count: int, train_w: float, eval_w: float) -> list[Segment]:
    """The segments of ``count`` epochs of ``phase`` as the collectors begin them: training
    (2 s), idle (0.5 s), evaluation (1 s), idle (1 s)."""
    segments: list[Segment] = []
    for epoch in range(1, count + 1):
        segments += [
            (phase, epoch, 2.0, train_w),
            (IDLE, None, 0.5, IDLE_W),
            ("eval", epoch, 1.0, eval_w),
            (IDLE, None, 1.0, IDLE_W),
        ]
    return segments


def epoch_record(
    job_id: str, phase: str, epoch: int, energy_j: float, **fields: Any
) -> EpochRecord:
    values: dict[str, Any] = dict(
        job_id=job_id, suite="gpu-variants", model="resnet18-cifar", seed=0, variant="fp32",
        phase=phase, epoch=epoch, train_loss=1.0, train_acc=50.0, test_loss=1.0, test_acc=50.0,
        lr=0.1, epoch_time_s=3.0, train_time_s=2.0, eval_time_s=1.0, data_wait_s=0.0,
        compute_s=2.0, images=51_200, images_per_s=25_600.0, gpu_util_pct=90.0,
        gpu_mem_util_pct=40.0, power_w=250.0, energy_j=energy_j, energy_method="counter",
        power_method="counter", sm_clock_mhz=1980.0, peak_mem_mib=1000.0,
    )  # fmt: skip
    return EpochRecord(**{**values, **fields})


def job_record(job_id: str, **fields: Any) -> JobRecord:
    values: dict[str, Any] = dict(
        job_id=job_id, suite="gpu-variants", model="resnet18-cifar", seed=0, variant="fp32",
        status="ok", error=None, dataset="synthetic", recipe="classify", device="cuda:0",
        precision="fp32", batch_size=512, epochs=2, power_w=250.0, power_method="counter",
        mfu=0.3, peak_mem_mib=1000.0, gpu_util_pct=90.0,
    )  # fmt: skip
    return JobRecord(**{**values, **fields})


def planted(
    path: Path,
    epochs: list[EpochRecord],
    job: JobRecord,
    samples: list[Sample] | None,
    info: dict[str, Any] | None = None,
) -> Any:
    """A run directory holding one job: its epoch records, its job record and its telemetry
    CSV (as the sampler writes it: ``CSV_COLUMNS``, empty cells for None), read back."""
    path.mkdir(parents=True)
    store = RunDir.create(path, info or {"suite": {"name": "planted"}, "jobs": []})
    for record in (*epochs, job):
        store.append(record)
    if samples is not None:
        frame = pd.DataFrame([asdict(s) for s in samples], columns=list(CSV_COLUMNS))
        store.save_telemetry(job.job_id, frame.to_csv(index=False))
    return RunDir.open(path).read()


def gpu_checks(run: Any) -> dict[str, tuple[str, str]]:
    """The checks of the run's one GPU job: check name → (status, figure)."""
    outcome = gpu_check.Outcome()
    evaluate.check_gpu_job(outcome, run, run.jobs[0], 81_559)
    return {c["check"]: (c["status"], c["figure"]) for c in outcome.checks}


def energy_line(run: Any) -> tuple[str, str]:
    """The status and figure of the job's energy check."""
    found = gpu_checks(run)
    (name,) = [n for n in found if n.startswith(f"{run.jobs[0]['job_id']}: energy")]
    return found[name]


SOURCES = "energy counter difference vs integral of instantaneous power (NVML_FI_DEV_POWER_INSTANT)"


def test_counter_energy_that_matches_the_integral_of_instantaneous_power_passes(
    tmp_path: Path,
) -> None:
    """Each epoch: 2 s of training at 200 W and 1 s of evaluation at 100 W, 500 J by either
    source; the idle time around them (50 W) belongs to neither."""
    samples = sampled([(IDLE, None, 1.0, IDLE_W), *epochs_of("train", 2, 200.0, 100.0)])
    epochs = [epoch_record("job", "train", e, 500.0) for e in (1, 2)]
    run = planted(tmp_path / "run", epochs, job_record("job"), samples)
    assert energy_line(run) == (
        "PASS",
        f"{SOURCES}, per epoch: train 1: 500 J vs 500 J (0.0% off); "
        "train 2: 500 J vs 500 J (0.0% off)",
    )
    found = gpu_checks(run)
    assert found["job: energy counter > 0 and within 10% of integrated instantaneous power"][0] == (
        "PASS"
    )


def test_counter_energy_20_percent_off_the_integral_fails(tmp_path: Path) -> None:
    samples = sampled([(IDLE, None, 1.0, IDLE_W), *epochs_of("train", 2, 200.0, 100.0)])
    epochs = [epoch_record("job", "train", 1, 500.0), epoch_record("job", "train", 2, 600.0)]
    run = planted(tmp_path / "run", epochs, job_record("job"), samples)
    assert energy_line(run) == (
        "FAIL",
        f"{SOURCES}, per epoch: train 1: 500 J vs 500 J (0.0% off); "
        "train 2: 600 J vs 500 J (20.0% off)",
    )


def test_pretraining_and_finetuning_epochs_of_one_number_are_compared_apart(
    tmp_path: Path,
) -> None:
    """An autoencoder's epoch 1 of pre-training (200 W, 100 W) and of fine-tuning (300 W,
    150 W): both evaluations are labelled eval, epoch 1; each epoch is its own segments."""
    samples = sampled(
        [
            (IDLE, None, 1.0, IDLE_W),
            *epochs_of("pretrain", 1, 200.0, 100.0),
            *epochs_of("finetune", 1, 300.0, 150.0),
        ]
    )
    epochs = [
        epoch_record("ae", "pretrain", 1, 500.0, train_acc=None),
        epoch_record("ae", "finetune", 1, 750.0),
    ]
    run = planted(tmp_path / "run", epochs, job_record("ae", recipe="autoencode"), samples)
    assert energy_line(run) == (
        "PASS",
        f"{SOURCES}, per epoch: pretrain 1: 500 J vs 500 J (0.0% off); "
        "finetune 1: 750 J vs 750 J (0.0% off)",
    )


@pytest.mark.parametrize(
    ("energy_method", "source", "reason"),
    [
        (
            "integrated-power",
            "instant",
            "no energy counter on this GPU (energy_method integrated-power): the energy comes "
            "from the power readings, so nothing independent to compare",
        ),
        (
            "counter",
            "trailing-average",
            "no instantaneous power reading on this GPU (power_source trailing-average): NVML's "
            "trailing one-second average is no independent measure of a segment's energy",
        ),
    ],
    ids=["no energy counter", "no instantaneous power"],
)
def test_without_two_independent_sources_the_energy_check_is_skipped_with_the_reason(
    tmp_path: Path, energy_method: str, source: str, reason: str
) -> None:
    samples = sampled([(IDLE, None, 1.0, IDLE_W), *epochs_of("train", 1, 200.0, 100.0)], source)
    epochs = [epoch_record("job", "train", 1, 500.0, energy_method=energy_method)]
    run = planted(tmp_path / "run", epochs, job_record("job"), samples)
    assert energy_line(run) == ("SKIP", reason)


def test_an_epoch_whose_readings_lack_power_fails_the_energy_check(tmp_path: Path) -> None:
    samples = sampled([(IDLE, None, 1.0, IDLE_W), *epochs_of("train", 1, 200.0, 100.0)])
    samples[4] = dataclasses.replace(samples[4], power_w=None, power_source=None)
    run = planted(
        tmp_path / "run", [epoch_record("job", "train", 1, 500.0)], job_record("job"), samples
    )
    assert energy_line(run) == (
        "FAIL",
        f"{SOURCES}, per epoch: train 1: 500 J vs n/a; readings not all instantaneous in train 1",
    )


def test_an_epoch_without_its_own_training_segment_fails_the_energy_check(tmp_path: Path) -> None:
    """Telemetry of one epoch for records of two: the second has no segment to compare."""
    samples = sampled([(IDLE, None, 1.0, IDLE_W), *epochs_of("train", 1, 200.0, 100.0)])
    epochs = [epoch_record("job", "train", e, 500.0) for e in (1, 2)]
    run = planted(tmp_path / "run", epochs, job_record("job"), samples)
    assert energy_line(run) == ("FAIL", "0 telemetry segments of train epoch 2, not 1")


def test_a_gpu_job_without_telemetry_fails_the_energy_check(tmp_path: Path) -> None:
    run = planted(
        tmp_path / "run", [epoch_record("job", "train", 1, 500.0)], job_record("job"), None
    )
    assert energy_line(run) == ("FAIL", "no telemetry kept")


@pytest.mark.parametrize(
    ("job_method", "epoch_method", "status"),
    [("counter", "counter", "PASS"), (None, "counter", "FAIL"), ("instant", "watts", "FAIL")],
)
def test_a_gpu_jobs_power_method_is_checked_and_shown_beside_its_power(
    tmp_path: Path, job_method: str | None, epoch_method: str, status: str
) -> None:
    samples = sampled([(IDLE, None, 1.0, IDLE_W), *epochs_of("train", 1, 200.0, 100.0)])
    epochs = [epoch_record("job", "train", 1, 500.0, power_method=epoch_method)]
    run = planted(tmp_path / "run", epochs, job_record("job", power_method=job_method), samples)
    name = "job: power_method one of counter, instant, trailing-average"
    assert gpu_checks(run)[name] == (status, f"job {job_method}; epochs {epoch_method}")
    outcome = gpu_check.Outcome()
    evaluate.report_variants(outcome, run, False, None)
    figure = dict(outcome.figures)["resnet18-cifar fp32 (batch 512)"]
    assert f", 250 W ({job_method}), " in figure
    assert figure.startswith("steady epoch n/a (51,200 images trained), ")


def test_inference_rows_power_method_is_checked_and_shown_beside_their_power() -> None:
    def row(batch: int, method: str | None) -> dict[str, Any]:
        roofline = {"peaks_source": "datasheet", "bound": "memory", "roof_fraction": 0.5}
        return dict(
            model="lenet5", precision="fp32", batch_size=batch, status="ok", power_w=120.0,
            power_method=method, energy_per_image_j=0.002, roofline=roofline,
            latency_ms_p50=1.0, images_per_s=1000.0,
        )  # fmt: skip

    for methods, status, shown in (
        (("counter", "counter"), "PASS", "2 rows counter"),
        (("instant", None), "FAIL", "1 rows instant, 1 rows None"),
    ):
        outcome = gpu_check.Outcome()
        rows = [row(1, methods[0]), row(32, methods[1])]
        evaluate.report_inference(outcome, "bench infer", rows, True)
        found = {c["check"]: (c["status"], c["figure"]) for c in outcome.checks}
        name = "bench infer: power_method one of counter, instant, trailing-average"
        assert found[name] == (status, shown)
        figure = dict(outcome.figures)["bench infer: lenet5 fp32"]
        assert f"1,000 images/s, 120 W ({methods[1]}), 2 mJ/image; " in figure


def compiled_run(work: Path, extra: dict[str, Any]) -> gpu_check.Outcome:
    """The checks of a compile stage whose one job (ok on the CPU) recorded ``extra``."""
    path = work / "runs" / "compile" / "machine" / "0001_gpu-variants"
    job = job_record("resnet18-cifar__s0__compile", device="cpu", extra=extra)
    info = {"suite": {"name": "gpu-variants"}, "jobs": [{"job_id": job.job_id}]}
    planted(path, [], job, None, info)
    outcome = gpu_check.Outcome()
    outcome.stages["compile"] = {"rc": 0}
    gpu_check.evaluate(outcome, work, False, {})
    return outcome


@pytest.mark.parametrize(
    ("graphs", "steady", "status"),
    [
        (2, 0, "PASS"),
        (4, 0, "PASS"),
        (2, 1, "FAIL"),
        (0, 0, "FAIL"),
        (5, 0, "FAIL"),
        (None, None, "FAIL"),
    ],
    ids=[
        "static",
        "at the bound",
        "recompiled in a steady epoch",
        "nothing compiled",
        "too many",
        "unrecorded",
    ],
)
def test_a_compiled_job_compiles_its_graphs_in_the_first_epoch_only(
    tmp_path: Path, graphs: int | None, steady: int | None, status: str
) -> None:
    extra = {} if graphs is None else {"compiled_graphs": graphs, "compiled_graphs_steady": steady}
    outcome = compiled_run(tmp_path, {**extra, "compiled_graphs_inference": 1})
    found = {c["check"]: (c["status"], c["figure"]) for c in outcome.checks}
    assert found["compile: every job ok on cpu"][0] == "PASS"
    assert found["resnet18-cifar__s0__compile: graphs compiled in the first epoch only"] == (
        status,
        f"{graphs} graphs while training and evaluating (1 to 4 expected), {steady} of them in "
        "steady epochs; 1 for inference",
    )


def test_a_compiled_jobs_estimate_counts_the_images_it_trains() -> None:
    """1,000 training images at batch 512: a compiled job trains one batch of 512 an epoch
    (the ragged last batch dropped), the same job uncompiled both batches, all 1,000."""
    forward, step = budget.FLOPS[("resnet18-cifar", (3, 32, 32), 10)]
    sizes = ("dataset.train_size=1000", "dataset.test_size=1024")
    for variant, trained, train_steps in (("fp32+compile", 512, 1), ("fp32", 1000, 2)):
        (job,) = budget.suite_jobs(
            str(ROOT / "scripts" / "gpu-check" / "variants.toml"),
            (*sizes, f'variants=["{variant}"]'),
            None,
        )
        training = budget.job_work(job)[1]
        assert training.flops == 2 * (trained * step + 1024 * forward)
        assert training.steps == 2 * (train_steps + 2)


def test_the_rule_for_a_last_partial_batch_is_the_loaders() -> None:
    """The budget and the evaluation count the images a job trains by the rule the loaders
    follow (``JobConfig.drops_last_batch``)."""
    import torch

    from bench.data.pipeline import load_splits, make_loaders

    for variant, drop_last, dropped in (
        ("fp32+compile", "false", True),
        ("fp32", "false", False),
        ("fp32", "true", True),
    ):
        overrides = ("dataset.train_size=100", f"dataset.drop_last={drop_last}")
        (job,) = budget.suite_jobs("smoke", (*overrides, f'variants=["{variant}"]'), "lenet5-relu")
        splits = load_splits(job.config.dataset, ROOT / "data", False)
        train, _ = make_loaders(splits, job.config, 0, torch.device("cpu"))
        assert job.config.drops_last_batch is dropped
        assert train.num_images == job.config.trained_images(100)


def classic_run(path: Path, images: int, steady_s: float) -> Any:
    """A cifar10-classic stage's run of one compiled lenet5 job at batch 128, whose epochs
    trained ``images`` each."""
    document = read_toml(find_suite("cifar10-classic"))
    info = {"suite": document, "overrides": CLASSIC_SETTINGS, "jobs": [{"job_id": "lenet5__s0"}]}
    epochs = [
        epoch_record(
            "lenet5__s0", "train", e, 1.0, epoch_time_s=steady_s, images=images, model="lenet5"
        )
        for e in (1, 2)
    ]
    job = job_record(
        "lenet5__s0",
        model="lenet5",
        batch_size=128,
        epoch_time_s=steady_s,
        first_epoch_time_s=steady_s,
        total_time_s=2 * steady_s,
    )
    return planted(path, epochs, job, None, info)


def test_the_classic_projection_scales_from_the_images_a_job_trained(tmp_path: Path) -> None:
    """A compiled job at batch 128 trains 9,984 of 10,000 images (78 whole batches), and a
    whole CIFAR-10 epoch at that batch 49,920 (390 batches): five times as many."""
    run = classic_run(tmp_path / "run", 9_984, 100.0)
    outcome = gpu_check.Outcome()
    evaluate.report_classic(outcome, run, False)
    figure = dict(outcome.figures)["cifar10-classic lenet5"]
    assert figure.startswith("500.0 s per CIFAR-10 epoch, ")
