"""Baseline files: a run's per-job results kept as versioned JSON, and ``load_results`` of a
run directory or such a file.

A baseline file is versioned JSON: run metadata, machine id, the resolved suite and one row per
job carrying every metric of ``bench.results.records.METRICS`` (``null`` where not measured) and
the per-pass and per-step times of the job record (``samples``, absent from older files).
Keep one next to the code and ``bench compare`` a new run against it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.errors import BenchError, os_errors
from bench.results.atomic import write_atomic
from bench.results.checks import (
    JOB_FIELDS,
    METRIC_FIELDS,
    Field,
    Fields,
    check_distinct_seeds,
    check_fields,
    check_tree,
    parse_json,
)
from bench.results.outputs import output_file
from bench.results.records import METRICS, utc_now
from bench.results.run_results import JobRow, RunResults, metric_values, results_of
from bench.results.rundir import RunDir
from bench.results.samples import sample_values

BASELINE_FORMAT = "bench-baseline"
BASELINE_VERSION = 1


def load_results(path: Path) -> RunResults:
    """The results of a run directory or of a saved baseline file."""
    with os_errors(path, "read"):
        is_dir, is_file = path.is_dir(), path.is_file()
    if is_dir:
        return results_of(RunDir.open(path).read())
    if is_file:
        return read_baseline(path)
    raise BenchError(f"{path}: no such run directory or baseline file")


def read_baseline(path: Path) -> RunResults:
    """A baseline file written by :func:`save`, checked (``bench.results.checks``)."""
    data = _read_json(path)
    where = str(path)
    if data.get("format") != BASELINE_FORMAT:
        raise BenchError(f'{path}: not a bench baseline file (no "format": "{BASELINE_FORMAT}")')
    version = check_fields(data, {"version": _DOCUMENT_FIELDS["version"]}, where)["version"]
    if version > BASELINE_VERSION:
        raise BenchError(
            f"{path}: baseline version {version} is newer than this bench reads "
            f"({BASELINE_VERSION}); upgrade bench"
        )
    check_fields(data, _DOCUMENT_FIELDS, where)
    jobs = tuple(_job_row(row, where, f"jobs[{i}].") for i, row in enumerate(data["jobs"]))
    check_distinct_seeds(
        ((f"jobs[{i}]", j.model, j.variant, j.seed) for i, j in enumerate(jobs)), where
    )
    return RunResults(
        source=str(path),
        run_id=data["run_id"],
        created_utc=data["created_utc"],
        machine_id=data["machine_id"],
        commit=data.get("commit"),
        dirty=data.get("dirty"),
        suite=data["suite"],
        jobs=jobs,
    )


_DOCUMENT_FIELDS: Fields = {
    "version": Field(int, required=True, minimum=1),
    "run_id": Field(str, required=True),
    "created_utc": Field(str, required=True),
    "machine_id": Field(str, required=True),
    "commit": Field(str),
    "dirty": Field(bool),
    "suite": Field(dict, required=True),
    "jobs": Field(list, required=True),
}
_JOB_FIELDS: Fields = {
    "model": Field(str, required=True),
    "variant": Field(str, required=True),
    "seed": JOB_FIELDS["seed"],
    "status": JOB_FIELDS["status"],
    "metrics": Field(dict, required=True),
    "samples": JOB_FIELDS["samples"],
}


def _job_row(row: Any, where: str, prefix: str) -> JobRow:
    """One row of a baseline's ``jobs``, its fields, metrics and samples checked."""
    check_fields(row, _JOB_FIELDS, where, prefix)
    metrics = check_fields(row["metrics"], METRIC_FIELDS, where, f"{prefix}metrics.")
    return JobRow(
        row["model"],
        row["variant"],
        row["seed"],
        row["status"],
        metric_values(metrics),
        sample_values(row.get("samples")),
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
                "samples": {name: list(sample) for name, sample in job.samples.items()},
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
        data = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # UnicodeDecodeError and JSONDecodeError included
        raise BenchError(f"{path}: cannot read JSON: {err}") from None
    if not isinstance(data, dict):
        raise BenchError(f"{path}: expected a JSON object")
    return check_tree(data, str(path))
