"""A metric's history over commits as a PNG or SVG figure, with detected steps marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from bench.regress.history import Series, Step
from bench.results.records import METRICS


def plot_series(series: Series, steps: Sequence[Step], out: Path) -> None:
    """Every value (dots), the commit medians (line) and each step (a dashed line, red when
    worse, green when better); the format follows ``out``'s extension."""
    metric = METRICS[series.metric]
    figure = Figure(figsize=(max(6.0, 0.5 * len(series.points) + 3), 4.0), layout="constrained")
    axes = figure.add_subplot()
    positions = range(len(series.points))
    for x, point in enumerate(series.points):
        axes.scatter([x] * len(point.values), point.values, s=12, color="0.6", zorder=2)
    axes.plot(positions, [p.median for p in series.points], marker="o", color="C0", zorder=3)
    for step in steps:
        colour = "C3" if step.worse else "C2"
        axes.axvline(step.index - 0.5, color=colour, linestyle="--", linewidth=1)
        axes.annotate(
            f"{step.change_pct:+.1f}%",
            (step.index - 0.5, step.after),
            xytext=(4, 4),
            textcoords="offset points",
            color=colour,
        )
    axes.set_xticks(list(positions), [p.commit[:8] for p in series.points], rotation=45)
    axes.set_xlabel("commit (in order of first run)")
    axes.set_ylabel(f"{metric.label} ({metric.unit})" if metric.unit else metric.label)
    variant = f" [{series.variant}]" if series.variant else ""
    axes.set_title(f"{series.suite} · {series.model}{variant} · {series.machine_id}")
    axes.grid(True, axis="y", alpha=0.3)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
