"""Inference sweeps: a built model timed per precision and batch size, as ``bench infer`` does
with random weights and a job does with its trained model.

Batch sizes run from the smallest up; one that runs out of memory gives an ``oom`` row and the
larger ones of that precision are skipped. Inputs are random images of the model's input size
(timing does not depend on pixel values). Each ``ok`` row carries its batch's roofline point.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bench.measure.collectors import JobCollectors
from bench.measure.device_peaks import device_peaks
from bench.measure.inference import Budget, time_forward
from bench.measure.memory import is_out_of_memory
from bench.measure.roofline import RooflinePoint, inference_batch_bytes
from bench.measure.static_profile import StaticProfile
from bench.measure.telemetry import NvmlSampler
from bench.recipes.loop import Precision, local_module
from bench.results.job_summary import summarize_inference
from bench.results.records import InferenceRow
from bench.suite.settings import InferenceConfig, JobConfig


@dataclass(frozen=True)
class Subject:
    """The network measured and the facts each of its rows carries."""

    name: str
    device: torch.device
    input_size: tuple[int, int, int]
    weights: str  # "random" or "trained"
    channels_last: bool = False
    compile: str | None = None
    profile: StaticProfile | None = None

    def row(self, precision: str, batch_size: int, status: str, **figures: object) -> InferenceRow:
        """A row of this subject at ``precision`` and ``batch_size``."""
        return InferenceRow(
            model=self.name,
            precision=precision,
            batch_size=batch_size,
            status=status,
            weights=self.weights,
            device=str(self.device),
            input_size=list(self.input_size),
            channels_last=self.channels_last,
            compile=self.compile,
            macs=self.profile.macs if self.profile else None,
            flops=self.profile.flops if self.profile else None,
            **figures,  # type: ignore[arg-type]
        )


@dataclass
class LastBuilt:
    """A job's model builder that keeps the model it built last: the one trained last (an
    autoencoder job's fine-tuned classifier), measured in inference after training."""

    build: Callable[[str], nn.Module]
    name: str = ""
    model: nn.Module | None = None

    def __call__(self, name: str) -> nn.Module:
        self.name, self.model = name, self.build(name)
        return self.model


def measure_trained(
    trained: LastBuilt,
    config: JobConfig,
    device: torch.device,
    profile: StaticProfile,
    collectors: JobCollectors,
) -> dict[str, Any]:
    """A job's trained model timed as its ``[inference]`` asks (by default at the job's own
    precision): its rows and metrics, keyed by ``JobRecord`` field names."""
    plan = config.inference
    if not plan.precisions:
        plan = dataclasses.replace(plan, precisions=(config.precision,))
    assert trained.model is not None, "the recipe built no model"
    subject = Subject(
        trained.name,
        device,
        profile.input_size,
        "trained",
        config.channels_last,
        config.compile or None,
        profile,
    )
    collectors.keep_rss_peak()  # the timing resets the kernel's peak per batch size
    rows = sweep(local_module(trained.model), subject, plan, collectors.sampler)
    return summarize_inference(list(rows))


def sweep(
    model: nn.Module,
    subject: Subject,
    plan: InferenceConfig,
    sampler: NvmlSampler | None = None,
) -> Iterator[InferenceRow]:
    """Time ``model`` at each of ``plan``'s precisions and batch sizes (both given, each once:
    the settings refuse repeats)."""
    budget = Budget(plan.min_iterations, plan.min_time_s)
    for precision in plan.precisions:
        casting = Precision(subject.device, precision, subject.channels_last)
        casting.set_matmul_precision()
        for batch in sorted(plan.batch_sizes):
            row = _measure(model, subject, casting, batch, budget, sampler)
            yield row
            if row.status == "oom":
                break


def unfit_rows(subject: Subject, plan: InferenceConfig, error: str) -> list[InferenceRow]:
    """The rows of a model that ran out of memory before any timing (counted or built): an
    ``oom`` row at the smallest batch size of each precision, as ``sweep`` records a batch that
    does not fit (the larger ones skipped)."""
    batch = min(plan.batch_sizes)
    return [subject.row(precision, batch, "oom", error=error) for precision in plan.precisions]


def _measure(
    model: nn.Module,
    subject: Subject,
    casting: Precision,
    batch: int,
    budget: Budget,
    sampler: NvmlSampler | None,
) -> InferenceRow:
    """One batch size's row: its figures, or ``oom`` (with the cached GPU memory released)."""
    label = f"inference {subject.name} {casting.precision} batch {batch}"
    try:
        inputs = casting.prepare(torch.randn(batch, *subject.input_size, device=subject.device))
        timing = time_forward(model, inputs, casting, budget, sampler, label)
    except Exception as err:
        if not is_out_of_memory(err):
            raise
        error = _first_line(err)
    else:
        point = _roofline(subject, casting.precision, batch, timing.images_per_s)
        return subject.row(
            casting.precision, batch, "ok", roofline=point, **dataclasses.asdict(timing)
        )
    if subject.device.type == "cuda":
        torch.cuda.empty_cache()
    return subject.row(casting.precision, batch, "oom", error=error)


def _roofline(
    subject: Subject, precision: str, batch: int, images_per_s: float
) -> dict[str, Any] | None:
    """The batch on the roofline (``RooflinePoint.to_dict``): forward FLOPs per image × batch
    over the compute time per batch that ``images_per_s`` implies (batch / images/s, the mean
    over the timed passes), moving at least ``inference_batch_bytes``; None without FLOPs, a
    measured rate or the device's peaks."""
    profile = subject.profile
    if profile is None or not profile.flops or not 0 < images_per_s < math.inf:
        return None
    peaks = device_peaks(subject.device, precision)
    if peaks is None:
        return None
    flops = profile.flops * batch
    min_bytes = inference_batch_bytes(profile.params, profile.forward_activations, batch, precision)
    return RooflinePoint(flops, batch / images_per_s, min_bytes, precision, peaks).to_dict()


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else 'no message'}"
