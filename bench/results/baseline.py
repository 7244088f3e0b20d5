"""Baseline files: a run's per-job results kept as versioned JSON, and ``load_results`` of a
run directory or such a file.

A baseline file is versioned JSON: run metadata, machine id, the resolved suite and one row per
job carrying every metric of ``bench.results.records.METRICS`` (``null`` where not measured).
Keep one next to the code and ``bench compare`` a new run against it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.results.atomic import write_atomic
from bench.results.outputs import output_file
from bench.results.records import METRICS, utc_now
from bench.results.run_results import JobRow, RunResults, metric_values, results_of
from bench.results.rundir import RunDir

BASELINE_FORMAT = "bench-baseline"
BASELINE_VERSION = 1


def load_results(path: Path) -> RunResults:
    """The results of a run directory or of a saved baseline file."""
    try:
        is_dir, is_file = path.is_dir(), path.is_file()
    except OSError as err:
        raise BenchError(f"{path}: cannot read: {err.strerror}") from None
    if is_dir:
        return results_of(RunDir.open(path).read())
    if is_file:
        return read_baseline(path)
    raise BenchError(f"{path}: no such run directory or baseline file")


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
                metrics=metric_values(job["metrics"]),
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
    output_file(out)
    write_atomic(out, json.dumps(to_baseline_dict(results), indent=2, allow_nan=False) + "\n")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
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
