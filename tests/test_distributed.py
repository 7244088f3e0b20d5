"""Training with DistributedDataParallel under torchrun: data split, summed metrics, one writer,
failures that do not hang."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.data.imageset import ImageSet
from bench.data.loader import BatchLoader
from bench.errors import BenchError
from bench.report.frames import job_frame
from bench.report.tables import model_table
from bench.results.rundir import RunDir, read_runs
from bench.run.distributed import (
    Distributed,
    Outcome,
    check_batch_split,
    combine_figures,
    merge_outcomes,
)

ROOT = Path(__file__).resolve().parent.parent
TRAIN_SIZE, TEST_SIZE = 512, 127  # an odd test set: each image must be counted exactly once
SUITE = f"""
name = "tiny-ddp"
epochs = 3
batch_size = 32
seeds = [0]
device = "cpu"
[dataset]
name = "digits"
train_size = {TRAIN_SIZE}
test_size = {TEST_SIZE}
[optimizer]
name = "sgd"
lr = 0.05
momentum = 0.9
[[models]]
name = "lenet5-relu"
"""
# Two processes see the same batches as one (each takes every other image of the same seeded
# order) and average their gradients, so they train the same model up to rounding; 5 points of
# test accuracy is far wider than that and than the spread over seeds of this small setup.
ACCURACY_TOLERANCE = 5.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def torchrun(entry: list[str], *args: str, timeout_s: float = 5) -> subprocess.CompletedProcess:
    """``bench`` (or ``entry``) under torchrun: two CPU processes with gloo."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(free_port()),
        *entry,
        "run",
        "--quiet",
        "--no-report",
        "--history-db",
        "none",
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BENCH_DIST_TIMEOUT_S": str(timeout_s)}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def run_dirs(out: Path) -> list[Path]:
    return sorted(p.parent for p in out.glob("*/*/run.json"))


def records(run_dir: Path, kind: str) -> list[dict]:
    return [r for r in RunDir.open(run_dir).records() if r["type"] == kind]


def test_from_env_reads_torchrun_variables() -> None:
    assert Distributed.from_env({}) is None
    assert Distributed.from_env({"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0"}) is None
    dist = Distributed.from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert dist is not None and (dist.rank, dist.local_rank, dist.world_size) == (3, 1, 4)
    assert not dist.is_main and dist.timeout_s == 600
    assert dist.place(torch.device("cuda")) == torch.device("cuda", 1)
    assert dist.place(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(BenchError, match="RANK, LOCAL_RANK and WORLD_SIZE"):
        Distributed.from_env({"WORLD_SIZE": "2", "RANK": "0"})
    with pytest.raises(BenchError, match=r"RANK=2 must lie in 0\.\.1"):
        Distributed.from_env({"WORLD_SIZE": "2", "RANK": "2", "LOCAL_RANK": "0"})


def test_outcomes_agree_only_when_every_process_ended_alike() -> None:
    same = [("diverged", "training loss is nan")] * 2
    assert merge_outcomes(same) == Outcome("diverged", "training loss is nan", True)
    assert merge_outcomes([("ok", None)] * 3) == Outcome("ok", None, True)
    mixed = [("error", "RuntimeError: timed out"), ("oom", "CUDA out of memory"), ("ok", None)]
    assert merge_outcomes(mixed) == Outcome(
        "oom", "rank 0: RuntimeError: timed out; rank 1: CUDA out of memory", False
    )


def test_per_process_figures_combine_into_totals_peaks_and_means() -> None:
    nan = math.nan
    per_rank = [
        {"energy_j": 100.0, "power_w": 200.0, "peak_mem_mib": 900.0, "gpu_util_pct": 90.0},
        {"energy_j": 120.0, "power_w": 220.0, "peak_mem_mib": 950.0, "gpu_util_pct": 80.0},
    ]
    assert combine_figures(per_rank) == {
        "energy_j": 220.0,
        "power_w": 420.0,
        "peak_mem_mib": 950.0,
        "gpu_util_pct": 85.0,
    }
    partial = [{"energy_j": 100.0, "gpu_util_pct": nan}, {"energy_j": nan, "gpu_util_pct": 70.0}]
    assert combine_figures(partial) == {"energy_j": None, "gpu_util_pct": 70.0}


def test_the_global_batch_must_split_evenly() -> None:
    check_batch_split(64, 4, "job a")
    with pytest.raises(BenchError, match="job a: batch_size 64 does not split evenly over 3"):
        check_batch_split(64, 3, "job a")


def indexed_set(n: int) -> ImageSet:
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 4, 4)
    return ImageSet(images.contiguous(), torch.arange(n), tuple(str(i) for i in range(n)))


