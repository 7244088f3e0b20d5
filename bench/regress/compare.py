"""Comparing a new run with a baseline: thresholds, statistics over seeds, verdicts.

Jobs are grouped by (model, variant) and each metric is aggregated over seeds. A change is a
regression when it goes past the metric's threshold in the bad direction, when the machine's
run-to-run noise of the metric is known (``MachineNoise``, from the history) lies beyond
``NOISE_K`` times it, and, when both sides have two or more seeds, a one-sided Welch t-test puts
it outside the seed noise (p < ``ALPHA``). With a single seed on either side and no known machine
noise the threshold alone decides. See docs/regressions.md.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bench.errors import BenchError
from bench.results.records import METRICS, Metric
from bench.results.run_results import JobRow, RunResults
from bench.suite.thresholds import Threshold, default_thresholds, parse_threshold_table

ALPHA = 0.05
"""Significance level of the one-sided Welch t-test."""
NOISE_K = 3.0
"""A change must exceed this many times the machine's run-to-run σ (where known) to count."""

Verdict = Literal["regression", "noise", "ok", "improved", "info"]
"""``regression``: past the threshold and outside the noise; ``noise``: past the threshold but
inside the machine's or the seeds' noise; ``ok``: within the threshold; ``improved``: past the
threshold in the good direction and outside the noise; ``info``: no threshold for this metric."""


@dataclass(frozen=True)
class MachineNoise:
    """A metric's run-to-run spread on one machine: ``runs`` earlier runs of the same suite,
    model and variant were found; ``sigma`` (in the metric's unit) is ``None`` with too few."""

    runs: int
    sigma: float | None = None


def resolve_thresholds(
    new: RunResults, base: RunResults, fail_on: Mapping[str, Threshold] | None
) -> dict[str, Threshold]:
    """The metrics' defaults, updated by the baseline's suite thresholds, the new run's, then
    ``--fail-on``; none at all when ``fail_on`` is ``None`` (``--fail-on none``)."""
    if fail_on is None:
        return {}
    out = default_thresholds()
    for results in (base, new):
        table = results.suite.get("thresholds") or {}
        out.update(parse_threshold_table(table, f"{results.source}: suite.thresholds"))
    out.update(fail_on)
    return out


