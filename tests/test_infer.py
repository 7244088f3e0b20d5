"""Inference timing: ``bench infer``, the sweep's out-of-memory handling, and ``[inference]`` in a
suite run (inference.csv, resume, history, compare)."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from cli_errors import one_line_error
from compare_fixtures import write_run
from torch import nn

from bench.cli import main
from bench.errors import BenchError, SuiteError
from bench.measure.device_peaks import cpu_peaks
from bench.measure.inference import Budget, time_forward
from bench.measure.memory import is_out_of_memory
from bench.measure.roofline import COMPUTE_BOUND, MEMORY_BOUND
from bench.models.registry import create_model
from bench.recipes.loop import Precision
from bench.results.records import InferenceRow
from bench.results.rundir import RunDir
from bench.results.samples import SAMPLE_CAP
from bench.run import job as job_module
from bench.run.inference import Subject, sweep
from bench.suite.matrix import build_suite
from bench.suite.settings import InferenceConfig

CPU = torch.device("cpu")
QUICK = ["--min-iterations", "3", "--min-time", "0"]
FIELDS = {f for f in InferenceRow.__dataclass_fields__}


def infer_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["infer", *args, "--format", "json"]) == 0
    rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return rows


@pytest.fixture
def one_thread() -> Iterator[None]:
    """torch on one thread: batching's gain is then the kernels', not decided by how busy the
    machine's other cores are."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_infer_gives_a_row_per_model_and_batch_and_batching_pays(
    capsys: pytest.CaptureFixture[str], one_thread: None
) -> None:
    models = ["lenet5", "resnet18-cifar"]
    budget = ["--min-iterations", "8", "--min-time", "0.5"]
    rows = infer_json(capsys, *models, "--batch-sizes", "1,16", *budget)
    assert [(r["model"], r["batch_size"]) for r in rows] == [
        ("lenet5", 1),
        ("lenet5", 16),
        ("resnet18-cifar", 1),
        ("resnet18-cifar", 16),
    ]
    for row in rows:
        assert set(row) == FIELDS
        assert (row["status"], row["weights"], row["device"], row["precision"]) == (
            "ok",
            "random",
            "cpu",
            "fp32",
        )
        assert row["iterations"] >= 8
        assert 0 < row["latency_ms_p50"] <= row["latency_ms_p95"] <= row["latency_ms_p99"]
        assert row["images_per_s"] > 0
        assert row["power_w"] is None and row["energy_per_image_j"] is None  # no GPU here
        assert row["peak_mem_mib"] is None  # CUDA allocator only
    lenet, resnet = rows[0], rows[2]
    assert (lenet["macs"], lenet["flops"]) == (416_520, 833_040)  # bench profile lenet5
    assert 1.8 < resnet["flops"] / resnet["macs"] < 2.2  # multiply-add = 2 against 1
    assert rows[3]["images_per_s"] > resnet["images_per_s"]  # batching pays on resnet18


def test_infer_places_each_batch_on_the_roofline(capsys: pytest.CaptureFixture[str]) -> None:
    rows = infer_json(capsys, "lenet5", "--batch-sizes", "1,4", *QUICK)
    peaks = cpu_peaks("fp32")
    # weights 61,706 x 4 B read once; 14,722 activations per image x 4 B written and read once
    for row, min_bytes in zip(rows, (364_600, 717_928), strict=True):
        point = row["roofline"]
        assert point["flops"] == 833_040 * row["batch_size"]  # forward FLOPs per image x batch
        assert point["min_bytes"] == min_bytes
        assert point["seconds"] == pytest.approx(row["batch_size"] / row["images_per_s"])
        intensity, achieved = point["intensity_flop_per_byte"], point["achieved_flops_per_s"]
        assert intensity * min_bytes == pytest.approx(point["flops"])
        assert achieved * point["seconds"] == pytest.approx(point["flops"])
        assert (point["peak_flops_per_s"], point["peak_bytes_per_s"], point["peaks_source"]) == (
            peaks.flops_per_s,
            peaks.bytes_per_s,
            "measured",
        )
        assert point["roof_flops_per_s"] == min(peaks.flops_per_s, intensity * peaks.bytes_per_s)
        assert point["bound"] == (COMPUTE_BOUND if intensity >= peaks.ridge else MEMORY_BOUND)
        assert point["roof_fraction"] == pytest.approx(achieved / point["roof_flops_per_s"])
    assert rows[1]["roofline"]["intensity_flop_per_byte"] == 4 * 833_040 / 717_928