def test_processes_share_each_batch_of_the_single_process_order() -> None:
    data = indexed_set(64)
    whole = [labels.tolist() for _, labels in BatchLoader(data, 16, shuffle=True).batches(2)]
    shares = [
        [labels.tolist() for _, labels in BatchLoader(data, 8, shuffle=True, rank=r, world_size=2)
         .batches(2)]
        for r in (0, 1)
    ]  # fmt: skip
    assert [sorted(a + b) for a, b in zip(*shares, strict=True)] == [sorted(b) for b in whole]


def test_shuffled_shares_are_equal_and_unshuffled_ones_count_each_image_once() -> None:
    data = indexed_set(11)
    train = [BatchLoader(data, 2, shuffle=True, rank=r, world_size=3) for r in range(3)]
    assert [len(loader) for loader in train] == [2, 2, 2]  # 11 // 3 = 3 images each
    seen = [i for loader in train for _, labels in loader.batches(0) for i in labels.tolist()]
    assert len(seen) == len(set(seen)) == 9
    test = [BatchLoader(data, 2, rank=r, world_size=3) for r in range(3)]
    labels = [i for loader in test for _, batch in loader.batches(0) for i in batch.tolist()]
    assert sorted(labels) == list(range(11))
    assert [loader.num_images for loader in test] == [4, 4, 3]


@pytest.mark.slow
def test_two_processes_train_like_one_and_write_one_run(tmp_path: Path) -> None:
    suite = tmp_path / "tiny-ddp.toml"
    suite.write_text(SUITE)
    result = torchrun(["-m", "bench"], "--suite", str(suite), "--out", str(tmp_path / "ddp"))
    assert result.returncode == 0, result.stderr[-3000:]
    common = ["--quiet", "--no-report", "--history-db", "none", "--out", str(tmp_path / "one")]
    assert main(["run", "--suite", str(suite), *common]) == 0
    (ddp,), (one,) = run_dirs(tmp_path / "ddp"), run_dirs(tmp_path / "one")
    (job,), (single,) = records(ddp, "job"), records(one, "job")
    assert [r["epoch"] for r in records(ddp, "epoch")] == [1, 2, 3]  # written once, by rank 0
    assert job["status"] == "ok" and job["world_size"] == 2 and single["world_size"] == 1
    assert abs(job["test_acc"] - single["test_acc"]) <= ACCURACY_TOLERANCE
    assert sum(map(sum, job["confusion_matrix"])) == TEST_SIZE
    assert all(r["images"] == TRAIN_SIZE for r in records(ddp, "epoch"))
    assert job["extra"]["batch_size_per_process"] == 16
    assert job["extra"]["images_per_s_per_process"] == pytest.approx(job["images_per_s"] / 2)
    assert (ddp / "artifacts" / "lenet5-relu__s0" / "first_layer_trained.npy").is_file()
    table = model_table(job_frame(read_runs([ddp]))).display.set_index("Network")
    assert table.loc["lenet5-relu", "Processes (world size)"] == "2"


@pytest.mark.slow
def test_a_job_failing_on_one_process_is_recorded_and_stops_the_run(tmp_path: Path) -> None:
    suite = tmp_path / "failing.toml"
    suite.write_text(
        SUITE.replace("epochs = 3", "epochs = 1")
        + '[[models]]\nname = "test-nan-net"\n'
        + '[[models]]\nname = "test-rank-one-fails"\n'
        + '[[models]]\nname = "lenet5"\n'
    )
    entry = [str(ROOT / "tests" / "distributed_entry.py")]
    result = torchrun(entry, "--suite", str(suite), "--out", str(tmp_path))
    assert result.returncode != 0
    assert "ended differently on the processes" in result.stderr and "--resume" in result.stderr
    (run_dir,) = run_dirs(tmp_path)
    jobs = {j["model"]: (j["status"], j["error"]) for j in records(run_dir, "job")}
    assert jobs.keys() == {"lenet5-relu", "test-nan-net", "test-rank-one-fails"}  # then stopped
    assert jobs["lenet5-relu"] == ("ok", None)
    assert jobs["test-nan-net"] == ("diverged", "training loss is nan")  # alike: the run went on
    status, error = jobs["test-rank-one-fails"]
    assert status == "error" and "rank 1: RuntimeError: synthetic failure on rank 1" in error
    assert "rank 0: RuntimeError" in error  # rank 0 timed out waiting instead of hanging
