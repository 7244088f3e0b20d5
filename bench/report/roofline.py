"""The roofline in the report: each job's training step (``extra.roofline``) and inference
batches (each inference row's ``roofline``) as columns of their frames, a table per model and
variant, and the log-log figure with the device's roofs.

Units: FLOP/s with one multiply-add = 2 FLOPs; intensity in FLOP per byte (``docs/
profiling.md`` says how the minimum bytes are estimated).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.measure.roofline import DevicePeaks, RooflinePoint, roof
from bench.report.figures import Palette, Skipped, new_figure
from bench.report.labels import place_labels
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
ROOF_FIELDS = ["peaks_source", "roofline_precision", "peak_flops_per_s", "peak_bytes_per_s"]
POINT_FIELDS = ["roofline_intensity", "roofline_achieved"]
ROOF_STYLES = ("-", "--", "-.")  # one per set of peaks and precision
# each kind of point: its marker, its legend entry and its words in the title
KINDS = {
    "training step": ("o", "training step", "the training step"),
    "inference batch": ("^", "inference batch (labelled model@batch)", "inference batches"),
}
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
STEP = Column("step", "Step", "{}", per_seed=False)
NOTE = (
    "Achieved: the step's FLOPs (multiply-add = 2) over its measured compute time (steady "
    "epochs); intensity: FLOPs over the minimum bytes a step moves; roof: min(peak compute, "
    "intensity × peak bandwidth); compute-bound where the intensity reaches peak compute / peak "
    "bandwidth. Peaks: the datasheet's on a GPU, measured on the CPU (docs/profiling.md)."
)
INFERENCE_NOTE = (
    " Inference batches (model@batch): the forward FLOPs of the batch over its time (batch / "
    "images/s) and the minimum bytes of a forward pass (weights read once, activations written "
    "and read once)."
)


def with_points(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (jobs or inference rows) with each row's roofline point (its ``roofline``
    column, as recorded) spread over the columns ``FIELDS``, all missing where a row has no
    valid point (or the frame no ``roofline`` column: runs recorded before rows carried one)."""
    recorded = frame["roofline"] if "roofline" in frame else [None] * len(frame)
    points = pd.DataFrame([_fields(r) for r in recorded], columns=list(FIELDS), index=frame.index)
    points[list(NUMERIC_FIELDS)] = points[list(NUMERIC_FIELDS)].apply(pd.to_numeric)
    return pd.concat([frame.drop(columns=list(FIELDS), errors="ignore"), points], axis=1)


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


def inference_points(rows: pd.DataFrame) -> pd.DataFrame:
    """The inference rows (``frames.inference_frame``) with a valid roofline point, labelled
    ``model@batch`` (and the precision, where a model was timed in more than one)."""
    points = with_points(rows).dropna(subset=POINT_FIELDS)
    label = points["group"].astype(str) + "@" + points["batch_size"].map("{:.0f}".format)
    several = points.groupby("group")["precision"].transform("nunique") > 1
    return points.assign(label=label.where(~several, label + " " + points["precision"]))


def roofline_table(jobs: pd.DataFrame, inference: pd.DataFrame) -> Table:
    """Per model and variant: where its training step lies under the roofs, followed by its
    inference batches where it has any."""
    training = with_points(jobs)
    batches = inference_points(inference)
    if batches.empty:
        title = "Roofline of the training step (mean ± std over seeds)"
        return aggregate(training, COLUMNS, name="roofline", title=title, note=NOTE)
    order = {group: index for index, group in enumerate(jobs["group"].unique())}
    steps = zip(jobs["batch_size"], jobs["precision"], strict=True)
    lines = pd.concat(
        [
            training.assign(
                step=[_step("training step", b, p) for b, p in steps],
                kind=0,
                order=training["group"].map(order),
            ),
            batches.assign(
                step=[_step("inference batch", None, p) for p in batches["precision"]],
                kind=1,
                order=batches["group"].map(order),
                group=batches["label"],
            ),
        ],
        ignore_index=True,
    )
    return aggregate(
        lines.sort_values(["order", "kind"], kind="stable"),
        (STEP, *COLUMNS),
        name="roofline",
        title="Roofline of the training step and of inference batches (mean ± std over seeds)",
        note=NOTE + INFERENCE_NOTE,
    )


