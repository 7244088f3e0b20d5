"""Figures of each model's own data: confusion matrices, first-layer filters, GPU telemetry
and an autoencoder's reconstructions. They take loaded data and read no files.

Models share one figure per kind (small multiples, or jobs back to back): drawing dominates a
report's time, and side by side on one scale they compare at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.report.figures import new_figure
from bench.report.images import filter_grid, image_grid

MAX_TELEMETRY_POINTS = 1000
MAX_CLASS_LABELS = 20
RECONSTRUCTION_SCALE = "each image scaled to its own min–max for display"
MAX_ANNOTATED = 3  # cell annotations are most of a confusion figure's drawing time
TICK_FONT = 8  # points: class names as large as every other tick label (figures.STYLE)


class ConfusionPanel(NamedTuple):
    group: str
    matrix: np.ndarray  # counts, summed over seeds
    classes: list[str]
    seeds: int


class FilterPanel(NamedTuple):
    group: str
    job_id: str
    initial: np.ndarray  # [out, in, kh, kw]
    trained: np.ndarray


class TelemetrySeries(NamedTuple):
    group: str
    job_id: str
    samples: pd.DataFrame


def confusion_matrices(panels: Sequence[ConfusionPanel], per_row: int = 3) -> Figure:
    """Test-set confusion matrices shaded by share of each true class; the percentages are
    written in the cells for up to ``MAX_ANNOTATED`` models of up to 10 classes."""
    cols = min(per_row, len(panels))
    rows = -(-len(panels) // cols)
    side = 3.3 if max(len(p.matrix) for p in panels) <= 10 else 4.5
    figure, axes = new_figure(cols * side + 1.2, rows * (side + 0.3) + 0.4, rows, cols)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    image = None
    for ax, panel in zip(axes.flat, panels, strict=False):
        share = 100 * panel.matrix / np.maximum(panel.matrix.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(share, cmap="Blues", vmin=0, vmax=100)
        ax.grid(False)
        if len(share) <= 10 and len(panels) <= MAX_ANNOTATED:
            for (row, col), value in np.ndenumerate(share):
                colour = "white" if value > 60 else "black"
                ax.text(
                    col, row, f"{value:.0f}", ha="center", va="center", fontsize=6, color=colour
                )
        if len(panel.classes) <= MAX_CLASS_LABELS:
            ticks = range(len(panel.classes))
            ax.set_xticks(ticks, panel.classes, rotation=90, fontsize=TICK_FONT)
            ax.set_yticks(ticks, panel.classes, fontsize=TICK_FONT)
        ax.set(xlabel="Predicted class", ylabel="True class")
        total = int(panel.matrix.sum())
        ax.set_title(f"{panel.group}\n{panel.seeds} seed(s), {total:,} test images", fontsize=8)
    figure.colorbar(image, ax=axes, shrink=0.6, label="Share of the true class (%)")
    figure.suptitle("Confusion matrices on the test set (summed over seeds)")
    return figure


def filter_grids(panels: Sequence[FilterPanel]) -> Figure:
    """First-layer filters before and after training and their difference, one row per model
    (as in the lecture: 8 filters to a row, each grid scaled to its own range)."""
    columns = ("Initial", "Trained", "Initial − trained")
    rows = [_filter_row(p) for p in panels]
    ratios = [max(image.shape[0] / image.shape[1], 0.06) for image, _ in rows]
    figure, axes = new_figure(
        11,
        10 * sum(ratios) + 0.55 * len(panels) + 0.4,
        len(panels),
        gridspec_kw={"height_ratios": ratios},
    )
    for ax, panel, (image, centres) in zip(axes[:, 0], panels, rows, strict=True):
        _show(ax, image, "")
        ax.set_xticks(centres, columns, fontsize=7)
        ax.xaxis.tick_top()
        out, channels, height, width = panel.initial.shape
        shown = {1: "grey", 3: "RGB"}.get(channels, f"mean of {channels} channels")
        ax.set_ylabel(f"{panel.group}\n{out}×{channels}×{height}×{width}\n{shown}", fontsize=7)
    figure.suptitle("First-layer filters (one job per model)")
    return figure


def _filter_row(panel: FilterPanel) -> tuple[np.ndarray, list[float]]:
    """The three filter grids side by side in one image, and the centre of each."""
    grids = [filter_grid(w) for w in (panel.initial, panel.trained, panel.initial - panel.trained)]
    height, width, channels = grids[0].shape
    gap = max(width // 8, 2)
    spacer = np.ones((height, gap, channels), np.float32)
    image = np.concatenate([grids[0], spacer, grids[1], spacer, grids[2]], axis=1)
    return image, [width / 2 + i * (width + gap) for i in range(3)]


def telemetry(series: Sequence[TelemetrySeries], palette: dict[str, Any]) -> Figure:
    """GPU utilisation and power of every job, back to back in run order, coloured by model."""
    figure, axes = new_figure(11, 4.8, nrows=2, sharex=True)
    start = 0.0
    for job in series:
        thin = _thin(job.samples)
        time_s = thin["time_s"] - thin["time_s"].iloc[0] + start
        for ax, column in zip(axes[:, 0], ("gpu_util_pct", "power_w"), strict=True):
            if start:
                ax.axvline(start, color="0.75", linewidth=0.6)
            if column in thin:
                ax.plot(time_s, thin[column], color=palette[job.group], linewidth=0.9)
        start = float(time_s.iloc[-1])
    axes[0, 0].set(ylabel="GPU utilisation (%)", ylim=(0, 105))
    axes[1, 0].set(ylabel="Power (W)", xlabel="Time, jobs back to back in run order (s)")
    shown = dict.fromkeys(job.group for job in series)
    handles = [Line2D([], [], color=palette[g], label=g) for g in shown]
    figure.legend(handles=handles, loc="outside right upper", title="Model")
    figure.suptitle("GPU utilisation and power per job (NVML samples; grey lines separate jobs)")
    return figure


def _thin(frame: pd.DataFrame) -> pd.DataFrame:
    """At most ``MAX_TELEMETRY_POINTS`` rows: means of runs of consecutive samples."""
    numeric = frame.select_dtypes("number")
    step = -(-len(numeric) // MAX_TELEMETRY_POINTS)
    return numeric if step <= 1 else numeric.groupby(np.arange(len(numeric)) // step).mean()


def reconstructions(group: str, job_id: str, inputs: np.ndarray, outputs: np.ndarray) -> Figure:
    """Test images above the autoencoder's reconstructions of them, each reconstruction
    scaled to its own minimum and maximum for display (a short run's outputs can span a few
    hundredths, all but black as they are) with the values' true range in its title."""
    grids = [image_grid(inputs), image_grid(outputs, each=True)]
    aspect = grids[0].shape[0] / grids[0].shape[1]
    figure, axes = new_figure(9, 2 * (9 * aspect + 0.4), nrows=2)
    titles = (
        "Input",
        f"Reconstruction: {RECONSTRUCTION_SCALE} (values {outputs.min():.3g} to "
        f"{outputs.max():.3g})",
    )
    for ax, title, grid in zip(axes[:, 0], titles, grids, strict=True):
        _show(ax, grid, title)
    figure.suptitle(f"{group}: test images and their reconstructions (job {job_id})")
    return figure


def _show(ax: Axes, image: np.ndarray, title: str) -> None:
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
