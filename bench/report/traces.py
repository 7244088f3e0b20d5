"""The operator and module tables of traced jobs (``--trace``), for their model's section."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from bench.report.frames import slug
from bench.report.tables import Table, fmt_value
from bench.results.rundir import Run

CLOCKS = {"device": "GPU kernel time", "cpu": "CPU time"}


def trace_tables(runs: Sequence[Run], jobs: pd.DataFrame) -> dict[str, list[Table]]:
    """The two tables of each traced job of ``jobs`` (rows of the job frame), by the job's
    group; every trace is read (and checked) here, before a report draws anything."""
    tables: dict[str, list[Table]] = {}
    for job in jobs.itertuples():
        found = runs[int(job.run)].trace_tables(str(job.job_id))
        if found is None:
            continue
        for kind, frame in zip(("operators", "modules"), found, strict=True):
            tables.setdefault(str(job.group), []).append(_table(str(job.job_id), kind, frame))
    return tables


def _table(job_id: str, kind: str, frame: pd.DataFrame) -> Table:
    clocks = {CLOCKS.get(str(c), str(c)) for c in frame.get("clock", pd.Series(dtype=str))}
    shown = frame.drop(columns=["clock"], errors="ignore")
    display = shown.apply(lambda column: column.map(lambda v: fmt_value(v, "{}")))
    if kind == "operators":
        what = "Top operators by self time"
        note = "Traced after the job's training, on a fresh copy of its model (docs/profiling.md)."
    else:
        what = "Forward time per top-level module"
        note = "None: a compiled model's modules are fused." if shown.empty else ""
    clock = ", ".join(sorted(clocks)) or "no rows"
    return Table(
        f"trace-{kind}-{slug(job_id)}",
        f"{what}: {job_id} ({clock}, ms per traced step)",
        shown,
        display,
        shown.copy(),
        note=note,
    )
