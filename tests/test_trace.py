"""Operator traces (``bench run --trace``, ``bench profile --trace``) and each job's roofline
point, end to end on a one-model digits suite."""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from permissions import enforced
from tiny_suite import tiny_suite
from torch import nn

from bench.cli import main
from bench.errors import BenchError
from bench.measure.roofline import training_step_bytes
from bench.measure.static_profile import profile_model, profile_registered
from bench.measure.trace import Trace, trace_steps, with_rank
from bench.recipes.loop import Precision, classification_objective
from bench.results.rundir import RunDir, TraceFiles
from bench.run import job_trace

CPU = torch.device("cpu")
LENET_RELU_CHILDREN = [
    "conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten", "fc1", "relu3", "fc2",
    "relu4", "fc3",
]  # fmt: skip


def run_tiny(tmp_path: Path, out: str, *flags: str) -> Path:
    suite = tmp_path / "tiny.toml"
    suite.write_text(tiny_suite(epochs=2, train_size=128, test_size=64))
    args = ["run", "--suite", str(suite), "--models", "lenet5-relu", "--seeds", "0"]
    code = main([*args, "--quiet", "--history-db", "none", "--out", str(tmp_path / out), *flags])
    assert code == 0
    (run_json,) = (tmp_path / out).glob("*/*/run.json")
    return run_json.parent


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of lenet5-relu traced for 2 steps, with its report."""
    return run_tiny(tmp_path_factory.mktemp("traced"), "out", "--trace", "2")


def test_a_traced_job_keeps_a_chrome_trace_and_both_tables(traced: Path) -> None:
    job = "lenet5-relu__s0"
    with gzip.open(traced / "traces" / job / "rank0.pt.trace.json.gz", "rt") as handle:
        chrome = json.load(handle)
    names = {event.get("name") for event in chrome["traceEvents"]}
    assert "aten::convolution_backward" in names and "module::conv1" in names
    operators = csv_rows(traced / "traces" / job / "operators.csv")
    assert operators and {r["clock"] for r in operators} == {"cpu"}
    shares = [float(r["self_pct"]) for r in operators]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 100.01
    assert "aten::convolution_backward" in {r["operator"] for r in operators}
    modules = csv_rows(traced / "traces" / job / "modules.csv")
    assert [r["module"] for r in modules] == LENET_RELU_CHILDREN
    assert all(float(r["calls_per_step"]) == 1.0 for r in modules)
    (record,) = [r for r in RunDir.open(traced).records() if r["type"] == "job"]
    assert record["extra"]["traced_steps"] == 2


def test_traced_steps_change_neither_training_nor_the_epoch_count(
    traced: Path, tmp_path: Path
) -> None:
    plain = run_tiny(tmp_path, "plain", "--no-report")

    def epochs(run_dir: Path) -> list[tuple[int, float, float]]:
        records = RunDir.open(run_dir).records()
        return [
            (r["epoch"], r["train_loss"], r["test_loss"]) for r in records if r["type"] == "epoch"
        ]

    assert epochs(traced) == epochs(plain) and len(epochs(plain)) == 2
    assert not (plain / "traces").exists()
    (record,) = [r for r in RunDir.open(plain).records() if r["type"] == "job"]
    assert "traced_steps" not in record["extra"]


def test_each_job_records_its_training_step_on_the_roofline(traced: Path) -> None:
    (record,) = [r for r in RunDir.open(traced).records() if r["type"] == "job"]
    point = record["extra"]["roofline"]
    profile = profile_registered("lenet5-relu", (1, 32, 32), 10)
    assert point["flops"] == profile.train_step_flops * 64
    # SGD with momentum keeps one state tensor per parameter
    assert point["min_bytes"] == training_step_bytes(
        profile.params, profile.trainable_params, 1, profile.activations, 64, "fp32"
    )
    assert point["peaks_source"] == "measured" and point["precision"] == "fp32"
    assert point["bound"] in ("compute-bound", "memory-bound")
    assert point["intensity_flop_per_byte"] == point["flops"] / point["min_bytes"]


def test_the_report_shows_the_trace_tables_and_the_roofline(traced: Path) -> None:
    html = (traced / "report.html").read_text()
    assert "Top operators by self time: lenet5-relu__s0 (CPU time, ms per traced step)" in html
    assert "Forward time per top-level module: lenet5-relu__s0" in html
    assert 'id="table-roofline"' in html and "% of the roof (training step)" in html
    assert (traced / "figures" / "roofline.png").is_file()


def test_activations_are_the_leaf_outputs_per_image() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(1800, 10))
    # conv 2x30x30 = 1800, ReLU 1800, flatten 1800, linear 10
    profile = profile_model(model, (1, 32, 32), batch_size=2)
    assert profile.activations == profile.forward_activations == 5410


class _TrainOnlyBranch(nn.Module):
    """A convolution whose output feeds a second one in training only (like an auxiliary
    classifier)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.aux = nn.Conv2d(1, 2, 3), nn.Conv2d(2, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y.sum() + self.aux(y).sum() if self.training else y.sum()


def test_forward_activations_leave_out_train_only_branches() -> None:
    profile = profile_model(_TrainOnlyBranch(), (1, 32, 32), batch_size=2)
    # conv 2x30x30 = 1800; the training pass adds aux 1x28x28 = 784
    assert (profile.activations, profile.forward_activations) == (2584, 1800)


def test_profile_traces_one_model_and_prints_both_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["profile", "lenet5", "--trace", "1", "--batch-size", "4", "--out", str(tmp_path)])
        == 0
    )
    out = capsys.readouterr().out
    assert "lenet5, 1x32x32, batch 4, 1 traced steps: Top operators by self time (CPU time" in out
    assert "Forward time per top-level module" in out and "tanh1" in out
    with gzip.open(tmp_path / "traces" / "lenet5" / "rank0.pt.trace.json.gz", "rt") as handle:
        assert json.load(handle)["traceEvents"]
    assert csv_rows(tmp_path / "traces" / "lenet5" / "modules.csv")[0]["module"] == "c1"


