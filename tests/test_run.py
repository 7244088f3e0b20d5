"""``bench run`` end to end on small real data (digits) and synthetic data."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from data_files import write_cifar10, write_mnist
from tiny_suite import SEED_COLUMNS, tiny_suite
from torch import nn

from bench.cli import main
from bench.models import registry
from bench.models.registry import register_model
from bench.results.records import EpochRecord, JobRecord
from bench.results.rundir import RunDir

ROOT = Path(__file__).resolve().parent.parent

SUITE = tiny_suite()


class ExplodingNet(nn.Module):
    """Produces NaN outputs from the first step."""

    def __init__(self, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4, 3)
        self.head = nn.Linear(4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.conv(x).mean(dim=(2, 3))
        return self.head(features) * float("nan")


class OutOfMemoryNet(ExplodingNet):
    """Raises CUDA's out-of-memory error in its forward pass."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


class CpuAllocatorNet(ExplodingNet):
    """Asks torch's CPU allocator for more memory than any address space holds."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.empty(2**62, dtype=torch.uint8)


class MemoryErrorNet(ExplodingNet):
    """Asks Python for more memory than any address space holds."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bytearray(2**62)
        return x


@pytest.fixture
def failing_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Models that fail, registered for one test only."""
    monkeypatch.setattr(registry, "_REGISTRY", {i.name: i for i in registry.list_models()})
    for name, cls in (
        ("test-nan-net", ExplodingNet),
        ("test-oom-net", OutOfMemoryNet),
        ("test-cpu-alloc-net", CpuAllocatorNet),
        ("test-memory-error-net", MemoryErrorNet),
    ):
        register_model(
            name,
            family="Test",
            year=2024,
            salient_feature="fails",
            paper="-",
            input_size=(1, 32, 32),
        )(cls)


def write_suite(tmp_path: Path, text: str = SUITE) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return path


def run_dirs(out: Path) -> list[Path]:
    return sorted(p.parent for p in out.glob("*/*/run.json"))


def results(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "results.csv").open() as handle:
        return list(csv.DictReader(handle))


def epoch_losses(run_dir: Path) -> list[tuple[str, int, float, float]]:
    return [
        (r["job_id"], r["epoch"], r["train_loss"], r["test_loss"])
        for r in RunDir.open(run_dir).records()
        if r["type"] == "epoch"
    ]


def wait_for_records(
    out: Path, done: Callable[[list[dict[str, Any]]], bool], what: str, timeout_s: float = 120
) -> None:
    """Wait until the records of the run under ``out`` are ``done``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        records = [
            r for p in out.glob("*/*/records.jsonl") for r in RunDir.open(p.parent).records()
        ]
        if records and done(records):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {what} under {out} after {timeout_s} s")


def bench_run(*args: str) -> int:
    return main(["run", "--quiet", "--no-report", "--history-db", "none", *args])


def test_same_job_twice_gives_identical_epoch_losses(tmp_path: Path) -> None:
    suite = write_suite(tmp_path)
    for out in ("a", "b"):
        assert (
            bench_run(
                "--suite",
                str(suite),
                "--models",
                "lenet5-relu",
                "--seeds",
                "3",
                "--out",
                str(tmp_path / out),
            )
            == 0
        )
    (first,), (second,) = run_dirs(tmp_path / "a"), run_dirs(tmp_path / "b")
    assert epoch_losses(first) == epoch_losses(second)
    assert len(epoch_losses(first)) == 2


def test_run_writes_records_results_and_artifacts(tmp_path: Path) -> None:
    assert (
        bench_run("--suite", str(write_suite(tmp_path)), "--seeds", "0", "--out", str(tmp_path))
        == 0
    )
    (run_dir,) = run_dirs(tmp_path)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["suite"]["name"] == "tiny"
    assert {"python", "torch", "torchvision", "machine_id", "commit", "dirty"} <= set(
        info["environment"]
    )
    rows = results(run_dir)
    assert [r["job_id"] for r in rows] == ["lenet5-relu__s0", "lenet5__s0"]
    assert all(r["status"] == "ok" for r in rows)
    assert all(int(r["params"]) == 61706 for r in rows)
    job = next(r for r in RunDir.open(run_dir).records() if r["type"] == "job")
    assert len(job["confusion_matrix"]) == 10
    assert sum(map(sum, job["confusion_matrix"])) == 128
    assert (run_dir / "artifacts" / "lenet5__s0" / "first_layer_trained.npy").is_file()
    assert run_dir.parent.name == info["environment"]["machine_id"]


