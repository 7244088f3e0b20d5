"""The machine's run-to-run noise of a metric, from the history database.

Seeds of one run share the machine's state, so their spread understates how much the same
code's time, memory and energy move from one run to the next. Each earlier run of the same
suite, model and variant on the same machine gives one value per metric (the mean over its ok
seeds); with at least ``MIN_RUNS`` of them the noise is ``σ = 1.4826 × MAD`` of those values,
the median absolute deviation scaled to a standard deviation, which one odd run does not
inflate. Only metrics whose ``Metric.machine_noise`` is set are read (not accuracy or loss, whose
noise is the seeds'). See docs/regressions.md.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.regress.compare import NOISE_K, MachineNoise, model_label
from bench.regress.history import MAD_TO_SIGMA, checked_rows, connect_existing
from bench.results.records import METRICS
from bench.results.run_results import RunResults
from bench.text_table import align_columns

MIN_RUNS = 5
"""Earlier runs needed before their spread is trusted as the noise."""

NOISY_METRICS: tuple[str, ...] = tuple(name for name, m in METRICS.items() if m.machine_noise)

Key = tuple[str, str, str]
"""(model, variant, metric)."""


def spread(values: Sequence[float]) -> float | None:
    """1.4826 × the median absolute deviation of ``values``; ``None`` with fewer than
    ``MIN_RUNS``."""
    if len(values) < MIN_RUNS:
        return None
    centre = statistics.median(values)
    return MAD_TO_SIGMA * statistics.median(abs(v - centre) for v in values)


def run_values(
    db_path: Path,
    suite: str,
    machine_id: str | None = None,
    *,
    before_utc: str | None = None,
    other_than: str | None = None,
) -> dict[tuple[str, str, str, str], list[float]]:
    """Each recorded run's mean over its ok seeds, by (machine, model, variant, metric), in run
    order; only runs on ``machine_id``, created before ``before_utc`` and not ``other_than`` (a
    run id) where given."""
    condition = "suite = ? AND status = 'ok'"
    params = [suite]
    for clause, value in (
        (" AND machine_id = ?", machine_id),
        (" AND created_utc < ?", before_utc),
        (" AND run_id != ?", other_than),
    ):
        if value is not None:
            condition += clause
            params.append(value)
    columns = ("machine_id", "run_id", "model", "variant", *NOISY_METRICS)
    with connect_existing(db_path) as conn:
        rows = checked_rows(conn, db_path, columns, condition, params)
    per_run: dict[tuple[str, str, str, str], dict[str, list[float]]] = {}
    for machine, run_id, model, variant, *values in rows:
        for metric, value in zip(NOISY_METRICS, values, strict=True):
            if value is not None:
                seeds = per_run.setdefault((machine, model, variant, metric), {})
                seeds.setdefault(run_id, []).append(float(value))
    return {key: [statistics.fmean(v) for v in runs.values()] for key, runs in per_run.items()}


def machine_noise(db_path: Path | None, new: RunResults) -> dict[Key, MachineNoise]:
    """The noise of every (model, variant, metric) of ``new`` from the runs recorded before it
    on its machine; empty without a database (every noise then reads as unknown)."""
    if db_path is None or not db_path.is_file():
        return {}
    history = run_values(
        db_path,
        new.suite_name,
        new.machine_id,
        before_utc=new.created_utc,
        other_than=new.run_id,
    )
    return {
        (model, variant, metric): MachineNoise(len(values), spread(values))
        for (_machine, model, variant, metric), values in history.items()
    }


@dataclass(frozen=True)
class NoiseRow:
    """One line of ``bench history --noise``."""

    machine_id: str
    model: str
    variant: str
    metric: str
    values: tuple[float, ...]

    @property
    def sigma(self) -> float | None:
        return spread(self.values)


def suite_noise(db_path: Path, suite: str, machine_id: str | None = None) -> list[NoiseRow]:
    """The run-to-run noise of every model and metric of ``suite`` on each recorded machine
    (or on ``machine_id``)."""
    with connect_existing(db_path) as conn:
        machines = [
            str(row[0])
            for row in conn.execute(
                "SELECT DISTINCT machine_id FROM jobs WHERE suite = ? ORDER BY machine_id",
                (suite,),
            )
        ]
    if not machines:
        raise BenchError(f"--suite {suite}: no history in {db_path}")
    if machine_id is not None and machine_id not in machines:
        raise BenchError(
            f"--machine {machine_id}: no history of {suite}; recorded: {', '.join(machines)}"
        )
    values = run_values(db_path, suite, machine_id)
    return [NoiseRow(*key, tuple(values[key])) for key in sorted(values)]


def format_noise(suite: str, rows: Sequence[NoiseRow]) -> str:
    """``bench history --noise``: per machine, one line per model and metric."""
    if not rows:
        return f"no time, throughput, memory or energy value of {suite} is recorded"
    header = ("model", "metric", "runs", "median", "σ", "σ %", f"{NOISE_K:g}σ %")
    blocks = []
    for machine in dict.fromkeys(row.machine_id for row in rows):
        lines = [header]
        for row in (r for r in rows if r.machine_id == machine):
            unit = METRICS[row.metric].unit
            median = statistics.median(row.values)
            sigma = row.sigma
            cells = ("unknown", "-", "-")
            if sigma is not None:
                pct = 100 * sigma / abs(median) if median else float("nan")
                cells = (f"{sigma:.3g} {unit}".rstrip(), f"{pct:.1f}%", f"{NOISE_K * pct:.1f}%")
            lines.append(
                (
                    model_label(row.model, row.variant),
                    row.metric,
                    str(len(row.values)),
                    f"{median:.4g} {unit}".rstrip(),
                    *cells,
                )
            )
        title = (
            f"run-to-run noise of {suite} on {machine} (σ = 1.4826 × MAD of each run's mean "
            f"over its seeds, from {MIN_RUNS}+ runs; a change within {NOISE_K:g}σ is noise)"
        )
        blocks.append("\n".join([title, *align_columns(lines)]))
    return "\n\n".join(blocks)
