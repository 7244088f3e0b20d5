"""The run directory: its layout, and the one module that reads and writes it.

```
<run_dir>/
  run.json                        what ran, where and with what (schema_version, suite, environment,
                                  the planned jobs); written once, atomically
  records.jsonl                   one JSON record per line (epoch and job records), each appended
                                  with flush + fsync as soon as it exists
  records.jsonl.torn              last lines left unterminated by a killed writer, cut off before
                                  the next append and kept here (never read)
  results.csv, epochs.csv         one row per job / per epoch of each job's latest attempt;
                                  derived from the records, replaced atomically
  inference.csv                   one row per inference measurement of each job (model ×
                                  precision × batch size), from the job records; written
                                  where a job measured inference
  results.parquet, epochs.parquet,
  inference.parquet               the same tables, typed (``bench.results.columns``)
  telemetry/<job_id>.csv          a job's GPU telemetry samples
  artifacts/<job_id>/<name>.npy   arrays for the report (plain arrays, never pickled objects)
  compare.md, compare.json,       the comparison with a baseline (``bench run --baseline``), as
  compare.junit.xml               Markdown, JSON and JUnit XML; replaced atomically
  traces/<job_id>/rank0.pt.trace.json.gz
                                  a traced job's Chrome trace (``--trace``, gzipped JSON), one
                                  folder per job as TensorBoard's profiler plugin and
                                  HolisticTraceAnalysis look for them (docs/integrations.md);
                                  runs before this layout kept ``traces/<job_id>.json.gz``,
                                  ``<job_id>_ops.csv`` and ``<job_id>_modules.csv``
  traces/<job_id>/operators.csv   its top operators by self time, per traced step
  traces/<job_id>/modules.csv     its top-level modules' forward time, per traced step
  tensorboard/<job_id>/events.*   a finished job's epoch scalars and hparams (TensorBoard event
                                  file, from its records; bench.export.tensorboard_events)
```

A run killed at any moment keeps valid record lines: readers skip an unterminated last line,
and the writer moves it to ``records.jsonl.torn`` before its first append, so ``--resume``
finishes the jobs whose last record is not final (docs/reliability.md). Everything read here is
untrusted: a missing, foreign, damaged or newer run directory is a one-line ``BenchError``
naming the file, and job ids must be plain names before they become paths. Nothing is read
through a symbolic link that leads out of the run directory (a one-line ``BenchError``), and a
file that cannot be read (permissions) is one too. A file that cannot be written (read-only
folder, disk full) is a ``WriteError`` naming it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import io
import json
import os
import random
import re
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from bench.errors import BenchError, WriteError, first_line, os_error_line, os_errors
from bench.results.atomic import write_atomic
from bench.results.checks import (
    EPOCH_FIELDS,
    JOB_FIELDS,
    MODULE_FIELDS,
    OPERATOR_FIELDS,
    TELEMETRY_FIELDS,
    Field,
    Fields,
    check_distinct_seeds,
    check_fields,
    check_tree,
    checked_csv,
    parse_json,
)
from bench.results.columns import (
    EPOCH_COLUMNS,
    INFERENCE_TABLE_COLUMNS,
    JOB_COLUMNS,
    Column,
    arrow_table,
    csv_text,
    parquet_bytes,
    table_rows,
)
from bench.results.records import (
    FINISHED_STATUSES,
    SCHEMA_VERSION,
    EpochRecord,
    JobRecord,
    to_json_dict,
)
from bench.text_table import file_name_part

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

RUN_FILE = "run.json"
RECORDS_FILE = "records.jsonl"
TORN_FILE = "records.jsonl.torn"
RESULTS_FILE = "results.csv"
TABLES: Mapping[str, tuple[Column, ...]] = {
    "results": JOB_COLUMNS,
    "epochs": EPOCH_COLUMNS,
    "inference": INFERENCE_TABLE_COLUMNS,
}
"""The tables a run directory keeps, each as ``NAME.csv`` and ``NAME.parquet``, by name."""
TELEMETRY_DIR = "telemetry"
ARTIFACTS_DIR = "artifacts"
COMPARISON_FILES: Mapping[str, str] = {
    "md": "compare.md",
    "json": "compare.json",
    "junit": "compare.junit.xml",
}
"""The comparison with a baseline, by format."""
TRACES_DIR = "traces"
TRACE_FILE = "rank0.pt.trace.json.gz"
"""A job's Chrome trace in its folder: the profiler plugin finds ``*.pt.trace.json.gz`` (the part
before it names the worker); only rank 0 keeps its trace."""
TENSORBOARD_DIR = "tensorboard"

_JOB_ID = re.compile(r"[A-Za-z0-9_+=-][A-Za-z0-9_.+=-]*")
_INFO_FIELDS: Fields = {
    "schema_version": Field(int, minimum=1),
    "run_id": Field(str),
    "created_utc": Field(str),
    "suite": Field(dict),
    "overrides": Field(list, item=Field(str)),
    "environment": Field(dict),
    "environments": Field(list, item=Field(dict)),
    "jobs": Field(
        list,
        item=Field(dict, fields={"job_id": Field(str, required=True), "skipped": Field(str)}),
    ),
    "command": Field(list),
    "shard": Field(str),
    "history_db": Field(str),
}
"""The fields of ``run.json`` that readers use; each may be absent (or null)."""
# the fields of each type of record
_RECORD_FIELDS = {"epoch": EPOCH_FIELDS, "job": JOB_FIELDS}


def new_run_dir(root: Path, machine: str, suite: str, commit: str | None) -> Path:
    """``root/<machine>/<NNNN>_<suite>_<git-short>_<utc>/``, numbered after the last one.

    Processes may call this at once (shards of a suite, on one machine or on a shared file
    system): each creates its directory, then gives its number up and tries again, after a
    random pause, if another directory holds the same number. No two runs share a number; one
    given up by every process that tried it at once stays unused.
    """
    parent = root / machine
    with _writing(parent):
        parent.mkdir(parents=True, exist_ok=True)
    safe_suite = file_name_part(suite, "suite")
    while True:
        number = max(_run_numbers(parent), default=0) + 1
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = parent / f"{number:04d}_{safe_suite}_{(commit or 'nogit')[:8]}_{stamp}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as err:
            raise WriteError(os_error_line(path, "write", err)) from None
        if _run_numbers(parent).count(number) == 1:
            return path
        path.rmdir()
        time.sleep(random.uniform(0.0, 0.05))


def _run_numbers(parent: Path) -> list[int]:
    """The number of each run directory in ``parent``."""
    return [int(m.group(1)) for p in parent.iterdir() if (m := re.match(r"(\d{4})_", p.name))]


@dataclass(frozen=True)
class Run:
    """What a run directory holds, read once: ``run.json``, every record line, and each job's
    latest job record and latest attempt's epoch records."""

    path: Path
    info: Mapping[str, Any]
    records: tuple[dict[str, Any], ...]
    jobs: tuple[dict[str, Any], ...]
    epochs: tuple[dict[str, Any], ...]
    _telemetry: dict[str, pd.DataFrame | None] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def run_id(self) -> str:
        return str(self.info.get("run_id") or self.path.name)

    @property
    def suite_name(self) -> str:
        return str(self.info.get("suite", {}).get("name") or "")

    @property
    def environment(self) -> dict[str, Any]:
        return dict(self.info.get("environment") or {})

    @property
    def info_path(self) -> Path:
        """The file ``info`` was read from (named in messages about its fields)."""
        return self.path / RUN_FILE

    @property
    def results_csv(self) -> Path:
        """The table of job results."""
        return self.path / RESULTS_FILE

    @property
    def comparison(self) -> Path | None:
        """The Markdown comparison with a baseline, where the run was judged against one."""
        path = self.path / COMPARISON_FILES["md"]
        return path if member_file(self.path, path) else None

    def required(self, dotted: str, kind: type = dict, needed: bool = True) -> Any:
        """The ``run.json`` field ``a.b`` of JSON type ``kind`` (``None`` where it is absent
        and not ``needed``); a ``BenchError`` naming the file and field where it is missing or
        of another type."""
        value: Any = self.info
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        problem = Field(kind, required=needed).problem(value)
        if problem is not None:
            raise BenchError(f"{self.info_path}: field '{dotted}' {problem}")
        return value

    def finished_job_ids(self) -> set[str]:
        """Jobs whose last job record has a final status."""
        return {j["job_id"] for j in self.jobs if j["status"] in FINISHED_STATUSES}

    @property
    def inference(self) -> tuple[dict[str, Any], ...]:
        """The inference rows of each job's latest record, after the job's identity fields."""
        return tuple(
            {**{k: job.get(k) for k in ("job_id", "suite", "seed", "variant")}, **row}
            for job in self.jobs
            for row in job.get("inference") or ()
        )

    def planned_jobs(self) -> list[dict[str, Any]]:
        """The jobs ``run.json`` plans (each with a ``job_id``)."""
        return list(self.info.get("jobs", []))

    def telemetry(self, job_id: str) -> pd.DataFrame | None:
        """A job's telemetry samples (``TELEMETRY_FIELDS``, checked; read once), or ``None``
        where it has none (CPU runs, no NVML)."""
        import pandas as pd

        if job_id not in self._telemetry:
            path = self.path / TELEMETRY_DIR / f"{_checked_job_id(job_id, str(self.path))}.csv"
            rows = _checked_table(self.path, path, TELEMETRY_FIELDS, "telemetry")
            self._telemetry[job_id] = pd.DataFrame(rows) if rows else None
        return self._telemetry[job_id]

    def has_telemetry(self) -> bool:
        """Whether any job of the run kept telemetry."""
        return (self.path / TELEMETRY_DIR).is_dir()

    def trace_tables(self, job_id: str) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        """A traced job's operator and module tables, or ``None`` where it was not traced."""
        import pandas as pd

        paths = trace_paths(self.path / TRACES_DIR, _checked_job_id(job_id, str(self.path)))
        if not member_file(self.path, paths.operators):
            paths = legacy_trace_paths(self.path / TRACES_DIR, job_id)
            if not member_file(self.path, paths.operators):
                return None
        tables = []
        for path, fields in ((paths.operators, OPERATOR_FIELDS), (paths.modules, MODULE_FIELDS)):
            rows = _checked_table(self.path, path, fields, "trace table", required=True)
            tables.append(pd.DataFrame(rows, columns=list(fields)))
        return tables[0], tables[1]

    def artifact(self, job_id: str, name: str) -> np.ndarray | None:
        """A job's array ``name``, or ``None`` where it is absent."""
        import numpy as np

        path = self.path / ARTIFACTS_DIR / job_id / f"{name}.npy"
        if not member_file(self.path, path):
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise BenchError(f"{path}: cannot read array: {first_line(err)}") from None


