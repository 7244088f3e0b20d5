"""A metric's history over commits as a PNG or SVG figure, with detected steps marked."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench.regress.history import Series, Step
from bench.results.atomic import write_atomic
from bench.results.records import METRICS

WORSE_COLOUR, BETTER_COLOUR = "C3", "C2"


def plot_series(series: Series, steps: Sequence[Step], out: Path) -> None:
    """The series drawn by :func:`draw_series` with the commits on the x axis; the format
    follows ``out``'s extension."""
    metric = METRICS[series.metric]
    figure = Figure(figsize=(max(6.0, 0.5 * len(series.points) + 3), 4.0), layout="constrained")
    axes = figure.add_subplot()
    positions = list(range(len(series.points)))
    draw_series(axes, series, steps, positions)
    axes.set_xticks(positions, [p.commit[:8] for p in series.points], rotation=45)
    axes.set_xlabel("commit (in order of first run)")
    axes.set_ylabel(f"{metric.label} ({metric.unit})" if metric.unit else metric.label)
    variant = f" [{series.variant}]" if series.variant else ""
    axes.set_title(f"{series.suite} · {series.model}{variant} · {series.machine_id}")
    buffer = io.BytesIO()
    figure.savefig(buffer, format=out.suffix.lstrip(".").lower())
    write_atomic(out, buffer.getvalue())


def draw_series(
    axes: Axes,
    series: Series,
    steps: Sequence[Step],
    positions: Sequence[float],
    baseline: float | None = None,
) -> None:
    """Every value (dots) and the commit medians (line) at ``positions`` (one per commit), each
    step (a dashed line between its commits with its change, red when worse, green when
    better) and the ``baseline`` (a dotted line) where one is known; a percentage's axis ends
    at 100."""
    for x, point in zip(positions, series.points, strict=True):
        axes.scatter([x] * len(point.values), point.values, s=12, color="0.6", zorder=2)
    axes.plot(positions, [p.median for p in series.points], marker="o", color="C0", zorder=3)
    for step in steps:
        colour = WORSE_COLOUR if step.worse else BETTER_COLOUR
        x = (positions[step.index - 1] + positions[step.index]) / 2
        axes.axvline(x, color=colour, linestyle="--", linewidth=1)
        axes.annotate(
            f"{step.change_pct:+.1f}%",
            (x, step.after),
            xytext=(4, 4),
            textcoords="offset points",
            color=colour,
        )
    if baseline is not None:
        axes.axhline(baseline, color="0.25", linestyle=":", linewidth=1.2, label="baseline")
    if METRICS[series.metric].unit == "%" and axes.get_ylim()[1] > 100:
        axes.set_ylim(top=100)  # a share: the axis stops where the scale does
    axes.grid(True, axis="y", alpha=0.3)
