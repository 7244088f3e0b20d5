"""The history database (SQLite): one row per job per run, and steps in a metric's history.

Rows are keyed by machine, run id, model, variant and seed, with the commit, the run's
creation time, suite and torch version, the job's status, device, precision and batch size, and
every metric of ``bench.results.records.METRICS`` (the schema: docs/regressions.md). The file
keeps its schema's version in SQLite's ``user_version``: a database of an older version gains
the columns it lacks (every row kept, the new columns null) when a run is next recorded, and
readers see those columns as null; one of a newer version than this bench knows is refused in
one line. A series is a
metric's values for one suite, model, variant and machine, grouped by commit; commits are
ordered by their first appearance (the earliest run created at that commit).

Step detection (docs/regressions.md): with ``m_i`` the median of commit ``i`` and ``σ`` the
robust noise of the series, commit ``i`` is a step when
``|m_i − m_{i−1}| > max(min_change × |m_{i−1}|, k × σ)``. ``σ`` is 1.4826 × the median absolute
deviation of the values from their commit's median, pooled over commits with several values
(seeds or repeated runs); with one value per commit it is 1.4826 × the median of
``|m_i − m_{i−1}|`` / √2 (at least three differences needed); otherwise the relative change alone
decides.

Each run is written in one transaction, so a reader or a run recorded at the same time sees all
of its rows or none. A database SQLite finds damaged is never changed: ``record_run_results``
moves it aside and starts a new one (docs/reliability.md). Only a file that begins with SQLite's
header is ever opened, moved or written (an empty file is a new database, as SQLite takes it); an
SQLite database of something else (no bench ``jobs`` table) is refused, and readers open the
database read-only.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import sqlite3
import statistics
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.errors import BenchError, UnknownNameError, os_errors
from bench.regress.compare import relative_change
from bench.results.checks import METRIC_FIELDS, Field, Fields, check_fields
from bench.results.outputs import output_file
from bench.results.records import METRICS
from bench.results.run_results import RunResults, results_of
from bench.results.rundir import RunDir
from bench.text_table import align_columns

STEP_K = 3.0
STEP_MIN_CHANGE = 0.05
MAD_TO_SIGMA = 1.4826
"""Scales a median absolute deviation to a standard deviation (of a normal distribution)."""
# how long a writer waits for another run's transaction before giving up
_BUSY_TIMEOUT_S = 30.0
# SQLite's messages for a file that is not a database or a corrupt one (SQLITE_NOTADB, _CORRUPT)
_DAMAGE_MESSAGES = ("file is not a database", "database disk image is malformed")
SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""

SCHEMA_VERSION = 2
"""The history schema this bench writes (SQLite's ``user_version``; 0 in a file written before
the version was kept, which is version 1: no device, precision, batch size or torch version)."""
_KEY = ("machine_id", "run_id", "model", "variant", "seed")
_COLUMNS: dict[str, str] = {
    "run_id": "TEXT NOT NULL",
    "created_utc": "TEXT NOT NULL",
    "machine_id": "TEXT NOT NULL",
    "git_commit": "TEXT",
    "dirty": "INTEGER",
    "suite": "TEXT NOT NULL",
    "model": "TEXT NOT NULL",
    "variant": "TEXT NOT NULL",
    "seed": "INTEGER NOT NULL",
    "status": "TEXT NOT NULL",
    "device": "TEXT",
    "precision": "TEXT",
    "batch_size": "INTEGER",
    "torch_version": "TEXT",
    **{name: "REAL" for name in METRICS},
}
# the columns a database of an older schema may lack (added where missing, null in old rows)
_ADDED = [name for name, kind in _COLUMNS.items() if not kind.endswith("NOT NULL")]
_JOBS_TABLE = (
    f"jobs ({', '.join(f'{name} {kind}' for name, kind in _COLUMNS.items())}, "
    f"PRIMARY KEY ({', '.join(_KEY)}))"
)


# what a reader requires of each column of a row (bench writes nothing else there)
_ROW_FIELDS: Fields = {
    **{
        name: Field(str, required=kind.endswith("NOT NULL"))
        for name, kind in _COLUMNS.items()
        if kind.startswith("TEXT")
    },
    "dirty": Field(int),
    "seed": Field(int, required=True),
    "batch_size": Field(int, minimum=1),
    **METRIC_FIELDS,
}


class DamagedDatabaseError(BenchError):
    """A history database that SQLite finds is not a database, or a corrupt one."""


def check_db_to_write(db_path: Path, flag: str, reads: Sequence[Path] = ()) -> None:
    """A ``BenchError`` naming ``flag`` where bench may not keep its history in ``db_path``: a
    path it may not write (``output_file``: onto or inside what the command ``reads`` or a run
    directory, a directory, under a file, in a folder it cannot write), a file that is not an
    SQLite database, or an SQLite database of something else. Read-only, so a damaged
    database passes (it is moved aside when the history is recorded)."""
    output_file(db_path, flag, create=False, reads=reads)
    try:
        if check_sqlite_file(db_path):
            with (
                contextlib.suppress(DamagedDatabaseError),
                _database(db_path, read_only=True) as conn,
            ):
                _bench_columns(conn, db_path)
    except BenchError as err:
        raise BenchError(f"{flag} {err}") from None


def check_sqlite_file(db_path: Path) -> bool:
    """Whether ``db_path`` is an SQLite file with something in it (``False``: no file, or an
    empty one, which SQLite takes as a new database); a ``BenchError`` where it is a file of
    anything else, which bench never opens."""
    with os_errors(db_path, "read"):
        if not db_path.is_file():
            return False
        with db_path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    if header and header != SQLITE_HEADER:
        raise BenchError(
            f"{db_path}: not an SQLite database; bench keeps its history only in one "
            "(give another path)"
        )
    return bool(header)


@contextlib.contextmanager
def connect(db_path: Path) -> Iterator[sqlite3.Connection]:
    """An open database with the ``jobs`` table (metric columns added where missing);
    committed on success, closed in every case. One that cannot be opened, or a database of
    something else, is a one-line ``BenchError``, a damaged one a ``DamagedDatabaseError``."""
    check_sqlite_file(db_path)
    with os_errors(db_path, "open the history database"):
        db_path.parent.mkdir(parents=True, exist_ok=True)
    with _database(db_path) as conn:
        _bench_columns(conn, db_path)
        with conn:
            conn.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then see it
            conn.execute(f"CREATE TABLE IF NOT EXISTS {_JOBS_TABLE}")
            conn.execute(
                "CREATE INDEX IF NOT EXISTS jobs_series ON jobs (suite, model, machine_id)"
            )
            present = _bench_columns(conn, db_path)
            for name in _ADDED:
                if name not in present:
                    conn.execute(f"ALTER TABLE jobs ADD COLUMN {name} {_COLUMNS[name]}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        with conn:
            yield conn


@contextlib.contextmanager
def connect_existing(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A history database that must exist already, opened read-only (the commands that only
    read it never change it); an empty one holds no rows, metrics it predates read as
    ``NULL``."""
    with os_errors(f"--db {db_path}", "read"):
        if not db_path.is_file():
            raise BenchError(f"--db {db_path}: no such history database")
    check_sqlite_file(db_path)
    with _database(db_path, read_only=True) as conn:
        # a table or view of this connection's own (TEMP) comes before the file's table
        present = _bench_columns(conn, db_path)
        missing = [name for name in _ADDED if name not in present]
        if not present:
            conn.execute(f"CREATE TEMP TABLE {_JOBS_TABLE}")
        elif missing:
            nulls = ", ".join(f"NULL AS {name}" for name in missing)
            columns = f"rowid AS rowid, *, {nulls}"  # rowid too: readers name rows by it
            conn.execute(f"CREATE TEMP VIEW jobs AS SELECT {columns} FROM main.jobs")
        yield conn