class RunDir:
    """One run directory: creates it, appends records and files, and reads it back."""

    def __init__(self, path: Path, info: Mapping[str, Any]) -> None:
        self.path = path
        self.info = info
        self._tail_checked = False

    @classmethod
    def create(cls, path: Path, info: Mapping[str, Any]) -> RunDir:
        """Write ``run.json`` (with ``schema_version`` and ``run_id``) into the new directory
        ``path`` and an empty ``records.jsonl``."""
        full = {"schema_version": SCHEMA_VERSION, "run_id": path.name, **info}
        write_atomic(path / RUN_FILE, json.dumps(full, indent=2, default=str) + "\n")
        with _writing(path / RECORDS_FILE):
            (path / RECORDS_FILE).touch()
        return cls(path, full)

    @classmethod
    def open(cls, path: Path) -> RunDir:
        """An existing run directory with a readable ``run.json`` this bench understands."""
        with _reading(path):
            if not path.is_dir():
                raise BenchError(f"{path}: no such run directory")
        run_file = path / RUN_FILE
        if not member_file(path, run_file):
            raise BenchError(f"{path}: not a run directory (no {RUN_FILE})")
        try:
            info = parse_json(run_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise BenchError(f"{run_file}: cannot read: {first_line(err)}") from None
        return cls(path, _checked_info(check_tree(info, str(run_file)), run_file))

    @overload
    def append(self, record: EpochRecord) -> None: ...
    @overload
    def append(self, record: JobRecord) -> Run: ...
    def append(self, record: EpochRecord | JobRecord) -> Run | None:
        """Append one record line, flushed and fsynced before returning; after a job record,
        rewrite the tables and return the run as read for them (``None`` after an epoch)."""
        line = json.dumps(to_json_dict(record), separators=(",", ":"), allow_nan=False)
        self.cut_torn_tail()
        path = self.path / RECORDS_FILE
        with _writing(path):
            _append_line(path, line)
        return self.write_tables() if isinstance(record, JobRecord) else None

    def write_records(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Replace ``records.jsonl`` with ``records`` (atomically), e.g. when merging runs."""
        lines = (json.dumps(dict(r), separators=(",", ":"), allow_nan=False) for r in records)
        write_atomic(self.path / RECORDS_FILE, "".join(f"{line}\n" for line in lines))

    def save_array(self, job_id: str, name: str, array: np.ndarray) -> None:
        """Keep ``array`` as the job's artifact ``name`` (atomically)."""
        import numpy as np

        folder = self.path / ARTIFACTS_DIR / _checked_job_id(job_id, str(self.path))
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        with _writing(folder):
            folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / f"{name}.npy", buffer.getvalue())

    def save_telemetry(self, job_id: str, text: str) -> None:
        """Keep a job's telemetry CSV text (atomically)."""
        path = self.path / TELEMETRY_DIR / f"{_checked_job_id(job_id, str(self.path))}.csv"
        with _writing(path):
            path.parent.mkdir(exist_ok=True)
            write_atomic(path, text)

    def save_comparison(self, texts: Mapping[str, str]) -> Path:
        """Keep the comparison with a baseline in each format of ``texts`` (keys of
        ``COMPARISON_FILES``), atomically; returns the Markdown file."""
        for kind, text in texts.items():
            write_atomic(self.path / COMPARISON_FILES[kind], text)
        return self.path / COMPARISON_FILES["md"]

    def save_trace(self, job_id: str, files: TraceFiles) -> None:
        """Keep a traced job's Chrome trace and tables (each atomically)."""
        name = _checked_job_id(job_id, str(self.path))
        with _writing(self.path / TRACES_DIR / name):
            save_trace_files(self.path / TRACES_DIR, name, files)

    def copy_job_files(self, source: Path, job_id: str) -> None:
        """The job's artifacts, telemetry and trace from the run directory ``source``, where it
        has them, copied as plain files (a link out of ``source`` is refused)."""
        for path in job_files(source, job_id):
            target = self.path / path.relative_to(source)
            with _writing(target):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)

    def records(self) -> list[dict[str, Any]]:
        """Every complete record line, checked (a last line cut by a kill is ignored)."""
        path = self.path / RECORDS_FILE
        return list(_read_records(path)) if member_file(self.path, path) else []

    def read(self) -> Run:
        """The whole run as it stands now."""
        records = tuple(self.records())
        return Run(
            self.path,
            self.info,
            records,
            tuple(latest_jobs(records, str(self.path / RECORDS_FILE))),
            tuple(latest_epochs(records)),
        )

    def finished_job_ids(self) -> set[str]:
        """Jobs whose last job record has a final status."""
        return self.read().finished_job_ids()

    def write_tables(self, run: Run | None = None) -> Run:
        """Rewrite the ``TABLES`` (results, epochs and, where some job measured inference,
        inference) from the records, each as CSV and Parquet, atomically; the run they came
        from."""
        run = run or self.read()
        for name, rows in run_tables(run).items():
            if name == "inference" and not rows:
                continue
            columns = TABLES[name]
            where = str(self.path / f"{name}.parquet")
            files: dict[str, str | bytes] = {
                f"{name}.csv": csv_text(rows, columns),
                f"{name}.parquet": parquet_bytes(arrow_table(rows, columns, where)),
            }
            for file, content in files.items():
                write_atomic(self.path / file, content)
        return run

    def cut_torn_tail(self) -> str | None:
        """Cut a last line left unterminated by a killed writer, so that the next record starts
        on a line of its own, keeping the fragment at the end of ``records.jsonl.torn``; a line
        saying so, or ``None`` where the last line is whole. Checked once per opened directory,
        before its first append."""
        if self._tail_checked:
            return None
        self._tail_checked = True
        path, torn = self.path / RECORDS_FILE, _inside(self.path, self.path / TORN_FILE)
        if not path.is_file():
            return None
        with _writing(path), path.open("rb+") as handle:
            data = handle.read()
            whole = data.rfind(b"\n") + 1
            if whole == len(data):
                return None
            with _writing(torn), torn.open("ab") as kept:
                kept.write(data[whole:] + b"\n")
                kept.flush()
                os.fsync(kept.fileno())
            handle.truncate(whole)
            handle.flush()
            os.fsync(handle.fileno())
        return (
            f"{path}: cut off its unterminated last line ({len(data) - whole} bytes, left by a "
            f"killed run) and kept it in {torn}"
        )


