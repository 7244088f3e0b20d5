"""Shards of a job matrix: ``--shard I/N`` picks a deterministic share of a suite's jobs.

Shards are numbered from 1 (``1/4`` … ``4/4``), as Slurm array task ids and CI matrix indices
usually are. Jobs are dealt out by their estimated cost (``bench.measure.job_cost``: training,
evaluation and inference FLOPs, counted from shapes), largest first, each to the shard with the
least cost so far (the LPT rule): shards end up holding about the same work rather than the same
number of jobs. Every tie is broken without timing or randomness (jobs of one cost by a SHA-256
hash of their stable job id, not Python's salted ``hash()``; shards of one load by fewer jobs,
then lower index), so every task of an array computes the same shards without talking to the
others, and the shards of one matrix are disjoint and together hold every job. The shares depend
on the whole matrix, so every shard must be run with the same suite and flags (``--models``,
``--seeds``, ``--set``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"2/4"`` → ``Shard(2, 4)``; anything else (``0/2``, ``3/2``, ``x``, ``1/0``) raises
    ``ValueError`` with a one-line message."""
    index_text, sep, count_text = text.strip().partition("/")
    try:
        index, count = int(index_text), int(count_text)
    except ValueError:
        index = count = 0
    if not sep or count < 1 or not 1 <= index <= count:
        raise ValueError(f"expected I/N with 1 <= I <= N (shards count from 1), got {text!r}")
    return Shard(index, count)


def job_rank_key(job_id: str) -> tuple[bytes, str]:
    """Where a job id sorts before dealing out shards: its SHA-256 digest, then the id."""
    return hashlib.sha256(job_id.encode("utf-8")).digest(), job_id


def assign_shards(costs: Mapping[str, int], count: int) -> list[list[str]]:
    """The job ids of ``costs`` (job id → estimated cost, in matrix order) dealt into ``count``
    shards, largest cost first, each to the least loaded shard; each shard keeps the matrix
    order."""
    loads = [0] * count
    members: list[list[str]] = [[] for _ in range(count)]
    for job_id in sorted(costs, key=lambda j: (-costs[j], job_rank_key(j))):
        target = min(range(count), key=lambda i: (loads[i], len(members[i]), i))
        loads[target] += costs[job_id]
        members[target].append(job_id)
    order = {job_id: index for index, job_id in enumerate(costs)}
    return [sorted(shard, key=order.__getitem__) for shard in members]


def shard_job_ids(costs: Mapping[str, int], shard: Shard) -> list[str]:
    """The ids of ``costs`` (job id → estimated cost, in matrix order) that belong to
    ``shard``, in matrix order."""
    return assign_shards(costs, shard.count)[shard.index - 1]
