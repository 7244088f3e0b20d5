"""One job trained by several processes with DistributedDataParallel, started by ``torchrun``.

``torchrun --nproc-per-node K -m bench run ...`` starts K processes with ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE`` set. With ``WORLD_SIZE`` > 1 every process runs the same jobs
in lockstep: process ``r`` trains on GPU ``cuda:LOCAL_RANK`` (or the CPU, with gloo), on its
share of each batch (the suite's ``batch_size`` is the global batch, split evenly), and the
loss sums, correct counts, image counts and confusion matrices of every pass are summed over
the processes. Rank 0 alone writes the run directory; the others stay quiet.

Failures: a job that fails the same way on every process (the same status and message, e.g. a
diverged loss, which is checked on the summed loss) is recorded and the suite goes on, as in a
single process. A job that fails on some processes only may leave the others waiting in a
collective: they give up after ``BENCH_DIST_TIMEOUT_S`` seconds (default 600), rank 0 records
the job with every process's error, and the run stops with exit code 1 (``--resume`` finishes
it). Under NCCL a timed-out process may be ended by NCCL's watchdog instead; torchrun then
stops all processes and the job is recorded as interrupted, or not at all.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from bench.errors import BenchError

TIMEOUT_ENV = "BENCH_DIST_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 600.0
# How per-process epoch figures combine into one: totals, peaks per process, means.
SUMMED_FIGURES = ("power_w", "energy_j")
PEAK_FIGURES = ("peak_mem_mib", "peak_mem_reserved_mib", "peak_rss_mib")
MEAN_FIGURES = ("gpu_util_pct", "gpu_mem_util_pct", "sm_clock_mhz", "temperature_c")
# The status a job gets when its processes disagree: the most specific failure wins.
STATUS_PRIORITY = ("oom", "diverged", "error", "interrupted")

T = TypeVar("T")


class RanksDisagreeError(RuntimeError):
    """A job ended differently on different processes; the run cannot safely go on."""


@dataclass(frozen=True)
class Outcome:
    """How a job ended, agreed by all processes; ``agreed`` is False when they differed."""

    status: str
    error: str | None
    agreed: bool


@dataclass
class Distributed:
    """This process's place among the ``world_size`` processes of a torchrun launch."""

    rank: int
    local_rank: int
    world_size: int
    timeout_s: float = DEFAULT_TIMEOUT_S
    _control: Any = None  # a gloo group for outcomes and exit codes, apart from the training

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Distributed | None:
        """The torchrun settings of this process; ``None`` for a single process."""
        env = os.environ if environ is None else environ
        try:
            world_size = int(env.get("WORLD_SIZE", "1"))
            if world_size <= 1:
                return None
            rank, local_rank = int(env["RANK"]), int(env["LOCAL_RANK"])
            timeout_s = float(env.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
        except (KeyError, ValueError) as err:
            raise BenchError(
                f"WORLD_SIZE={env.get('WORLD_SIZE')!r}: set RANK, LOCAL_RANK and WORLD_SIZE as "
                f"integers (start with torchrun) and {TIMEOUT_ENV} as seconds ({err})"
            ) from None
        if not 0 <= rank < world_size or timeout_s <= 0:
            raise BenchError(f"RANK={rank} must lie in 0..{world_size - 1}, {TIMEOUT_ENV} > 0")
        return cls(rank, local_rank, world_size, timeout_s)

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run directory."""
        return self.rank == 0

    def start(self, cuda: bool) -> None:
        """Join the process group: gloo for CPU tensors and, where jobs train on ``cuda``,
        NCCL for CUDA tensors on this process's GPU."""
        backend = "gloo"
        if cuda:
            visible = torch.cuda.device_count()
            if self.local_rank >= visible:
                raise BenchError(
                    f"LOCAL_RANK={self.local_rank} but {visible} CUDA devices are visible: "
                    "start at most one process per GPU (torchrun --nproc-per-node)"
                )
            torch.cuda.set_device(self.local_rank)
            backend = "cpu:gloo,cuda:nccl"
        timeout = timedelta(seconds=self.timeout_s)
        dist.init_process_group(backend, timeout=timeout)
        # a process whose job failed waits here while the others time out of their collective
        self._control = dist.new_group(backend="gloo", timeout=2 * timeout)

    def finish(self, code: int) -> int:
        """Rank 0's exit code on every process, once rank 0 has written its files (a process
        that exits first with an error would make torchrun stop the others); then leave."""
        try:
            code = self.broadcast(code)
        except RuntimeError:  # rank 0 is gone: keep this process's own code
            return code
        dist.destroy_process_group()
        return code

    def place(self, device: torch.device) -> torch.device:
        """This process's GPU for a CUDA job; the CPU stays the CPU."""
        return torch.device("cuda", self.local_rank) if device.type == "cuda" else device

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """``model`` in DistributedDataParallel (its parameters are broadcast from rank 0)."""
        device_ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=False)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` summed over the processes (in place)."""
        dist.all_reduce(tensor)
        return tensor

    def combine_figures(self, figures: Mapping[str, Any]) -> dict[str, Any]:
        """One epoch's collector figures of every process → one set (see ``combine``)."""
        keys = [k for k in (*SUMMED_FIGURES, *PEAK_FIGURES, *MEAN_FIGURES) if k in figures]
        if not keys:
            return dict(figures)
        local = torch.tensor([_number(figures[k]) for k in keys], dtype=torch.float64)
        gathered = [torch.empty_like(local) for _ in range(self.world_size)]
        dist.all_gather(gathered, local)
        per_rank = [dict(zip(keys, row.tolist(), strict=True)) for row in gathered]
        return {**figures, **combine_figures(per_rank)}

    def agree(self, status: str, error: str | None) -> Outcome:
        """How the job ended on every process, combined (see ``merge_outcomes``)."""
        outcomes: list[Any] = [None] * self.world_size
        try:
            dist.all_gather_object(outcomes, (status, error), group=self._control)
        except Exception as err:  # the others died or stopped answering
            message = f"other processes did not report: {type(err).__name__}: {_first_line(err)}"
            if status != "ok":
                message = f"{error}; {message}"
            return Outcome(status if status != "ok" else "error", message, False)
        return merge_outcomes(outcomes)

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` on every process (waits until rank 0 gets here)."""
        box: list[Any] = [value]
        dist.broadcast_object_list(box, src=0, group=self._control)
        return box[0]


def merge_outcomes(outcomes: Sequence[tuple[str, str | None]]) -> Outcome:
    """Per-process (status, error) pairs → one outcome. The same on every process: agreed.
    Otherwise the most specific failure's status and every failing process's message."""
    status, error = outcomes[0]
    if all((s, e) == (status, error) for s, e in outcomes):
        return Outcome(status, error, True)
    failed = [(rank, s, e) for rank, (s, e) in enumerate(outcomes) if s != "ok"]
    known = [s for _, s, _ in failed if s in STATUS_PRIORITY]
    status = min(known, key=STATUS_PRIORITY.index) if known else "error"
    message = "; ".join(f"rank {rank}: {e or s}" for rank, s, e in failed)
    return Outcome(status, message, False)


def combine_figures(per_rank: Sequence[Mapping[str, float]]) -> dict[str, float | None]:
    """Per-process figures (NaN: not measured) → totals of power and energy (unknown if any
    process lacks them), peaks of memory, means of utilisation, clocks and temperature."""
    out: dict[str, float | None] = {}
    for key in per_rank[0]:
        values = [float(r[key]) for r in per_rank]
        known = [v for v in values if not math.isnan(v)]
        if key in SUMMED_FIGURES:
            out[key] = sum(values) if len(known) == len(values) else None
        elif key in PEAK_FIGURES:
            out[key] = max(known) if known else None
        else:
            out[key] = sum(known) / len(known) if known else None
    return out


def check_batch_split(batch_size: int, world_size: int, where: str) -> None:
    """The global ``batch_size`` must split evenly over the processes."""
    if batch_size % world_size:
        raise BenchError(
            f"{where}: batch_size {batch_size} does not split evenly over {world_size} "
            "processes (WORLD_SIZE); batch_size is the global batch"
        )


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else ""
