"""The per-job results of one run, read from a run directory or a saved baseline file.

A baseline file is versioned JSON: run metadata, machine id, the resolved suite and one row per
job carrying every metric of ``bench.results.records.METRICS`` (``null`` where not measured).
Keep one next to the code and ``bench compare`` a new run against it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.results.records import METRICS
from bench.results.rundir import (
    RECORDS_FILE,
    RUN_FILE,
    latest_jobs,
    read_records,
    utc_now,
    write_atomic,
)

BASELINE_FORMAT = "bench-baseline"
BASELINE_VERSION = 1


@dataclass(frozen=True)
class JobRow:
    """One job's outcome: its key, its status and every metric (``None`` where unknown)."""

    model: str
    variant: str
    seed: int
    status: str
    metrics: Mapping[str, float | None]


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

    @property
    def suite_name(self) -> str:
        """The suite's name ("" when the run does not record one)."""
        return str(self.suite.get("name", ""))


def load(path: Path) -> RunResults:
    """A run directory or a saved baseline file."""
    if path.is_dir():
        return read_run_dir(path)
    if path.is_file():
        return read_baseline(path)
    raise BenchError(f"{path}: no such run directory or baseline file")


def read_run_dir(run_dir: Path) -> RunResults:
    """The latest job record of each job of a run directory, with its ``run.json`` metadata."""
    info = _read_json(run_dir / RUN_FILE)
    where = str(run_dir / RUN_FILE)
    environment = _field(info, "environment", dict, where)
    jobs = tuple(
        JobRow(
            model=str(job["model"]),
            variant=str(job.get("variant") or ""),
            seed=int(job["seed"]),
            status=str(job["status"]),
            metrics={name: _number(job.get(name)) for name in METRICS},
        )
        for job in latest_jobs(read_records(run_dir / RECORDS_FILE))
    )
    return RunResults(
        source=str(run_dir),
        run_id=_field(info, "run_id", str, where),
        created_utc=_field(info, "created_utc", str, where),
        machine_id=_field(environment, "machine_id", str, where, "environment."),
        commit=environment.get("commit"),
        dirty=environment.get("dirty"),
        suite=_field(info, "suite", dict, where),
        jobs=jobs,
    )


def read_baseline(path: Path) -> RunResults:
    """A baseline file written by :func:`save`."""
    data = _read_json(path)
    where = str(path)
    if data.get("format") != BASELINE_FORMAT:
        raise BenchError(f'{path}: not a bench baseline file (no "format": "{BASELINE_FORMAT}")')
    version = _field(data, "version", int, where)
    if version > BASELINE_VERSION:
        raise BenchError(
            f"{path}: baseline version {version} is newer than this bench reads "
            f"({BASELINE_VERSION}); upgrade bench"
        )
    try:
        jobs = tuple(
            JobRow(
                model=str(job["model"]),
                variant=str(job["variant"]),
                seed=int(job["seed"]),
                status=str(job["status"]),
                metrics={name: _number(job["metrics"].get(name)) for name in METRICS},
            )
            for job in _field(data, "jobs", list, where)
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise BenchError(f"{path}: malformed job row in field 'jobs': {err!r}") from None
    return RunResults(
        source=str(path),
        run_id=_field(data, "run_id", str, where),
        created_utc=_field(data, "created_utc", str, where),
        machine_id=_field(data, "machine_id", str, where),
        commit=data.get("commit"),
        dirty=data.get("dirty"),
        suite=_field(data, "suite", dict, where),
        jobs=jobs,
    )


def to_baseline_dict(results: RunResults) -> dict[str, Any]:
    """``results`` as the JSON document of a baseline file."""
    return {
        "format": BASELINE_FORMAT,
        "version": BASELINE_VERSION,
        "saved_utc": utc_now(),
        "source": results.source,
        "run_id": results.run_id,
        "created_utc": results.created_utc,
        "machine_id": results.machine_id,
        "commit": results.commit,
        "dirty": results.dirty,
        "suite": dict(results.suite),
        "metrics": {
            m.name: {"unit": m.unit, "higher_is_better": m.higher_is_better, "label": m.label}
            for m in METRICS.values()
        },
        "jobs": [
            {
                "model": job.model,
                "variant": job.variant,
                "seed": job.seed,
                "status": job.status,
                "metrics": {name: job.metrics.get(name) for name in METRICS},
            }
            for job in results.jobs
        ],
    }


def save(results: RunResults, out: Path) -> None:
    """Write ``results`` to ``out`` as a baseline file (atomically, creating parent folders)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, json.dumps(to_baseline_dict(results), indent=2, allow_nan=False) + "\n")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchError(f"{path.parent}: not a run directory (no {path.name})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BenchError(f"{path}: cannot read JSON: {err}") from None
    if not isinstance(data, dict):
        raise BenchError(f"{path}: expected a JSON object")
    return data


def _field(data: Mapping[str, Any], key: str, kind: type, where: str, prefix: str = "") -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise BenchError(f"{where}: field '{prefix}{key}' missing or not {kind.__name__}")
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
