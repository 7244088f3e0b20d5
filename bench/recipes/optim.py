"""Optimizers and learning-rate schedules named in suite files."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from bench.suite.settings import OptimizerConfig, ScheduleConfig


def build_optimizer(params: Iterable[nn.Parameter], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """SGD (with momentum, Nesterov), Adam or AdamW with the suite's parameters."""
    if cfg.name == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
        )
    optimizer = torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam
    return optimizer(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def optimizer_states(cfg: OptimizerConfig) -> int:
    """State tensors the optimizer keeps per parameter: SGD's momentum buffer (with momentum),
    Adam's two moments."""
    if cfg.name == "sgd":
        return 1 if cfg.momentum else 0
    return 2


@dataclass
class Schedule:
    """A learning-rate schedule stepped per batch (cosine, one-cycle) or per epoch."""

    scheduler: (
        torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau | None
    )
    per_step: bool

    def after_step(self) -> None:
        """Called after every optimizer step."""
        if self.scheduler is not None and self.per_step:
            self.scheduler.step()

    def after_epoch(self, test_loss: float | None) -> None:
        """Called after every epoch's evaluation (plateau watches the test loss)."""
        if self.scheduler is None or self.per_step:
            return
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            if test_loss is not None:
                self.scheduler.step(test_loss)
        else:
            self.scheduler.step()


def build_schedule(
    optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, epochs: int, steps_per_epoch: int
) -> Schedule:
    """The schedule named by ``cfg`` over ``epochs`` × ``steps_per_epoch`` optimizer steps."""
    sched = torch.optim.lr_scheduler
    total = max(1, epochs * steps_per_epoch)
    if cfg.name == "cosine":
        return Schedule(sched.CosineAnnealingLR(optimizer, T_max=total), per_step=True)
    if cfg.name == "one-cycle":
        max_lr = [group["lr"] for group in optimizer.param_groups]
        cycle = sched.OneCycleLR(
            optimizer, max_lr=max_lr, total_steps=total, pct_start=_one_cycle_share(cfg, total)
        )
        return Schedule(cycle, per_step=True)
    if cfg.name == "step":
        return Schedule(sched.StepLR(optimizer, cfg.step_size, cfg.gamma), per_step=False)
    if cfg.name == "plateau":
        plateau = sched.ReduceLROnPlateau(optimizer, factor=cfg.factor, patience=cfg.patience)
        return Schedule(plateau, per_step=False)
    return Schedule(None, per_step=False)


def _one_cycle_share(cfg: ScheduleConfig, total: int) -> float:
    """``pct_start`` as torch's ``OneCycleLR`` can take it for ``total`` steps.

    Its warm-up ends at step ``pct_start × total - 1``, and the rate of step 0 is interpolated
    over that span, so a warm-up of exactly one step (0.25 of 4 steps, as a small data set
    gives) divides by zero; every other share works with any step count, including fewer
    steps than the warm-up. The one step gets the limit of warm-ups just longer than it, which
    a share larger by a billionth gives: step 0 at the starting rate (``max_lr / 25``), as every
    one-cycle starts, then the cosine decay from the peak (the rates after step 0 move by about
    a billionth of themselves). Refusing such a share when the suite is read could not cover
    every case: the step count is known only when the job's loader exists (``find_batch_size``
    picks the batch on the GPU, torchrun splits it)."""
    if cfg.pct_start * total - 1 == 0:
        return cfg.pct_start * (1 + 1e-9)
    return cfg.pct_start


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the first parameter group."""
    return float(optimizer.param_groups[0]["lr"])
