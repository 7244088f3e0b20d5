"""Runs one job and yields what it measured; never writes files itself.

For a job: seed everything, build the model, profile it statically, train and evaluate it under
its recipe with the collectors beside the loop, and turn what happened into records. A job that
runs out of memory (on the GPU or the CPU), diverges or raises ends with status ``oom``,
``diverged`` or ``error``; Ctrl-C, or ``JobStopped`` thrown in by the run, yields an
``interrupted`` record and propagates.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.data.imageset import DataSplits
from bench.data.pipeline import dataset_key, make_loaders
from bench.errors import BenchError, first_line
from bench.measure.collectors import JobCollectors
from bench.measure.compilation import CompiledGraphs
from bench.measure.device_peaks import device_peaks
from bench.measure.memory import is_out_of_memory
from bench.measure.peak_throughput import peak_tflops
from bench.measure.roofline import RooflinePoint, training_step_bytes
from bench.measure.static_profile import COUNTING_BATCH, StaticProfile, profile_model
from bench.models.registry import create_model, get_model_info
from bench.recipes import RECIPES
from bench.recipes.common import Artifact, EpochBatches, EpochResult, RecipeContext
from bench.recipes.loop import DivergedError, Precision
from bench.recipes.optim import optimizer_states
from bench.results.job_summary import summarize_epochs
from bench.results.records import EpochRecord, JobRecord, utc_now
from bench.results.rundir import TraceFiles
from bench.results.samples import compact
from bench.run.batch_search import largest_batch
from bench.run.distributed import Distributed, RanksDisagreeError
from bench.run.inference import LastBuilt, measure_trained
from bench.run.job_trace import trace_job
from bench.suite.matrix import Job
from bench.suite.settings import JobConfig
from bench.suite.variants import split_device


@dataclass(frozen=True)
class TelemetryCsv:
    """A job's NVML time series (CSV text), kept in the run directory beside its records."""

    text: str


@dataclass(frozen=True)
class Notice:
    """Something the user must see, such as a batch size changed by the search."""

    text: str


class JobStopped(Exception):
    """Thrown into a running job by the run that stops it (a record it yielded could not be
    stored); the job yields an ``interrupted`` record giving the message, and re-raises."""


RunOutput = Generator[
    EpochRecord | JobRecord | Artifact | TelemetryCsv | TraceFiles | Notice, None, None
]
BatchWrapper = Callable[[Iterable[Any], int, str], Iterable[Any]]


@dataclass
class JobEnvironment:
    """What jobs of one run share: loaded data sets, a progress display, cached profiles (with
    the seconds each took to count), and, under torchrun, this process's place among the
    processes that train each job together."""

    datasets: Mapping[str, DataSplits]
    wrap_batches: BatchWrapper = lambda batches, _total, _label: batches
    profiles: dict[tuple[Any, ...], StaticProfile] = field(default_factory=dict)
    profile_s: dict[tuple[Any, ...], float] = field(default_factory=dict)
    dist: Distributed | None = None


class ProgressBatches:
    """A loader whose batches pass through a progress display."""

    def __init__(self, loader: EpochBatches, wrap: BatchWrapper, label: str) -> None:
        self.loader, self.wrap, self.label = loader, wrap, label

    def __len__(self) -> int:
        return len(self.loader)

    def batches(self, epoch: int) -> Iterable[Any]:
        return self.wrap(self.loader.batches(epoch), len(self.loader), f"{self.label} {epoch}")


