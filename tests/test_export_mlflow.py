"""``bench export mlflow`` (and ``bench run --mlflow``), read back with MLflow's own client.
MLflow is slow to import: one export (and its repeat) serves the whole module."""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_errors import one_line_error
from run_fixtures import write_run

from bench.cli import main
from bench.results.rundir import RunDir


@dataclass(frozen=True)
class Exported:
    run: Path
    uri: str
    outputs: tuple[str, str]  # what the first and the second export printed


def client(exported: Exported) -> Any:
    """MLflow's client of the store the run was exported to."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=exported.uri)


def runs_of(exported: Exported) -> dict[str, object]:
    """Every MLflow run of the experiment, by run name."""
    mlflow_client = client(exported)
    experiment = mlflow_client.get_experiment_by_name("fixture-suite")
    found = mlflow_client.search_runs([experiment.experiment_id], max_results=100)
    names = [r.info.run_name for r in found]
    assert len(names) == len(set(names)), names
    return {r.info.run_name: r for r in found}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """A synthetic GPU run (lenet5; the autoencoder, with a report figure of its own) exported
    to a folder store, then exported again."""
    root = tmp_path_factory.mktemp("mlflow")
    run = write_run(root / "run", models=("lenet5", "conv-autoencoder"), telemetry=False)
    (run / "figures").mkdir()
    for name in ("accuracy_vs_compute.png", "reconstructions_conv-autoencoder.png"):
        (run / "figures" / name).write_bytes(b"\x89PNG figure " + name.encode())
    (run / "summary.md").write_text("# Benchmark report\n")
    uri = (root / "mlruns").as_uri()
    outputs = []
    for _ in range(2):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["export", "mlflow", str(run), "--tracking-uri", uri]) == 0
        outputs.append(out.getvalue())
    return Exported(run, uri, (outputs[0], outputs[1]))


def test_one_run_per_job_nested_under_the_runs_parent(exported: Exported) -> None:
    runs = runs_of(exported)
    run_id = RunDir.open(exported.run).read().run_id
    assert sorted(runs) == sorted([run_id, "lenet5-s0", "conv-autoencoder-s0"])
    parent = runs[run_id]
    for job in ("lenet5-s0", "conv-autoencoder-s0"):
        tags = runs[job].data.tags
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert {k: tags[k] for k in ("bench.machine", "bench.commit", "bench.suite")} == {
            "bench.machine": "fixture-machine",
            "bench.commit": "0123456789abcdef",
            "bench.suite": "fixture-suite",
        }
        assert tags["bench.variant"] == "default" and tags["bench.job_id"] == job
        assert runs[job].info.status == "FINISHED"
    assert runs["lenet5-s0"].data.params == {
        "dataset.name": "cifar10",
        "model": "lenet5",
        "seed": "0",
        "variant": "default",
        "dataset": "cifar10",
        "recipe": "classify",
        "device": "cuda",
        "precision": "fp32",
        "batch_size": "64",
        "world_size": "1",
    }


def test_epoch_metrics_keep_their_steps_and_values(exported: Exported) -> None:
    mlflow_client = client(exported)
    run = RunDir.open(exported.run).read()
    job_run = runs_of(exported)["conv-autoencoder-s0"].info.run_id
    for phase in ("pretrain", "finetune"):
        epochs = [
            e for e in run.epochs if e["job_id"] == "conv-autoencoder-s0" and e["phase"] == phase
        ]
        history = mlflow_client.get_metric_history(job_run, f"{phase}/loss/test")
        assert [(m.step, m.value) for m in history] == [
            (e["epoch"], e["test_loss"]) for e in epochs
        ]
    lenet = runs_of(exported)["lenet5-s0"]
    history = mlflow_client.get_metric_history(lenet.info.run_id, "accuracy_pct/test")
    assert [(m.step, m.value) for m in history] == [(1, 47.87), (2, 52.64), (3, 55.54)]
    (job,) = [j for j in run.jobs if j["job_id"] == "lenet5-s0"]
    assert lenet.data.metrics["final/test_acc_pct"] == job["test_acc"]
    assert lenet.data.metrics["final/energy_j"] == job["energy_j"]


def test_the_parent_keeps_the_tables_and_each_job_its_files_and_figures(
    exported: Exported,
) -> None:
    mlflow_client = client(exported)
    runs = runs_of(exported)

    def listed(run_name: str, folder: str | None = None) -> list[str]:
        return [a.path for a in mlflow_client.list_artifacts(runs[run_name].info.run_id, folder)]

    parent = RunDir.open(exported.run).read().run_id
    assert listed(parent) == [
        "epochs.csv", "epochs.parquet", "figures", "inference.csv", "inference.parquet",
        "results.csv", "results.parquet", "run.json", "summary.md",
    ]  # fmt: skip
    assert listed(parent, "figures") == [
        "figures/accuracy_vs_compute.png",
        "figures/reconstructions_conv-autoencoder.png",
    ]
    assert listed("conv-autoencoder-s0", "figures") == [
        "figures/reconstructions_conv-autoencoder.png"
    ]
    assert listed("conv-autoencoder-s0", "artifacts/conv-autoencoder-s0") == [
        f"artifacts/conv-autoencoder-s0/{name}.npy"
        for name in ("first_layer_init", "first_layer_trained", "recon_inputs", "recon_outputs")
    ]
    assert listed("lenet5-s0") == ["artifacts"]


def test_exporting_again_adds_no_run(exported: Exported) -> None:
    first, second = exported.outputs
    assert "2 job runs logged, 0 already there" in first
    assert "0 job runs logged, 2 already there" in second
    assert len(runs_of(exported)) == 3


def test_without_mlflow_export_and_run_name_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = write_run(tmp_path / "run", models=("lenet5",), telemetry=False, artifacts=False)
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.chdir(tmp_path)
    line = "mlflow is not installed; install it with: pip install 'bench[mlflow]'"
    err = one_line_error(["export", "mlflow", str(run)], capsys, unchanged=[tmp_path])
    assert err == f"bench export: error: {line}"
    argv = ["run", "--suite", "smoke", "--mlflow", "--out", str(tmp_path / "out")]
    assert one_line_error(argv, capsys, unchanged=[tmp_path]) == f"bench run: error: {line}"


def test_a_damaged_run_directory_is_one_line_and_logs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = write_run(tmp_path / "run", models=("lenet5",), telemetry=False, artifacts=False)
    with (run / "records.jsonl").open("a") as handle:
        handle.write('{"type": "epoch", "job_id": "../x"}\n')
    store = tmp_path / "mlruns"
    argv = ["export", "mlflow", str(run), "--tracking-uri", store.as_uri()]
    err = one_line_error(argv, capsys, unchanged=[tmp_path])
    assert err.startswith(f"bench export: error: {run}/records.jsonl: line ")
    assert not store.exists()


@pytest.mark.parametrize("form", ["path", "uri", "link"])
def test_a_store_inside_the_run_directory_is_one_line_and_logs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    run = write_run(tmp_path / "run", models=("lenet5",), telemetry=False, artifacts=False)
    (tmp_path / "link").symlink_to(run)
    store = {
        "path": str(run / "mlruns"),
        "uri": (run / "mlruns").as_uri(),
        "link": str(tmp_path / "link" / "mlruns"),
    }[form]
    argv = ["export", "mlflow", str(run), "--tracking-uri", store]
    err = one_line_error(argv, capsys, unchanged=[tmp_path])
    assert err.endswith(f"inside the input {run}; write outside what this command reads")
    assert err.startswith("bench export: error: --tracking-uri ")


def test_a_job_gets_the_figures_the_report_drew_for_its_group(tmp_path: Path) -> None:
    """Where the report's groups name their data set (a run of two), a group's figures carry
    it in their file names, and the job's MLflow run keeps them all the same."""
    run = write_run(tmp_path / "run", models=("lenet5", "conv-autoencoder"), telemetry=False)
    records = run / "records.jsonl"
    records.write_text(
        "\n".join(
            line.replace('"dataset":"cifar10"', '"dataset":"digits"') if "lenet5" in line else line
            for line in records.read_text().splitlines()
        )
        + "\n"
    )
    assert main(["report", str(run)]) == 0
    drawn = sorted(p.name for p in (run / "figures").glob("reconstructions_*.png"))
    assert drawn == ["reconstructions_conv-autoencoder-cifar10.png"]
    uri = (tmp_path / "mlruns").as_uri()
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["export", "mlflow", str(run), "--tracking-uri", uri]) == 0
    exported = Exported(run, uri, ("", ""))
    job_run = runs_of(exported)["conv-autoencoder-s0"].info.run_id
    listed = [a.path for a in client(exported).list_artifacts(job_run, "figures")]
    assert listed == [
        f"figures/reconstructions_conv-autoencoder-cifar10.{kind}" for kind in ("png", "svg")
    ]
