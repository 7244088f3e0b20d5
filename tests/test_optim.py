"""Learning-rate schedules: when they step and what rate they give, and a one-cycle too short
to rise and fall is refused with one line."""

from __future__ import annotations

import pytest
import torch

from bench.errors import BenchError
from bench.recipes.optim import build_optimizer, build_schedule, current_lr
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


@pytest.mark.parametrize(("steps", "pct_start"), [(2, 0.25), (5, 0.1)])
def test_a_one_cycle_with_a_phase_of_no_steps_is_refused(steps: int, pct_start: float) -> None:
    with pytest.raises(BenchError, match=r"^schedule one-cycle: pct_start .* leaves a phase"):
        rates("one-cycle", epochs=2, steps=steps, pct_start=pct_start)


def test_a_one_cycle_shorter_than_its_warm_up_still_runs() -> None:
    # one step in all: torch's cycle is already past its end, at the final rate
    # (peak / div_factor 25 / final_div_factor 1e4)
    assert rates("one-cycle", epochs=1, steps=1, pct_start=0.25) == [pytest.approx(0.1 / 25e4)]
