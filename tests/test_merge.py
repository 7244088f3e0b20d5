"""``bench merge``: the shards of a suite joined into one run equal an unsharded run."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_suite import SEED_COLUMNS, tiny_suite

from bench.cli import main
from bench.report.cautions import run_warnings
from bench.report.tables import environment_table
from bench.results.rundir import RunDir, read_runs

ROOT = Path(__file__).resolve().parent.parent

SUITE = tiny_suite("tiny-merge", epochs=1, train_size=256, test_size=64)
MATRIX = ["lenet5-relu__s0", "lenet5-relu__s1", "lenet5__s0", "lenet5__s1"]
# main() with only the merge command registered, failing if anything imported torch.
MERGE_ONLY = (
    "import sys; import bench.cli as cli; cli.COMMANDS = ('merge',); "
    "code = cli.main(sys.argv[1:]); "
    "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(code)"
)


def run_into(out: Path, suite: Path, *args: str) -> Path:
    common = ["--quiet", "--no-report", "--history-db", "none", "--out", str(out)]
    assert main(["run", "--suite", str(suite), *common, *args]) == 0
    (run_dir,) = (p.parent for p in out.glob("*/*/run.json"))
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An unsharded run of a 4-job suite and its two shards."""
    root = tmp_path_factory.mktemp("runs")
    suite = root / "tiny-merge.toml"
    suite.write_text(SUITE)
    return {
        "full": run_into(root / "full", suite),
        "shard1": run_into(root / "shard1", suite, "--shard", "1/2"),
        "shard2": run_into(root / "shard2", suite, "--shard", "2/2"),
    }


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def seed_columns(run_dir: Path) -> list[dict[str, str]]:
    return [{k: row[k] for k in SEED_COLUMNS} for row in rows(run_dir / "results.csv")]


def job_lines(run_dir: Path) -> list[str]:
    return [r["job_id"] for r in RunDir.open(run_dir).records() if r["type"] == "job"]


def merge(*args: str | Path) -> int:
    return main(["merge", *map(str, args)])


def test_shard_runs_hold_their_jobs_and_record_the_shard(runs: dict[str, Path]) -> None:
    shards = [json.loads((runs[k] / "run.json").read_text()) for k in ("shard1", "shard2")]
    assert [info["shard"] for info in shards] == ["1/2", "2/2"]
    planned = [[job["job_id"] for job in info["jobs"]] for info in shards]
    assert sorted(planned[0] + planned[1]) == sorted(MATRIX)
    assert [job_lines(runs[k]) for k in ("shard1", "shard2")] == planned
    assert "shard" not in json.loads((runs["full"] / "run.json").read_text())