@contextlib.contextmanager
def _database(db_path: Path, *, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    """``db_path`` opened (read-only: through SQLite's ``mode=ro``, which never writes or
    creates), closed in every case; SQLite's errors as one-line ``BenchError``s, a damaged
    database as a ``DamagedDatabaseError``."""
    target = f"{db_path.absolute().as_uri()}?mode=ro" if read_only else str(db_path)
    try:
        conn = sqlite3.connect(target, timeout=_BUSY_TIMEOUT_S, uri=read_only)
    except sqlite3.Error as err:
        raise BenchError(f"{db_path}: cannot open the history database: {err}") from None
    try:
        yield conn
    except sqlite3.DatabaseError as err:
        damaged = str(err) in _DAMAGE_MESSAGES
        error = DamagedDatabaseError if damaged else BenchError
        raise error(f"{db_path}: not a usable history database: {err}") from None
    finally:
        conn.close()


def _bench_columns(conn: sqlite3.Connection, db_path: Path) -> set[str]:
    """The columns of the database's ``jobs`` table, none in a database without tables; a
    ``BenchError`` for a database of something else (tables, but not bench's ``jobs``) or of a
    newer schema than this bench knows."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    present = {row[1] for row in conn.execute("PRAGMA main.table_info(jobs)")}
    if tables and not set(_COLUMNS) - set(_ADDED) <= present:
        raise BenchError(
            f"{db_path}: an SQLite database of something else (no bench jobs table); give "
            "another path for the history"
        )
    (version,) = conn.execute("PRAGMA main.user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise BenchError(
            f"{db_path}: history schema version {version} is newer than this bench knows "
            f"({SCHEMA_VERSION}); upgrade bench"
        )
    return present


def record_run(db_path: Path, run_dir: Path) -> int:
    """Record every job of ``run_dir``; returns the rows written. Recording a run again
    replaces its rows, so a resumed run can be recorded once more."""
    return record_results(db_path, results_of(RunDir.open(run_dir).read()))


def record_run_results(db_path: Path, results: RunResults) -> Path | None:
    """Record ``results`` as ``bench run`` does at its end: a damaged database is first moved
    aside (see ``set_aside``, whose path is returned) and a new one started."""
    try:
        record_results(db_path, results)
    except DamagedDatabaseError:
        aside = set_aside(db_path)
        record_results(db_path, results)
        return aside
    return None


def set_aside(db_path: Path) -> Path:
    """Move a database to ``<name>.damaged-<utc>`` (kept for recovery, e.g. with
    ``sqlite3 FILE .recover``); its new path."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    aside = db_path.with_name(f"{db_path.name}.damaged-{stamp}")
    os.replace(db_path, aside)
    return aside


def record_results(db_path: Path, results: RunResults) -> int:
    """Record ``results`` in one transaction (replacing the rows of the same machine and run
    id)."""
    names = list(_COLUMNS)
    rows = [
        (
            results.run_id,
            results.created_utc,
            results.machine_id,
            results.commit,
            None if results.dirty is None else int(results.dirty),
            results.suite_name,
            job.model,
            job.variant,
            job.seed,
            job.status,
            job.device,
            job.precision,
            job.batch_size,
            results.torch_version,
            *(job.metrics.get(name) for name in METRICS),
        )
        for job in results.jobs
    ]
    with connect(db_path) as conn:
        conn.execute("BEGIN IMMEDIATE")  # the write lock first: a concurrent run waits here
        conn.execute(
            "DELETE FROM jobs WHERE machine_id = ? AND run_id = ?",
            (results.machine_id, results.run_id),
        )
        conn.executemany(
            f"INSERT INTO jobs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", rows
        )
    return len(rows)


@dataclass(frozen=True)
class CommitPoint:
    """A metric's values at one commit (all seeds of all runs made there)."""

    commit: str  # the commit, or "run:<run_id>" for a run made outside git
    first_utc: str
    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)


