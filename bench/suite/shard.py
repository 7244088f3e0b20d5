"""Shards of a job matrix: ``--shard I/N`` picks a deterministic slice of a suite's jobs.

Shards are numbered from 1 (``1/4`` … ``4/4``), as Slurm array task ids and CI matrix indices
usually are. Jobs are ranked by a SHA-256 hash of their stable job id and dealt out round-robin:
shard ``I`` takes ranks ``I-1``, ``I-1+N``, ``I-1+2N``, … The shards of one matrix are disjoint,
together hold every job, differ in size by at most one job, and come out the same on every
machine and Python (no salted ``hash()``). Models and seeds are spread over the shards rather
than one shard getting all seeds of the largest model. The slice depends on the whole matrix,
so every shard must be run with the same suite and flags (``--models``, ``--seeds``, ``--set``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
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


def shard_job_ids(job_ids: Sequence[str], shard: Shard) -> list[str]:
    """The ids of ``job_ids`` that belong to ``shard``, in their given order."""
    ranked = sorted(job_ids, key=job_rank_key)
    chosen = set(ranked[shard.index - 1 :: shard.count])
    return [job_id for job_id in job_ids if job_id in chosen]