def resolve_device(name: str) -> torch.device:
    """``auto`` → the GPU when there is one; asking for ``cuda`` without one is a user error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise BenchError("device 'cuda' requested but no CUDA device is available; use cpu")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def unavailable_device(job: Job) -> str | None:
    """Why ``job`` cannot run here, where its variant names a device this machine lacks
    (``cuda`` without CUDA); ``None`` where it can (a suite's own ``device = "cuda"`` is not
    skipped: ``resolve_device`` refuses it)."""
    if split_device(job.variant)[0] == "cuda" and not torch.cuda.is_available():
        return "no CUDA device on this machine"
    return None


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def configure_torch(config: JobConfig, device: torch.device) -> None:
    """Determinism and float32 matmul/convolution precision for this job."""
    if config.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(config.deterministic)
    torch.backends.cudnn.deterministic = config.deterministic
    torch.backends.cudnn.benchmark = device.type == "cuda" and not config.deterministic
    Precision(device, config.precision, config.channels_last).set_matmul_precision()


@dataclass(frozen=True)
class ModelBuilder:
    """Builds a job's models (its own, or another by name, such as the classifier an autoencoder
    is fine-tuned into) for the job's data and settings; the one place a job makes a model."""

    config: JobConfig
    num_classes: int
    in_channels: int
    device: torch.device
    dist: Distributed | None = None

    def plain(self, name: str) -> nn.Module:
        """``name`` as registered, on the CPU, with the job's classes, channels and arguments."""
        return create_model(
            name,
            num_classes=self.num_classes,
            in_channels=self.in_channels,
            **self.config.model_kwargs,
        )

    def placed(self, name: str) -> nn.Module:
        """``name`` on the job's device, in its memory layout."""
        model = self.plain(name).to(self.device)
        return model.to(memory_format=torch.channels_last) if self.config.channels_last else model

    def __call__(self, name: str) -> nn.Module:
        """``name`` ready to train: placed, compiled and wrapped for distributed training as the
        job asks. A compiled model specialises on every input shape (``dynamic=False``): each
        batch size is a static graph, compiled once, never a dynamic one in its place."""
        model = self.placed(name)
        if self.config.compile:
            model = torch.compile(  # type: ignore[assignment]
                model, mode=self.config.compile, dynamic=False
            )
        if self.dist is not None:
            model = self.dist.wrap(model, self.device)
        return model


@dataclass
class _JobProgress:
    """What a job has produced so far, turned into its job record at the end."""

    job: Job
    device: torch.device
    collectors: JobCollectors
    fields: dict[str, Any]
    epochs: list[EpochRecord] = field(default_factory=list)
    profile: StaticProfile | None = None
    started: str = field(default_factory=utc_now)
    clock: float = field(default_factory=time.perf_counter)

    def record(self, status: str, error: str | None) -> JobRecord:
        config = self.job.config
        peak = None
        if self.device.type == "cuda":
            peak = peak_tflops(torch.cuda.get_device_name(self.device), config.precision)
        train_flops = self.profile.train_step_flops if self.profile else None
        summary = summarize_epochs(self.epochs, train_flops, peak, config.target_acc)
        values: dict[str, Any] = {**self.fields, **summary, **self.collectors.job_figures()}
        samples = {**summary.get("samples", {}), **self.fields.get("samples", {})}
        values["samples"] = samples or None
        values["extra"].update(self.collectors.job_extra())
        world_size = values.get("world_size", 1)
        if world_size > 1 and values.get("images_per_s") is not None:
            values["extra"]["images_per_s_per_process"] = values["images_per_s"] / world_size
        if self.profile is not None:
            values.update(
                params=self.profile.params,
                trainable_params=self.profile.trainable_params,
                macs=self.profile.macs,
                flops=self.profile.flops,
                train_step_flops=self.profile.train_step_flops,
            )
            extra = values["extra"]
            extra["fvcore_unsupported_ops"] = self.profile.fvcore_unsupported_ops
            # agreement of the two counters: 2.0 when every MAC is a conv/matmul multiply-add
            extra["flops_per_mac"] = self.profile.flops_macs_ratio
            point = _roofline_point(self.profile, self.epochs, config, self.device, world_size)
            extra["roofline"] = point.to_dict() if point is not None else None
        values.update(
            status=status,
            error=error,
            epochs=len(self.epochs),
            total_time_s=time.perf_counter() - self.clock,
            started_utc=self.started,
            finished_utc=utc_now(),
        )
        return JobRecord(**values)


