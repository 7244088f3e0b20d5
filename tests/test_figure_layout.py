"""The report's charts as a reader sees them: labels that do not overlap where points crowd,
legends outside the data and the titles. Each is checked on the figure the report's code
builds, with the boxes matplotlib computes for its texts (``get_window_extent``)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from bench.measure.roofline import DevicePeaks, RooflinePoint
from bench.report import figures
from bench.report.inference_figures import (
    NO_POWER,
    operations_vs_time,
    throughput_and_power_vs_batch,
)
from bench.report.model_figures import ConfusionPanel, confusion_matrices, reconstructions
from bench.report.roofline import roofline_figure

LENETS = ["lenet5 [digits]", "lenet5-relu [digits]"]
GROUPS = [*LENETS, "resnet18-cifar [synthetic]", "conv-autoencoder [synthetic]"]
PEAKS = DevicePeaks(181.4e9, 9.754e9, "measured")
# (intensity FLOP/byte, achieved GFLOP/s): the smoke suite's points on a 2-core CPU, the two
# LeNets' training steps and inference batches all but on top of each other
TRAINING = {GROUPS[0]: (16.1, 0.73), GROUPS[1]: (15.8, 0.75), GROUPS[2]: (144, 11.4)}
INFERENCE = {
    (GROUPS[0], 1): (2.28, 0.408),
    (GROUPS[1], 1): (2.27, 0.41),
    (GROUPS[0], 8): (5.6, 1.4),
    (GROUPS[1], 8): (5.52, 1.5),
    (GROUPS[2], 8): (54.4, 8.26),
}


def _point(intensity: float, gflops_per_s: float) -> dict[str, object]:
    flops = 1e9
    return RooflinePoint(
        flops, flops / (gflops_per_s * 1e9), flops / intensity, "fp32", PEAKS
    ).to_dict()


@pytest.fixture
def style() -> Iterator[None]:
    with matplotlib.rc_context(figures.STYLE):  # type: ignore[arg-type]
        yield


def _boxes(figure: Figure) -> list[Bbox]:
    figure.draw_without_rendering()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    return [text.get_window_extent(renderer) for text in figure.axes[0].texts]


def _overlaps(boxes: list[Bbox]) -> list[tuple[int, int]]:
    return [
        (i, j) for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2) if a.overlaps(b)
    ]


def _outside_the_axes(figure: Figure) -> bool:
    """Whether the figure's one legend (its own or its axes') keeps off the axes and stays
    inside the figure."""
    figure.draw_without_rendering()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    frame = figure.axes[0].get_window_extent(renderer)
    (legend,) = [*figure.legends, *filter(None, (ax.get_legend() for ax in figure.axes))]
    box = legend.get_window_extent(renderer)
    return not box.overlaps(frame) and _inside_the_figure(figure, legend)


def test_accuracy_vs_compute_labels_do_not_overlap_and_the_size_legend_is_outside(
    style: None,
) -> None:
    ok = pd.DataFrame(
        {
            "group": GROUPS,
            "test_acc": [95.56, 95.0, 57.81, 100.0],
            "flops": [833e3, 833e3, 1.11e9, 6e7],
            "params": [61_706, 61_706, 11_173_962, 4_680_643],
        }
    )
    figure = figures.accuracy_vs_flops(ok, figures.palette_for(GROUPS))
    boxes = _boxes(figure)
    assert [t.get_text() for t in figure.axes[0].texts] == GROUPS
    assert _overlaps(boxes) == []
    assert _outside_the_axes(figure)


def test_roofline_labels_do_not_overlap_and_the_legend_is_outside(style: None) -> None:
    ok = pd.DataFrame(
        {"group": list(TRAINING), "roofline": [_point(*p) for p in TRAINING.values()]}
    )
    inference = pd.DataFrame(
        {
            "group": [g for g, _ in INFERENCE],
            "batch_size": [b for _, b in INFERENCE],
            "precision": "fp32",
            "roofline": [_point(*p) for p in INFERENCE.values()],
        }
    )
    figure = roofline_figure(ok, inference, figures.palette_for(GROUPS))
    labels = [t.get_text() for t in figure.axes[0].texts]
    assert labels == [*TRAINING, *(f"{g}@{b}" for g, b in INFERENCE)]
    assert _overlaps(_boxes(figure)) == []
    assert _outside_the_axes(figure)


def _inside_the_figure(figure: Figure, artist: object) -> bool:
    figure.draw_without_rendering()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    box = artist.get_window_extent(renderer)  # type: ignore[attr-defined]
    whole = figure.bbox
    return bool(
        box.x0 >= whole.x0 and box.x1 <= whole.x1 and box.y0 >= whole.y0 and box.y1 <= whole.y1
    )


def test_the_learning_curves_legend_leaves_the_title_and_the_data_clear(style: None) -> None:
    epochs = pd.DataFrame(
        {
            "phase": "pretrain",
            "group": "conv-autoencoder [synthetic]",
            "epoch": [1, 2],
            "train_loss": [0.276, 0.230],
            "test_loss": [0.241, 0.212],
        }
    )
    palette = figures.palette_for(["conv-autoencoder [synthetic]"])
    figure = figures.learning_curves(epochs, "pretrain", palette)
    figure.draw_without_rendering()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    (ax,) = figure.axes
    (legend,) = [*figure.legends, *filter(None, [ax.get_legend()])]
    box = legend.get_window_extent(renderer)
    assert not box.overlaps(figure._suptitle.get_window_extent(renderer))  # type: ignore[union-attr]
    assert not box.overlaps(ax.get_window_extent(renderer))
    assert _inside_the_figure(figure, legend)


def _inference_rows() -> pd.DataFrame:
    """The smoke suite's four models timed at batch 1 and 8 on a CPU: the two LeNets with the
    same FLOPs and near-equal times."""
    return pd.DataFrame(
        {
            "group": GROUPS * 2,
            "status": "ok",
            "precision": "fp32",
            "batch_size": [1] * 4 + [8] * 4,
            "images_per_s": [4066.0, 5405.0, 0.83, 1945.0, 20000.0, 22000.0, 7.0, 420.0],
            "latency_ms_p50": [0.246, 0.185, 1210.0, 0.514, 0.4, 0.36, 1140.0, 19.0],
            "peak_mem_mib": None,
            "peak_rss_mib": [846.0, 857.0, 1181.0, 1131.0, 856.0, 857.0, 1181.0, 1131.0],
            "power_w": None,
            "flops": [833e3, 833e3, 1.11e9, 1.9e7] * 2,
        }
    )


def test_operations_vs_time_labels_of_equal_operations_do_not_overlap(style: None) -> None:
    figure = operations_vs_time(_inference_rows(), figures.palette_for(GROUPS))
    assert [t.get_text() for t in figure.axes[0].texts] == GROUPS
    assert _overlaps(_boxes(figure)) == []


def test_throughput_without_power_readings_is_one_panel_and_a_note_inside_the_figure(
    style: None,
) -> None:
    rows = _inference_rows()
    figure = throughput_and_power_vs_batch(rows, figures.palette_for(GROUPS))
    assert len(figure.axes) == 1
    note = figure._supxlabel  # type: ignore[attr-defined]
    assert note.get_text() == NO_POWER
    assert _inside_the_figure(figure, note)
    with_power = throughput_and_power_vs_batch(
        rows.assign(power_w=range(10, 18)), figures.palette_for(GROUPS)
    )
    assert len(with_power.axes) == 2 and with_power._supxlabel is None  # type: ignore[attr-defined]


def test_reconstructions_are_each_stretched_for_display_and_say_so(style: None) -> None:
    rng = np.random.default_rng(0)
    inputs = rng.random((2, 3, 8, 8), dtype=np.float32)
    outputs = (0.01 + 0.02 * inputs).astype(np.float32)  # a short run: all but black
    outputs[1] *= 0.5
    figure = reconstructions("conv-autoencoder", "job", inputs, outputs)
    top, bottom = figure.axes
    shown = bottom.images[0].get_array()
    first, second = shown[1:9, 1:9], shown[1:9, 10:18]  # the two tiles, inside the padding
    for tile in (first, second):
        assert (float(tile.min()), float(tile.max())) == (0.0, 1.0)
    assert bottom.get_title() == (
        "Reconstruction: each image scaled to its own min–max for display "
        f"(values {outputs.min():.3g} to {outputs.max():.3g})"
    )
    np.testing.assert_allclose(top.images[0].get_array()[1:9, 1:9], inputs[0].transpose(1, 2, 0))


def test_confusion_matrix_class_names_are_as_large_as_every_other_tick_label(
    style: None,
) -> None:
    classes = [f"class_{i}" for i in range(10)]
    panel = ConfusionPanel("lenet5", np.eye(10, dtype=int) * 36, classes, 1)
    figure = confusion_matrices([panel])
    ax = figure.axes[0]
    sizes = {label.get_fontsize() for label in [*ax.get_xticklabels(), *ax.get_yticklabels()]}
    assert sizes == {figures.STYLE["xtick.labelsize"]} == {8}
