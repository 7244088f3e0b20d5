"""Energy and power that add up: each epoch, each phase and each inference point gets the
joules of its own span, read at its start and at its end, whatever else shares its labels.

A scripted GPU (``fake_pynvml.TimelineNvml``) draws a known power while scripted work moves its
clock on, so every figure is known exactly: joules = watts × seconds of the work inside the span.
NVML's ``nvmlDeviceGetPowerUsage`` stays at 60 W throughout, as the trailing one-second average of
an Ampere-or-newer GPU that has not caught up with short spans."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from fake_pynvml import Timeline, TimelineNvml
from run_fixtures import write_run
from torch import nn

from bench.measure.collectors import JobCollectors
from bench.measure.telemetry import NvmlSampler
from bench.models.registry import create_model
from bench.recipes import RECIPES
from bench.recipes.common import EpochResult, RecipeContext
from bench.recipes.loop import Precision
from bench.report import write_report
from bench.results.job_summary import summarize_epochs
from bench.results.records import EpochRecord
from bench.results.rundir import read_runs
from bench.run.inference import Subject, sweep
from bench.run.job import epoch_record
from bench.suite.matrix import Job
from bench.suite.settings import FinetuneConfig, InferenceConfig, JobConfig

CPU = torch.device("cpu")
TRAIN_S, TRAIN_W = 2.0, 200.0  # each training pass: one batch, 2 s at 200 W = 400 J
EVAL_S, EVAL_W = 1.0, 100.0  # each evaluation pass: one batch, 1 s at 100 W = 100 J
IDLE_S, IDLE_W = 5.0, 50.0  # between epochs (records written): 5 s at 50 W = 250 J


def scripted_sampler(timeline: Timeline, counter: bool = True, instant: bool = True) -> NvmlSampler:
    """A sampler reading only when told to (start, segment changes, stop)."""
    nvml = TimelineNvml(timeline, counter=counter, instant=instant)
    return NvmlSampler(0, interval_s=3600, nvml=nvml, clock=timeline.clock)


class TimedBatches:
    """One batch per epoch; handing over the next (after the step) takes ``seconds`` of GPU work
    at ``watts``."""

    def __init__(self, timeline: Timeline, seconds: float, watts: float, shape: tuple[int, ...]):
        self.timeline, self.seconds, self.watts = timeline, seconds, watts
        generator = torch.Generator().manual_seed(0)
        self.batch = (torch.rand(shape, generator=generator), torch.tensor([0, 1]))

    def __len__(self) -> int:
        return 1

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        yield self.batch
        self.timeline.run(self.seconds, self.watts)


def epoch_records(job: Job, timeline: Timeline, shape: tuple[int, ...]) -> list[EpochRecord]:
    """``job``'s recipe on the scripted GPU, each epoch's record taken as ``bench run`` takes it
    (at once), with idle time before the next epoch."""
    collectors = JobCollectors(CPU)
    collectors.sampler = scripted_sampler(timeline)
    ctx = RecipeContext(
        job=job,
        device=CPU,
        precision=Precision(CPU, "fp32", channels_last=False),
        train=TimedBatches(timeline, TRAIN_S, TRAIN_W, shape),
        test=TimedBatches(timeline, EVAL_S, EVAL_W, shape),
        num_classes=10,
        phases=collectors,
        build_model=lambda name: create_model(name, num_classes=10, in_channels=shape[1]),
    )
    records = []
    with collectors:
        for item in RECIPES[job.config.recipe](ctx):
            if isinstance(item, EpochResult):
                records.append(epoch_record(job, item, collectors, None))
                timeline.run(IDLE_S, IDLE_W)
    return records


def test_an_epoch_counts_its_evaluation_to_its_end_and_not_the_idle_time_after() -> None:
    job = Job("lenet5", "s", "lenet5", 0, "fp32", JobConfig(epochs=2))
    records = epoch_records(job, Timeline(), (2, 1, 32, 32))
    assert [r.energy_j for r in records] == [500.0, 500.0]  # 400 J training + 100 J evaluation
    assert [r.energy_method for r in records] == ["counter", "counter"]


def test_autoencoder_phases_with_the_same_epoch_numbers_count_each_joule_once() -> None:
    config = JobConfig(
        recipe="autoencode", epochs=1, target_acc=0.0, finetune=FinetuneConfig(epochs=1)
    )
    job = Job("conv-autoencoder", "s", "conv-autoencoder", 0, "fp32", config)
    records = epoch_records(job, Timeline(), (2, 3, 32, 32))
    assert [(r.phase, r.epoch, r.energy_j) for r in records] == [
        ("pretrain", 1, 500.0),
        ("finetune", 1, 500.0),
    ]
    summary = summarize_epochs(records, target_acc=0.0)
    assert summary["energy_j"] == 1000.0 and summary["energy_per_epoch_j"] == 500.0
    assert summary["energy_to_target_j"] == 1000.0  # the first fine-tuning epoch reaches 0 %


def test_an_epochs_power_is_its_energy_over_its_training_time() -> None:
    """200 W while training; NVML's trailing average still says 60 W."""
    job = Job("lenet5", "s", "lenet5", 0, "fp32", JobConfig(epochs=1))
    (record,) = epoch_records(job, Timeline(), (2, 1, 32, 32))
    assert (record.power_w, record.power_method) == (200.0, "counter")
    summary = summarize_epochs([record])
    assert (summary["power_w"], summary["power_method"]) == (200.0, "counter")