@dataclass(frozen=True)
class Stats:
    """One metric of one (model, variant) over its seeds."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        """Sample standard deviation (0 for a single value)."""
        return statistics.stdev(self.values) if self.n > 1 else 0.0


def welch_p(new: Sequence[float], base: Sequence[float], alternative: str) -> float:
    """One-sided Welch t-test p-value that ``new``'s mean is ``greater``/``less`` than ``base``'s.

    Two constant samples have no noise: their p-value is 0 when the means differ that way.
    """
    from scipy import stats

    if statistics.pvariance(new) == 0 and statistics.pvariance(base) == 0:
        diff = statistics.fmean(new) - statistics.fmean(base)
        return 0.0 if (diff > 0 if alternative == "greater" else diff < 0) else 1.0
    result = stats.ttest_ind(new, base, equal_var=False, alternative=alternative)
    return float(result.pvalue)


@dataclass(frozen=True)
class MetricChange:
    """One metric of one (model, variant): both sides, the change and the verdict."""

    model: str
    variant: str
    metric: str
    base: Stats
    new: Stats
    threshold: Threshold | None
    p_value: float | None  # one-sided Welch, in the direction the mean moved
    verdict: Verdict
    noise: MachineNoise | None = None  # None: a metric whose noise is the seeds' alone

    @property
    def info(self) -> Metric:
        return METRICS[self.metric]

    @property
    def delta(self) -> float:
        return self.new.mean - self.base.mean

    @property
    def delta_pct(self) -> float:
        return relative_change(self.base.mean, self.new.mean)


def relative_change(base: float, new: float) -> float:
    """``new - base`` in % of ``|base|`` (±inf from a zero baseline)."""
    if new == base:
        return 0.0
    if base == 0:
        return math.copysign(math.inf, new - base)
    return 100.0 * (new - base) / abs(base)


def judge(
    metric: str,
    base: Stats,
    new: Stats,
    threshold: Threshold | None,
    alpha: float = ALPHA,
    noise: MachineNoise | None = None,
) -> tuple[float | None, Verdict]:
    """The p-value (``None`` with fewer than two seeds a side) and the verdict of one change."""
    delta = new.mean - base.mean
    p_value = None
    if base.n >= 2 and new.n >= 2 and delta != 0:
        p_value = welch_p(new.values, base.values, "greater" if delta > 0 else "less")
    if threshold is None:
        return p_value, "info"
    size = relative_change(base.mean, new.mean) if threshold.relative else delta
    if abs(size) <= threshold.amount:
        return p_value, "ok"
    if noise is not None and noise.sigma is not None and abs(delta) <= NOISE_K * noise.sigma:
        return p_value, "noise"
    if p_value is not None and p_value >= alpha:
        return p_value, "noise"
    worse = delta < 0 if METRICS[metric].higher_is_better else delta > 0
    return p_value, "regression" if worse else "improved"


@dataclass(frozen=True)
class FailedModel:
    """A (model, variant) with ok jobs in the baseline and none in the new run."""

    model: str
    variant: str
    statuses: tuple[str, ...]


@dataclass(frozen=True)
class Comparison:
    """The outcome of ``bench compare``."""

    new: RunResults
    base: RunResults
    thresholds: Mapping[str, Threshold]
    alpha: float
    changes: tuple[MetricChange, ...]
    failed: tuple[FailedModel, ...]
    only_base: tuple[tuple[str, str], ...]  # (model, variant)
    only_new: tuple[tuple[str, str], ...]

    @property
    def cross_machine(self) -> bool:
        return self.new.machine_id != self.base.machine_id

    @property
    def cross_suite(self) -> bool:
        return self.new.suite_name != self.base.suite_name

    @property
    def regressions(self) -> tuple[MetricChange, ...]:
        return tuple(c for c in self.changes if c.verdict == "regression")

    @property
    def regressed(self) -> bool:
        return bool(self.regressions or self.failed)


def model_label(model: str, variant: str) -> str:
    """``model`` or ``model[variant]``."""
    return f"{model}[{variant}]" if variant else model


def compare_runs(
    new: RunResults,
    base: RunResults,
    thresholds: Mapping[str, Threshold],
    *,
    allow_cross_machine: bool = False,
    allow_cross_suite: bool = False,
    alpha: float = ALPHA,
    noise: Mapping[tuple[str, str, str], MachineNoise] | None = None,
) -> Comparison:
    """Compare every metric of every (model, variant) present on both sides; ``noise`` holds
    the machine's run-to-run noise by (model, variant, metric) (unknown where absent). Runs of
    two machines or of two suites are refused unless allowed."""
    if new.machine_id != base.machine_id and not allow_cross_machine:
        raise BenchError(
            f"{new.source} was measured on machine {new.machine_id!r} and {base.source} on "
            f"{base.machine_id!r}; pass --allow-cross-machine to compare them anyway"
        )
    if new.suite_name != base.suite_name and not allow_cross_suite:
        raise BenchError(
            f"{new.source} is a run of suite {new.suite_name!r} and {base.source} of "
            f"{base.suite_name!r}; pass --allow-cross-suite to compare them anyway"
        )
    new_groups, base_groups = _by_model(new.jobs), _by_model(base.jobs)
    changes: list[MetricChange] = []
    failed: list[FailedModel] = []
    for key, base_jobs in base_groups.items():
        base_ok = _ok(base_jobs)
        new_ok = _ok(new_groups.get(key, []))
        if key in new_groups and base_ok and not new_ok:
            statuses = tuple(sorted({j.status for j in new_groups[key]}))
            failed.append(FailedModel(*key, statuses))
        for metric in METRICS:
            base_values = _values(base_ok, metric)
            new_values = _values(new_ok, metric)
            if not base_values or not new_values:
                continue
            b, n = Stats(base_values), Stats(new_values)
            threshold = thresholds.get(metric)
            floor = None
            if METRICS[metric].machine_noise:
                floor = (noise or {}).get((*key, metric), MachineNoise(runs=0))
            p_value, verdict = judge(metric, b, n, threshold, alpha, floor)
            changes.append(MetricChange(*key, metric, b, n, threshold, p_value, verdict, floor))
    return Comparison(
        new=new,
        base=base,
        thresholds=dict(thresholds),
        alpha=alpha,
        changes=tuple(changes),
        failed=tuple(failed),
        only_base=tuple(k for k in base_groups if k not in new_groups),
        only_new=tuple(k for k in new_groups if k not in base_groups),
    )


def _by_model(jobs: Iterable[JobRow]) -> dict[tuple[str, str], list[JobRow]]:
    groups: dict[tuple[str, str], list[JobRow]] = {}
    for job in jobs:
        groups.setdefault((job.model, job.variant), []).append(job)
    return groups


def _ok(jobs: Iterable[JobRow]) -> list[JobRow]:
    return [j for j in jobs if j.status == "ok"]


def _values(jobs: Iterable[JobRow], metric: str) -> tuple[float, ...]:
    return tuple(v for j in jobs if (v := j.metrics.get(metric)) is not None)
