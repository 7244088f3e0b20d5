"""What a recipe is given and what it yields."""

from __future__ import annotations

from collections.abc import Callable, Generator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from bench.recipes.loop import Batches, PassStats, Precision, Reducer
from bench.suite.matrix import Job


class EpochBatches(Protocol):
    """A loader that gives one epoch's batches at a time (seeded by epoch)."""

    def batches(self, epoch: int) -> Batches: ...

    def __len__(self) -> int: ...


class Phases(Protocol):
    """Where a recipe says what it does (telemetry and memory follow it): ``part`` (``train``
    or ``eval``) of epoch ``epoch`` of the training phase ``phase``."""

    def phase(self, phase: str, epoch: int, part: str) -> AbstractContextManager[None]: ...


@dataclass(frozen=True)
class EpochResult:
    """One epoch of one phase: its training and evaluation passes."""

    phase: str
    epoch: int
    train: PassStats
    test: PassStats
    lr: float


@dataclass(frozen=True)
class Artifact:
    """An array worth keeping for the report (filters, reconstructions)."""

    name: str
    array: np.ndarray


RecipeOutput = Generator[EpochResult | Artifact, None, None]
ModelBuilder = Callable[[str], nn.Module]
Recipe = Callable[["RecipeContext"], RecipeOutput]


@dataclass
class RecipeContext:
    """Everything a recipe needs to train one job."""

    job: Job
    device: torch.device
    precision: Precision
    train: EpochBatches
    test: EpochBatches
    num_classes: int
    phases: Phases
    build_model: ModelBuilder
    reduce: Reducer | None = None  # sums pass totals over the processes of a distributed job
