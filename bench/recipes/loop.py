"""The training and evaluation loops shared by the recipes, with the data-wait / compute split.

Timing comes from ``step_timer`` (on a GPU, CUDA events read after one synchronisation per
pass). Nothing in a step waits for the device: losses, counts and the confusion matrix's cells
stay on the device and are read once per pass; with a ``reduce`` function (distributed training)
they are summed over the processes first, in one call per pass. The exception is ``amp-fp16``:
torch's gradient scaler decides on the host whether to skip each step (overflowed gradients),
which waits for the GPU once per step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bench.measure.timing import StepTimer, step_timer
from bench.recipes.optim import Schedule

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
# (model output, inputs, targets) → (mean loss, number of correct predictions or None)
Objective = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]
]
# A float64 vector → its sum over the processes of a distributed job.
Reducer = Callable[[torch.Tensor], torch.Tensor]


class DivergedError(RuntimeError):
    """The training loss became NaN or infinite."""


def classification_objective(
    outputs: torch.Tensor,
    _inputs: torch.Tensor,
    targets: torch.Tensor,
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy (with ``label_smoothing``) and the number of correct top-1 predictions."""
    loss = nn.functional.cross_entropy(outputs, targets, label_smoothing=label_smoothing)
    return loss, (outputs.argmax(dim=1) == targets).sum()


def reconstruction_objective(
    outputs: torch.Tensor, inputs: torch.Tensor, _targets: torch.Tensor
) -> tuple[torch.Tensor, None]:
    """Mean squared reconstruction error."""
    return nn.functional.mse_loss(outputs, inputs), None


