"""The report's table of predicted against measured job times (``bench run --predict``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.report.frames import MISSING_STATUS
from bench.report.tables import Table, fmt_value
from bench.results.prediction import prediction_error_pct

COLUMNS = ("Job", "Network", "Seed", "Predicted (s)", "Measured (s)", "Error (%)")
FORMATS = ("{}", "{}", "{}", "{:.2f}", "{:.2f}", "{:+.1f}")


def prediction_table(jobs: pd.DataFrame) -> Table:
    """Each recorded job's predicted wall time, its measured one (``total_time_s``) and the
    error, (predicted − measured) / measured; a total row over the jobs with both."""
    recorded = jobs[jobs["status"] != MISSING_STATUS]
    rows = [_row(job) for job in recorded.itertuples()]
    both = [(p, m) for *_, p, m, _ in rows if p is not None and m is not None]
    if both:
        predicted, measured = sum(p for p, _ in both), sum(m for _, m in both)
        total = ["total", f"{len(both)} jobs", "all", predicted, measured]
        rows.append([*total, prediction_error_pct(predicted, measured)])
    data = pd.DataFrame(rows, columns=list(COLUMNS))
    display = pd.DataFrame(
        {
            c: data[c].map(lambda v, f=f: fmt_value(v, f))
            for c, f in zip(COLUMNS, FORMATS, strict=True)
        }
    )
    return Table(
        "prediction",
        "Predicted against measured job time",
        data,
        display,
        data.copy(),
        note="Each job's wall time (s) as predicted before the jobs started (bench run "
        "--predict: a short run of each kind of job on this machine) and as measured; error: "
        "(predicted − measured) / measured, in %. n/a: the run made no prediction.",
        sortable=False,
    )


def _row(job: Any) -> list[Any]:
    """A job's line: its id, group and seed, predicted and measured seconds, and the error."""
    predicted, measured = _number(job.predicted_time_s), _number(job.total_time_s)
    error = prediction_error_pct(predicted, measured)
    return [job.job_id, job.group, f"{job.seed:.0f}", predicted, measured, error]


def _number(value: object) -> float | None:
    """``value`` as a float; ``None`` where it is missing (None or NaN)."""
    if value is None or pd.isna(value):
        return None
    return float(value)  # type: ignore[arg-type]
