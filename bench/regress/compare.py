"""Comparing a new run with a baseline: thresholds, statistics over seeds, verdicts.

Jobs are grouped by (model, variant) and each metric is aggregated over seeds. A change is a
regression when it goes past the metric's threshold in the bad direction; when the machine's
run-to-run noise of the metric is known (``MachineNoise``, from the history) lies beyond
``NOISE_K`` times it, and where the history does not know it but both runs kept the passes or
steps behind the metric (``bench.results.samples``), lies beyond their own noise (``RunSpread``:
the one-sided bootstrap margin of the ratio of their medians or means); and, when both sides
have two or more seeds, a one-sided Welch t-test puts it outside the seed noise (p < ``ALPHA``).
With a single seed on either side and no known noise the threshold alone decides. See
docs/regressions.md.
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
from bench.results.samples import SAMPLED_METRICS, Sampled
from bench.suite.thresholds import Threshold, default_thresholds, parse_threshold_table

ALPHA = 0.05
"""Significance level of the one-sided Welch t-test."""
NOISE_K = 3.0
"""A change must exceed this many times the machine's run-to-run σ (where known) to count."""
MIN_SAMPLE = 8
"""Pass or step times a side needs before their spread is used as the noise."""
RESAMPLES = 2000
"""Bootstrap resamples of the within-run noise (drawn from a fixed seed: verdicts repeat)."""

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


@dataclass(frozen=True)
class RunSpread:
    """A change's noise from the two runs' own pass or step times: ``margin`` is how far the
    one-sided (1 − ``ALPHA``) bootstrap confidence bound of log(statistic of the new times /
    statistic of the baseline's) lies from its estimate, towards no change; a change of the
    metric whose log ratio is within it is noise."""

    source: str  # "passes" or "steps" (bench.results.samples.SAMPLED_METRICS)
    statistic: str  # "median" or "mean"
    n_base: int
    n_new: int
    margin: float

    @property
    def margin_pct(self) -> float:
        """The margin as a change in %: ``100 × (e^margin − 1)``."""
        return 100 * math.expm1(self.margin)


def run_spread(
    sampled: Sampled, base: Sequence[float], new: Sequence[float], alpha: float = ALPHA
) -> RunSpread | None:
    """The within-run noise of a change from ``base`` to ``new`` (each side's pass or step
    times, in ms); ``None`` with fewer than ``MIN_SAMPLE`` positive times a side."""
    if min(len(base), len(new)) < MIN_SAMPLE or min(*base, *new) <= 0:
        return None
    import numpy as np
    from scipy import stats

    centre = np.median if sampled.statistic == "median" else np.mean

    def log_ratio(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.log(centre(x, axis=axis)) - np.log(centre(y, axis=axis))

    with np.errstate(all="ignore"):  # absurd times (a damaged file) end as None, silently
        estimate = float(log_ratio(np.asarray(new), np.asarray(base)))
        if not math.isfinite(estimate):
            return None
        side = "greater" if estimate >= 0 else "less"
        bound = stats.bootstrap(
            (new, base),
            log_ratio,
            n_resamples=RESAMPLES,
            vectorized=True,
            confidence_level=1 - alpha,
            alternative=side,
            method="percentile",
            rng=np.random.default_rng(0),
        ).confidence_interval
    margin = float(estimate - bound.low if side == "greater" else bound.high - estimate)
    if not math.isfinite(margin):
        return None
    return RunSpread(sampled.source, sampled.statistic, len(base), len(new), max(margin, 0.0))


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
    spread: RunSpread | None = None  # the runs' own noise, where the history's is unknown

    @property
    def info(self) -> Metric:
        return METRICS[self.metric]

    @property
    def noise_source(self) -> str:
        """Which noise judged the change: ``history`` (the machine's), ``passes`` or ``steps``
        (the runs' own), ``seeds`` (accuracy, losses) or ``unknown``."""
        if self.noise is None:
            return "seeds"
        if self.noise.sigma is not None:
            return "history"
        return self.spread.source if self.spread is not None else "unknown"

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
    spread: RunSpread | None = None,
) -> tuple[float | None, Verdict]:
    """The p-value (``None`` with fewer than two seeds a side) and the verdict of one change;
    ``spread`` counts where ``noise`` does not know the machine's σ."""
    delta = new.mean - base.mean
    p_value = None
    if base.n >= 2 and new.n >= 2 and delta != 0:
        p_value = welch_p(new.values, base.values, "greater" if delta > 0 else "less")
    if threshold is None:
        return p_value, "info"
    size = relative_change(base.mean, new.mean) if threshold.relative else delta
    if abs(size) <= threshold.amount:
        return p_value, "ok"
    if _within_run_to_run_noise(base, new, noise, spread):
        return p_value, "noise"
    if p_value is not None and p_value >= alpha:
        return p_value, "noise"
    worse = delta < 0 if METRICS[metric].higher_is_better else delta > 0
    return p_value, "regression" if worse else "improved"


def _within_run_to_run_noise(
    base: Stats, new: Stats, noise: MachineNoise | None, spread: RunSpread | None
) -> bool:
    """Whether the change lies within ``NOISE_K`` σ of the machine where the history knows σ,
    else within the runs' own spread where they kept their times."""
    if noise is not None and noise.sigma is not None:
        return abs(new.mean - base.mean) <= NOISE_K * noise.sigma
    if spread is not None and base.mean > 0 and new.mean > 0:
        return abs(math.log(new.mean) - math.log(base.mean)) <= spread.margin
    return False


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
    # metrics judged by the same times (epoch time and throughput, by the steps) share one
    # bootstrap
    spreads: dict[tuple[Sampled, tuple[float, ...], tuple[float, ...]], RunSpread | None] = {}
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
            floor, spread = None, None
            if METRICS[metric].machine_noise:
                floor = (noise or {}).get((*key, metric), MachineNoise(runs=0))
            if floor is not None and floor.sigma is None and metric in SAMPLED_METRICS:
                times = (SAMPLED_METRICS[metric], _sample(base_ok, metric), _sample(new_ok, metric))
                if times not in spreads:
                    spreads[times] = run_spread(*times, alpha)
                spread = spreads[times]
            p_value, verdict = judge(metric, b, n, threshold, alpha, floor, spread)
            changes.append(
                MetricChange(*key, metric, b, n, threshold, p_value, verdict, floor, spread)
            )
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


def _sample(jobs: Iterable[JobRow], metric: str) -> tuple[float, ...]:
    """The pass or step times behind ``metric``, pooled over the jobs (seeds) that have it."""
    return tuple(
        ms for j in jobs if j.metrics.get(metric) is not None for ms in j.samples.get(metric, ())
    )