@dataclass(frozen=True)
class Series:
    """One metric of one (suite, model, variant) on one machine, in commit order."""

    suite: str
    model: str
    variant: str
    machine_id: str
    metric: str
    points: tuple[CommitPoint, ...]


def load_series(
    db_path: Path,
    suite: str,
    model: str,
    metric: str,
    *,
    machine_id: str | None = None,
    variant: str | None = None,
) -> Series:
    """The ok jobs' values of ``metric``; several machines or variants must be narrowed down."""
    if metric not in METRICS:
        raise UnknownNameError("metric", metric, METRICS, where="--metric")
    columns = ("machine_id", "variant", "run_id", "created_utc", "git_commit", metric)
    condition = f"suite = ? AND model = ? AND status = 'ok' AND {metric} IS NOT NULL"
    params: list[str] = [suite, model]
    for column, value in (("machine_id", machine_id), ("variant", variant)):
        if value is not None:
            condition += f" AND {column} = ?"
            params.append(value)
    with connect_existing(db_path) as conn:
        rows = checked_rows(conn, db_path, columns, condition, params, needed=True)
        if not rows:
            raise BenchError(_why_empty(conn, db_path, suite, model, metric))
    for index, flag in ((0, "--machine"), (1, "--variant")):
        choices = sorted({row[index] for row in rows})
        if len(choices) > 1:
            raise BenchError(
                f"{model} in {suite} has history for several values of {flag} "
                f"({', '.join(repr(c) for c in choices)}); pick one with {flag}"
            )
    return Series(
        suite=suite,
        model=model,
        variant=rows[0][1],
        machine_id=rows[0][0],
        metric=metric,
        points=commit_points(row[2:] for row in rows),
    )


def checked_rows(
    conn: sqlite3.Connection,
    db_path: Path,
    columns: Sequence[str],
    condition: str,
    params: Sequence[str],
    *,
    needed: bool = False,
) -> list[tuple[Any, ...]]:
    """The ``columns`` of the rows of ``jobs`` that meet ``condition`` (SQL, with ``params``),
    in the order runs were made. A row whose values bench would not have written (a text or a
    blob for a metric, a value that is not finite) is skipped; one warning line on stderr says
    how many were and why the first was, or, where rows are ``needed`` and none is left, a
    ``BenchError`` does."""
    rows = conn.execute(
        f"SELECT rowid, {', '.join(columns)} FROM jobs WHERE {condition} "
        "ORDER BY created_utc, run_id, seed",
        params,
    ).fetchall()
    fields = {name: _ROW_FIELDS[name] for name in columns}
    kept, skipped = [], []
    for rowid, *values in rows:
        try:
            check_fields(dict(zip(columns, values, strict=True)), fields, f"row {rowid}")
        except BenchError as err:
            skipped.append(str(err))
        else:
            kept.append(tuple(values))
    if skipped:
        note = (
            f"{db_path}: skipped {len(skipped)} row(s) that bench did not write "
            f"(first: {skipped[0]})"
        )
        if needed and not kept:
            raise BenchError(f"{note}, and no other row holds what was asked")
        print(f"warning: {note}", file=sys.stderr, flush=True)
    return kept


