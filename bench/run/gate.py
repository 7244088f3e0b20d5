"""``bench run --baseline``: the baseline read and checked before training, and the run judged
against it at the end, the comparison kept in the run directory."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.regress.compare import compare_runs, resolve_thresholds
from bench.regress.compare_formats import RENDERERS, format_table
from bench.regress.noise import machine_noise
from bench.results.baseline import load_results
from bench.results.run_results import RunResults, results_of
from bench.results.rundir import COMPARISON_FILES, Run, RunDir
from bench.suite.thresholds import Threshold, parse_fail_on, parse_threshold_table


@dataclass(frozen=True)
class Gate:
    """A baseline to judge the run against and the ``--fail-on`` thresholds (``None``: off)."""

    baseline: RunResults
    fail_on: Mapping[str, Threshold] | None
    allow_cross_suite: bool = False

    @classmethod
    def load(
        cls, baseline: Path, fail_on: str, machine_id: str, allow_cross_suite: bool = False
    ) -> Gate:
        """The baseline at ``baseline`` (a run directory or a baseline file), its thresholds
        and ``fail_on`` checked, measured on ``machine_id``; a one-line ``BenchError`` else."""
        fail_on_thresholds = parse_fail_on(fail_on)
        try:
            base = load_results(baseline)
            parse_threshold_table(base.suite.get("thresholds") or {}, "suite.thresholds")
        except BenchError as err:
            raise BenchError(f"--baseline {err}") from None
        if base.machine_id != machine_id:
            raise BenchError(
                f"--baseline {baseline} was measured on machine {base.machine_id!r}, this is "
                f"{machine_id!r}; save a baseline here (or set BENCH_MACHINE_ID to the same id)"
            )
        return cls(base, fail_on_thresholds, allow_cross_suite)

    def check_suite(self, suite: str) -> None:
        """A one-line ``BenchError`` where the baseline is of another suite than ``suite`` (the
        one about to run) and that is not allowed: its models and thresholds are another's."""
        if self.baseline.suite_name != suite and not self.allow_cross_suite:
            raise BenchError(
                f"--baseline {self.baseline.source} is a run of suite "
                f"{self.baseline.suite_name!r}, this is {suite!r}; save a baseline of this "
                "suite (or pass --allow-cross-suite)"
            )

    def judge(self, run: Run, history_db: Path | None) -> tuple[int, list[str]]:
        """Compare ``run`` with the baseline (the machine noise from the runs recorded in
        ``history_db`` before it; unknown, with a warning, where the database cannot be read),
        print the table and keep the comparison in the run directory; the exit status (0, 1 on
        a regression, 2 when the runs cannot be compared) and the lines naming the files."""
        new = results_of(run)
        try:
            noise = machine_noise(history_db, new)
        except BenchError as err:
            print(f"warning: machine noise unknown: {err}", file=sys.stderr, flush=True)
            noise = {}
        try:
            thresholds = resolve_thresholds(new, self.baseline, self.fail_on)
            comparison = compare_runs(
                new,
                self.baseline,
                thresholds,
                allow_cross_suite=self.allow_cross_suite,
                noise=noise,
            )
        except BenchError as err:
            print(f"bench run: error: comparison with the baseline: {err}", file=sys.stderr)
            return 2, []
        print(format_table(comparison), end="", flush=True)
        path = RunDir(run.path, run.info).save_comparison(
            {kind: RENDERERS[kind](comparison) for kind in COMPARISON_FILES}
        )
        return (1 if comparison.regressed else 0), [f"compare: {path}"]
