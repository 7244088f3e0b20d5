"""Point labels that do not overlap: each label starts beside its point and adjustText moves
crowded ones apart (with a thin line back to the point where one moved far)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
from adjustText import adjust_text
from matplotlib.axes import Axes
from matplotlib.collections import Collection
from matplotlib.figure import Figure
from matplotlib.text import Text

STAGGER_PX = 3.0


def place_labels(
    ax: Axes,
    xs: Sequence[float],
    ys: Sequence[float],
    labels: Sequence[str],
    markers: Collection | None = None,
) -> list[Text]:
    """Label each point (``xs``, ``ys`` in data coordinates) of ``ax`` and move the labels
    until no two overlap and none covers a point (nor one of ``markers``, drawn larger than a
    point); the axes' limits must already be final. The figure is laid out first, so the
    labels are placed in the axes' final size."""
    cast(Figure, ax.figure).draw_without_rendering()
    # a label whose point is level with an earlier one starts a few pixels higher: labels of
    # points with equal values would otherwise be pushed straight sideways, never apart
    shown = ax.transData.transform(np.column_stack([xs, ys]))
    level = [int(np.sum(np.abs(shown[:i, 1] - y) < 1.0)) for i, (_, y) in enumerate(shown)]
    starts = ax.transData.inverted().transform(
        shown + np.column_stack([np.zeros(len(level)), STAGGER_PX * np.array(level)])
    )
    texts = [
        ax.text(x, y, label, fontsize=8, zorder=4)
        for (x, y), label in zip(starts, labels, strict=True)
    ]
    if len(texts) > 1:
        adjust_text(
            texts,
            x=list(xs),
            y=list(ys),
            objects=markers,
            ax=ax,
            expand=(1.1, 1.3),
            arrowprops={"arrowstyle": "-", "color": "0.5", "linewidth": 0.5},
        )
    return texts
