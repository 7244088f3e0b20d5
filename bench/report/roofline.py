"""The roofline in the report: each job's training step (``extra.roofline``) as columns of the
job frame, a table per model and variant, and the log-log figure with the device's roofs.

Units: FLOP/s with one multiply-add = 2 FLOPs; intensity in FLOP per byte (``docs/
profiling.md`` says how the minimum bytes are estimated).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bench.measure.roofline import DevicePeaks, RooflinePoint, roof
from bench.report.figures import Palette, Skipped, new_figure
from bench.report.tables import Column, Table, aggregate

FIELDS = (
    "roofline_intensity",
    "roofline_achieved",
    "roofline_roof",
    "roofline_fraction",
    "roofline_bound",
    "roofline_precision",
    "peak_flops_per_s",
    "peak_bytes_per_s",
    "peaks_source",
)
NUMERIC_FIELDS = FIELDS[:4] + FIELDS[6:8]
ROOF_STYLES = ("-", "--", "-.")  # one per set of peaks and precision
COLUMNS = (
    Column("roofline_bound", "Bound", "{}", per_seed=False),
    Column("roofline_intensity", "Intensity (FLOP/byte)", "{:.3g}"),
    Column("roofline_achieved", "Achieved (GFLOP/s)", "{:.3g}", 1e-9),
    Column("roofline_roof", "Roof (GFLOP/s)", "{:.3g}", 1e-9),
    Column("roofline_fraction", "Share of the roof (%)", "{:.3g}", 100.0),
    Column("peak_flops_per_s", "Peak compute (GFLOP/s)", "{:.4g}", 1e-9, per_seed=False),
    Column("peak_bytes_per_s", "Peak bandwidth (GB/s)", "{:.4g}", 1e-9, per_seed=False),
    Column("peaks_source", "Peaks", "{}", per_seed=False),
)


def with_points(jobs: pd.DataFrame) -> pd.DataFrame:
    """``jobs`` with each job's roofline point (its ``roofline`` column, as recorded) spread
    over the columns ``FIELDS``, all missing where a job has no valid point."""
    rows = [_fields(recorded) for recorded in jobs["roofline"]]
    points = pd.DataFrame(rows, columns=list(FIELDS), index=jobs.index)
    points[list(NUMERIC_FIELDS)] = points[list(NUMERIC_FIELDS)].apply(pd.to_numeric)
    return pd.concat([jobs.drop(columns=list(FIELDS), errors="ignore"), points], axis=1)


def _fields(recorded: Any) -> dict[str, Any]:
    point = RooflinePoint.from_dict(recorded) if isinstance(recorded, Mapping) else None
    if point is None:
        return dict.fromkeys(FIELDS)
    values = (
        point.intensity,
        point.achieved,
        point.roof,
        point.roof_fraction,
        point.bound,
        point.precision,
        point.peaks.flops_per_s,
        point.peaks.bytes_per_s,
        point.peaks.source,
    )
    return dict(zip(FIELDS, values, strict=True))


def roofline_table(jobs: pd.DataFrame) -> Table:
    """Per model and variant: where its training step lies under the roofs."""
    return aggregate(
        with_points(jobs),
        COLUMNS,
        name="roofline",
        title="Roofline of the training step (mean ± std over seeds)",
        note="Achieved: the step's FLOPs (multiply-add = 2) over its measured compute time "
        "(steady epochs); intensity: FLOPs over the minimum bytes a step moves; roof: "
        "min(peak compute, intensity × peak bandwidth); compute-bound where the intensity "
        "reaches peak compute / peak bandwidth. Peaks: the datasheet's on a GPU, measured on "
        "the CPU (docs/profiling.md).",
    )


def roofline_fact(members: pd.DataFrame) -> str | None:
    """``memory-bound, 12% of the roof`` for a model's jobs that ended ok; None without a
    point."""
    members = with_points(members)
    ok = members[(members["status"] == "ok") & members["roofline_bound"].notna()]
    if ok.empty:
        return None
    share = 100 * pd.to_numeric(ok["roofline_fraction"]).mean()
    return f"{ok['roofline_bound'].iloc[0]}, {share:.3g}% of the roof (training step)"


def roofline_figure(ok: pd.DataFrame, palette: Palette) -> Figure:
    """Achieved FLOP/s against intensity (log-log), one labelled point per model and variant
    (mean over seeds), under the roof of each set of device peaks and precision in the data."""
    points = with_points(ok).dropna(subset=["roofline_intensity", "roofline_achieved"])
    if points.empty:
        raise Skipped("no job has a roofline point (needs a steady epoch and device peaks)")
    means = points.groupby("group", sort=False)[["roofline_intensity", "roofline_achieved"]]
    stats = means.mean()
    roofs = points[
        ["peaks_source", "roofline_precision", "peak_flops_per_s", "peak_bytes_per_s"]
    ].drop_duplicates()
    ridges = list(roofs["peak_flops_per_s"] / roofs["peak_bytes_per_s"])
    intensities = [*stats["roofline_intensity"], *ridges]
    x = np.geomspace(min(intensities) / 4, max(intensities) * 4, 200)
    figure, axes = new_figure(8, 5.5)
    ax = axes[0, 0]
    for index, (source, precision, flops, bandwidth) in enumerate(roofs.itertuples(index=False)):
        peaks = DevicePeaks(flops, bandwidth, str(source))
        label = f"roof, {precision} ({source} peaks: {flops / 1e9:.4g} GFLOP/s, "
        label += f"{bandwidth / 1e9:.4g} GB/s)"
        style = ROOF_STYLES[index % len(ROOF_STYLES)]
        ax.plot(x, [roof(i, peaks) / 1e9 for i in x], "0.35", linestyle=style, label=label)
        ax.axvline(peaks.ridge, color="0.6", linestyle=":", linewidth=0.8)
    for group, row in stats.iterrows():
        where = (row["roofline_intensity"], row["roofline_achieved"] / 1e9)
        ax.scatter(*where, s=50, color=palette[group], zorder=3)
        ax.annotate(str(group), where, xytext=(6, 4), textcoords="offset points", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Arithmetic intensity (FLOP per byte moved at least, log scale)")
    ax.set_ylabel("Achieved GFLOP/s (multiply-add = 2, log scale)")
    ax.legend(loc="lower right")
    ax.set_title("Roofline of the training step (points: mean over seeds; dotted: ridge points)")
    return figure