def run_job(job: Job, env: JobEnvironment) -> RunOutput:
    """Train and evaluate ``job``, yielding epoch records, artifacts and the final job record.

    Under torchrun (``env.dist``) every process trains its share and all end the job with the
    same record; a job that ended differently on the processes raises ``RanksDisagreeError``
    after its record.
    """
    config, dist = job.config, env.dist
    rank, world_size = (dist.rank, dist.world_size) if dist else (0, 1)
    device = resolve_device(config.device)
    device = dist.place(device) if dist else device
    splits = env.datasets[dataset_key(config)]
    collectors = JobCollectors(device, config.telemetry_interval_s, config.collectors)
    state = _JobProgress(job, device, collectors, _job_fields(job, device, splits))
    if dist is not None:
        state.fields["world_size"] = world_size
        state.fields["extra"]["batch_size_per_process"] = config.batch_size // world_size
    status, error = "ok", None
    try:
        configure_torch(config, device)
        input_size = _input_size(splits, config)
        state.fields["input_size"] = list(input_size)
        builder = ModelBuilder(config, splits.num_classes, input_size[0], device, dist)
        state.profile = _profile(job, env, builder, input_size)
        if config.find_batch_size:
            job, config = _pin_batch(job, builder, input_size, len(splits.train), state)
            builder = dataclasses.replace(builder, config=config)
            yield Notice(
                f"{job.job_id}: --find-batch-size: {state.fields['extra']['batch_size_search']}"
            )
            state.job, state.fields["batch_size"] = job, job.config.batch_size
        train, test = make_loaders(
            splits, config, job.seed, device, rank=rank, world_size=world_size
        )
        state.fields["extra"].update(
            loader=train.kind, channels_last=config.channels_last, compile=config.compile or None
        )
        seed_everything(job.seed)
        trained = LastBuilt(builder)
        ctx = RecipeContext(
            job=job,
            device=device,
            precision=Precision(device, config.precision, config.channels_last),
            train=ProgressBatches(train, env.wrap_batches, f"{job.job_id} train"),
            test=test,
            num_classes=splits.num_classes,
            phases=collectors,
            build_model=trained,
            reduce=dist.sum if dist else None,
        )
        graphs = CompiledGraphs(state.fields["extra"]) if config.compile else None
        with collectors:
            for item in RECIPES[config.recipe](ctx):
                if isinstance(item, EpochResult):
                    if graphs is not None:
                        graphs.epoch_ended(item.epoch)
                    record = epoch_record(job, item, collectors, dist)
                    state.epochs.append(record)
                    if item.test.confusion is not None:
                        state.fields["confusion_matrix"] = item.test.confusion.tolist()
                    yield record
                else:
                    yield item
            if config.inference.batch_sizes and (dist is None or dist.is_main):
                profile = _profile(job, env, builder, input_size, trained.name)
                inference = measure_trained(trained, config, device, profile, collectors)
                state.fields.update(inference)
                if graphs is not None:
                    graphs.inference_ended()
        if config.trace_steps:
            yield trace_job(job, builder, train, ctx.precision).files()
            state.fields["extra"]["traced_steps"] = config.trace_steps
    except (KeyboardInterrupt, JobStopped) as err:
        yield state.record("interrupted", str(err) or "interrupted by user")
        raise
    except DivergedError as err:
        status, error = "diverged", str(err)
    except torch.cuda.OutOfMemoryError as err:
        status, error = "oom", first_line(err)
    except Exception as err:  # a failing job is recorded and the suite goes on
        status = "oom" if is_out_of_memory(err) else "error"
        error = f"{type(err).__name__}: {first_line(err)}"
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()
    telemetry = collectors.telemetry_csv()
    if telemetry is not None:
        yield TelemetryCsv(telemetry)
    agreed = True
    if dist is not None:
        outcome = dist.agree(status, error)
        status, error, agreed = outcome.status, outcome.error, outcome.agreed
    yield state.record(status, error)
    if not agreed:
        raise RanksDisagreeError(f"job {job.job_id} ended differently on the processes: {error}")


def _job_fields(job: Job, device: torch.device, splits: DataSplits) -> dict[str, Any]:
    """The job record's fields known before training."""
    config = job.config
    info = get_model_info(job.model)
    return {
        "job_id": job.job_id,
        "suite": job.suite,
        "model": job.model,
        "seed": job.seed,
        "variant": job.variant,
        "dataset": config.dataset.name,
        "recipe": config.recipe,
        "device": str(device),
        "precision": config.precision,
        "batch_size": config.batch_size,
        "family": info.family,
        "year": info.year,
        "salient_feature": info.salient_feature,
        "num_classes": splits.num_classes,
        "deterministic": config.deterministic,
        "target_acc": config.target_acc,
        "extra": _extra(info, splits),
    }


