"""TensorBoard event files of a run (``bench export tensorboard``; ``bench run`` writes them as
each job finishes: tests/test_trace.py), read back with TensorBoard's own EventAccumulator."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from cli_errors import one_line_error
from run_fixtures import write_run
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from bench.cli import main
from bench.export import tensorboard_events
from bench.export.fields import EPOCH_SCALARS
from bench.results.rundir import RunDir
from bench.run import session

EPOCH_TAGS = {
    "loss/train", "loss/test", "accuracy_pct/train", "accuracy_pct/test", "lr", "time_s/epoch",
    "time_s/train", "time_s/eval", "time_s/data_wait", "throughput/train_images_per_s",
    "memory_mib/peak_allocated", "memory_mib/peak_reserved", "memory_mib/peak_rss",
    "gpu/util_pct", "gpu/power_w", "gpu/energy_j",
}  # fmt: skip
FINAL_TAGS = {
    "final/test_acc_pct", "final/best_test_acc_pct", "final/train_loss", "final/test_loss",
    "final/epoch_time_s", "final/first_epoch_time_s", "final/images_per_s", "final/peak_mem_mib",
    "final/peak_rss_mib", "final/power_w", "final/energy_j",
}  # fmt: skip


def events(run_dir: Path, job_id: str) -> EventAccumulator:
    """The job's event file, read by TensorBoard's reader."""
    (folder,) = [p for p in (run_dir / "tensorboard").iterdir() if p.name == job_id]
    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return accumulator


def scalars(accumulator: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in accumulator.Scalars(tag)]


def hparams(accumulator: EventAccumulator) -> dict[str, object]:
    """The session's hparams, as the hparams plugin reads them."""
    content = accumulator.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    values = data.session_start_info.hparams
    return {k: getattr(v, v.WhichOneof("kind")) for k, v in values.items()}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic GPU run (lenet5; the two-phase autoencoder, its second seed out of memory
    after one epoch), exported once."""
    run = tmp_path_factory.mktemp("tb") / "run"
    write_run(
        run, models=("lenet5", "conv-autoencoder"), seeds=(0, 1),
        failures={("conv-autoencoder", 1): "oom"}, telemetry=False, artifacts=False,
    )  # fmt: skip
    assert main(["export", "tensorboard", str(run)]) == 0
    return run


def test_each_epoch_scalar_is_read_back_at_its_epoch(exported: Path) -> None:
    run = RunDir.open(exported).read()
    accumulator = events(exported, "lenet5-s0")
    assert set(accumulator.Tags()["scalars"]) == EPOCH_TAGS | FINAL_TAGS
    epochs = [e for e in run.epochs if e["job_id"] == "lenet5-s0"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    for field, tag in EPOCH_SCALARS.items():
        expected = [(e["epoch"], float(np.float32(e[field]))) for e in epochs]
        assert scalars(accumulator, tag) == expected, tag
    assert scalars(accumulator, "accuracy_pct/test") == [
        (1, pytest.approx(47.87)), (2, pytest.approx(52.64)), (3, pytest.approx(55.54)),
    ]  # fmt: skip


def test_the_settings_are_hparams_beside_the_final_metrics(exported: Path) -> None:
    run = RunDir.open(exported).read()
    (job,) = [j for j in run.jobs if j["job_id"] == "lenet5-s1"]
    accumulator = events(exported, "lenet5-s1")
    assert hparams(accumulator) == {
        "dataset.name": "cifar10",
        "model": "lenet5",
        "seed": 1.0,
        "variant": "default",
        "dataset": "cifar10",
        "recipe": "classify",
        "device": "cuda",
        "precision": "fp32",
        "batch_size": 64.0,
        "world_size": 1.0,
    }
    assert scalars(accumulator, "final/test_acc_pct") == [(3, float(np.float32(job["test_acc"])))]
    assert scalars(accumulator, "final/energy_j") == [(3, float(np.float32(job["energy_j"])))]


def test_a_job_of_two_phases_names_each_phase_and_a_failed_job_keeps_its_epoch(
    exported: Path,
) -> None:
    run = RunDir.open(exported).read()
    tags = set(events(exported, "conv-autoencoder-s0").Tags()["scalars"])
    assert {"pretrain/loss/train", "finetune/accuracy_pct/test"} <= tags
    assert "pretrain/accuracy_pct/test" not in tags  # a reconstruction phase has no accuracy
    assert not tags & EPOCH_TAGS
    (epoch,) = [e for e in run.epochs if e["job_id"] == "conv-autoencoder-s1"]
    failed = events(exported, "conv-autoencoder-s1")
    assert scalars(failed, "pretrain/loss/train") == [(1, float(np.float32(epoch["train_loss"])))]
    assert "final/test_acc_pct" not in failed.Tags()["scalars"]


def test_a_second_export_keeps_the_event_files_as_they_are(
    exported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p: p.read_bytes() for p in (exported / "tensorboard").rglob("*") if p.is_file()}
    assert len(before) == 4
    capsys.readouterr()
    assert main(["export", "tensorboard", str(exported)]) == 0
    assert capsys.readouterr().out.startswith("0 event files written")
    after = {p: p.read_bytes() for p in (exported / "tensorboard").rglob("*") if p.is_file()}
    assert after == before


def test_without_tensorboard_export_names_the_extra_and_a_run_only_notes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = write_run(tmp_path / "run", models=("lenet5",), telemetry=False, artifacts=False)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    err = one_line_error(["export", "tensorboard", str(run)], capsys, unchanged=[run])
    assert err == (
        "bench export: error: tensorboard is not installed; install it with: "
        "pip install 'bench[tensorboard]'"
    )
    assert tensorboard_events.missing_note() == (
        "note: no TensorBoard event files (install them with: pip install 'bench[tensorboard]')"
    )
    (record,) = [r for r in RunDir.open(run).records() if r["type"] == "job"]
    session._write_events(RunDir.open(run).read(), record)  # what bench run does after each job
    assert not (run / "tensorboard").exists()
    assert capsys.readouterr().err == ""


def test_an_events_folder_linked_out_of_the_run_is_one_line_and_nothing_is_written_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = write_run(tmp_path / "run", models=("lenet5",), telemetry=False, artifacts=False)
    outside = tmp_path / "outside"
    outside.mkdir()
    (run / "tensorboard").symlink_to(outside)
    err = one_line_error(["export", "tensorboard", str(run)], capsys, unchanged=[outside])
    assert err == (
        f"bench export: error: {run}/tensorboard/lenet5-s0: leads out of the run directory {run}"
    )
