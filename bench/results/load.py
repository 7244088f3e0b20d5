"""``bench.load_run``: a run directory's tables as pandas DataFrames, for analysis in Python.

The frames are built from the run's records (read and checked by
``bench.results.rundir``), not from the CSV or Parquet files beside them, so a run directory
written by an older bench reads the same, and a damaged one is a one-line ``BenchError``. Their
columns and types are those of the run directory's tables (``bench.results.columns``).
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

from bench.results.columns import arrow_table, data_frame
from bench.results.rundir import TABLES, RunDir, run_tables

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class RunTables:
    """A run's tables: ``jobs`` (one row per job), ``epochs`` (one row per epoch of each job's
    latest attempt) and ``inference`` (one row per inference measurement; none where no job
    measured inference)."""

    jobs: pd.DataFrame
    epochs: pd.DataFrame
    inference: pd.DataFrame


def load_run(path: str | PathLike[str]) -> RunTables:
    """The tables of the run directory ``path`` as DataFrames (see the module docstring).

    >>> run = bench.load_run("reports/my-machine/0001_smoke_0123abcd_20250102T030405Z")
    >>> run.jobs.groupby(["model", "variant"])["test_acc_pct"].mean()
    """
    run_dir = Path(path)
    rows = run_tables(RunDir.open(run_dir).read())
    frames = {
        name: data_frame(arrow_table(rows[name], columns, str(run_dir / name)))
        for name, columns in TABLES.items()
    }
    return RunTables(frames["results"], frames["epochs"], frames["inference"])