def test_the_table_and_csv_show_intensity_bound_and_share_of_the_roof(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["infer", "lenet5", "--batch-sizes", "1", "--out", str(tmp_path), *QUICK]) == 0
    header, line = capsys.readouterr().out.splitlines()[:2]
    (saved,) = json.loads((tmp_path / "infer.json").read_text())
    with (tmp_path / "infer.csv").open() as handle:
        (row,) = csv.DictReader(handle)
    point = saved["roofline"]
    assert float(row["roofline_intensity_flop_per_byte"]) == point["intensity_flop_per_byte"]
    assert row["roofline_bound"] == point["bound"]
    assert float(row["roofline_roof_pct"]) == pytest.approx(100 * point["roof_fraction"])
    assert re.split(r"\s{2,}", header)[-3:] == ["FLOP/byte", "Bound", "% of roof"]
    intensity, bound, share = re.split(r"\s{2,}", line)[-3:]
    assert float(intensity) == pytest.approx(point["intensity_flop_per_byte"], rel=0.01)
    assert bound == point["bound"]
    assert float(share.replace(",", "")) == pytest.approx(100 * point["roof_fraction"], rel=0.01)


class RaisesAtBatch(nn.Module):
    """A small network whose forward pass raises ``error`` from batch ``limit`` up."""

    def __init__(self, error: Exception, limit: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.error, self.limit = error, limit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(x) >= self.limit:
            raise self.error
        return self.conv(x).mean(dim=(1, 2, 3))


CPU_OOM = RuntimeError(
    "[enforce fail at alloc_cpu.cpp:117] . DefaultCPUAllocator: can't allocate memory: you "
    "tried to allocate 34359738368 bytes. Error code 12 (Cannot allocate memory)"
)
CUDA_OOM = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


@pytest.mark.parametrize("error", [CUDA_OOM, CPU_OOM], ids=["cuda", "cpu-allocator"])
def test_out_of_memory_gives_an_oom_row_skips_larger_batches_and_goes_on(
    error: Exception, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def build(name: str, **kwargs: Any) -> nn.Module:
        return RaisesAtBatch(error, 16) if name == "lenet5" else create_model(name, **kwargs)

    monkeypatch.setattr(job_module, "create_model", build)
    rows = infer_json(capsys, "lenet5", "lenet5-relu", "--batch-sizes", "1,16,64", *QUICK)
    assert [(r["model"], r["batch_size"], r["status"]) for r in rows] == [
        ("lenet5", 1, "ok"),
        ("lenet5", 16, "oom"),
        ("lenet5-relu", 1, "ok"),
        ("lenet5-relu", 16, "ok"),
        ("lenet5-relu", 64, "ok"),
    ]
    oom = rows[1]
    assert oom["error"].startswith(type(error).__name__)
    assert oom["latency_ms_p50"] is None and oom["images_per_s"] is None


def test_an_error_that_is_not_out_of_memory_is_raised() -> None:
    model = RaisesAtBatch(ValueError("a bug"), 2)
    subject = Subject("x", CPU, (1, 8, 8), "random")
    plan = InferenceConfig((1, 2), ("fp32",), 1, 0.0)
    rows = sweep(model, subject, plan)
    assert next(rows).status == "ok"
    with pytest.raises(ValueError, match="a bug"):
        next(rows)
    assert not is_out_of_memory(ValueError("out of memory"))  # only allocation errors count


def test_timing_meets_both_budgets() -> None:
    casting = Precision(CPU, "fp32", False)
    inputs = torch.zeros(2, 1, 8, 8)
    model = RaisesAtBatch(ValueError(), 10)
    by_count = time_forward(model, inputs, casting, Budget(25, 0.0))
    assert by_count.iterations == 25
    assert len(by_count.pass_ms) == 25 and by_count.pass_ms == sorted(by_count.pass_ms)
    assert by_count.pass_ms[12] == pytest.approx(by_count.latency_ms_p50, rel=1e-3)  # median
    many = time_forward(model, inputs, casting, Budget(SAMPLE_CAP + 1, 0.0)).pass_ms
    assert len(many) == SAMPLE_CAP
    by_time = time_forward(model, inputs, casting, Budget(1, 0.05))
    assert by_time.iterations * by_time.latency_ms_p50 > 0
    assert by_time.iterations * 2 / by_time.images_per_s >= 0.05


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-sizes", "0"], "--batch-sizes: expected comma-separated positive integers"),
        (["--batch-sizes", "x"], "--batch-sizes: expected comma-separated positive integers"),
        (["--batch-sizes", "1,,4"], "--batch-sizes: expected comma-separated positive integers"),
        (["--precision", "fp64"], "--precision: unknown precision 'fp64'"),
        (["--min-iterations", "0"], "--min-iterations must be at least 1, got 0"),
        (["--min-time", "nan"], "--min-time must be a finite number, got nan"),
        (["--min-time", "inf"], "--min-time must be a finite number, got inf"),
        (["--min-time", "-1"], "--min-time must be at least 0, got -1.0"),
        (["--input-size", "3x0x32"], "--input-size: expected CxHxW"),
        (["--input-size", "3x8x8"], "--input-size 3x8x8 does not fit lenet5"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["infer", "lenet5", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bench infer: error: {message}") and err.count("\n") == 1


def test_unknown_model_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["infer", "lenet6"]) == 2
    assert "unknown model 'lenet6'" in capsys.readouterr().err


def test_table_says_random_weights_and_out_writes_csv_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["infer", "lenet5", "--batch-sizes", "2", "--out", str(tmp_path), *QUICK]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["Model", "Precision", "Batch", "Status"]
    assert lines[1].split()[:4] == ["lenet5", "fp32", "2", "ok"]
    assert "weights: random" in lines[-3] and "device: cpu" in lines[-3]
    with (tmp_path / "infer.csv").open() as handle:
        (row,) = csv.DictReader(handle)
    assert (row["model"], row["batch_size"], row["input_size"]) == ("lenet5", "2", "1x32x32")
    (saved,) = json.loads((tmp_path / "infer.json").read_text())
    assert saved["latency_ms_p50"] == pytest.approx(float(row["latency_ms_p50"]))


SUITE = """
name = "tiny-infer"
epochs = 1
batch_size = 32
seeds = [0, 1]
device = "cpu"
[dataset]
name = "synthetic"
train_size = 64
test_size = 32
image_size = [1, 32, 32]
[inference]
batch_sizes = [1, 4]
min_iterations = 3
min_time_s = 0.0
[[models]]
name = "lenet5"
"""


def test_suite_inference_rows_survive_resume_once_each_and_reach_history(
    tmp_path: Path,
) -> None:
    suite = tmp_path / "tiny.toml"
    suite.write_text(SUITE)
    db = tmp_path / "history.sqlite"
    common = ["--quiet", "--no-report", "--history-db", str(db)]
    assert main(["run", "--suite", str(suite), "--out", str(tmp_path / "out"), *common]) == 0
    (run_dir,) = [p.parent for p in (tmp_path / "out").glob("*/*/run.json")]
    before = _inference_csv(run_dir)
    assert [(r["job_id"], r["batch_size"], r["weights"]) for r in before] == [
        ("lenet5__s0", "1", "trained"),
        ("lenet5__s0", "4", "trained"),
        ("lenet5__s1", "1", "trained"),
        ("lenet5__s1", "4", "trained"),
    ]
    for row, min_bytes in zip(before, 2 * [364_600, 717_928], strict=True):
        # as bench infer places lenet5's batches of 1 and 4
        assert (float(row["roofline_min_bytes"]), row["roofline_precision"]) == (min_bytes, "fp32")
        assert float(row["roofline_time_s"]) == pytest.approx(
            int(row["batch_size"]) / float(row["images_per_s"])
        )
    # The second job is cut short: its final record gives way to an interrupted one.
    records = RunDir.open(run_dir).records()
    last = records.pop()
    assert last["job_id"] == "lenet5__s1" and last["type"] == "job"
    interrupted = {**last, "status": "interrupted", "inference": None}
    RunDir.open(run_dir).write_records([*records, interrupted])
    assert main(["run", "--resume", str(run_dir), *common]) == 0
    after = _inference_csv(run_dir)
    assert after[:2] == before[:2]  # the finished job's rows are kept as they were
    assert [(r["job_id"], r["batch_size"]) for r in after[2:]] == [
        ("lenet5__s1", "1"),
        ("lenet5__s1", "4"),
    ]
    run = RunDir.open(run_dir).read()
    jobs = {j["job_id"]: j for j in run.jobs}
    first = jobs["lenet5__s0"]
    # timing resets the kernel's peak per batch size; the job's peak still covers its training
    epoch_peak = max(e["peak_rss_mib"] for e in run.epochs if e["job_id"] == "lenet5__s0")
    assert first["peak_rss_mib"] >= epoch_peak
    assert first["latency_ms_p50"] == pytest.approx(float(before[0]["latency_ms_p50"]))
    assert first["inference_images_per_s"] == pytest.approx(float(before[1]["images_per_s"]))
    rows = first["inference"]
    assert first["samples"]["latency_ms_p50"] == rows[0]["pass_ms"]
    assert first["samples"]["inference_images_per_s"] == rows[1]["pass_ms"]
    assert [len(r["pass_ms"]) for r in rows] == [r["iterations"] for r in rows]
    with sqlite3.connect(db) as connection:
        stored = connection.execute(
            "SELECT seed, latency_ms_p50, inference_images_per_s FROM jobs ORDER BY seed"
        ).fetchall()
    assert [s[0] for s in stored] == [0, 1] and all(v is not None for s in stored for v in s)


def test_compare_gates_the_inference_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write_run(tmp_path / "base", {"lenet5": {"latency_ms_p50": [1.0]}})
    new = write_run(
        tmp_path / "new",
        {"lenet5": {"latency_ms_p50": [1.5], "inference_images_per_s": [90.0]}},
    )
    assert main(["compare", str(new), str(base), "--fail-on", "latency_ms_p50:+10%"]) == 1
    assert "latency_ms_p50" in capsys.readouterr().out


def _inference_csv(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "inference.csv").open() as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize(
    ("inference", "message"),
    [
        ({"batch_sizes": [0]}, r"field 'inference.batch_sizes' must be at least 1, got 0"),
        ({"precisions": ["fp64"]}, r"field 'inference.precisions' must be one of 'fp32'"),
        (
            {"precisions": "fp32"},
            r"field 'inference.precisions' must be a list of distinct strings",
        ),
    ],
)
def test_suite_inference_settings_are_checked(inference: dict[str, Any], message: str) -> None:
    raw = {"name": "s", "models": ["lenet5"], "inference": inference}
    with pytest.raises(SuiteError, match=message):
        build_suite(raw, "s.toml")


def test_suite_inference_settings_reach_the_jobs() -> None:
    raw = {"name": "s", "models": ["lenet5"], "inference": {"batch_sizes": [1, 16]}}
    (job,) = build_suite(raw, "s.toml", overrides=["inference.precisions=['amp-bf16']"]).jobs
    assert job.config.inference == InferenceConfig((1, 16), ("amp-bf16",), 20, 2.0)


@pytest.mark.parametrize(
    ("rows", "field"),
    [
        ("fast", "field 'inference' not a list: 'fast'"),
        ([{"model": "lenet5"}], "field 'inference[0].precision' missing or not a string"),
        ([{"batch_size": "1"}], "field 'inference[0].model' missing or not a string"),
    ],
)
def test_a_damaged_inference_field_is_one_line_naming_the_record(
    tmp_path: Path, rows: Any, field: str
) -> None:
    run = write_run(tmp_path / "run", {"lenet5": {"test_acc": [50.0]}})
    (line,) = (run / "records.jsonl").read_text().splitlines()
    record = {**json.loads(line), "inference": rows}
    (run / "records.jsonl").write_text(json.dumps(record) + "\n")
    with pytest.raises(BenchError, match=re.escape(f"records.jsonl: line 1: {field}")):
        RunDir.open(run).read()


@pytest.mark.parametrize("under", ["", "x"])
def test_out_a_file_or_under_one_is_refused_before_timing(
    under: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("kept\n")
    out = blocker / under if under else blocker
    err = one_line_error(["infer", "lenet5", "--out", str(out)], capsys)
    assert err == f"bench infer: error: --out {out}: {blocker} is a file, not a directory"
    assert blocker.read_text() == "kept\n"
