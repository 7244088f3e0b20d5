"""``--shard I/N``: deterministic slices of a job matrix that partition it."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_compare_docs import DOCS, bench_commands

from bench.cli import get_args_parser, main
from bench.suite.matrix import build_suite
from bench.suite.shard import Shard, parse_shard, shard_job_ids

SEVEN_MODELS = [
    "lenet5",
    "lenet5-relu",
    "alexnet-cifar",
    "vgg11-cifar",
    "googlenet-cifar",
    "resnet18-cifar",
    "resnet34-cifar",
]


def seven_job_ids() -> list[str]:
    """The job ids of a real suite with seven jobs."""
    raw = {"name": "seven", "dataset": {"name": "cifar10"}, "models": SEVEN_MODELS}
    return [job.job_id for job in build_suite(raw, "seven.toml").jobs]


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_partition_the_job_matrix(count: int) -> None:
    ids = seven_job_ids()
    assert len(ids) == 7
    shards = [shard_job_ids(ids, Shard(index, count)) for index in range(1, count + 1)]
    assert sorted(i for shard in shards for i in shard) == sorted(ids)  # all, none twice
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    for shard in shards:  # each keeps the matrix order
        assert shard == [i for i in ids if i in shard]


def test_shards_are_fixed_by_job_ids_alone() -> None:
    """SHA-256 of the job ids, not Python's salted hash: the same slice on every machine."""
    ids = seven_job_ids()
    assert shard_job_ids(ids, Shard(1, 3)) == [
        "alexnet-cifar__s0",
        "vgg11-cifar__s0",
        "resnet18-cifar__s0",
    ]
    assert shard_job_ids(ids, Shard(2, 3)) == ["googlenet-cifar__s0", "resnet34-cifar__s0"]
    assert shard_job_ids(ids, Shard(3, 3)) == ["lenet5__s0", "lenet5-relu__s0"]
    reordered = list(reversed(ids))
    assert shard_job_ids(reordered, Shard(2, 3)) == ["resnet34-cifar__s0", "googlenet-cifar__s0"]


def test_parse_shard_counts_from_one() -> None:
    assert parse_shard("1/4") == Shard(1, 4)
    assert parse_shard(" 4/4 ") == Shard(4, 4)
    assert str(Shard(2, 4)) == "2/4"


@pytest.mark.parametrize("text", ["0/2", "3/2", "x", "1/0", "1", "-1/2", "1/2/3", ""])
def test_bad_shard_values_exit_2_with_one_line_naming_the_flag(
    text: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--suite", "smoke", "--shard", text, "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--shard" in err, err
    assert not (tmp_path / "out").exists()


def test_dry_run_shows_only_the_shards_jobs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--suite", "smoke", "--shard", "2/3", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("suite smoke: 1 jobs (shard 2/3 of 4)\n")
    assert "resnet18-cifar__s0" in out and "lenet5__s0" not in out


def test_resume_refuses_a_new_shard(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", "--resume", str(tmp_path), "--shard", "1/2"]) == 2
    assert "drop --shard" in capsys.readouterr().err


def shard_commands(text: str, shard_variable: str) -> list[list[str]]:
    """The ``python -m bench`` commands of an example, shard 1/4 filled in, quotes dropped."""
    filled = text.replace(shard_variable, "1").replace("$SHARDS", "4")
    return bench_commands(filled.replace('"', ""))


def test_ci_matrix_example_runs_each_shard_then_merges() -> None:
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((DOCS / "ci" / "matrix.yml").read_text())
    shards = workflow["jobs"]["shard"]["strategy"]["matrix"]["shard"]
    assert shards == list(range(1, workflow["env"]["SHARDS"] + 1))
    scripts = {
        name: "\n".join(step.get("run", "") for step in job["steps"])
        for name, job in workflow["jobs"].items()
    }
    commands = shard_commands(scripts["shard"], "${{ matrix.shard }}")
    assert [get_args_parser().parse_args(argv).shard for argv in commands] == [Shard(1, 4)]
    assert workflow["jobs"]["merge"]["needs"] == "shard"
    (merge,) = bench_commands(scripts["merge"])
    assert merge[0] == "merge" and "--out" in merge