def _step(kind: str, batch: Any, precision: Any) -> str:
    """``training step (batch 64, fp32)``, with what of the batch and precision is known."""
    facts = [f"batch {batch:.0f}"] if pd.notna(batch) else []
    facts += [precision] if isinstance(precision, str) else []
    return f"{kind} ({', '.join(facts)})" if facts else kind


def roofline_fact(members: pd.DataFrame) -> str | None:
    """``memory-bound, 12% of the roof`` for a model's jobs that ended ok; None without a
    point."""
    members = with_points(members)
    ok = members[(members["status"] == "ok") & members["roofline_bound"].notna()]
    if ok.empty:
        return None
    share = 100 * pd.to_numeric(ok["roofline_fraction"]).mean()
    return f"{ok['roofline_bound'].iloc[0]}, {share:.3g}% of the roof (training step)"


def roofline_figure(ok: pd.DataFrame, inference: pd.DataFrame, palette: Palette) -> Figure:
    """Achieved FLOP/s against intensity (log-log): one labelled point per model and variant
    for its training step and one per model, batch size and precision for its inference
    batches (means over seeds), under the roof of each set of device peaks and precision in the
    data."""
    training = with_points(ok).dropna(subset=POINT_FIELDS)
    batches = inference_points(inference)
    if training.empty and batches.empty:
        raise Skipped("no job has a roofline point (needs a steady epoch and device peaks)")
    points = {
        "training step": training.groupby("group", sort=False)[POINT_FIELDS].mean(),
        "inference batch": batches.groupby(["label", "group"], sort=False)[POINT_FIELDS].mean(),
    }
    roofs = pd.concat([training[ROOF_FIELDS], batches[ROOF_FIELDS]]).drop_duplicates()
    ridges = list(roofs["peak_flops_per_s"] / roofs["peak_bytes_per_s"])
    intensities = [*training["roofline_intensity"], *batches["roofline_intensity"], *ridges]
    x = np.geomspace(min(intensities) / 4, max(intensities) * 4, 200)
    figure, axes = new_figure(8, 6.5)
    ax = axes[0, 0]
    for index, (source, precision, flops, bandwidth) in enumerate(roofs.itertuples(index=False)):
        peaks = DevicePeaks(flops, bandwidth, str(source))
        label = f"roof, {precision} ({source} peaks: {flops / 1e9:.4g} GFLOP/s, "
        label += f"{bandwidth / 1e9:.4g} GB/s)"
        style = ROOF_STYLES[index % len(ROOF_STYLES)]
        ax.plot(x, [roof(i, peaks) / 1e9 for i in x], "0.35", linestyle=style, label=label)
        ax.axvline(peaks.ridge, color="0.6", linestyle=":", linewidth=0.8)
    labelled: list[tuple[float, float, str]] = []
    for kind, stats in points.items():
        for key, row in stats.iterrows():
            name, group = key if isinstance(key, tuple) else (key, key)
            where = (row["roofline_intensity"], row["roofline_achieved"] / 1e9)
            ax.scatter(*where, s=50, marker=KINDS[kind][0], color=palette[group], zorder=3)
            labelled.append((*where, str(name)))
    kinds = [kind for kind, stats in points.items() if not stats.empty]
    handles = [
        Line2D([], [], marker=KINDS[k][0], linestyle="", color="0.35", label=KINDS[k][1])
        for k in kinds
    ]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Arithmetic intensity (FLOP per byte moved at least, log scale)")
    ax.set_ylabel("Achieved GFLOP/s (multiply-add = 2, log scale)")
    figure.legend(
        handles=[*ax.get_legend_handles_labels()[0], *handles], loc="outside lower center"
    )
    xs, ys, names = zip(*labelled, strict=True)
    place_labels(ax, xs, ys, names)
    what = " and ".join(KINDS[k][2] for k in kinds)
    ax.set_title(f"Roofline of {what} (points: mean over seeds; dotted: ridge points)")
    return figure