def commit_points(rows: Iterable[Sequence[Any]]) -> tuple[CommitPoint, ...]:
    """(run id, created, commit, value) rows, ordered by creation time, grouped by commit in
    order of first appearance (a run outside git is its own ``run:<run_id>`` point)."""
    points: dict[str, list[float]] = {}
    first_utc: dict[str, str] = {}
    for run_id, created, commit, value in rows:
        key = commit or f"run:{run_id}"
        first_utc.setdefault(key, created)
        points.setdefault(key, []).append(float(value))
    return tuple(CommitPoint(k, first_utc[k], tuple(v)) for k, v in points.items())


def _why_empty(conn: sqlite3.Connection, db_path: Path, suite: str, model: str, metric: str) -> str:
    suites = [str(r[0]) for r in conn.execute("SELECT DISTINCT suite FROM jobs ORDER BY suite")]
    if suite not in suites:
        return f"--suite {suite}: no history in {db_path}; recorded suites: {', '.join(suites)}"
    models = [
        str(r[0]) for r in conn.execute("SELECT DISTINCT model FROM jobs WHERE suite = ?", (suite,))
    ]
    if model not in models:
        return f"--model {model}: no history for suite {suite}; recorded: {', '.join(models)}"
    return f"--metric {metric}: no measured value for {model} in {suite} (n/a on this machine?)"


@dataclass(frozen=True)
class Step:
    """A change between consecutive commit medians beyond the noise and the minimum change."""

    index: int  # the commit after the step
    before: float
    after: float
    worse: bool

    @property
    def change_pct(self) -> float:
        return relative_change(self.before, self.after)


def noise_scale(points: Sequence[CommitPoint]) -> float | None:
    """Robust standard deviation of the series' noise (see the module docstring)."""
    residuals = [v - p.median for p in points if len(p.values) > 1 for v in p.values]
    if residuals:
        return MAD_TO_SIGMA * statistics.median(abs(r) for r in residuals)
    diffs = [abs(b.median - a.median) for a, b in itertools.pairwise(points)]
    if len(diffs) >= 3:
        return MAD_TO_SIGMA * statistics.median(diffs) / math.sqrt(2)
    return None


def detect_steps(
    points: Sequence[CommitPoint],
    higher_is_better: bool,
    k: float = STEP_K,
    min_change: float = STEP_MIN_CHANGE,
) -> list[Step]:
    """Commits whose median moved past ``max(min_change × previous, k × noise)``."""
    sigma = noise_scale(points) or 0.0
    steps = []
    for index in range(1, len(points)):
        before, after = points[index - 1].median, points[index].median
        if abs(after - before) > max(min_change * abs(before), k * sigma):
            worse = after < before if higher_is_better else after > before
            steps.append(Step(index, before, after, worse))
    return steps


def format_series(series: Series, steps: Sequence[Step], sigma: float | None) -> str:
    """The series as a text table, one row per commit, steps marked."""
    metric = METRICS[series.metric]
    unit = f" [{metric.unit}]" if metric.unit else ""
    marks = {
        s.index: f"step {s.change_pct:+.1f}% ({'worse' if s.worse else 'better'})" for s in steps
    }
    header = ("#", "commit", "first run (UTC)", "n", "median", "min", "max", "")
    rows = [
        (
            str(i + 1),
            p.commit[:12],
            p.first_utc,
            str(len(p.values)),
            f"{p.median:.4g}",
            f"{min(p.values):.4g}",
            f"{max(p.values):.4g}",
            marks.get(i, ""),
        )
        for i, p in enumerate(series.points)
    ]
    variant = f" [{series.variant}]" if series.variant else ""
    noise = f"{sigma:.3g}" if sigma is not None else "unknown (too few values)"
    title = (
        f"{series.suite} / {series.model}{variant} / {series.metric}{unit} on "
        f"{series.machine_id}: {len(series.points)} commits, noise σ = {noise}"
    )
    summary = f"{len(steps)} step(s) detected" if steps else "no step detected"
    return "\n".join([title, *align_columns([header, *rows]), summary])
