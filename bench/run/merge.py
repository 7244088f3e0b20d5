"""``bench merge``: run directories of one suite (the shards of a ``--shard I/N`` run, say)
joined into one run directory, as if one run had measured every job.

The inputs must hold the same suite document (the run's ``suite`` and ``overrides``: the
same suite file, flags and ``--set`` values). The merged directory gets that suite, the union of
the inputs' jobs in the suite's matrix order and every input's environment (``environments``:
run id, shard, command, creation time and environment of each; ``environment`` is the first
input's); each job's records, taken from the input that holds the job; each job's artifacts and
telemetry; the results tables; and a report. A job may appear in two inputs only when its record
lines are identical there (the same directory given twice, or a copy of it); anything else is an
error, since two different measurements of one job cannot both stand. Nothing here imports torch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.results.outputs import output_dir
from bench.results.records import utc_now
from bench.results.rundir import Run, RunDir, read_runs
from bench.suite.matrix import build_suite


@dataclass(frozen=True)
class InputRun:
    """One run directory to merge, with its records grouped by job."""

    run: Run
    records: dict[str, list[dict[str, Any]]]

    @property
    def path(self) -> Path:
        return self.run.path

    @property
    def info(self) -> Mapping[str, Any]:
        return self.run.info


@dataclass(frozen=True)
class MergeResult:
    """What ``merge_runs`` wrote: the run directory and the run it holds, how many distinct
    inputs it joined, its jobs, and the suite's jobs that no input held."""

    path: Path
    run: Run
    inputs: int
    jobs: tuple[str, ...]
    absent: tuple[str, ...]


def merge_runs(run_dirs: Sequence[Path], out: Path, command: Sequence[str]) -> MergeResult:
    """Merge ``run_dirs`` into the new run directory ``out`` (see the module docstring)."""
    output_dir(out, create=False, reads=run_dirs)
    inputs = [input_run(run) for run in read_runs(run_dirs)]
    suite_key = _suite_key(inputs[0])
    for other in inputs[1:]:
        if _suite_key(other) != suite_key:
            raise BenchError(
                f"{other.path}: its suite differs from {inputs[0].path}'s; merge joins runs "
                "of one suite document (the same suite file, flags and --set values)"
            )
    first = inputs[0]
    matrix = _matrix_order(first)
    sources = _job_sources(inputs)
    jobs = sorted(sources, key=lambda job_id: matrix.get(job_id, len(matrix)))
    _prepare(out)
    merged = RunDir.create(out, _run_info(inputs, jobs, command))
    merged.write_records(
        record for job_id in jobs for record in sources[job_id].records.get(job_id, [])
    )
    for job_id in jobs:
        merged.copy_job_files(sources[job_id].path, job_id)
    run = merged.read()
    merged.write_tables(run)
    absent = tuple(job_id for job_id in matrix if job_id not in sources)
    return MergeResult(out, run, len(inputs), tuple(jobs), absent)


def input_run(run: Run) -> InputRun:
    """A run with its records grouped by job; it must hold a suite, and its jobs' trace tables
    are checked before anything is written."""
    run.required("suite")
    records: dict[str, list[dict[str, Any]]] = {}
    for record in run.records:
        records.setdefault(record["job_id"], []).append(record)
    for job_id in records:
        run.trace_tables(job_id)
    return InputRun(run, records)


def _suite_key(run: InputRun) -> str:
    document = {"suite": run.info["suite"], "overrides": run.info.get("overrides", [])}
    return json.dumps(document, sort_keys=True)


def _matrix_order(run: InputRun) -> dict[str, int]:
    """Job id → position in the suite's whole job matrix."""
    suite = build_suite(  # its models were checked when it ran; merge needs no torch
        run.info["suite"],
        str(run.run.info_path),
        overrides=run.info.get("overrides", []),
        fit=False,
    )
    return {job.job_id: index for index, job in enumerate(suite.jobs)}


def _job_sources(inputs: Sequence[InputRun]) -> dict[str, InputRun]:
    """Each job (planned or recorded) → the input it is taken from; a job whose records
    differ between two inputs is a ``BenchError``."""
    sources: dict[str, InputRun] = {}
    for run in inputs:
        planned = [job["job_id"] for job in run.info.get("jobs", [])]
        for job_id in dict.fromkeys([*planned, *run.records]):
            earlier = sources.get(job_id)
            if earlier is None or not earlier.records.get(job_id):
                sources[job_id] = run
            elif run.records.get(job_id) and run.records[job_id] != earlier.records[job_id]:
                raise BenchError(
                    f"job {job_id} is in both {earlier.path} and {run.path} with different "
                    "records; give only one of them"
                )
    return sources


def _prepare(out: Path) -> None:
    """``out`` must be new or an empty directory."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BenchError(f"--out {out}: already exists and is not an empty directory")
    output_dir(out)


def _run_info(
    inputs: Sequence[InputRun], jobs: Sequence[str], command: Sequence[str]
) -> dict[str, Any]:
    first = inputs[0].info
    planned: dict[str, Mapping[str, Any]] = {}
    for run in inputs:
        for job in run.info.get("jobs", []):
            planned.setdefault(job["job_id"], job)
    return {
        "created_utc": utc_now(),
        "command": list(command),
        "suite": first["suite"],
        "overrides": first.get("overrides", []),
        "environment": first.get("environment", {}),
        "environments": _distinct_entries(e for run in inputs for e in _environments(run)),
        "jobs": [planned.get(job_id) or _planned_from_records(job_id, inputs) for job_id in jobs],
    }


def _environments(run: InputRun) -> list[dict[str, Any]]:
    """The environments a run was measured in: its own, or its inputs' if it is a merge."""
    if "environments" in run.info:
        return list(run.info["environments"])
    info = run.info
    entry = {
        "run_id": info.get("run_id") or run.path.name,
        "shard": info.get("shard"),
        "created_utc": info.get("created_utc"),
        "command": info.get("command", []),
        "environment": info.get("environment", {}),
    }
    return [{**entry, "doctor": info["doctor"]} if "doctor" in info else entry]


def _distinct_entries(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``entries`` without repeats (a run and its copy were measured once)."""
    unique = {json.dumps(entry, sort_keys=True, default=str): entry for entry in entries}
    return list(unique.values())


def _planned_from_records(job_id: str, inputs: Sequence[InputRun]) -> dict[str, Any]:
    record = next(run.records[job_id][-1] for run in inputs if run.records.get(job_id))
    return {k: record.get(k) for k in ("job_id", "model", "seed", "variant")}