@pytest.mark.usefixtures("failing_models")
def test_failing_jobs_are_recorded_and_the_suite_goes_on(tmp_path: Path) -> None:
    failing = ("test-nan-net", "test-oom-net", "test-cpu-alloc-net", "test-memory-error-net")
    text = SUITE.replace(
        'name = "lenet5"\n',
        'name = "lenet5"\n' + "".join(f'[[models]]\nname = "{m}"\n' for m in failing),
    )
    suite = write_suite(tmp_path, text.replace("seeds = [0, 1]", "seeds = [0]"))
    assert bench_run("--suite", str(suite), "--out", str(tmp_path)) == 1
    (run_dir,) = run_dirs(tmp_path)
    status = {r["model"]: (r["status"], r["error"]) for r in results(run_dir)}
    assert status["lenet5-relu"][0] == "ok" and status["lenet5"][0] == "ok"
    assert status["test-nan-net"][0] == "diverged"
    assert "nan" in status["test-nan-net"][1]
    assert status["test-oom-net"] == ("oom", "CUDA out of memory. Tried to allocate 20.00 GiB")
    # out of memory on the CPU: torch's allocator, and Python's MemoryError
    assert status["test-cpu-alloc-net"][0] == "oom"
    assert "DefaultCPUAllocator: can't allocate memory" in status["test-cpu-alloc-net"][1]
    assert status["test-memory-error-net"] == ("oom", "MemoryError: MemoryError")


