"""The per-job results of one run, as comparisons, baselines and the history use them: where and
when the run was made, on which machine and commit, and one row per job with every metric of
``bench.results.records.METRICS`` (``None`` where not measured)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.results.records import METRICS
from bench.results.rundir import Run
from bench.results.samples import sample_values


@dataclass(frozen=True)
class JobRow:
    """One job's outcome: its key, its status, every metric (``None`` where unknown), the
    per-pass or per-step times some are judged by (``bench.results.samples``, in ms), and what
    it ran on (device, precision, batch size: kept in the history; not part of the outcome
    rows compare by, and ``None`` from a baseline file, which keeps none)."""

    model: str
    variant: str
    seed: int
    status: str
    metrics: Mapping[str, float | None]
    samples: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    device: str | None = field(default=None, compare=False)
    precision: str | None = field(default=None, compare=False)
    batch_size: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        """A non-finite metric never reaches a comparison: the readers refuse it first."""
        for name, value in self.metrics.items():
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{self.model}: metric {name} is {value}, not a finite number")


@dataclass(frozen=True)
class RunResults:
    """What ``compare`` and ``history`` need from a run: where, when, on what, and per-job rows."""

    source: str
    run_id: str
    created_utc: str
    machine_id: str
    commit: str | None
    dirty: bool | None
    suite: Mapping[str, Any]
    jobs: tuple[JobRow, ...]
    hostname: str = ""  # where the run was made ("" where not recorded, as in baseline files)
    torch_version: str | None = None

    @property
    def suite_name(self) -> str:
        """The suite's name ("" when the run does not record one)."""
        return str(self.suite.get("name", ""))


def results_of(run: Run) -> RunResults:
    """The latest job record of each job of ``run``, with its run metadata."""
    environment = run.environment
    return RunResults(
        source=str(run.path),
        run_id=run.required("run_id", str),
        created_utc=run.required("created_utc", str),
        machine_id=run.required("environment.machine_id", str),
        commit=environment.get("commit"),
        dirty=environment.get("dirty"),
        hostname=hostname if isinstance(hostname := environment.get("hostname"), str) else "",
        suite=run.required("suite"),
        jobs=tuple(
            JobRow(
                model=job["model"],
                variant=str(job.get("variant") or ""),
                seed=job["seed"],
                status=job["status"],
                metrics=metric_values(job),
                samples=sample_values(job.get("samples")),
                device=job.get("device"),
                precision=job.get("precision"),
                batch_size=job.get("batch_size"),
            )
            for job in run.jobs
        ),
        torch_version=run.required("environment.torch", str, needed=False),
    )


def metric_values(values: Mapping[str, Any]) -> dict[str, float | None]:
    """Every metric of ``METRICS`` from ``values``, checked where they were read
    (``bench.results.checks.METRIC_FIELDS``): a float, or ``None`` where it is absent."""
    return {name: None if (v := values.get(name)) is None else float(v) for name in METRICS}
