"""Finding the largest training batch that fits in GPU memory (``--find-batch-size``).

Powers of two are tried upward from 1, each with one real training step (forward, backward,
optimizer step) at the job's precision and layout, until one runs out of memory or the cap is
reached. Running out of memory is any allocation failure (``is_out_of_memory``): the CUDA
allocator's ``OutOfMemoryError``, and the plain ``RuntimeError`` cuDNN and cuBLAS raise when their
own workspace or handle cannot be allocated; any other error propagates. There is no
out-of-memory to probe on the CPU, so the search runs on CUDA only.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from bench.measure.memory import is_out_of_memory
from bench.recipes.loop import Precision


def fits(
    build: Callable[[], nn.Module],
    batch: int,
    input_size: tuple[int, int, int],
    num_classes: int,
    precision: Precision,
) -> bool:
    """Whether one training step at ``batch`` runs without running out of GPU memory."""
    device = precision.device
    model = None
    try:
        model = build()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        inputs = precision.prepare(torch.rand(batch, *input_size, device=device))
        with precision.autocast():
            outputs = model(inputs)
            target = inputs if outputs.shape == inputs.shape else None
            if target is None:
                labels = torch.randint(0, num_classes, (batch,), device=device)
                loss = nn.functional.cross_entropy(outputs.float(), labels)
            else:
                loss = nn.functional.mse_loss(outputs.float(), target.float())
        loss.backward()
        optimizer.step()
        torch.cuda.synchronize(device)
        return True
    except Exception as err:
        if not is_out_of_memory(err):
            raise
        return False
    finally:
        del model
        torch.cuda.empty_cache()


def largest_batch(
    build: Callable[[], nn.Module],
    input_size: tuple[int, int, int],
    num_classes: int,
    precision: Precision,
    cap: int,
) -> int | None:
    """The largest power of two up to ``cap`` that fits; None off CUDA or when 1 does not fit."""
    if precision.device.type != "cuda":
        return None
    best, batch = None, 1
    while batch <= cap and fits(build, batch, input_size, num_classes, precision):
        best, batch = batch, batch * 2
    return best
