"""Whether a registered model can be built with a job's arguments and take its images, found
before anything runs: the model is built and run forward on the meta device (shapes only, no
memory and no weights), so the check costs milliseconds even for the largest model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from bench.errors import BenchError, first_line
from bench.models.registry import create_model, get_model_info

# Constructor arguments a job sets from its data set, which ``model_kwargs`` may not override.
SET_BY_JOB = ("num_classes", "in_channels")


def misfit(
    name: str, num_classes: int, input_size: tuple[int, int, int], kwargs: Mapping[str, Any]
) -> str | None:
    """Why model ``name`` cannot be built with ``kwargs`` for ``num_classes`` classes, or
    cannot take (in training mode) a batch of images of ``input_size`` (C, H, W); ``None``
    when it can. An autoencoder must also give back images of its input's shape."""
    overridden = [key for key in SET_BY_JOB if key in kwargs]
    if overridden:
        return f"model_kwargs may not set {overridden[0]}: the job sets it from its data set"
    size = "x".join(map(str, input_size))
    with torch.device("meta"):
        try:
            model = create_model(name, num_classes, input_size[0], **kwargs)
        except (TypeError, ValueError, BenchError) as err:
            return f"cannot be built with model_kwargs {dict(kwargs)}: {first_line(err)}"
        images = torch.empty(2, *input_size)
        try:
            output = model.train()(images)
        except (NotImplementedError, MemoryError, torch.OutOfMemoryError):
            # an operation without a meta kernel, or a model that runs out of memory itself
            # (nothing is allocated on the meta device): no shape problem to report
            return None
        except (RuntimeError, ValueError, IndexError) as err:
            return f"images of {size} do not fit it: {first_line(err)}"
    autoencoder = get_model_info(name).task == "autoencode"
    if autoencoder and isinstance(output, torch.Tensor) and output.shape != images.shape:
        shape = "x".join(map(str, output.shape[1:]))
        return f"images of {size} come back from it as {shape}, so they cannot be reconstructed"
    return None