def test_killed_suite_resumes_without_rerunning_finished_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL in the middle of a job, then a torn line as a power loss leaves it: ``--resume``
    keeps every whole record, reruns the killed job only, and every command reads the run."""
    suite = write_suite(tmp_path)
    out_full, out_killed = tmp_path / "full", tmp_path / "killed"
    assert bench_run("--suite", str(suite), "--out", str(out_full)) == 0
    command = [
        sys.executable,
        "-m",
        "bench",
        "run",
        "--suite",
        str(suite),
        "--quiet",
        "--no-report",
        "--history-db",
        "none",
        "--out",
        str(out_killed),
    ]
    process = subprocess.Popen(command, cwd=ROOT)
    wait_for_records(
        out_killed,
        lambda rs: rs[-1]["type"] == "epoch" and any(r["type"] == "job" for r in rs),
        "epoch record after a job record",
    )
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    (run_dir,) = run_dirs(out_killed)
    killed = RunDir.open(run_dir).read()
    finished = [j["job_id"] for j in killed.jobs]
    assert 1 <= len(finished) < 4
    assert killed.records[-1]["type"] == "epoch"  # killed in the middle of a job
    fragment = b'{"type":"epoch","job_id":"lenet5__s1","ph'
    records_file = run_dir / "records.jsonl"
    before = records_file.read_bytes()
    whole = before[: before.rfind(b"\n") + 1]  # the kill itself may have torn a line
    with records_file.open("ab") as handle:
        handle.write(fragment)
    capsys.readouterr()
    assert bench_run("--resume", str(run_dir)) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unterminated last line" in err and "Traceback" not in err
    assert (run_dir / "records.jsonl.torn").read_bytes() == before[len(whole) :] + fragment + b"\n"
    after = records_file.read_bytes()
    assert after.startswith(whole)  # nothing recorded before the kill is lost
    run = RunDir.open(run_dir).read()
    jobs = [r["job_id"] for r in run.records if r["type"] == "job"]
    assert sorted(jobs) == sorted(j["job_id"] for j in run.planned_jobs())  # each job once
    assert all(j["status"] == "ok" for j in run.jobs)
    assert sorted((e["job_id"], e["epoch"]) for e in run.epochs) == sorted(
        (j, epoch) for j in jobs for epoch in (1, 2)
    )
    (full_dir,) = run_dirs(out_full)
    pick = lambda rows: [{k: r[k] for k in SEED_COLUMNS} for r in rows]  # noqa: E731
    assert pick(results(run_dir)) == pick(results(full_dir))
    for args in (
        ["report", str(run_dir), "--out", str(tmp_path / "report"), "--format", "md"],
        ["compare", str(run_dir), str(run_dir)],
        ["merge", str(run_dir), "--out", str(tmp_path / "merged"), "--no-report"],
        ["baseline", "save", str(run_dir), "--out", str(tmp_path / "baseline.json")],
        ["history", "--record", str(run_dir), "--db", str(tmp_path / "history.sqlite")],
    ):
        assert main(args) == 0, args


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--suite", "no-such-suite"], "unknown suite 'no-such-suite'"),
        (["--suite", "smoke", "--set", "optimizer.lrr=1"], "--set optimizer.lrr: unknown field"),
        (["--suite", "smoke", "--set", "epochs=many"], "--set epochs must be an integer"),
        (["--suite", "smoke", "--epochs", "0"], "--epochs: must be at least 1, got 0"),
        (["--suite", "smoke", "--trace", "-1"], "--trace: must be at least 0, got -1"),
        (["--suite", "smoke", "--seeds", "a,b"], "--seeds: expected comma-separated seeds"),
        (["--suite", "smoke", "--models", "vgg*"], "--models 'vgg*' matches none"),
        (["--suite", "mnist-lenet", "--data-dir", "{tmp}/nowhere"], "{tmp}/nowhere/MNIST"),
        (["--resume", "{tmp}"], "not a run directory"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--out", str(tmp_path / "out"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert message.replace("{tmp}", str(tmp_path)) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_dry_run_prints_the_matrix(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", "--suite", str(write_suite(tmp_path)), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "4 jobs" in out and "lenet5__s1" in out and "digits" in out


def test_every_record_has_every_field_and_gpu_figures_are_null_on_cpu(tmp_path: Path) -> None:
    assert (
        bench_run(
            "--suite",
            str(write_suite(tmp_path)),
            "--seeds",
            "0",
            "--models",
            "lenet5",
            "--out",
            str(tmp_path),
        )
        == 0
    )
    (run_dir,) = run_dirs(tmp_path)
    records = list(RunDir.open(run_dir).records())
    expected = {"epoch": EpochRecord, "job": JobRecord}
    for record in records:
        assert set(record) == {f.name for f in dataclasses.fields(expected[record["type"]])}
    gpu_fields = ("peak_mem_mib", "gpu_util_pct", "power_w", "energy_j")
    assert all(r[name] is None for r in records for name in gpu_fields)
    assert records[-1]["mfu"] is None and records[-1]["energy_per_epoch_j"] is None
    job = records[-1]
    assert job["peak_rss_mib"] > 0 and job["images_per_s"] > 0
    assert job["train_step_flops"] > 2 * job["flops"]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["environment"]["nvml"].startswith("unavailable: ")
    assert not (run_dir / "telemetry").exists()


def test_shipped_suites_read_real_file_formats_from_data_dir(tmp_path: Path) -> None:
    """mnist-lenet and cifar10-classic read idx-gzip and pickle batches through --data-dir."""
    written = write_mnist(tmp_path / "data", n_train=96, n_test=32)
    write_cifar10(tmp_path / "data", n_train=40, n_test=20)
    common = ["--data-dir", str(tmp_path / "data"), "--epochs", "1", "--out", str(tmp_path)]
    assert bench_run("--suite", "mnist-lenet", "--models", "lenet5-relu", *common) == 0
    assert (
        bench_run("--suite", "cifar10-classic", "--models", "lenet5", "--seeds", "0", *common) == 0
    )
    mnist_dir, cifar_dir = run_dirs(tmp_path)
    (mnist,) = results(mnist_dir)
    assert (mnist["dataset"], mnist["input_size"], mnist["status"]) == (
        "mnist",
        "1x32x32",
        "ok",
    )
    job = next(r for r in RunDir.open(mnist_dir).records() if r["type"] == "job")
    assert sum(map(sum, job["confusion_matrix"])) == len(written.test_labels) == 32
    (cifar,) = results(cifar_dir)
    assert (cifar["dataset"], cifar["input_size"], cifar["status"]) == (
        "cifar10",
        "3x32x32",
        "ok",
    )
    assert int(cifar["params"]) == 62006  # lenet5 with 3 input channels


def test_ctrl_c_records_interrupted_and_exits_130(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "bench",
        "run",
        "--suite",
        str(write_suite(tmp_path)),
        "--quiet",
        "--no-report",
        "--history-db",
        "none",
        "--out",
        str(tmp_path),
        "--set",
        "epochs=50",
    ]
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    wait_for_records(tmp_path, lambda rs: rs[-1]["type"] == "epoch", "epoch record")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in stderr and "--resume" in stderr
    (run_dir,) = run_dirs(tmp_path)
    jobs = [r for r in RunDir.open(run_dir).records() if r["type"] == "job"]
    assert [j["status"] for j in jobs] == ["interrupted"]


def test_smoke_run_ends_with_a_complete_report(tmp_path: Path) -> None:
    """The shipped smoke suite (one epoch) through the CLI, report and history included."""
    db = tmp_path / "history.sqlite"
    assert (
        main(
            [
                "run",
                "--suite",
                "smoke",
                "--epochs",
                "1",
                "--quiet",
                "--out",
                str(tmp_path),
                "--history-db",
                str(db),
            ]
        )
        == 0
    )
    (run_dir,) = run_dirs(tmp_path)
    assert [r["status"] for r in results(run_dir)] == ["ok"] * 4
    for name in ("report.html", "summary.md", "summary_models.csv", "summary_lecture.csv"):
        assert (run_dir / name).is_file(), name
    figures = {p.stem for p in (run_dir / "figures").glob("*.png")}
    assert {
        "accuracy_vs_gflops",
        "learning_curves_train",
        "learning_curves_pretrain",
        "learning_curves_finetune",
        "epoch_time_throughput",
        "peak_memory",
        "confusion_matrices",
        "first_layer_filters",
        "reconstructions_conv-autoencoder-synthetic",
        "accuracy_per_mparam",
        "inference_time_vs_batch",
        "inference_throughput_power_vs_batch",
        "inference_memory_vs_batch",
        "operations_vs_inference_time",
    } <= figures
    with (run_dir / "inference.csv").open() as handle:
        inference = [(r["job_id"], r["batch_size"], r["status"]) for r in csv.DictReader(handle)]
    assert [row[1:] for row in inference] == [("1", "ok"), ("8", "ok")] * 4  # smoke's [inference]
    html = (run_dir / "report.html").read_text()
    assert all(m in html for m in ("lenet5", "lenet5-relu", "resnet18-cifar", "conv-autoencoder"))
    with sqlite3.connect(db) as connection:
        (rows,) = connection.execute("select count(*) from jobs").fetchone()
    assert rows == 4
