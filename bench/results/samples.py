"""Per-pass and per-step times kept in records in compact form: what a run itself knows of the
spread of its time metrics, for ``bench compare`` where the history cannot give their noise.

A timing of many forward passes (inference) or training steps is kept as a sorted sample of at
most ``SAMPLE_CAP`` values in milliseconds: every value where there are that few, else the
``SAMPLE_CAP`` order statistics at evenly spaced ranks (the values ranked (i + ½)·n / cap, for
i = 0 … cap − 1). Such a sample keeps the median, the mean and the spread of the whole, which
is what a bootstrap of the median or the mean resamples; it stands for at most ``SAMPLE_CAP``
passes, so tests on it err towards calling a change noise. Values are rounded to four
significant digits (0.05 % at most), so a record stays small: 32 values take about 250 bytes.

A job record's ``samples`` maps each metric in ``SAMPLED_METRICS`` to the sample it is judged
by; ``bench.results.checks`` checks them where they are read. See docs/regressions.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SAMPLE_CAP = 32
"""The most values a sample keeps."""


@dataclass(frozen=True)
class Sampled:
    """What a metric's sample times and what the metric makes of those times."""

    source: str  # "passes": the timed forward passes; "steps": the steady epochs' steps
    statistic: str  # "median" or "mean" (a throughput or a sum of times moves with the mean)


SAMPLED_METRICS: Mapping[str, Sampled] = {
    "latency_ms_p50": Sampled("passes", "median"),
    "inference_images_per_s": Sampled("passes", "mean"),
    "epoch_time_s": Sampled("steps", "mean"),
    "images_per_s": Sampled("steps", "mean"),
}
"""The metrics a job record keeps a sample for: the latency at batch 1 is the median of its
passes, the inference throughput the images over the summed passes of the largest batch; the
steady-state epoch time and training throughput sum the training steps of the steady epochs
(each from the fetch of its batch to the next fetch), the epoch time with its evaluation."""


def compact(values_ms: Iterable[float]) -> list[float]:
    """``values_ms`` sorted, cut down to ``SAMPLE_CAP`` evenly ranked order statistics where
    there are more, and rounded to four significant digits."""
    ordered = sorted(values_ms)
    count = len(ordered)
    if count > SAMPLE_CAP:
        ordered = [ordered[int((i + 0.5) * count / SAMPLE_CAP)] for i in range(SAMPLE_CAP)]
    return [float(f"{value:.4g}") for value in ordered]


def sample_values(samples: Mapping[str, Any] | None) -> dict[str, tuple[float, ...]]:
    """The non-empty samples of ``SAMPLED_METRICS`` in ``samples``, as checked where they were
    read (``bench.results.checks.SAMPLES_FIELD``)."""
    return {
        metric: tuple(float(v) for v in sample)
        for metric in SAMPLED_METRICS
        if (sample := (samples or {}).get(metric))
    }
