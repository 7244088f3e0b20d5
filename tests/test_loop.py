"""Training and evaluation passes: exact figures, and no step that would wait for a GPU."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
import torch
from fake_cuda import scripted_events
from torch import nn

from bench.measure.timing import event_timer
from bench.recipes import loop
from bench.recipes.loop import Precision, classification_objective, eval_pass, train_pass
from bench.recipes.optim import Schedule

CPU = Precision(torch.device("cpu"), "fp32", channels_last=False)
# Python-level reads of a tensor's value: each one waits for the GPU when the tensor is on one.
HOST_READS = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__")


def logit_batches(steps: int, batch: int = 4, classes: int = 3) -> list[tuple[Any, Any]]:
    generator = torch.Generator().manual_seed(steps)
    return [
        (
            torch.randn(batch, classes, generator=generator),
            torch.randint(classes, (batch,), generator=generator),
        )
        for _ in range(steps)
    ]


def train(steps: int) -> loop.PassStats:
    torch.manual_seed(0)
    model = nn.Linear(3, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return train_pass(
        model,
        logit_batches(steps),
        classification_objective,
        optimizer,
        Schedule(None, per_step=False),
        CPU,
        CPU.grad_scaler(),
    )


def evaluate(steps: int) -> loop.PassStats:
    return eval_pass(nn.Identity(), logit_batches(steps), classification_objective, CPU, 3)


def evaluate_top5(steps: int) -> loop.PassStats:
    batches = logit_batches(steps, classes=7)
    return eval_pass(nn.Identity(), batches, classification_objective, CPU, 7)


def test_evaluation_counts_the_confusion_matrix_loss_and_accuracy_exactly() -> None:
    batches = logit_batches(3)
    stats = eval_pass(nn.Identity(), batches, classification_objective, CPU, 3)
    logits = torch.cat([inputs for inputs, _ in batches])
    targets = torch.cat([labels for _, labels in batches])
    expected = torch.zeros(3, 3, dtype=torch.long)
    for true, predicted in zip(targets.tolist(), logits.argmax(1).tolist(), strict=True):
        expected[true, predicted] += 1
    assert stats.confusion is not None and torch.equal(stats.confusion, expected)
    assert stats.images == 12
    assert stats.acc == 100.0 * int(expected.trace()) / 12
    assert stats.loss == pytest.approx(float(nn.functional.cross_entropy(logits, targets)))


def test_evaluation_counts_top5_accuracy_exactly_from_the_same_outputs() -> None:
    batches = logit_batches(5, classes=7)
    stats = eval_pass(nn.Identity(), batches, classification_objective, CPU, 7)
    # a target is in the top 5 when fewer than 5 of its row's scores are higher
    in_top5 = [
        sum(score > row[target] for score in row) < 5
        for logits, targets in batches
        for row, target in zip(logits.tolist(), targets.tolist(), strict=True)
    ]
    assert 0 < sum(in_top5) < 20  # the check below can tell top-5 from top-1 and from all
    assert stats.top5 == 100.0 * sum(in_top5) / 20
    assert stats.acc is not None and stats.acc < stats.top5


def test_top5_is_not_counted_below_five_classes_nor_in_training() -> None:
    assert evaluate(3).top5 is None
    assert train(3).top5 is None


def test_top5_of_a_distributed_pass_is_summed_with_the_other_counts() -> None:
    """``reduce`` sums each process's counts; two processes that saw the same batches keep
    the same percentages (and double the images)."""
    batches = logit_batches(5, classes=7)
    alone = eval_pass(nn.Identity(), batches, classification_objective, CPU, 7)
    twice = eval_pass(
        nn.Identity(), batches, classification_objective, CPU, 7, reduce=lambda t: 2 * t
    )
    assert twice.images == 2 * alone.images
    assert (twice.acc, twice.top5) == (alone.acc, alone.top5)
    assert alone.confusion is not None and twice.confusion is not None
    assert torch.equal(twice.confusion, 2 * alone.confusion)


def test_evaluation_without_batches_has_an_empty_confusion_matrix() -> None:
    stats = eval_pass(nn.Identity(), [], classification_objective, CPU, 3)
    assert stats.confusion is not None and torch.equal(
        stats.confusion, torch.zeros(3, 3, dtype=torch.long)
    )
    assert stats.images == 0


@pytest.mark.parametrize(
    "run", [train, evaluate, evaluate_top5], ids=["train", "eval", "eval-top5"]
)
def test_a_pass_reads_tensor_values_a_fixed_number_of_times_whatever_its_length(
    monkeypatch: pytest.MonkeyPatch, run: Callable[[int], loop.PassStats]
) -> None:
    """On a GPU each read would synchronise; reads must happen once per pass, not per step."""
    reads = {name: 0 for name in HOST_READS} | {"bincount": 0}

    def counted(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            reads[name] += 1
            return method(*args, **kwargs)

        return call

    def reads_in(steps: int) -> dict[str, int]:
        with monkeypatch.context() as patch:
            for name in HOST_READS:
                patch.setattr(torch.Tensor, name, counted(name, getattr(torch.Tensor, name)))
            patch.setattr(torch, "bincount", counted("bincount", torch.bincount))
            run(steps)
        found = dict(reads)
        reads.update(dict.fromkeys(reads, 0))
        return found

    counts = [reads_in(steps) for steps in (1, 2, 7)]
    assert counts[0] == counts[1] == counts[2]
    assert sum(counts[0].values()) <= 4


@pytest.mark.parametrize("steps", [1, 4, 9])
@pytest.mark.parametrize("run", [train, evaluate], ids=["train", "eval"])
def test_a_pass_takes_its_times_from_the_device_timer_with_one_sync(
    monkeypatch: pytest.MonkeyPatch, run: Callable[[int], loop.PassStats], steps: int
) -> None:
    syncs: list[None] = []
    marks = scripted_events(monkeypatch, itertools.count(0.0, 0.5))
    monkeypatch.setattr(
        loop, "step_timer", lambda _device: event_timer(marks, lambda: syncs.append(None))
    )
    stats = run(steps)
    assert len(syncs) == 1
    assert (stats.data_wait_s, stats.compute_s) == (steps * 0.5, steps * 0.5)
    assert stats.time_s == steps * 1.0 + 0.5


def test_label_smoothing_mixes_cross_entropy_with_the_mean_negative_log_probability() -> None:
    outputs = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    targets = torch.tensor([0, 1])
    log_p = outputs.log_softmax(dim=1)
    nll, uniform = -log_p[[0, 1], targets].mean(), -log_p.mean()
    loss, correct = classification_objective(outputs, outputs, targets, label_smoothing=0.1)
    assert loss.item() == pytest.approx((0.9 * nll + 0.1 * uniform).item())
    assert int(correct) == 1
    plain, _ = classification_objective(outputs, outputs, targets)
    assert plain.item() == pytest.approx(nll.item())


def test_the_classify_recipe_trains_and_tests_with_the_suites_label_smoothing(monkeypatch) -> None:
    from types import SimpleNamespace

    from bench.recipes import classify
    from bench.suite.settings import JobConfig

    seen: list[Any] = []
    monkeypatch.setattr(classify, "run_phase", lambda *args: seen.append(args[5]) or iter(()))
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())
    job = SimpleNamespace(model="m", config=JobConfig(label_smoothing=0.2))
    ctx = SimpleNamespace(job=job, build_model=lambda _name: model, num_classes=2)
    list(classify.run_classify(ctx))  # type: ignore[arg-type]
    outputs, targets = torch.tensor([[1.0, -1.0]]), torch.tensor([0])
    loss, _ = seen[0](outputs, outputs, targets)
    smoothed = nn.functional.cross_entropy(outputs, targets, label_smoothing=0.2).item()
    plain = nn.functional.cross_entropy(outputs, targets).item()
    assert loss.item() == pytest.approx(smoothed) and abs(smoothed - plain) > 0.05
