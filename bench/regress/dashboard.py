"""The history database as a dashboard holds it: per suite and machine, every model × metric
series in commit order with its detected steps, and the baseline's value where one is known."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.regress.history import (
    Series,
    Step,
    checked_rows,
    commit_points,
    connect_existing,
    detect_steps,
)
from bench.results.records import METRICS
from bench.results.run_results import RunResults


@dataclass(frozen=True)
class Chart:
    """One series, its steps, and the baseline's mean where a baseline of it is known."""

    series: Series
    steps: tuple[Step, ...]
    baseline: float | None


@dataclass(frozen=True)
class Board:
    """Every series of one suite on one machine; ``commits`` (commit, first run) in the order
    of first appearance over the whole suite, so that every chart shares its x axis."""

    suite: str
    machine_id: str
    runs: int
    commits: tuple[tuple[str, str], ...]
    charts: tuple[Chart, ...]

    def position(self, commit: str) -> int:
        """The commit's number on the board (from 1)."""
        return 1 + [c for c, _ in self.commits].index(commit)


def collect(db_path: Path, baselines: Sequence[RunResults] = ()) -> list[Board]:
    """A board per suite and machine recorded in ``db_path`` (ok jobs only); ``baselines`` give
    the baseline lines of the boards of their suite and machine."""
    columns = ("suite", "machine_id", "model", "variant", "run_id", "created_utc", "git_commit")
    with connect_existing(db_path) as conn:
        rows = checked_rows(conn, db_path, (*columns, *METRICS), "status = 'ok'", (), needed=True)
    by_pair: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for row in rows:
        by_pair.setdefault((row[0], row[1]), []).append(row[2:])
    boards = [_board(*pair, by_pair[pair], baselines) for pair in sorted(by_pair)]
    if not boards:
        raise BenchError(f"--db {db_path}: no job that ended ok is recorded")
    return boards


def _board(
    suite: str, machine_id: str, rows: Sequence[Sequence[Any]], baselines: Sequence[RunResults]
) -> Board:
    """The board of one suite and machine from its rows (model, variant, run id, created,
    commit, then every metric), in run order."""
    commits: dict[str, str] = {}  # commit → its first run's creation time
    for _model, _variant, run_id, created, commit, *_ in rows:
        commits.setdefault(commit or f"run:{run_id}", created)
    base = [b for b in baselines if b.suite_name == suite and b.machine_id == machine_id]
    charts = []
    for model, variant in dict.fromkeys((row[0], row[1]) for row in rows):
        for index, metric in enumerate(METRICS, start=5):
            mine = [(*r[2:5], r[index]) for r in rows if r[:2] == (model, variant)]
            points = commit_points(r for r in mine if r[3] is not None)
            if not points:
                continue
            series = Series(suite, model, variant, machine_id, metric, points)
            steps = detect_steps(points, METRICS[metric].higher_is_better)
            baseline = _baseline_mean(base, model, variant, metric)
            charts.append(Chart(series, tuple(steps), baseline))
    return Board(
        suite=suite,
        machine_id=machine_id,
        runs=len({row[2] for row in rows}),
        commits=tuple(commits.items()),
        charts=tuple(charts),
    )


def _baseline_mean(
    baselines: Sequence[RunResults], model: str, variant: str, metric: str
) -> float | None:
    """The mean of the latest matching baseline's ok values of ``metric``, if it has any."""
    for baseline in reversed(baselines):
        values = [
            value
            for job in baseline.jobs
            if (job.model, job.variant, job.status) == (model, variant, "ok")
            and (value := job.metrics.get(metric)) is not None
        ]
        if values:
            return statistics.fmean(values)
    return None
