"""Figures in the manner of Canziani, Culurciello and Paszke (2016), *An Analysis of Deep Neural
Network Models for Practical Applications*, from a run's own measurements: inference time,
throughput, power and memory against batch size, operations against inference time, and
accuracy per parameter.

The inference figures take the rows of ``frames.inference_frame`` (one per job × precision ×
batch size; figures are medians over seeds), the accuracy figure the job frame's ok jobs.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench.report.figures import Palette, Skipped, legend_beside, new_figure
from bench.report.labels import place_labels

_STYLES = ("-", "--", ":", "-.")
_NO_ROWS = "no inference measurement of a job that ended ok"
NO_POWER = "Power: n/a (no GPU power readings: CPU run or NVML unavailable)"


def latency_vs_batch(rows: pd.DataFrame, palette: Palette) -> Figure:
    """Forward time per batch (p50) against batch size, one line per model, log-log."""
    data = _medians(rows)
    figure, axes = new_figure(8, 4.8)
    ax = axes[0, 0]
    _lines(ax, data, "latency_ms_p50", palette)
    ax.set(yscale="log", ylabel="Inference time per batch, p50 (ms, log scale)")
    ax.set_title("Inference time vs batch size (forward pass, median over seeds)")
    _legend(figure, ax)
    return figure


def throughput_and_power_vs_batch(rows: pd.DataFrame, palette: Palette) -> Figure:
    """Images/s (log-log) and mean GPU power against batch size, one line per model; without
    power readings, the throughput alone with a line saying why."""
    data = _medians(rows)
    measured = bool(data["power_w"].notna().any())
    figure, axes = new_figure(11 if measured else 8, 4.4, ncols=2 if measured else 1)
    rate = axes[0, 0]
    _lines(rate, data, "images_per_s", palette)
    rate.set(yscale="log", ylabel="Inference throughput (images/s, log scale)")
    if measured:
        _lines(axes[0, 1], data, "power_w", palette)
        axes[0, 1].set(ylabel="Mean GPU power while timed (W)")
    else:
        figure.supxlabel(NO_POWER, fontsize=8, color="0.35")
    _legend(figure, rate)
    figure.suptitle("Throughput and power vs batch size (median over seeds)")
    return figure


def memory_vs_batch(rows: pd.DataFrame, palette: Palette) -> Figure:
    """Peak memory against batch size: the CUDA allocator's where measured, else the
    process's resident memory."""
    data = _medians(rows)
    gpu = data["peak_mem_mib"].notna().any()
    column, what = ("peak_mem_mib", "GPU allocated") if gpu else ("peak_rss_mib", "process RSS")
    if not data[column].notna().any():
        raise Skipped("no memory figure in the inference measurements")
    figure, axes = new_figure(8, 4.8)
    ax = axes[0, 0]
    _lines(ax, data, column, palette)
    ax.set(ylabel=f"Peak memory, {what} (MiB)")
    ax.set_title(f"Memory vs batch size ({what}, median over seeds)")
    _legend(figure, ax)
    return figure


def operations_vs_time(rows: pd.DataFrame, palette: Palette) -> Figure:
    """Forward GFLOPs per image against forward time per image, one point per model, at the
    smallest batch size every model measured (each at its first precision)."""
    data = _medians(rows)
    first = data.groupby("group", sort=False)["precision"].transform("first")
    data = data[data["precision"] == first].dropna(subset=["latency_ms_p50", "flops"])
    batches = [set(b) for b in data.groupby("group", sort=False)["batch_size"].agg(list)]
    common = set.intersection(*batches) if batches else set()
    if not common:
        raise Skipped("no batch size was measured by every model with a FLOP count")
    batch = min(common)
    points = data[data["batch_size"] == batch]
    per_image = points["latency_ms_p50"] / batch
    gflops = points["flops"] / 1e9
    figure, axes = new_figure(8, 5)
    ax = axes[0, 0]
    ax.scatter(per_image, gflops, s=60, c=[palette[g] for g in points["group"]], alpha=0.8)
    log = _spread(per_image) > 20 or _spread(gflops) > 20
    if log:
        ax.set(xscale="log", yscale="log")
    scale = ", log scale" if log else ""
    ax.set(
        xlabel=f"Forward time per image at batch {batch}, p50 (ms{scale})",
        ylabel=f"Forward GFLOPs per image (multiply-add = 2{scale})",
    )
    ax.set_title(f"Operations vs inference time (batch {batch}, median over seeds)")
    place_labels(ax, list(per_image), list(gflops), [str(g) for g in points["group"]])
    return figure


def accuracy_per_mparam(ok: pd.DataFrame, palette: Palette) -> Figure:
    """Final test accuracy per million parameters, one bar per model (mean over seeds)."""
    stats = (
        ok.groupby("group", sort=False)
        .agg(acc=("test_acc", "mean"), params=("params", "first"))
        .dropna()
    )
    stats = stats[stats["params"] > 0]
    if stats.empty:
        raise Skipped("no job has both a test accuracy and a parameter count")
    density = stats["acc"] / (stats["params"] / 1e6)
    figure, axes = new_figure(8, 1.5 + 0.45 * len(stats))
    ax = axes[0, 0]
    ax.barh(list(stats.index), density, color=[palette[g] for g in stats.index])
    ax.invert_yaxis()
    log = _spread(density) > 20
    if log:
        ax.set_xscale("log")
    scale = ", log scale" if log else ""
    ax.set(xlabel=f"Final test accuracy per million parameters (% / M{scale})", ylabel="")
    ax.set_title("Accuracy per parameter (mean accuracy over seeds)")
    return figure


def _medians(rows: pd.DataFrame) -> pd.DataFrame:
    """Measured rows as medians over seeds per (group, precision, batch size)."""
    measured = rows[rows["status"] == "ok"]
    if measured.empty:
        raise Skipped(_NO_ROWS)
    numbers = ["latency_ms_p50", "images_per_s", "peak_mem_mib", "peak_rss_mib", "power_w", "flops"]
    keys = ["group", "precision", "batch_size"]
    return measured.groupby(keys, sort=False)[numbers].median().reset_index()


def _lines(ax: Axes, data: pd.DataFrame, column: str, palette: Palette) -> None:
    """One line per model (and precision, dashed where there are several) over batch size."""
    precisions = list(dict.fromkeys(data["precision"]))
    for (group, precision), line in data.groupby(["group", "precision"], sort=False):
        line = line.dropna(subset=[column]).sort_values("batch_size")
        label = f"{group}, {precision}" if len(precisions) > 1 else str(group)
        style = _STYLES[precisions.index(precision) % len(_STYLES)]
        ax.plot(
            line["batch_size"], line[column], style, marker="o", color=palette[group], label=label
        )
    batches = sorted(data["batch_size"].unique())
    ax.set_xscale("log")
    ax.set_xticks(batches, [f"{b:g}" for b in batches])
    ax.minorticks_off()
    ax.set_xlabel("Batch size (log scale)")


def _legend(figure: Figure, ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    legend_beside(figure.axes[-1], handles=handles, labels=labels, title="Model")


def _spread(values: pd.Series) -> float:
    """Largest over smallest positive value (1 where there is none)."""
    positive = values[values > 0]
    return float(positive.max() / positive.min()) if not positive.empty else 1.0
