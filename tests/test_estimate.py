"""``bench run --estimate`` (predictions, nothing written) and ``--predict`` (predictions kept
beside the measurements and shown against them in the report), end to end on small data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from cli_errors import one_line_error
from run_fixtures import write_run
from test_run import failing_models  # noqa: F401 (a fixture: models that fail)

from bench.cli import main
from bench.data.imageset import DataSplits, ImageSet
from bench.recipes import PHASE_EPOCHS, RECIPES
from bench.report import write_report
from bench.results.rundir import RunDir
from bench.run.estimate import short_splits
from bench.suite.settings import DatasetConfig, FinetuneConfig, JobConfig

# lenet5 on 256 digits (4 batches of 64: the short run is the whole epoch), two seeds that
# share one short run, and a small inference timing
SUITE = """
name = "tiny-estimate"
epochs = 1
batch_size = 64
seeds = [0, 1]
device = "cpu"
[dataset]
name = "digits"
train_size = 256
test_size = 64
[optimizer]
name = "sgd"
lr = 0.05
[inference]
batch_sizes = [2]
min_iterations = 3
min_time_s = 0.05
[[models]]
name = "lenet5"
"""


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-estimate.toml"
    path.write_text(SUITE)
    return path


def test_estimate_prints_each_job_and_the_total_and_writes_nothing(
    suite_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert main(["run", "--suite", str(suite_file), "--estimate", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    assert lines[0].split()[:2] == ["job", "device"]
    rows = {line.split()[0]: line.split() for line in lines[1:4]}
    assert set(rows) == {"lenet5__s0", "lenet5__s1", "total"}
    seconds = [float(rows[job][5]) for job in ("lenet5__s0", "lenet5__s1")]
    assert all(s > 0 for s in seconds)
    assert float(rows["total"][4]) == pytest.approx(sum(seconds), abs=0.02)
    # a CPU job: no GPU memory, no GPU fit, no energy
    assert rows["lenet5__s0"][6] == "n/a" and rows["lenet5__s0"][8:] == ["n/a", "n/a"]
    assert printed.err.count("estimating ") == 1  # the seeds share one short run
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-estimate.toml"]


def test_predict_records_each_prediction_and_the_report_shows_its_error(
    suite_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    argv = ["run", "--suite", str(suite_file), "--predict", "--out", str(out)]
    assert main([*argv, "--history-db", "none", "--quiet", "--no-report"]) == 0
    (run_path,) = out.glob("*/*")
    run = RunDir.open(run_path).read()
    jobs = run.jobs
    predicted = {job["job_id"]: job["predicted_time_s"] for job in jobs}
    assert set(predicted) == {"lenet5__s0", "lenet5__s1"}
    assert all(p > 0 for p in predicted.values())
    with (run_path / "results.csv").open() as f:
        assert {row["job_id"]: float(row["predicted_time_s"]) for row in csv.DictReader(f)} == (
            pytest.approx(predicted)
        )
    markdown = write_report([run], tmp_path / "report", formats=("md",)).markdown
    assert markdown is not None
    text = markdown.read_text()
    table = text.split("## Predicted against measured job time")[1].split("## ")[0]
    for job in jobs:
        error = 100 * (job["predicted_time_s"] - job["total_time_s"]) / job["total_time_s"]
        assert f"| {job['job_id']} |" in table and f"| {error:+.1f} |" in table
    assert "| total | 2 jobs |" in table


def test_a_run_without_predictions_reports_them_as_not_available(tmp_path: Path) -> None:
    path = write_run(
        tmp_path / "old", models=("lenet5",), seeds=(0,), telemetry=False, artifacts=False
    )
    records = path / "records.jsonl"
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    for line in lines:  # as runs recorded before predictions were
        line.pop("predicted_time_s", None)
    records.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = write_report([RunDir.open(path).read()], tmp_path / "report", formats=("md", "html"))
    assert report.markdown is not None and report.html is not None
    table = report.markdown.read_text().split("## Predicted against measured job time")[1]
    assert "| lenet5-s0 | lenet5 | 0 | n/a | n/a | n/a |" in table
    assert "| total |" not in table  # no job has both figures
    html = report.html.read_text().split('<section id="prediction">')[1].split("</section>")[0]
    assert ">lenet5-s0</td>" in html and 'data-sort="">n/a</td>' in html


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--resume", "RUN"], "--resume"),
        (["--suite", "smoke", "--dry-run"], "--dry-run"),
        (["--suite", "smoke", "--predict"], "--predict"),
        (["--suite", "smoke", "--baseline", "BASE"], "--baseline"),
        (["--suite", "smoke", "--history-db", "none"], "--history-db"),
        (["--suite", "smoke", "--no-report"], "--no-report"),
        (["--suite", "smoke", "--mlflow"], "--mlflow"),
    ],
)
def test_estimate_refuses_flags_that_write_or_judge_a_run(
    argv: list[str], flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.replace("RUN", str(tmp_path)).replace("BASE", str(tmp_path)) for a in argv]
    err = one_line_error(["run", "--estimate", *argv], capsys, unchanged=[tmp_path])
    assert err == f"bench run: error: --estimate writes nothing and runs no job; drop {flag}"


def _splits(train: int, test: int) -> DataSplits:
    def images(n: int) -> ImageSet:
        return ImageSet(
            torch.zeros(n, 1, 8, 8, dtype=torch.uint8), torch.zeros(n, dtype=torch.int64), ("a",)
        )

    return DataSplits("synthetic", images(train), images(test), (0.5,), (0.25,))


@pytest.mark.parametrize(
    ("drop_last", "eval_batch", "sizes"),
    [
        (False, 0, (4 * 64 + 500 % 64, 100)),  # 4 batches and the partial one; all 100 tested
        (True, 0, (4 * 64, 100)),  # the partial batch dropped, as training drops it
        (False, 16, (4 * 64 + 52, 4 * 16 + 100 % 16)),  # evaluation in batches of 16
    ],
)
def test_a_short_run_takes_four_batches_and_the_partial_one(
    drop_last: bool, eval_batch: int, sizes: tuple[int, int]
) -> None:
    config = JobConfig(
        batch_size=64, eval_batch_size=eval_batch, dataset=DatasetConfig(drop_last=drop_last)
    )
    short = short_splits(_splits(500, 100), config)
    assert (len(short.train), len(short.test)) == sizes


def test_predict_refuses_a_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_error(["run", "--suite", "smoke", "--predict", "--dry-run"], capsys)
    assert err == "bench run: error: --predict runs the jobs; drop --dry-run (or use --estimate)"


def test_every_recipe_says_how_many_epochs_each_of_its_phases_trains() -> None:
    assert set(PHASE_EPOCHS) == set(RECIPES)
    config = JobConfig(epochs=3)
    assert PHASE_EPOCHS["classify"](config) == {"train": 3}
    assert PHASE_EPOCHS["autoencode"](config) == {"pretrain": 3, "finetune": 3}  # 0: as epochs
    config = JobConfig(epochs=3, finetune=FinetuneConfig(epochs=2))
    assert PHASE_EPOCHS["autoencode"](config) == {"pretrain": 3, "finetune": 2}


@pytest.mark.usefixtures("failing_models")
def test_a_job_whose_short_run_fails_is_shown_failed_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nan.toml"
    path.write_text(SUITE.replace('"lenet5"', '"test-nan-net"').replace("seeds = [0, 1]", ""))
    assert main(["run", "--suite", str(path), "--estimate", "--quiet"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:6] == ["test-nan-net__s0", "cpu", "n/a", "n/a", "n/a", "diverged"]
    assert out[-1] == "test-nan-net__s0: diverged: training loss is nan"