@dataclass(frozen=True)
class TraceFiles:
    """What a trace keeps: the gzipped Chrome trace and the two tables as CSV text."""

    chrome_trace_gz: bytes
    operators_csv: str
    modules_csv: str


@dataclass(frozen=True)
class TracePaths:
    """Where a trace named ``name`` lies in a folder of traces."""

    chrome_trace: Path
    operators: Path
    modules: Path


def trace_paths(folder: Path, name: str) -> TracePaths:
    """The files of trace ``name`` under ``folder``: a folder of their own, ``folder/name``."""
    own = folder / name
    return TracePaths(own / TRACE_FILE, own / "operators.csv", own / "modules.csv")


def legacy_trace_paths(folder: Path, name: str) -> TracePaths:
    """Where runs before the folder per trace kept trace ``name`` (read, never written)."""
    return TracePaths(
        folder / f"{name}.json.gz", folder / f"{name}_ops.csv", folder / f"{name}_modules.csv"
    )


def save_trace_files(folder: Path, name: str, files: TraceFiles) -> TracePaths:
    """Write trace ``name`` into ``folder/name`` (created where missing), each file atomically;
    used for a run's jobs and for ``bench profile --trace``."""
    paths = trace_paths(folder, name)
    paths.chrome_trace.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(paths.chrome_trace, files.chrome_trace_gz)
    write_atomic(paths.operators, files.operators_csv)
    write_atomic(paths.modules, files.modules_csv)
    return paths


