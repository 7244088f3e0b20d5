"""Compiled jobs run static shapes: every training step one batch size (the ragged last batch
dropped), each shape a static graph (``dynamic=False``) compiled in the first epoch, and the
record says how many graphs were compiled and when.

Compilation here uses Dynamo with its ``eager`` backend (no code generation: fast on a CPU);
the graphs Dynamo captures, and so their count, are the same whatever the backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from tiny_suite import tiny_suite

from bench.cli import main
from bench.data.datasets import load_dataset
from bench.data.pipeline import make_loaders
from bench.results.rundir import RunDir
from bench.suite.matrix import build_suite


@pytest.mark.parametrize(("compile_mode", "sizes"), [("", [64, 36]), ("default", [64])])
def test_a_compiled_job_drops_the_ragged_last_training_batch(
    compile_mode: str, sizes: list[int]
) -> None:
    splits = load_dataset("digits", Path("."), options={"train_size": 100})
    document = {"models": ["lenet5"], "batch_size": 64, "compile": compile_mode}
    (job,) = build_suite(document, "x.toml").jobs
    train, _ = make_loaders(splits, job.config, 0, torch.device("cpu"))
    assert (len(train), train.num_images) == (len(sizes), sum(sizes))
    assert [len(x) for x, _ in train.batches(1)] == sizes


def test_a_compiled_job_compiles_static_graphs_in_its_first_epoch_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """100 training images at batch 64 (a ragged 36 left out), 50 test images in one batch,
    inference at batch 2: one training graph and one evaluation graph in epoch 1, none in
    epoch 2, one for the inference batch."""
    calls: list[dict[str, Any]] = []
    compile_ = torch.compile

    def eager(model: Any, **options: Any) -> Any:
        calls.append(options)
        return compile_(model, backend="eager", dynamic=options.get("dynamic"))

    monkeypatch.setattr(torch, "compile", eager)
    torch._dynamo.reset()
    suite = tmp_path / "tiny.toml"
    suite.write_text(tiny_suite(epochs=2, train_size=100, test_size=50))
    args = ["run", "--suite", str(suite), "--models", "lenet5-relu", "--seeds", "0", "--compile"]
    inference = ["--set", "inference.batch_sizes=[2]", "--set", "inference.min_iterations=1"]
    quiet = ["--quiet", "--no-report", "--history-db", "none", "--out", str(tmp_path / "out")]
    assert main([*args, *inference, "--set", "inference.min_time_s=0", *quiet]) == 0
    assert calls == [{"mode": "default", "dynamic": False}]
    (run_json,) = (tmp_path / "out").glob("*/*/run.json")
    records = RunDir.open(run_json.parent).records()
    (job,) = [r for r in records if r["type"] == "job"]
    extra = job["extra"]
    assert (extra["compiled_graphs"], extra["compiled_graphs_steady"]) == (2, 0)
    assert extra["compiled_graphs_inference"] == 1
    assert [r["images"] for r in records if r["type"] == "epoch"] == [64, 64]
