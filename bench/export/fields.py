"""What every exporter writes of a job, named once: its epoch scalars, its final metrics (tags
with their units), its settings (parameters) and what identifies it (tags)."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

from bench.errors import BenchError
from bench.results.columns import DEFAULT_VARIANT, job_column
from bench.results.rundir import Run

EPOCH_SCALARS: Mapping[str, str] = {
    "train_loss": "loss/train",
    "test_loss": "loss/test",
    "train_acc": "accuracy_pct/train",
    "test_acc": "accuracy_pct/test",
    "lr": "lr",
    "epoch_time_s": "time_s/epoch",
    "train_time_s": "time_s/train",
    "eval_time_s": "time_s/eval",
    "data_wait_s": "time_s/data_wait",
    "images_per_s": "throughput/train_images_per_s",
    "peak_mem_mib": "memory_mib/peak_allocated",
    "peak_mem_reserved_mib": "memory_mib/peak_reserved",
    "peak_rss_mib": "memory_mib/peak_rss",
    "gpu_util_pct": "gpu/util_pct",
    "power_w": "gpu/power_w",
    "energy_j": "gpu/energy_j",
}
"""Epoch record field → scalar tag: the group before ``/`` carries the unit. A phase other than
``train`` (the autoencoder's pretrain and finetune) puts its name in front:
``pretrain/loss/train``."""
PLAIN_PHASE = "train"

FINAL_METRICS: Mapping[str, str] = {
    field: f"final/{job_column(field).name}"
    for field in (
        "test_acc", "best_test_acc", "train_loss", "test_loss", "epoch_time_s",
        "first_epoch_time_s", "images_per_s", "peak_mem_mib", "peak_rss_mib", "power_w",
        "energy_j", "total_time_s",
    )
}  # fmt: skip
"""Job record field → metric tag (``final/`` and the field's table column, its unit in its
name): the job's summary beside its settings (hparams)."""

JOB_SETTINGS = ("model", "seed", "variant", "dataset", "recipe", "device", "precision")
JOB_SETTINGS_NUMBERS = ("batch_size", "world_size")
SUITE_PARTS_LEFT_OUT = frozenset({"name", "description", "models", "variants", "thresholds"})
"""Parts of the suite document that are no setting of one job (the job's own model, variant and
margins are in its record)."""
MAX_TEXT = 500
Value = str | int | float | bool


@dataclass(frozen=True)
class Scalar:
    """One value of a tag at a step (the epoch within its phase, 1-based)."""

    tag: str
    step: int
    value: float
    wall_time: float | None


def epoch_scalars(epochs: Sequence[Mapping[str, Any]]) -> Iterator[Scalar]:
    """The scalars of one job's epoch records (fields that are ``None`` are not measured, and
    left out)."""
    for epoch in epochs:
        prefix = "" if epoch["phase"] == PLAIN_PHASE else f"{epoch['phase']}/"
        when = seconds(epoch.get("time_utc"))
        for field, tag in EPOCH_SCALARS.items():
            value = epoch.get(field)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                yield Scalar(prefix + tag, int(epoch["epoch"]), float(value), when)


def final_metrics(job: Mapping[str, Any]) -> dict[str, float]:
    """The job's summary metrics that were measured, by tag."""
    return {
        tag: float(job[field])
        for field, tag in FINAL_METRICS.items()
        if isinstance(job.get(field), (int, float)) and not isinstance(job.get(field), bool)
    }


def job_params(run: Run, job: Mapping[str, Any]) -> dict[str, Value]:
    """The job's settings: the suite document's single values (``optimizer.lr``, ...), then the
    job's own (``model``, ``batch_size``, ``device`` as resolved, ...), which take precedence."""
    suite = run.info.get("suite") or {}
    params = dict(_flatten({k: v for k, v in suite.items() if k not in SUITE_PARTS_LEFT_OUT}))
    for name in (*JOB_SETTINGS, *JOB_SETTINGS_NUMBERS):
        value = job.get(name)
        if isinstance(value, (str, int, float)):
            params[name] = value if name != "variant" else (value or DEFAULT_VARIANT)
    return params


def run_tags(run: Run) -> dict[str, str]:
    """What identifies the run: its id, machine, commit and suite."""
    env = run.environment
    return {
        "bench.run_id": run.run_id,
        "bench.machine": str(env.get("machine_id") or ""),
        "bench.commit": str(env.get("commit") or ""),
        "bench.suite": run.suite_name,
    }


def job_tags(run: Run, job: Mapping[str, Any]) -> dict[str, str]:
    """What identifies the job among others: its run's tags, and its id, model, variant and
    status."""
    return {
        **run_tags(run),
        "bench.job_id": str(job["job_id"]),
        "bench.model": str(job.get("model") or ""),
        "bench.variant": str(job.get("variant") or DEFAULT_VARIANT),
        "bench.status": str(job.get("status") or ""),
    }


def job_epochs(run: Run, job_id: str) -> list[dict[str, Any]]:
    """The epoch records of the job's latest attempt, in order."""
    return [e for e in run.epochs if e["job_id"] == job_id]


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``; a one-line ``BenchError`` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise BenchError(
            f"{module} is not installed; install it with: pip install 'bench[{extra}]'"
        ) from None


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Value]]:
    """Single values of a nested document as ``a.b`` keys (lists are no single value)."""
    for key, value in tree.items():
        name = prefix + re.sub(r"[^\w.\- ]", "_", str(key))
        if isinstance(value, Mapping):
            yield from _flatten(value, name + ".")
        elif isinstance(value, str):
            yield name, value[:MAX_TEXT]
        elif isinstance(value, (int, float, bool)):
            yield name, value


def seconds(utc: Any) -> float | None:
    """An ISO 8601 time as seconds since the epoch; ``None`` where it is not one."""
    try:
        return datetime.fromisoformat(str(utc)).timestamp() if utc else None
    except ValueError:
        return None