class Burner(nn.Module):
    """Each forward pass takes ``seconds`` of GPU work at ``watts`` on the timeline."""

    def __init__(self, timeline: Timeline, seconds: float, watts: float) -> None:
        super().__init__()
        self.timeline, self.seconds, self.watts = timeline, seconds, watts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.timeline.run(self.seconds, self.watts)
        return x


@pytest.mark.parametrize(
    ("counter", "instant", "expected"),
    [
        # model A: 4 passes of 0.5 s at 100 W on 2 images = 200 J / 8 images; B: 4 × 0.25 s at 300 W
        (True, True, [(25.0, 100.0, "counter", "counter"), (37.5, 300.0, "counter", "counter")]),
        (
            False,
            True,
            [
                (25.0, 100.0, "instant", "integrated-power"),
                (37.5, 300.0, "instant", "integrated-power"),
            ],
        ),
        # NVML's trailing average is all there is: 60 W over the 2 s and the 1 s timed
        (
            False,
            False,
            [
                (15.0, 60.0, "trailing-average", "integrated-power"),
                (7.5, 60.0, "trailing-average", "integrated-power"),
            ],
        ),
    ],
    ids=["energy counter", "instantaneous power", "trailing average only"],
)
def test_each_model_of_bench_infer_gets_its_own_passes_energy_and_power(
    counter: bool, instant: bool, expected: list[tuple[float, float, str, str]]
) -> None:
    """``bench infer`` times several models with one sampler, at the same precisions and batch
    sizes: each row gets its own timed passes only."""
    timeline = Timeline()
    sampler = scripted_sampler(timeline, counter=counter, instant=instant)
    plan = InferenceConfig(batch_sizes=(2,), precisions=("fp32",), min_iterations=4, min_time_s=0)
    rows = []
    with sampler:
        for name, seconds, watts in (("a", 0.5, 100.0), ("b", 0.25, 300.0)):
            subject = Subject(name, CPU, (1, 2, 2), "random")
            rows += sweep(Burner(timeline, seconds, watts), subject, plan, sampler)
    assert [r.iterations for r in rows] == [4, 4]
    found = [(r.energy_per_image_j, r.power_w, r.power_method, r.energy_method) for r in rows]
    assert found == expected


def test_records_from_before_power_method_still_read_and_report(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", models=("lenet5",))
    records = run / "records.jsonl"
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    for line in lines:
        line.pop("power_method", None)
        for row in line.get("inference") or ():
            row.pop("power_method", None)
            row.pop("energy_method", None)
    records.write_text("".join(json.dumps(line) + "\n" for line in lines))
    (read,) = read_runs([run])
    assert read.jobs[0]["energy_j"] is not None and "power_method" not in read.jobs[0]
    write_report([read], tmp_path / "out", {"csv"})
    assert (tmp_path / "out" / "summary_models.csv").is_file()