def test_trace_files_are_kept_read_back_and_copied_by_a_merge(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    source = RunDir.create(tmp_path / "a", {"suite": {"name": "s"}})
    operators = "operator,calls_per_step,self_ms_per_step,self_pct,total_ms_per_step,clock\n"
    operators += "aten::mm,2.0,1.5,100.0,1.5,cpu\n"
    modules = "module,calls_per_step,forward_ms_per_step,clock\nfc,1.0,1.5,cpu\n"
    source.save_trace("job", TraceFiles(gzip.compress(b'{"traceEvents": []}'), operators, modules))
    target = RunDir.create(tmp_path / "b", {"suite": {"name": "s"}})
    target.copy_job_files(source.path, "job")
    found = target.read().trace_tables("job")
    assert found is not None
    assert found[0].to_dict("records") == [
        {
            "operator": "aten::mm",
            "calls_per_step": 2.0,
            "self_ms_per_step": 1.5,
            "self_pct": 100.0,
            "total_ms_per_step": 1.5,
            "clock": "cpu",
        }
    ]
    assert list(found[1]["module"]) == ["fc"]
    assert target.read().trace_tables("other") is None
    (target.path / "traces" / "job" / "operators.csv").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(BenchError, match=r"job/operators\.csv: cannot read trace table"):
        target.read().trace_tables("job")


def test_a_trace_kept_under_the_names_before_its_own_folder_is_read_and_merged(
    tmp_path: Path,
) -> None:
    """Runs written before each trace had a folder kept ``traces/<job>.json.gz``,
    ``<job>_ops.csv`` and ``<job>_modules.csv``: the report's tables and a merge still find them."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    source = RunDir.create(tmp_path / "a", {"suite": {"name": "s"}})
    (source.path / "traces").mkdir()
    operators = "operator,calls_per_step,self_ms_per_step,self_pct,total_ms_per_step,clock\n"
    (source.path / "traces" / "job_ops.csv").write_text(
        operators + "aten::mm,2.0,1.5,100.0,1.5,cpu\n"
    )
    (source.path / "traces" / "job_modules.csv").write_text(
        "module,calls_per_step,forward_ms_per_step,clock\nfc,1.0,1.5,cpu\n"
    )
    (source.path / "traces" / "job.json.gz").write_bytes(gzip.compress(b'{"traceEvents": []}'))
    found = source.read().trace_tables("job")
    assert found is not None
    assert list(found[0]["operator"]) == ["aten::mm"] and list(found[1]["module"]) == ["fc"]
    target = RunDir.create(tmp_path / "b", {"suite": {"name": "s"}})
    target.copy_job_files(source.path, "job")
    copied = sorted(p.name for p in (target.path / "traces").iterdir())
    assert copied == ["job.json.gz", "job_modules.csv", "job_ops.csv"]
    assert target.read().trace_tables("job") is not None


def test_a_compiled_model_has_operator_rows_and_no_module_rows() -> None:
    model = nn.Sequential(nn.Linear(8, 4), nn.ReLU())
    compiled = torch.compile(model, backend="eager")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    inputs = torch.ones(2, 8)

    def step() -> None:
        optimizer.zero_grad()
        compiled(inputs).sum().backward()
        optimizer.step()

    trace = trace_steps(step, 2, compiled, torch.device("cpu"))
    assert trace.modules == () and trace.operators and trace.clock == "cpu"
    assert trace.files().modules_csv == "module,calls_per_step,forward_ms_per_step,clock\r\n"


@pytest.fixture
def tf32_flags() -> Iterator[list[tuple[bool, bool]]]:
    """TF32 flags (matmul, cuDNN) seen inside each traced training step; the flags as they were
    are restored afterwards."""
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    seen: list[tuple[bool, bool]] = []
    step = job_trace.train_step

    def observed(*args: Any, **kwargs: Any) -> Any:
        seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
        return step(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(job_trace, "train_step", observed)
        yield seen
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def unprofiled(step: Callable[[], object], steps: int, *_: object) -> Trace:
    """``trace_steps`` with the profiler left out: the steps run, the trace is empty."""
    for _ in range(steps):
        step()
    return Trace(gzip.compress(b"{}"), (), (), steps, "cpu")


def test_profile_traces_into_the_traces_folder_of_a_read_only_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the folder the files go into must take them: a read-only ``--out`` whose
    ``traces/`` can be written is no reason to refuse."""
    monkeypatch.setattr(job_trace, "trace_steps", unprofiled)
    (tmp_path / "traces").mkdir()
    args = ["profile", "lenet5", "--trace", "1", "--batch-size", "2", "--out", str(tmp_path)]
    with enforced((tmp_path, 0o555)):
        assert main(args) == 0
    assert (tmp_path / "traces" / "lenet5" / "rank0.pt.trace.json.gz").is_file()


def test_profile_traces_in_fp32_with_tf32_off_whatever_was_set(
    tmp_path: Path, tf32_flags: list[tuple[bool, bool]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``bench profile --trace`` (the profiler itself left out: only the steps matter here)."""
    monkeypatch.setattr(job_trace, "trace_steps", unprofiled)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    args = ["profile", "lenet5", "--trace", "2", "--batch-size", "2", "--out", str(tmp_path)]
    assert main(args) == 0
    assert set(tf32_flags) == {(False, False)} and len(tf32_flags) == 2


def test_a_tf32_jobs_trace_runs_with_tf32_on_after_fp32_inference_timing(
    tf32_flags: list[tuple[bool, bool]],
) -> None:
    """A job trains in tf32, its inference timing in fp32 turns TF32 off, then it is traced."""
    Precision(CPU, "fp32", channels_last=False).set_matmul_precision()  # as the timing leaves it
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    batch = (torch.rand(2, 1, 8, 8), torch.tensor([0, 2]))
    tf32 = Precision(CPU, "tf32", channels_last=False)
    job_trace.trace_training(
        model, classification_objective, optimizer, tf32, itertools.repeat(batch), 1
    )
    assert tf32_flags and set(tf32_flags) == {(True, True)}


def test_tensorboards_profiler_plugin_finds_and_parses_each_traced_job(
    traced: Path, tmp_path: Path
) -> None:
    """The plugin (torch-tb-profiler) takes as a run each folder holding a file its
    ``WORKER_PATTERN`` matches (``*.pt.trace.json[.gz]``; ``plugin.py::_get_run_dirs``), the
    part before the suffix naming the worker; it parses the trace as its loader does."""
    from torch_tb_profiler import consts
    from torch_tb_profiler.profiler.data import RunProfileData
    from torch_tb_profiler.profiler.run_generator import RunGenerator

    found = [
        (Path(root), name)
        for root, _, files in os.walk(traced)
        for name in files
        if consts.WORKER_PATTERN.match(name)
    ]
    assert found == [(traced / "traces" / "lenet5-relu__s0", "rank0.pt.trace.json.gz")]
    match = consts.WORKER_PATTERN.match(found[0][1])
    assert match is not None and (match.group(1), match.group(2)) == ("rank0", None)
    data = RunProfileData.parse("rank0", None, str(found[0][0] / found[0][1]), str(tmp_path))
    profile = RunGenerator("rank0", None, data).generate_run_profile()
    names = {row["name"] for row in profile.operation_table_by_name["data"]}
    assert {"aten::convolution_backward", "aten::conv2d"} <= names
    assert data.distributed_info == {"rank": 0, "world_size": 1}


def test_a_trace_names_its_rank_first_as_holistic_trace_analysis_reads_it(traced: Path) -> None:
    """HolisticTraceAnalysis takes each file ending in ``.gz`` or ``.json`` of a folder as one
    rank's trace, the rank from the first ``"rank": N`` (regex ``"rank":\\s+(\\d+)``) in its
    text, and calls a trace without one rank 0 with a warning (``hta/common/trace_file.py``,
    ``create_rank_to_trace_dict``): one folder per job, the rank named before any event."""
    folder = traced / "traces" / "lenet5-relu__s0"
    traces = [p for p in folder.iterdir() if p.name.endswith((".gz", ".json"))]
    assert [p.name for p in traces] == ["rank0.pt.trace.json.gz"]
    text = gzip.decompress(traces[0].read_bytes()).decode()
    first = re.search(r'"rank":\s+(\d+)', text)
    assert first is not None and first.group(1) == "0"
    assert text.startswith('{"distributedInfo": {"rank": 0, "world_size": 1}')


def test_a_rank_the_profiler_wrote_under_torch_distributed_is_kept() -> None:
    """Under torchrun the profiler writes ``distributedInfo`` itself; it moves to the front,
    unchanged."""
    info = {"backend": "gloo", "rank": 3, "world_size": 4}
    trace = json.dumps({"schemaVersion": 1, "traceEvents": [], "distributedInfo": info})
    kept = with_rank(trace.encode()).decode()
    assert kept.startswith('{"distributedInfo": {"backend": "gloo", "rank": 3, "world_size": 4}')
    assert json.loads(kept) == {"distributedInfo": info, "schemaVersion": 1, "traceEvents": []}


def test_a_run_writes_each_finished_jobs_tensorboard_events_from_its_records(
    traced: Path,
) -> None:
    """``bench run`` writes the event file as the job finishes: TensorBoard's reader gives back
    the epoch records' values at their epochs."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (folder,) = (traced / "tensorboard").iterdir()
    assert folder.name == "lenet5-relu__s0" and len(list(folder.iterdir())) == 1
    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    epochs = [r for r in RunDir.open(traced).records() if r["type"] == "epoch"]
    for field, tag in (("test_acc", "accuracy_pct/test"), ("epoch_time_s", "time_s/epoch")):
        expected = [(e["epoch"], float(np.float32(e[field]))) for e in epochs]
        assert [(s.step, s.value) for s in accumulator.Scalars(tag)] == expected
    assert "gpu/power_w" not in accumulator.Tags()["scalars"]  # not measured on the CPU
