"""Optimizers and learning-rate schedules named in suite files."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from bench.errors import BenchError
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
        if math.isclose(cfg.pct_start * total, 1):
            # torch's OneCycleLR divides by the length of a phase that has none
            raise BenchError(
                f"schedule one-cycle: pct_start {cfg.pct_start:g} of {total} steps leaves a "
                "phase of the cycle without steps (pct_start × steps must not be 1)"
            )
        max_lr = [group["lr"] for group in optimizer.param_groups]
        cycle = sched.OneCycleLR(
            optimizer, max_lr=max_lr, total_steps=total, pct_start=cfg.pct_start
        )
        return Schedule(cycle, per_step=True)
    if cfg.name == "step":
        return Schedule(sched.StepLR(optimizer, cfg.step_size, cfg.gamma), per_step=False)
    if cfg.name == "plateau":
        plateau = sched.ReduceLROnPlateau(optimizer, factor=cfg.factor, patience=cfg.patience)
        return Schedule(plateau, per_step=False)
    return Schedule(None, per_step=False)


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the first parameter group."""
    return float(optimizer.param_groups[0]["lr"])
