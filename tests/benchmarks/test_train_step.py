"""One training step (forward, backward, optimizer step) of every small registered model on
synthetic data, for pytest-benchmark. On CUDA the GPU is synchronised inside the timed
function, so each round covers the kernels it launched.

python -m pytest tests/benchmarks/test_train_step.py -m benchmark --benchmark-enable \\
    --benchmark-autosave
python -m pytest tests/benchmarks/test_train_step.py -m benchmark --benchmark-enable \\
    --benchmark-compare --benchmark-compare-fail=median:10%
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from bench.measure.timing import synchronizer
from bench.models.registry import create_model, list_models

BATCH = 32
SMALL_MODELS = [m.name for m in list_models() if max(m.input_size[1:]) <= 32]
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def training_step(name: str) -> Callable[[], None]:
    """A closure running one synchronised training step of ``name``."""
    torch.manual_seed(0)
    info = next(m for m in list_models(name))
    model = create_model(name).to(DEVICE).train()
    inputs = torch.rand(BATCH, *info.input_size, device=DEVICE)
    labels = torch.randint(0, info.num_classes, (BATCH,), device=DEVICE)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sync = synchronizer(DEVICE)

    def step() -> None:
        outputs = model(inputs)
        if info.task == "autoencode":
            loss = nn.functional.mse_loss(outputs, inputs)
        else:
            loss = nn.functional.cross_entropy(outputs, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sync()

    return step


@pytest.mark.benchmark
@pytest.mark.parametrize("name", SMALL_MODELS)
def test_training_step(benchmark: pytest.FixtureRequest, name: str) -> None:
    step = training_step(name)
    benchmark.extra_info.update(model=name, batch=BATCH, device=str(DEVICE))
    benchmark.pedantic(step, rounds=5, warmup_rounds=1, iterations=1)  # type: ignore[attr-defined]
