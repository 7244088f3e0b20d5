"""A new run judged against a baseline as ``bench compare`` and ``bench run --baseline`` do it:
the thresholds resolved, the machine's noise read from the history, the runs compared."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bench.regress.compare import Comparison, compare_runs, resolve_thresholds
from bench.regress.noise import machine_noise
from bench.results.run_results import RunResults
from bench.suite.thresholds import Threshold


def compare_with_history(
    new: RunResults,
    base: RunResults,
    fail_on: Mapping[str, Threshold] | None,
    *,
    history_db: Path | None,
    allow_cross_machine: bool = False,
) -> Comparison:
    """Compare ``new`` with ``base`` (``fail_on``: ``None`` turns gating off), with the noise
    of the runs recorded in ``history_db`` before ``new`` (unknown without one)."""
    return compare_runs(
        new,
        base,
        resolve_thresholds(new, base, fail_on),
        allow_cross_machine=allow_cross_machine,
        noise=machine_noise(history_db, new),
    )
