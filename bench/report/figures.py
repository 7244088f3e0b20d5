"""Suite-level charts and the machinery every figure shares (style, Agg canvas, files).

Figures are built with the object-oriented API (``matplotlib.figure.Figure`` on an Agg canvas),
so nothing is registered with pyplot and nothing is left open; each builder returns a figure
or raises :class:`Skipped` with the reason the data cannot support it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bench.report.labels import place_labels

DPI = 100
STYLE: dict[str, Any] = {
    **sns.axes_style("whitegrid"),
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "svg.fonttype": "none",
    "svg.hashsalt": "bench-report",
}
Palette = dict[str, Any]


class Skipped(Exception):
    """A figure the data cannot support; the message says why."""


@dataclass(frozen=True)
class Plot:
    """A rendered figure: its file stem under ``figures/``, title and PNG bytes; ``group``
    for a figure of one model, ``shows`` for the models of a shared per-model figure."""

    name: str
    title: str
    group: str | None
    png: bytes
    shows: tuple[str, ...] = ()


def new_figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **kw: Any) -> Any:
    """A figure on the Agg canvas and its axes as a 2-D array."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(nrows, ncols, squeeze=False, **kw)


def png_bytes(figure: Figure) -> bytes:
    """``figure`` as PNG at ``DPI``."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def render(figure: Figure, folder: Path, name: str) -> bytes:
    """Write ``name``.png and ``name``.svg under ``folder``; return the PNG bytes."""
    png = png_bytes(figure)
    (folder / f"{name}.png").write_bytes(png)
    figure.set_layout_engine("none")  # keep the layout just computed: saves one layout pass
    figure.savefig(folder / f"{name}.svg", format="svg", metadata={"Date": None})
    return png


def palette_for(groups: Sequence[str]) -> Palette:
    """One colour per group, the same in every figure."""
    colours = sns.color_palette("tab10" if len(groups) <= 10 else "husl", len(groups))
    return dict(zip(groups, colours, strict=True))


def accuracy_vs_flops(ok: pd.DataFrame, palette: Palette) -> Figure:
    """Final test accuracy against forward GFLOPs; bubble area proportional to parameters."""
    stats = (
        ok.groupby("group", sort=False)
        .agg(
            acc=("test_acc", "mean"),
            sd=("test_acc", "std"),
            flops=("flops", "first"),
            params=("params", "first"),
        )
        .dropna(subset=["acc", "flops"])
    )
    if stats.empty:
        raise Skipped("no job has both a test accuracy and a FLOP count")
    largest = stats["params"].max()
    area = (40 + 1200 * stats["params"] / largest).fillna(40) if largest > 0 else 40
    figure, axes = new_figure(8, 5)
    ax = axes[0, 0]
    gflops = stats["flops"] / 1e9
    ax.errorbar(gflops, stats["acc"], yerr=stats["sd"].fillna(0), fmt="none", ecolor="0.4")
    bubbles = ax.scatter(
        gflops, stats["acc"], s=area, c=[palette[g] for g in stats.index], alpha=0.7
    )
    log = gflops.max() / max(gflops.min(), 1e-12) > 20
    if log:
        ax.set_xscale("log")
    ax.margins(0.12)  # room for the largest bubble inside the frame
    scale = ", log scale" if log else ""
    ax.set_xlabel(f"Forward GFLOPs per image (multiply-add = 2{scale})")
    ax.set_ylabel("Final test accuracy (%)")
    if largest > 0:
        sizes = [
            ax.scatter([], [], s=40 + 1200 * share, c="0.7", label=f"{largest * share / 1e6:.3g}M")
            for share in (1.0, 0.1)
        ]
        legend_beside(
            ax,
            handles=sizes,
            title="Parameters",
            labelspacing=2,
            borderpad=1.2,
            handletextpad=1.5,
        )
    place_labels(ax, list(gflops), list(stats["acc"]), [str(g) for g in stats.index], bubbles)
    ax.set_title("Accuracy vs compute (bubble area ∝ parameters, bars ±1 sd over seeds)")
    return figure


def learning_curves(epochs: pd.DataFrame, phase: str, palette: Palette) -> Figure:
    """Loss and accuracy per epoch of one phase: mean over seeds with a ±1 sd band."""
    data = epochs[epochs["phase"] == phase]
    panels = [
        (kind, label, _long(data, kind))
        for kind, label in (
            ("loss", "Reconstruction loss" if phase == "pretrain" else "Loss"),
            ("acc", "Accuracy (%)"),
        )
    ]
    panels = [p for p in panels if not p[2].empty]
    if not panels:
        raise Skipped(f"no loss or accuracy recorded in phase {phase}")
    figure, axes = new_figure(5 * len(panels) + 2.5, 3.8, ncols=len(panels))
    for ax, (_, label, long) in zip(axes[0], panels, strict=True):
        sns.lineplot(
            data=long,
            x="epoch",
            y="value",
            hue="Model",
            style="Split",
            style_order=["train", "test"],
            palette=palette,
            errorbar="sd",
            marker="o",
            ax=ax,
        )
        ax.set(xlabel="Epoch", ylabel=label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _shared_legend(figure, axes[0])
    figure.suptitle(f"Learning curves, phase {phase} (mean over seeds, band ±1 sd)")
    return figure


def _long(data: pd.DataFrame, kind: str) -> pd.DataFrame:
    """``train_<kind>`` and ``test_<kind>`` as rows with a ``split`` column; no missing values."""
    columns = [c for c in (f"train_{kind}", f"test_{kind}") if c in data]
    long = data.rename(columns={"group": "Model"}).melt(
        id_vars=["Model", "epoch"], value_vars=columns, var_name="Split", value_name="value"
    )
    long["Split"] = long["Split"].str.removesuffix(f"_{kind}")
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    return long.dropna(subset=["value"])


def time_and_throughput(ok: pd.DataFrame, palette: Palette) -> Figure:
    """Epoch time (first and steady) and steady throughput per model, ±1 sd over seeds."""
    times = ok.melt(
        id_vars=["group"],
        value_vars=["first_epoch_time_s", "epoch_time_s"],
        var_name="Epoch",
        value_name="seconds",
    ).dropna(subset=["seconds"])
    times["Epoch"] = times["Epoch"].map(
        {"first_epoch_time_s": "first (warm-up)", "epoch_time_s": "steady (median of later)"}
    )
    rates = ok[["group", "images_per_s"]].dropna()
    if times.empty and rates.empty:
        raise Skipped("no epoch times recorded")
    order = list(dict.fromkeys(ok["group"]))
    figure, axes = new_figure(11, 1.5 + 0.45 * len(order), ncols=2, sharey=True)
    _bars(axes[0, 0], times, "seconds", order, hue="Epoch")
    axes[0, 0].set(xlabel="Epoch time (s)", ylabel="")
    _bars(axes[0, 1], rates, "images_per_s", order, palette=palette)
    axes[0, 1].set(xlabel="Training throughput, steady (images/s)", ylabel="")
    figure.suptitle("Epoch time and throughput (bars: mean, whiskers: ±1 sd over seeds)")
    return figure


def peak_memory(ok: pd.DataFrame) -> Figure:
    """Peak GPU memory (allocated, reserved) and the process's peak RSS per model."""
    kinds = {
        "peak_mem_mib": "GPU allocated",
        "peak_mem_reserved_mib": "GPU reserved",
        "peak_rss_mib": "process RSS (host)",
    }
    memory = ok.melt(
        id_vars=["group"], value_vars=list(kinds), var_name="Memory", value_name="mib"
    ).dropna(subset=["mib"])
    if memory.empty:
        raise Skipped("no memory figures recorded")
    memory["Memory"] = memory["Memory"].map(kinds)
    order = list(dict.fromkeys(ok["group"]))
    figure, axes = new_figure(8, 1.5 + 0.45 * len(order))
    _bars(axes[0, 0], memory, "mib", order, hue="Memory")
    axes[0, 0].set(xlabel="Peak memory (MiB)", ylabel="", title="Peak memory (±1 sd over seeds)")
    return figure


