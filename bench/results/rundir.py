"""Run directories: ``run.json``, ``records.jsonl`` appended as records happen, derived CSVs.

Every record line is written with flush + fsync as soon as it exists; derived files are
replaced atomically (write a temporary file, then ``os.replace``). A run killed at any moment
keeps valid JSON lines, and ``--resume`` finishes the jobs whose last record is not final.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError
from bench.results.records import (
    FINISHED_STATUSES,
    RESULT_COLUMNS,
    SCHEMA_VERSION,
    EpochRecord,
    JobRecord,
    to_json_dict,
)

RUN_FILE = "run.json"
RECORDS_FILE = "records.jsonl"
RESULTS_FILE = "results.csv"
EPOCHS_FILE = "epochs.csv"


def utc_now() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that readers see the old or the new file, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def new_run_dir(root: Path, machine: str, suite: str, commit: str | None) -> Path:
    """``root/<machine>/<NNNN>_<suite>_<git-short>_<utc>/``, numbered after the last one."""
    parent = root / machine
    parent.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in parent.iterdir() if (m := re.match(r"(\d{4})_", p.name))]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    safe_suite = re.sub(r"[^A-Za-z0-9.-]+", "-", suite).strip("-") or "suite"
    name = f"{max(numbers, default=0) + 1:04d}_{safe_suite}_{(commit or 'nogit')[:8]}_{stamp}"
    path = parent / name
    path.mkdir()
    return path


class RunStore:
    """One run directory: appends records and rewrites the derived tables."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, path: Path, run_info: Mapping[str, Any]) -> RunStore:
        """Write ``run.json`` into the new directory ``path``."""
        info = {"schema_version": SCHEMA_VERSION, "run_id": path.name, **run_info}
        write_atomic(path / RUN_FILE, json.dumps(info, indent=2, default=str) + "\n")
        (path / RECORDS_FILE).touch()
        return cls(path)

    @classmethod
    def open(cls, path: Path) -> RunStore:
        """An existing run directory, for resume; a missing one is a user error."""
        if not (path / RUN_FILE).is_file():
            raise BenchError(f"--resume {path}: not a run directory (no {RUN_FILE})")
        return cls(path)

    def run_info(self) -> dict[str, Any]:
        """The contents of ``run.json``."""
        try:
            return json.loads((self.path / RUN_FILE).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise BenchError(f"{self.path / RUN_FILE}: cannot read: {err}") from None

    def append(self, record: EpochRecord | JobRecord) -> None:
        """Append one record line, flushed and fsynced before returning."""
        line = json.dumps(to_json_dict(record), separators=(",", ":"), allow_nan=False)
        with (self.path / RECORDS_FILE).open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if isinstance(record, JobRecord):
            self.write_tables()

    def save_array(self, job_id: str, name: str, array: np.ndarray) -> None:
        """Keep ``array`` as ``artifacts/<job_id>/<name>.npy`` (atomically)."""
        folder = self.path / "artifacts" / job_id
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{name}.npy.tmp"
        with tmp.open("wb") as handle:
            np.save(handle, array)
        os.replace(tmp, folder / f"{name}.npy")

    def save_text(self, relative: str, text: str) -> None:
        """Keep ``text`` as ``<run_dir>/<relative>`` (atomically)."""
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)

    def records(self) -> list[dict[str, Any]]:
        """Every complete record line (a line cut by a kill is ignored)."""
        return list(read_records(self.path / RECORDS_FILE))

    def finished_job_ids(self) -> set[str]:
        """Jobs whose last job record has a final status."""
        return {
            j["job_id"] for j in latest_jobs(self.records()) if j["status"] in FINISHED_STATUSES
        }

    def write_tables(self) -> None:
        """Rewrite ``results.csv`` and ``epochs.csv`` from the records, atomically."""
        records = self.records()
        write_atomic(self.path / RESULTS_FILE, to_csv(latest_jobs(records), RESULT_COLUMNS))
        epochs = latest_epochs(records)
        columns = [k for k in epochs[0] if k not in ("type", "schema_version")] if epochs else []
        write_atomic(self.path / EPOCHS_FILE, to_csv(epochs, columns))


def read_records(path: Path) -> Iterable[dict[str, Any]]:
    """Parsed lines of a ``records.jsonl``; a truncated last line is skipped."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                return
            yield json.loads(line)


def latest_jobs(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The last job record of each job, in the order jobs first appear."""
    jobs: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.get("type") == "job":
            jobs[record["job_id"]] = dict(record)
    return list(jobs.values())


def latest_epochs(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Epoch records of each job's latest attempt (a resumed job's earlier epochs are dropped).

    An attempt never repeats a (phase, epoch) pair, so seeing one again starts a new attempt.
    """
    attempts: dict[str, dict[tuple[str, int], dict[str, Any]]] = {}
    for record in records:
        if record.get("type") != "epoch":
            continue
        current = attempts.setdefault(record["job_id"], {})
        key = (record["phase"], record["epoch"])
        if key in current:
            current.clear()
        current[key] = dict(record)
    return [r for attempt in attempts.values() for r in attempt.values()]


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Iterable[str]) -> str:
    """Rows as CSV text with the given columns (lists and dicts as JSON)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in row.items()}
        )
    return buffer.getvalue()
