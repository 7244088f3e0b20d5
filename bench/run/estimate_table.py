"""The text ``bench run --estimate`` prints: each job's prediction and the suite's total."""

from __future__ import annotations

from collections.abc import Sequence

from bench.results.prediction import JobPrediction
from bench.text_table import align_columns

NA = "n/a"
HEADER = (
    "job",
    "device",
    "fixed+profile (s)",
    "epochs (s)",
    "inference (s)",
    "predicted (s)",
    "peak GPU mem (MiB)",
    "peak RSS (MiB)",
    "fits GPU",
    "energy (J)",
)


def format_estimate(predictions: Sequence[JobPrediction], load_s: float, spent_s: float) -> str:
    """The predictions as a table with a total row, then where the total stops: data loading
    (``load_s``, once per run, before the jobs) and the estimate's own time (``spent_s``)."""
    rows = [HEADER, *(_row(p) for p in predictions)]
    totals = [p.total_s for p in predictions]
    known = [t for t in totals if t is not None]
    energies = [p.energy_j for p in predictions]
    rows.append(
        (
            "total",
            "",
            _seconds(sum(p.fixed_s + p.profile_s for p in predictions)),
            _seconds(sum(p.train_s for p in predictions)),
            _seconds(sum(p.inference_s for p in predictions)),
            _seconds(sum(known)) + ("" if len(known) == len(totals) else " (ok jobs)"),
            "",
            "",
            "",
            _number(sum(e or 0.0 for e in energies) if None not in energies else None),
        )
    )
    failed = [f"{p.job_id}: {p.status}: {p.error or 'no message'}" for p in predictions if p.error]
    notes = [
        "predicted (s): each job's wall time (total_time_s in its record), from a short run of "
        "it on this machine",
        f"data sets loaded in {load_s:.2f} s (once per run, before the jobs, in no job's time); "
        f"estimated in {spent_s:.1f} s",
        *failed,
    ]
    return "\n".join([*align_columns(rows), "", *notes])


def _row(p: JobPrediction) -> tuple[str, ...]:
    ok = p.status == "ok"
    fits = NA if p.fits is None else ("yes" if p.fits else "no")
    return (
        p.job_id,
        p.device,
        _seconds(p.fixed_s + p.profile_s) if ok else NA,
        _seconds(p.train_s) if ok else NA,
        _seconds(p.inference_s) if ok else NA,
        _seconds(p.total_s) if ok else p.status,
        _number(p.peak_mem_mib),
        _number(p.peak_rss_mib),
        fits,
        _number(p.energy_j),
    )


def _seconds(value: float | None) -> str:
    return NA if value is None else f"{value:.2f}"


def _number(value: float | None) -> str:
    return NA if value is None else f"{value:,.0f}"
