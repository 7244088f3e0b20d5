"""Runs as DataFrames for reporting: one row per job, one row per epoch.

Jobs are grouped by suite, data set, model and variant: a group is one line of the report's
tables (seeds aggregated) and one section of the HTML page. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from bench.results.records import INFERENCE_COLUMNS, InferenceRow, JobRecord
from bench.results.rundir import Run

MISSING_STATUS = "missing"
_EXTRA_FIELDS = (
    "published_top5",
    "published_source",
    "paper_top5",
    "classes",
    "images_per_s_per_process",
    "flops_per_mac",
    "roofline",
    "traced_steps",
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
    "flops_per_mac",
]

INFERENCE_NUMBERS = [
    f.name
    for f in dataclasses.fields(InferenceRow)
    if re.fullmatch(r"(int|float)( \| None)?", str(f.type))
]


def job_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per job: the job record's fields, ``extra`` facts, ``run_id`` and ``group``.

    Jobs a run planned without any job record get status ``missing``.
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
        for planned in run.planned_jobs():
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
        "error": f"skipped: {planned['skipped']}"
        if planned.get("skipped")
        else "no job record (not run yet, or killed before its first record)",
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


def epoch_frame(runs: Sequence[Run], jobs: pd.DataFrame) -> pd.DataFrame:
    """Epoch records of jobs that ended ``ok``, with their job's ``network`` and ``group``."""
    frames = [pd.DataFrame(list(run.epochs)).assign(run=index) for index, run in enumerate(runs)]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=["run", "job_id", "phase", "epoch", "network", "group"])
    epochs = pd.concat(frames, ignore_index=True)
    ok = jobs.loc[jobs["status"] == "ok", ["run", "job_id", "network", "group"]]
    return epochs.merge(ok, on=["run", "job_id"], how="inner")


def inference_frame(runs: Sequence[Run], jobs: pd.DataFrame) -> pd.DataFrame:
    """Inference rows (``ok`` and ``oom``) of jobs that ended ok, with their job's ``group``;
    the figures as numbers."""
    frames = [pd.DataFrame(list(run.inference)).assign(run=i) for i, run in enumerate(runs)]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=["run", "job_id", *INFERENCE_COLUMNS, "group"])
    rows = pd.concat(frames, ignore_index=True)
    ok = jobs.loc[jobs["status"] == "ok", ["run", "job_id", "group"]]
    rows = rows.merge(ok, on=["run", "job_id"], how="inner")
    numeric = [c for c in INFERENCE_NUMBERS if c in rows]
    rows[numeric] = rows[numeric].apply(pd.to_numeric, errors="coerce")
    return rows


def slug(text: str) -> str:
    """A file-name-safe form of ``text``."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower() or "x"


def group_slugs(jobs: pd.DataFrame) -> dict[str, str]:
    """The file-name slug of each recorded job group (``job_frame``'s ``group``), as the
    report names its figures of one group (``reconstructions_<slug>``)."""
    return unique_slugs(jobs.loc[jobs["status"] != MISSING_STATUS, "group"].unique())


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
