"""Which jobs of a suite a run holds (all, or one shard's), and the ``--dry-run`` listing of
them with each job's estimated cost and the shards' shares of it.

A new shard is dealt by estimated cost (``bench.suite.shard``, ``bench.measure.job_cost``); a
resumed one keeps the jobs its run directory recorded when it was created (the run file's
``jobs``), so that a resume never depends on counting the costs again.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping

from bench.errors import BenchError
from bench.measure.job_cost import JobCost, suite_costs
from bench.results.rundir import Run
from bench.suite.matrix import Suite
from bench.suite.shard import Shard, assign_shards, shard_job_ids
from bench.text_table import align_columns

# SI prefixes for the estimated cost, the largest that leaves a job's cost at least 1.
_UNITS = ((1e15, "PFLOP"), (1e12, "TFLOP"), (1e9, "GFLOP"), (1e6, "MFLOP"), (1.0, "FLOP"))
_CONVENTION = "training, evaluation and inference FLOPs counted from shapes, multiply-add = 2"


Costs = Callable[[], Mapping[str, JobCost]]
"""The estimated cost of every job of the whole suite, counted where first asked for."""


def suite_cost_counter(full: Suite) -> Costs:
    """``full``'s job costs (``bench.measure.job_cost``), counted once, on first use."""
    return functools.cache(lambda: suite_costs(full.jobs))


def select_shard(suite: Suite, shard: Shard | None, previous: Run | None, costs: Costs) -> Suite:
    """``suite`` with only the jobs of ``shard`` (all of them without one): the jobs
    ``previous`` recorded where it is resumed, else the shard's share by estimated cost
    (``costs``, of the whole ``suite``)."""
    if shard is None:
        return suite
    if previous is not None:
        chosen = _recorded_jobs(previous, suite)
    else:
        totals = {job_id: cost.total_flops for job_id, cost in costs().items()}
        chosen = set(shard_job_ids(totals, shard))
    return dataclasses.replace(suite, jobs=tuple(j for j in suite.jobs if j.job_id in chosen))


def _recorded_jobs(run: Run, suite: Suite) -> set[str]:
    """The job ids ``run`` planned when it was created; each must be a job of ``suite``."""
    recorded = [job["job_id"] for job in run.info.get("jobs") or []]
    if not recorded:
        raise BenchError(
            f"{run.info_path}: field 'jobs': missing, and a shard resumes its own jobs"
        )
    known = {job.job_id for job in suite.jobs}
    for job_id in recorded:
        if job_id not in known:
            raise BenchError(
                f"{run.info_path}: field 'jobs': {job_id!r} is not a job of suite {suite.name!r}"
            )
    return set(recorded)


def format_plan(full: Suite, suite: Suite, shard: Shard | None, full_costs: Costs) -> str:
    """The jobs of ``suite`` (``full``, or one shard of it) as a text table with each job's
    estimated cost and share of ``full``'s (``full_costs``); with a shard, the share of every
    shard after it."""
    costs = full_costs()
    total = sum(cost.total_flops for cost in costs.values())
    scale, unit = _unit(max(cost.total_flops for cost in costs.values()))
    header = ("job", "model", "seed", "variant", "dataset", "recipe", "epochs", "batch", "device")
    rows = [
        (
            j.job_id,
            j.model,
            str(j.seed),
            j.variant or "-",
            j.config.dataset.name,
            j.config.recipe,
            str(j.config.epochs),
            str(j.config.batch_size),
            j.config.device,
            f"{costs[j.job_id].total_flops / scale:.4g}",
            _percent(costs[j.job_id].total_flops, total),
        )
        for j in suite.jobs
    ]
    note = f" (shard {shard} of {len(full.jobs)})" if shard else ""
    lines = [
        f"suite {suite.name}: {len(rows)} jobs{note}",
        *align_columns([(*header, f"est. {unit}", "share"), *rows]),
    ]
    if shard is None:
        lines.append(f"estimated cost: {total / scale:.4g} {unit} in all ({_CONVENTION})")
    else:
        lines.append(_shard_shares(suite, costs, shard, total, (scale, unit)))
    return "\n".join(lines)


def _shard_shares(
    suite: Suite,
    costs: Mapping[str, JobCost],
    shard: Shard,
    total: int,
    unit: tuple[float, str],
) -> str:
    """One line: this shard's estimated cost and share, every shard's share and the largest
    shard's cost over the mean."""
    totals = {job_id: cost.total_flops for job_id, cost in costs.items()}
    loads = [sum(totals[j] for j in ids) for ids in assign_shards(totals, shard.count)]
    own = sum(totals[job.job_id] for job in suite.jobs)
    mean = total / shard.count
    largest = f"{max(loads) / mean:.3f}" if mean else "n/a"
    scale, name = unit
    return (
        f"shard {shard}: {own / scale:.4g} of {total / scale:.4g} {name} estimated "
        f"({_CONVENTION}), {_percent(own, total)} of the suite; shares of shards 1-{shard.count}: "
        f"{', '.join(_percent(load, total) for load in loads)}; largest shard {largest}x the mean"
    )


def _unit(largest: int) -> tuple[float, str]:
    return next((scale, name) for scale, name in _UNITS if largest >= scale or scale == 1.0)


def _percent(part: int, total: int) -> str:
    return f"{100 * part / total:.1f}%" if total else "n/a"