def _pin_batch(
    job: Job,
    builder: ModelBuilder,
    input_size: tuple[int, int, int],
    train_images: int,
    state: _JobProgress,
) -> tuple[Job, JobConfig]:
    """The job with its batch pinned to the largest that fits in GPU memory (CUDA only)."""
    config, device = job.config, builder.device
    precision = Precision(device, config.precision, config.channels_last)
    asked = config.batch_size
    found = largest_batch(
        functools.partial(builder.placed, job.model),
        input_size,
        builder.num_classes,
        precision,
        train_images,
    )
    extra = state.fields["extra"]
    extra["batch_size_searched"] = device.type == "cuda"
    if found is None:
        outcome = (
            "not even batch 1 fits"
            if device.type == "cuda"
            else f"not run on {device.type}, which has no out-of-memory to probe"
        )
        extra["batch_size_search"] = f"{outcome}; batch size {asked} kept"
        return job, config
    change = "kept" if found == asked else f"changed from {asked} to {found}"
    extra["batch_size_search"] = f"batch size {change}, the largest power of two that fits"
    config = dataclasses.replace(config, batch_size=found)
    return dataclasses.replace(job, config=config), config


def _profile(
    job: Job,
    env: JobEnvironment,
    builder: ModelBuilder,
    input_size: tuple[int, int, int],
    model: str | None = None,
) -> StaticProfile:
    """The static profile of ``model`` (default: the job's) at the job's input size (cached
    per architecture)."""
    name = model or job.model
    kwargs = tuple(sorted(job.config.model_kwargs.items()))
    key = (name, builder.num_classes, input_size, kwargs)
    if key not in env.profiles:
        start = time.perf_counter()
        seed_everything(job.seed)
        env.profiles[key] = profile_model(builder.plain(name), input_size, COUNTING_BATCH)
        env.profile_s[key] = time.perf_counter() - start
    return env.profiles[key]


def _input_size(splits: DataSplits, config: JobConfig) -> tuple[int, int, int]:
    channels, height, width = splits.image_size
    size = config.dataset.resize
    return (channels, size, size) if size else (channels, height, width)


def _extra(info: Any, splits: DataSplits) -> dict[str, Any]:
    extra: dict[str, Any] = {"classes": list(splits.train.classes)}
    if splits.decode_s is not None:
        extra["data_decode_s"] = splits.decode_s
    if info.published is not None:
        extra["published_top1"] = info.published.top1
        extra["published_top5"] = info.published.top5
        extra["published_source"] = info.published.source
    if info.paper_top5 is not None:
        extra["paper_top5"] = info.paper_top5
    return extra


def epoch_record(
    job: Job, result: EpochResult, collectors: JobCollectors, dist: Distributed | None
) -> EpochRecord:
    """The record of one epoch the recipe finished, with its collectors' figures (combined over
    the processes of a distributed job)."""
    train, test = result.train, result.test
    figures = collectors.epoch_figures(result.phase, result.epoch)
    if dist is not None:
        figures = dist.combine_figures(figures)
    return EpochRecord(
        job_id=job.job_id,
        suite=job.suite,
        model=job.model,
        seed=job.seed,
        variant=job.variant,
        phase=result.phase,
        epoch=result.epoch,
        train_loss=train.loss,
        train_acc=train.acc,
        test_loss=test.loss,
        test_acc=test.acc,
        lr=result.lr,
        epoch_time_s=train.time_s + test.time_s,
        train_time_s=train.time_s,
        eval_time_s=test.time_s,
        data_wait_s=train.data_wait_s,
        compute_s=train.compute_s,
        images=train.images,
        images_per_s=train.images / train.time_s if train.time_s > 0 else 0.0,
        time_utc=utc_now(),
        step_ms=compact(1000 * s for s in train.step_s) or None,
        test_top5=test.top5,
        **figures,
    )


def _roofline_point(
    profile: StaticProfile,
    epochs: list[EpochRecord],
    config: JobConfig,
    device: torch.device,
    world_size: int,
) -> RooflinePoint | None:
    """A process's training step on the roofline: the static profile's FLOPs and minimum bytes
    at the job's batch, over the step's compute time in the steady epochs of the first phase
    (the job's own model); None without a steady epoch or the device's peaks."""
    steady = [e for e in epochs[1:] if e.phase == epochs[0].phase] if epochs else []
    images = sum(e.images for e in steady) / world_size
    compute_s = sum(e.compute_s or 0.0 for e in steady)
    peaks = device_peaks(device, config.precision) if images and compute_s else None
    if peaks is None:
        return None
    batch = config.batch_size // world_size
    min_bytes = training_step_bytes(
        profile.params,
        profile.trainable_params,
        optimizer_states(config.optimizer),
        profile.activations,
        batch,
        config.precision,
    )
    flops = profile.train_step_flops * batch
    return RooflinePoint(flops, compute_s * batch / images, min_bytes, config.precision, peaks)