@dataclass(frozen=True)
class Precision:
    """Autocast, gradient scaling and memory layout of a job."""

    device: torch.device
    precision: str
    channels_last: bool

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        """Autocast for ``amp-*`` precisions, a no-op otherwise."""
        if self.precision == "amp-bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        if self.precision == "amp-fp16":
            return torch.autocast(self.device.type, dtype=torch.float16)
        return contextlib.nullcontext()

    def prepare(self, inputs: torch.Tensor) -> torch.Tensor:
        """Inputs in the job's memory layout."""
        if self.channels_last and inputs.dim() == 4:
            return inputs.contiguous(memory_format=torch.channels_last)
        return inputs

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler, enabled for fp16 only."""
        return torch.amp.GradScaler(self.device.type, enabled=self.precision == "amp-fp16")

    def set_matmul_precision(self) -> None:
        """Allow TF32 in CUDA matrix products and convolutions for ``tf32``, forbid it
        otherwise (torch's global flags)."""
        tf32 = self.precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32


TOP_K = 5
"""Top-k accuracy counts a prediction right when the true class is among the ``TOP_K`` highest
scores; it is counted for evaluation passes of a classifier of at least ``TOP_K`` classes (with
fewer, every prediction would count)."""


@dataclass(frozen=True)
class PassStats:
    """One pass over a data set: mean loss, accuracy (%), top-5 accuracy (%, evaluation of at
    least ``TOP_K`` classes only) and where the time went (``step_s``: each step's data wait and
    compute, in this process)."""

    loss: float
    acc: float | None
    images: int
    time_s: float
    data_wait_s: float
    compute_s: float
    confusion: torch.Tensor | None = None
    step_s: tuple[float, ...] = ()
    top5: float | None = None


def train_pass(
    model: nn.Module,
    batches: Batches,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    precision: Precision,
    scaler: torch.amp.GradScaler,
    reduce: Reducer | None = None,
) -> PassStats:
    """One training epoch; raises ``DivergedError`` on a non-finite loss (summed over the
    processes with ``reduce``, so that every process raises it)."""
    model.train()
    timer = step_timer(precision.device)
    loss_sum = torch.zeros((), device=precision.device)
    correct_sum = torch.zeros((), device=precision.device, dtype=torch.long)
    images, counted = 0, False
    for inputs, targets in timer.timed(batches):
        inputs = precision.prepare(inputs)
        loss, correct = train_step(model, inputs, targets, objective, optimizer, precision, scaler)
        schedule.after_step()
        loss_sum += loss.detach().float() * inputs.shape[0]
        if correct is not None:
            correct_sum += correct
            counted = True
        images += inputs.shape[0]
    loss_sum, correct_sum, images, _ = _summed(reduce, loss_sum, correct_sum, images)
    stats = _stats(loss_sum, correct_sum if counted else None, images, timer)
    if not math.isfinite(stats.loss):
        raise DivergedError(f"training loss is {stats.loss}")
    return stats


def train_step(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    precision: Precision,
    scaler: torch.amp.GradScaler,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One optimizer step on a prepared batch: its loss and correct count (still on the
    device)."""
    with precision.autocast():
        loss, correct = objective(model(inputs), inputs, targets)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss, correct


@torch.no_grad()
def eval_pass(
    model: nn.Module,
    batches: Batches,
    objective: Objective,
    precision: Precision,
    num_classes: int | None,
    reduce: Reducer | None = None,
) -> PassStats:
    """One evaluation pass; with ``num_classes``, also the confusion matrix (true × predicted)
    and, with at least ``TOP_K`` classes, the top-5 accuracy (from the same outputs).

    A DistributedDataParallel model is evaluated through its inner module: no collectives run
    while processes evaluate different numbers of batches; ``reduce`` sums the counts after.
    """
    model = local_module(model)
    model.eval()
    timer = step_timer(precision.device)
    loss_sum = torch.zeros((), device=precision.device)
    # correct top-1 and top-5 predictions
    counts = torch.zeros(2, device=precision.device, dtype=torch.long)
    top_k = num_classes is not None and num_classes >= TOP_K
    cells: list[torch.Tensor] = []  # true × predicted cells of the confusion matrix
    images = 0
    for inputs, targets in timer.timed(batches):
        inputs = precision.prepare(inputs)
        with precision.autocast():
            outputs = model(inputs)
            loss, correct = objective(outputs, inputs, targets)
        loss_sum += loss.float() * inputs.shape[0]
        if correct is not None:
            counts[0] += correct
        if top_k:
            counts[1] += _in_top_k(outputs, targets)
        if num_classes:
            cells.append(targets * num_classes + outputs.argmax(dim=1))
        images += inputs.shape[0]
    confusion = _confusion(cells, num_classes, precision.device)
    loss_sum, counts, images, confusion = _summed(reduce, loss_sum, counts, images, confusion)
    correct, in_top_k = counts.tolist()  # one read of both counts
    stats = _stats(loss_sum, correct if num_classes else None, images, timer)
    if top_k:
        stats = dataclasses.replace(stats, top5=100.0 * in_top_k / max(images, 1))
    if confusion is not None and num_classes:
        matrix = confusion.view(num_classes, num_classes).cpu()
        stats = dataclasses.replace(stats, confusion=matrix)
    return stats


def _in_top_k(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """How many of ``targets`` are among their row's ``TOP_K`` highest ``outputs``."""
    top = outputs.topk(TOP_K, dim=1).indices
    return (top == targets.unsqueeze(1)).any(dim=1).sum()


def local_module(model: nn.Module) -> nn.Module:
    """The module a DistributedDataParallel wrapper holds; any other model itself."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _summed(
    reduce: Reducer | None,
    loss_sum: torch.Tensor,
    counts: torch.Tensor,
    images: int,
    confusion: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, int, torch.Tensor | None]:
    """The pass's sums over all processes (one ``reduce`` call): loss, ``counts`` (a count or a
    vector of counts, given back in its shape), images, confusion; unchanged without
    ``reduce``."""
    if reduce is None:
        return loss_sum, counts, images, confusion
    count = torch.tensor([images], dtype=torch.float64, device=loss_sum.device)
    parts = [loss_sum.double().view(1), count, counts.double().view(-1)]
    if confusion is not None:
        parts.append(confusion.double())
    total = reduce(torch.cat(parts))
    end = 2 + counts.numel()
    summed_counts = total[2:end].long().view(counts.shape)
    summed_confusion = total[end:].long() if confusion is not None else None
    return total[0], summed_counts, int(total[1]), summed_confusion


def _confusion(
    cells: list[torch.Tensor], num_classes: int | None, device: torch.device
) -> torch.Tensor | None:
    """The flattened confusion matrix counted from a pass's cells (one count after the pass: on
    CUDA, ``bincount`` reads its input's range on the host)."""
    if not num_classes:
        return None
    found = torch.cat(cells) if cells else torch.zeros(0, dtype=torch.long, device=device)
    return torch.bincount(found, minlength=num_classes * num_classes)


def _stats(
    loss_sum: torch.Tensor,
    correct: torch.Tensor | int | None,
    images: int,
    timer: StepTimer[Any],
) -> PassStats:
    count = max(images, 1)
    acc = 100.0 * float(correct) / count if correct is not None else None
    return PassStats(
        loss=float(loss_sum) / count,
        acc=acc,
        images=images,
        time_s=timer.elapsed_s,
        data_wait_s=timer.data_wait_s,
        compute_s=timer.compute_s,
        step_s=tuple(timer.step_s),
    )