def run_tables(run: Run) -> dict[str, list[dict[str, Any]]]:
    """The rows of each of the ``TABLES`` of ``run``, by table name."""
    records = {"results": run.jobs, "epochs": run.epochs, "inference": run.inference}
    return {name: table_rows(records[name], columns) for name, columns in TABLES.items()}


def read_runs(paths: Sequence[Path]) -> list[Run]:
    """Each distinct run directory of ``paths``, read, in order, with the files beside its
    records (each job's ``job_files`` and telemetry, the comparison) checked before anything
    is made of them."""
    distinct: dict[Path, Path] = {}
    for path in paths:
        distinct.setdefault(path.resolve(), path)
    runs = [RunDir.open(path).read() for path in distinct.values()]
    for run in runs:
        member_file(run.path, run.path / COMPARISON_FILES["md"])
        for job_id in dict.fromkeys(record["job_id"] for record in run.records):
            job_files(run.path, job_id)
            run.telemetry(job_id)
    return runs


def job_files(run_dir: Path, job_id: str) -> list[Path]:
    """The files a job of ``run_dir`` keeps beside its records (artifacts, telemetry, trace)
    that are there, each checked by ``member_file``: readable, and no link out of ``run_dir``."""
    job_id = _checked_job_id(job_id, str(run_dir))
    artifacts = run_dir / ARTIFACTS_DIR / job_id
    with _reading(artifacts):
        found = sorted(_inside(run_dir, artifacts).iterdir()) if artifacts.is_dir() else []
    candidates = [
        *(_inside(run_dir, path) for path in found),
        run_dir / TELEMETRY_DIR / f"{job_id}.csv",
        *dataclasses.astuple(trace_paths(run_dir / TRACES_DIR, job_id)),
        *dataclasses.astuple(legacy_trace_paths(run_dir / TRACES_DIR, job_id)),
    ]
    return [path for path in candidates if member_file(run_dir, path)]


