"""Learning-rate schedules: when they step and what rate they give, with a one-cycle as short
as a small data set makes it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.recipes.optim import build_optimizer, build_schedule, current_lr
from bench.results.rundir import RunDir
from bench.suite.settings import OptimizerConfig, ScheduleConfig


def rates(schedule_name: str, epochs: int, steps: int, **options: float) -> list[float]:
    """The rate before each optimizer step of ``epochs`` × ``steps``."""
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(1))], OptimizerConfig(lr=0.1))
    schedule = build_schedule(
        optimizer, ScheduleConfig(name=schedule_name, **options), epochs, steps
    )
    seen = []
    for _ in range(epochs):
        for _ in range(steps):
            seen.append(current_lr(optimizer))
            optimizer.step()
            schedule.after_step()
        schedule.after_epoch(test_loss=1.0)
    return seen


def test_one_cycle_rises_to_the_peak_then_falls_within_the_run() -> None:
    seen = rates("one-cycle", epochs=2, steps=10, pct_start=0.25)
    peak = seen.index(max(seen))
    assert max(seen) == pytest.approx(0.1) and peak == 4  # 0.25 × 20 steps, counted from 0
    assert seen[:peak] == sorted(seen[:peak]) and seen[peak:] == sorted(seen[peak:], reverse=True)


def test_step_decays_per_epoch_and_cosine_per_step() -> None:
    assert rates("step", epochs=3, steps=2, step_size=1, gamma=0.5) == pytest.approx(
        [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    )
    cosine = rates("cosine", epochs=1, steps=4)
    assert cosine[0] == pytest.approx(0.1) and cosine == sorted(cosine, reverse=True)


@pytest.mark.parametrize(("steps", "pct_start"), [(2, 0.25), (5, 0.1), (1, 1 / 3)])
def test_a_one_cycle_whose_warm_up_is_one_step_starts_low_then_decays_from_the_peak(
    steps: int, pct_start: float
) -> None:
    """pct_start × steps = 1, where torch's OneCycleLR alone divides by zero: the one warm-up
    step runs at the starting rate (peak / 25), then the rate falls from the peak as a cosine
    to the final rate (peak / 25 / 1e4) at the last step."""
    seen = rates("one-cycle", epochs=3 if steps == 1 else 2, steps=steps, pct_start=pct_start)
    total = len(seen)
    decay = [
        0.1 / 25e4 + (0.1 - 0.1 / 25e4) * (1 + math.cos(math.pi * s / (total - 1))) / 2
        for s in range(total)
    ]
    assert seen == pytest.approx([0.1 / 25, *decay[1:]], rel=1e-6)


def test_a_one_cycle_shorter_than_its_warm_up_still_runs() -> None:
    # one step in all: torch's cycle is already past its end, at the final rate
    # (peak / div_factor 25 / final_div_factor 1e4)
    assert rates("one-cycle", epochs=1, steps=1, pct_start=0.25) == [pytest.approx(0.1 / 25e4)]


def test_a_run_on_a_data_set_small_enough_for_a_one_step_warm_up_ends_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """cifar10-classic's schedule (one-cycle, pct_start 0.25) on 4 steps: the job trains."""
    suite = tmp_path / "short.toml"
    suite.write_text(
        'name = "short"\nepochs = 1\nbatch_size = 32\ndevice = "cpu"\n'
        'dataset.name = "digits"\ndataset.train_size = 128\ndataset.test_size = 32\n'
        'schedule.name = "one-cycle"\nschedule.pct_start = 0.25\noptimizer.lr = 0.1\n'
        '[[models]]\nname = "lenet5"\n'
    )
    argv = ["run", "--suite", str(suite), "--out", str(tmp_path / "runs"), "--quiet"]
    capsys.readouterr()
    assert main([*argv, "--history-db", "none", "--no-report"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    (run_dir,) = (tmp_path / "runs").glob("*/*")
    run = RunDir.open(run_dir).read()
    assert [(j["status"], j["error"]) for j in run.jobs] == [("ok", None)]
    assert [e["lr"] for e in run.epochs] == [pytest.approx(0.1 / 25)]