def test_merged_shards_give_the_results_of_an_unsharded_run(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "merged"
    assert merge(runs["shard2"], runs["shard1"], "--out", out) == 0
    assert seed_columns(out) == seed_columns(runs["full"])
    assert [r["job_id"] for r in rows(out / "results.csv")] == MATRIX
    losses = lambda d: [(r["job_id"], r["train_loss"]) for r in rows(d / "epochs.csv")]  # noqa: E731
    assert losses(out) == losses(runs["full"])
    assert job_lines(out) == MATRIX
    info = json.loads((out / "run.json").read_text())
    assert [job["job_id"] for job in info["jobs"]] == MATRIX
    assert [e["shard"] for e in info["environments"]] == ["2/2", "1/2"]
    assert [e["run_id"] for e in info["environments"]] == [runs["shard2"].name, runs["shard1"].name]
    assert info["environment"] == info["environments"][0]["environment"]
    shard_warnings = [
        json.loads((runs[k] / "run.json").read_text())["doctor"]["warnings"]
        for k in ("shard2", "shard1")
    ]
    assert [e["doctor"]["warnings"] for e in info["environments"]] == shard_warnings
    assert run_warnings(info) == [
        f"{runs[k].name}: {w}"
        for k, ws in zip(("shard2", "shard1"), shard_warnings, strict=True)
        for w in ws
    ]
    for job_id in MATRIX:
        assert (out / "artifacts" / job_id / "first_layer_trained.npy").is_file()
    environments = environment_table(read_runs([out])).data.set_index("Field")
    assert list(environments.loc["Shard"]) == ["2/2", "1/2"]  # one column per input run
    assert (out / "report.html").is_file()


def test_resume_of_a_shard_runs_only_that_shards_jobs(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    run_dir = tmp_path / runs["shard1"].name
    shutil.copytree(runs["shard1"], run_dir)
    first, last = json.loads((run_dir / "run.json").read_text())["jobs"][:2]
    records = (run_dir / "records.jsonl").read_text().splitlines(keepends=True)
    kept = [line for line in records if json.loads(line)["job_id"] != last["job_id"]]
    (run_dir / "records.jsonl").write_text("".join(kept))
    assert main(["run", "--resume", str(run_dir), "--quiet", "--history-db", "none"]) == 0
    assert job_lines(run_dir) == [first["job_id"], last["job_id"]]
    assert json.loads((run_dir / "run.json").read_text())["shard"] == "1/2"


def test_same_job_with_different_records_in_two_inputs_exits_2(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert merge(runs["full"], runs["shard1"], "--out", tmp_path / "merged") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "with different records" in err, err
    assert any(f"job {job_id} is in both" in err for job_id in MATRIX)
    assert not (tmp_path / "merged").exists()


def test_a_copied_input_merges_once(runs: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "copy" / runs["shard1"].name
    shutil.copytree(runs["shard1"], copy)
    out = tmp_path / "merged"
    assert (
        merge(runs["shard1"], copy, runs["shard2"], runs["shard2"], "--out", out, "--no-report")
        == 0
    )
    assert job_lines(out) == MATRIX
    assert len(json.loads((out / "run.json").read_text())["environments"]) == 2
    assert not (out / "report.html").exists()


def test_runs_of_different_suites_are_refused(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    shutil.copytree(runs["shard2"], other)
    info = json.loads((other / "run.json").read_text())
    info["suite"]["optimizer"]["lr"] = 0.1
    (other / "run.json").write_text(json.dumps(info))
    assert merge(runs["shard1"], other, "--out", tmp_path / "merged") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "suite differs" in err, err


def test_merge_into_a_used_directory_is_refused(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert merge(runs["shard1"], runs["shard2"], "--out", runs["full"]) == 2
    assert "--out" in capsys.readouterr().err


def test_merge_runs_without_torch(runs: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "blocker" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("torch is blocked in this test")\n')
    env = {**os.environ, "PYTHONPATH": str(blocker.parent)}
    args = [str(runs["shard1"]), str(runs["shard2"]), "--out", str(tmp_path / "m"), "--no-report"]
    result = subprocess.run(
        [sys.executable, "-c", MERGE_ONLY, "merge", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert job_lines(tmp_path / "m") == MATRIX


@pytest.mark.parametrize("partial", [False, True])
def test_missing_jobs_fail_the_merge_unless_partial_and_the_merged_run_is_kept(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], partial: bool
) -> None:
    out = tmp_path / "merged"
    flags = ["--partial"] if partial else []
    assert merge(runs["shard1"], "--out", out, "--no-report", *flags) == (0 if partial else 1)
    absent = sorted(set(MATRIX) - set(job_lines(runs["shard1"])), key=MATRIX.index)
    listed = f"2 jobs of the suite are in none of the runs: {', '.join(absent)}"
    err = capsys.readouterr().err
    if partial:
        assert err == f"note: {listed}\n"
    else:
        assert err == (
            f"bench merge: incomplete: {listed} (merged run written all the same; "
            "--partial accepts a partial merge)\n"
        )
    assert job_lines(out) == job_lines(runs["shard1"])  # what was measured is kept