def latest_jobs(records: Iterable[Mapping[str, Any]], where: str) -> list[dict[str, Any]]:
    """The last job record of each job, in the order jobs first appear; two jobs of one model,
    variant and seed (a seed counted twice) are a ``BenchError`` naming ``where``."""
    jobs: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.get("type") == "job":
            jobs[record["job_id"]] = dict(record)
    check_distinct_seeds(
        ((f"job {i}", j["model"], j.get("variant") or "", j["seed"]) for i, j in jobs.items()),
        where,
    )
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


def _read_records(path: Path) -> Iterable[dict[str, Any]]:
    """Checked records of a ``records.jsonl``; a last line without its newline (torn by a kill)
    is skipped, any other line that is not a record is a ``BenchError`` naming its number."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    except OSError as err:
        raise BenchError(os_error_line(path, "read", err)) from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.endswith(b"\n"):
                return
            yield _checked_record(line, f"{path}: line {number}")


def _checked_record(line: bytes, where: str) -> dict[str, Any]:
    try:
        record = parse_json(line.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError included
        raise BenchError(f"{where}: not a JSON record") from None
    kind = record.get("type") if isinstance(record, dict) else None
    if not isinstance(kind, str) or kind not in _RECORD_FIELDS:
        raise BenchError(f"{where}: not a bench record (type must be 'epoch' or 'job')")
    check_fields(check_tree(record, where), _RECORD_FIELDS[kind], where)
    _checked_job_id(record["job_id"], where)
    return record


def _checked_info(info: Any, where: Path) -> dict[str, Any]:
    if not isinstance(info, dict):
        raise BenchError(f"{where}: not a JSON object")
    version_field = {"schema_version": _INFO_FIELDS["schema_version"]}
    version = check_fields(info, version_field, str(where)).get("schema_version") or 1
    if version > SCHEMA_VERSION:
        raise BenchError(
            f"{where}: schema_version {version} is newer than this bench reads "
            f"({SCHEMA_VERSION}); upgrade bench"
        )
    check_fields(info, _INFO_FIELDS, str(where))
    for index, job in enumerate(info.get("jobs") or []):
        _checked_job_id(job["job_id"], f"{where}: field 'jobs[{index}]'")
    # a known field set to null reads as absent, so every reader's default applies
    return {k: v for k, v in info.items() if not (k in _INFO_FIELDS and v is None)}


def _checked_table(
    run_dir: Path, path: Path, fields: Fields, what: str, required: bool = False
) -> list[dict[str, Any]]:
    """The rows of the CSV table ``path`` of ``run_dir`` (``checked_csv``); none where it is
    absent, unless it is ``required`` (then a one-line ``BenchError``)."""
    if not member_file(run_dir, path) and not required:
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BenchError(f"{path}: cannot read {what}: {first_line(err)}") from None
    return checked_csv(text, fields, str(path))


def member_file(run_dir: Path, path: Path) -> bool:
    """Whether ``path``, a file of the run directory ``run_dir``, is there; a ``BenchError``
    where it cannot be read or is a symbolic link (itself or a folder on its way) leading out of
    ``run_dir``: nothing outside a run directory is read as part of it."""
    inside = _inside(run_dir, path)
    with _reading(path):
        if not inside.is_file():
            return False
        if not may_access(path, os.R_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    return True


def _inside(run_dir: Path, path: Path) -> Path:
    """``path``, where it does not lead out of ``run_dir`` through a symbolic link (a
    ``BenchError`` else); a path that does not exist leads nowhere."""
    with _reading(path):
        if path.exists() and not real_path(path).is_relative_to(real_path(run_dir)):
            raise BenchError(
                f"{path}: a symbolic link out of the run directory {run_dir}; bench reads "
                "nothing outside a run directory"
            )
    return path


def may_access(path: Path, mode: int) -> bool:
    """Whether this process may access ``path`` in ``mode`` (``os.R_OK``, ``os.W_OK``, ...),
    judged by its effective ids and capabilities, as the access itself will be."""
    return os.access(path, mode, effective_ids=os.access in os.supports_effective_ids)


def enclosing_run_dir(path: Path) -> Path | None:
    """The run directory (a folder holding ``run.json`` and ``records.jsonl``) that ``path``
    is or lies inside, symbolic links resolved; ``None`` where there is none."""
    for folder in (real := real_path(path), *real.parents):
        with contextlib.suppress(OSError):
            if (folder / RUN_FILE).is_file() and (folder / RECORDS_FILE).is_file():
                return folder
    return None


def real_path(path: Path) -> Path:
    """``path`` absolute, with every symbolic link on it resolved (where it exists)."""
    return Path(os.path.realpath(path))


def _checked_job_id(job_id: str, where: str) -> str:
    """``job_id`` if it is a plain name (it becomes a file name), else a ``BenchError``."""
    if not _JOB_ID.fullmatch(job_id):
        raise BenchError(f"{where}: job id {job_id!r} is not a plain name")
    return job_id


def _append_line(path: Path, line: str) -> None:
    """Append ``line`` and its newline to ``path``, on disk before returning."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _reading(path: Path) -> contextlib.AbstractContextManager[None]:
    """An ``OSError`` while looking at ``path`` (no permission) becomes a ``BenchError``."""
    return os_errors(path, "read")


def _writing(path: Path) -> contextlib.AbstractContextManager[None]:
    """An ``OSError`` while writing ``path`` becomes a ``WriteError`` naming it."""
    return os_errors(path, "write", WriteError)
