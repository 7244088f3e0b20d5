"""Run directories read into DataFrames for reporting: one row per job, one row per epoch.

Only files are read (``run.json``, ``records.jsonl``, telemetry CSVs, ``.npy`` artifacts);
nothing here imports torch. Jobs are grouped by suite, data set, model and variant: a group
is one line of the report's tables (seeds aggregated) and one section of the HTML page.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.results.records import JobRecord
from bench.results.rundir import RECORDS_FILE, RUN_FILE, latest_epochs, latest_jobs, read_records

MISSING_STATUS = "missing"
_EXTRA_FIELDS = (
    "published_top5",
    "published_source",
    "paper_top5",
    "classes",
    "images_per_s_per_process",
)
_JOB_FIELDS = tuple(f.name for f in dataclasses.fields(JobRecord))
_NUMERIC_FIELDS = [
    *(
        f.name
        for f in dataclasses.fields(JobRecord)
        if re.fullmatch(r"(int|float) \| None", str(f.type))
    ),
    "published_top5",
    "paper_top5",
    "images_per_s_per_process",
]


@dataclass(frozen=True)
class Run:
    """One run directory and what it holds."""

    path: Path
    info: dict[str, Any]
    jobs: list[dict[str, Any]]
    epochs: list[dict[str, Any]]

    @property
    def run_id(self) -> str:
        return str(self.info.get("run_id") or self.path.name)

    @property
    def suite_name(self) -> str:
        return str(self.info.get("suite", {}).get("name") or "")

    @property
    def environment(self) -> dict[str, Any]:
        return dict(self.info.get("environment") or {})

    def telemetry_path(self, job_id: str) -> Path:
        return self.path / "telemetry" / f"{job_id}.csv"

    def artifact_path(self, job_id: str, name: str) -> Path:
        return self.path / "artifacts" / job_id / f"{name}.npy"


def load_run(path: Path) -> Run:
    """Read a run directory; a path that is not one is a one-line ``BenchError``."""
    if not path.exists():
        raise BenchError(f"{path}: no such run directory")
    if not (path / RUN_FILE).is_file():
        raise BenchError(f"{path}: not a run directory (no {RUN_FILE})")
    try:
        info = json.loads((path / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BenchError(f"{path / RUN_FILE}: cannot read: {err}") from None
    if not isinstance(info, dict):
        raise BenchError(f"{path / RUN_FILE}: not a JSON object")
    try:
        records = list(read_records(path / RECORDS_FILE))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BenchError(f"{path / RECORDS_FILE}: cannot read: {err}") from None
    return Run(path=path, info=info, jobs=latest_jobs(records), epochs=latest_epochs(records))


def load_runs(paths: list[Path]) -> list[Run]:
    """Each distinct run directory of ``paths``, in order."""
    seen: set[Path] = set()
    runs = []
    for path in paths:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            runs.append(load_run(path))
    return runs


def job_frame(runs: list[Run]) -> pd.DataFrame:
    """One row per job: the job record's fields, ``extra`` facts, ``run_id`` and ``group``.

    Jobs planned in ``run.json`` without any job record get status ``missing``.
    """
    rows: list[dict[str, Any]] = []
    for index, run in enumerate(runs):
        recorded = {job["job_id"] for job in run.jobs}
        for job in run.jobs:
            extra = job.get("extra") or {}
            row = {
                **{k: job.get(k) for k in _JOB_FIELDS},
                **{k: extra.get(k) for k in _EXTRA_FIELDS},
            }
            rows.append({**row, "run": index, "run_id": run.run_id})
        for planned in run.info.get("jobs", []):
            if planned.get("job_id") not in recorded:
                rows.append(_missing_job(planned, run, index))
    columns = [*_JOB_FIELDS, *_EXTRA_FIELDS, "run", "run_id"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["variant"] = frame["variant"].fillna("")
    frame["dataset"] = frame["dataset"].fillna("")
    frame[_NUMERIC_FIELDS] = frame[_NUMERIC_FIELDS].apply(pd.to_numeric, errors="coerce")
    return _add_groups(frame)


def _missing_job(planned: dict[str, Any], run: Run, index: int) -> dict[str, Any]:
    dataset = run.info.get("suite", {}).get("dataset") or {}
    return {
        "job_id": planned.get("job_id"),
        "suite": run.suite_name,
        "dataset": dataset.get("name", ""),
        "model": planned.get("model"),
        "seed": planned.get("seed"),
        "variant": planned.get("variant") or "",
        "status": MISSING_STATUS,
        "error": "no job record (not run yet, or killed before its first record)",
        "run": index,
        "run_id": run.run_id,
    }


def _add_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``network`` (model and variant) and ``group`` (a unique label per table line).

    Suite and data set join the label only where the report holds more than one of them.
    """
    frame["network"] = frame["model"].astype(str) + frame["variant"].map(
        lambda v: f" ({v})" if v else ""
    )
    recorded = frame["status"] != MISSING_STATUS
    parts = [c for c in ("suite", "dataset") if frame.loc[recorded, c].nunique() > 1]
    context = frame[parts].astype(str).agg(", ".join, axis=1) if parts else None
    frame["group"] = frame["network"] + (" [" + context + "]" if context is not None else "")
    return frame


def epoch_frame(runs: list[Run], jobs: pd.DataFrame) -> pd.DataFrame:
    """Epoch records of jobs that ended ``ok``, with their job's ``network`` and ``group``."""
    frames = [pd.DataFrame(run.epochs).assign(run=index) for index, run in enumerate(runs)]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=["run", "job_id", "phase", "epoch", "network", "group"])
    epochs = pd.concat(frames, ignore_index=True)
    ok = jobs.loc[jobs["status"] == "ok", ["run", "job_id", "network", "group"]]
    return epochs.merge(ok, on=["run", "job_id"], how="inner")


def read_telemetry(path: Path) -> pd.DataFrame | None:
    """A telemetry CSV, or ``None`` where the job has none (CPU runs, no NVML)."""
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise BenchError(f"{path}: cannot read telemetry: {err}") from None
    return frame if not frame.empty and "time_s" in frame else None


def read_array(path: Path) -> np.ndarray | None:
    """An ``.npy`` artifact (never pickled objects), or ``None`` where it is absent."""
    if not path.is_file():
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise BenchError(f"{path}: cannot read array: {err}") from None


def slug(text: str) -> str:
    """A file-name-safe form of ``text``."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower() or "x"


def unique_slugs(labels: Iterable[str]) -> dict[str, str]:
    """A distinct file-name-safe slug for each label."""
    slugs: dict[str, str] = {}
    for label in labels:
        base = candidate = slug(label)
        count = 1
        while candidate in slugs.values():
            count += 1
            candidate = f"{base}-{count}"
        slugs[label] = candidate
    return slugs