def _bars(
    ax: Axes,
    data: pd.DataFrame,
    value: str,
    order: list[str],
    hue: str | None = None,
    palette: Palette | None = None,
) -> None:
    if data.empty:
        ax.text(0.5, 0.5, "n/a", ha="center", va="center", transform=ax.transAxes)
        return
    sns.barplot(
        data=data,
        x=value,
        y="group",
        order=order,
        hue=hue or "group",
        palette=palette,
        legend=hue is not None,
        errorbar="sd",
        ax=ax,
    )


def _shared_legend(figure: Figure, axes: Sequence[Axes]) -> None:
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes:
        if (legend := ax.get_legend()) is not None:
            legend.remove()
    legend_beside(axes[-1], handles=handles, labels=labels)


def legend_beside(ax: Axes, **legend: Any) -> None:
    """A legend right of ``ax``, its top level with the axes' top: outside the data, and
    below a figure's title (a legend at the figure's top right runs into a long title)."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **legend)


def draw(
    builder: Callable[..., Figure], folder: Path, name: str, *args: Any
) -> tuple[bytes | None, str | None]:
    """Build, render and write one figure: (PNG bytes, None) or (None, why it was skipped)."""
    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]
        try:
            figure = builder(*args)
        except Skipped as skipped:
            return None, str(skipped)
        return render(figure, folder, name), None
