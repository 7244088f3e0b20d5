"""Regression thresholds: how far a metric may move in its bad direction before ``bench compare``
fails (parsing and checking only; the comparison itself is ``bench.regress.compare``).

Suites give them in their ``thresholds`` table, ``bench compare`` in ``--fail-on``; a metric named
by neither has its default from ``bench.results.records.METRICS``. See docs/regressions.md.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.errors import BenchError, UnknownNameError
from bench.results.records import METRICS


@dataclass(frozen=True)
class Threshold:
    """How far a metric may move in its bad direction: ``amount`` % or ``amount`` units."""

    metric: str
    amount: float
    relative: bool
    default: bool = field(default=False, compare=False)  # from METRICS, not a suite or flag

    def __str__(self) -> str:
        sign = "-" if METRICS[self.metric].higher_is_better else "+"
        return f"{sign}{self.amount:g}{'%' if self.relative else ''}"


def parse_threshold(metric: str, spec: Any, where: str) -> Threshold:
    """``"+10%"`` (relative) or ``-1.0`` / ``"-1.0"`` (absolute, in the metric's unit).

    The sign names the bad direction and must agree with the metric's: ``+`` for a metric where
    lower is better, ``-`` where higher is better (an unsigned value counts as ``+``).
    """
    if metric not in METRICS:
        raise UnknownNameError("metric", metric, METRICS, where=where)
    if isinstance(spec, bool) or not isinstance(spec, (str, int, float)):
        raise BenchError(f"{where}: threshold for {metric} must be like '+10%' or -1.0")
    text = str(spec).strip()
    relative = text.endswith("%")
    try:
        value = float(text.removesuffix("%"))
    except ValueError:
        raise BenchError(
            f"{where}: threshold {text!r} for {metric} must be like '+10%' or -1.0"
        ) from None
    if not math.isfinite(value):
        raise BenchError(f"{where}: threshold {text!r} for {metric} must be finite")
    higher_is_better = METRICS[metric].higher_is_better
    if (math.copysign(1.0, value) < 0) != higher_is_better:
        sign, why = ("-", "higher") if higher_is_better else ("+", "lower")
        raise BenchError(
            f"{where}: threshold {text!r} for {metric} must start with '{sign}' "
            f"({why} is better for {metric}, the sign names the bad direction)"
        )
    return Threshold(metric, abs(value), relative)


GATING_OFF = "none"
"""``--fail-on none``: no threshold at all, from the suites or the defaults."""


def default_thresholds() -> dict[str, Threshold]:
    """The default threshold of every metric of ``METRICS`` that has one."""
    return {
        name: dataclasses.replace(
            parse_threshold(name, m.default_threshold, "METRICS"), default=True
        )
        for name, m in METRICS.items()
        if m.default_threshold is not None
    }


def parse_fail_on(text: str) -> dict[str, Threshold] | None:
    """``--fail-on 'epoch_time_s:+10%,test_acc:-1.0'`` → thresholds by metric; ``None`` for
    ``--fail-on none`` (gating off)."""
    if text.strip().lower() == GATING_OFF:
        return None
    out: dict[str, Threshold] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        metric, sep, spec = item.partition(":")
        if not sep or not metric.strip() or not spec.strip():
            raise BenchError(f"--fail-on {item!r}: expected METRIC:THRESHOLD, e.g. test_acc:-1.0")
        out[metric.strip()] = parse_threshold(metric.strip(), spec, "--fail-on")
    return out


def parse_threshold_table(table: Any, where: str) -> dict[str, Threshold]:
    """A suite's ``thresholds`` table → thresholds by metric."""
    if not isinstance(table, Mapping):
        raise BenchError(f"{where} must be a table of metric = threshold")
    return {metric: parse_threshold(metric, spec, where) for metric, spec in table.items()}
