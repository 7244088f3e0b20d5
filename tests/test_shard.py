"""``--shard I/N``: deterministic shares of a job matrix, balanced by cost, that partition it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_errors import one_line_error
from test_compare_docs import DOCS, bench_commands

from bench.cli import get_args_parser, main
from bench.measure.job_cost import suite_costs
from bench.results.rundir import RunDir
from bench.suite.files import find_suite, read_toml
from bench.suite.matrix import build_suite
from bench.suite.shard import Shard, assign_shards, parse_shard, shard_job_ids

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
    return [job.job_id for job in build_suite(raw, "seven.toml", fit=False).jobs]


def seven_costs() -> dict[str, int]:
    """The seven job ids with costs that differ, some equal, in matrix order."""
    return dict(zip(seven_job_ids(), [5, 5, 40, 70, 160, 60, 100], strict=True))


@pytest.mark.parametrize("count", [1, 2, 3, 7, 9])
def test_shards_partition_the_job_matrix(count: int) -> None:
    costs = seven_costs()
    shards = [shard_job_ids(costs, Shard(index, count)) for index in range(1, count + 1)]
    assert sorted(i for shard in shards for i in shard) == sorted(costs)  # all, none twice
    assert assign_shards(costs, count) == shards
    for shard in shards:  # each keeps the matrix order
        assert shard == [i for i in costs if i in shard]


def test_the_largest_cost_goes_first_to_the_least_loaded_shard() -> None:
    """b (10) to shard 1, c (6) to 2, d (5) to 2 (6 < 10), e (4) to 1 (10 < 11), a (1) to 2."""
    costs = {"a": 1, "b": 10, "c": 6, "d": 5, "e": 4}
    assert assign_shards(costs, 2) == [["b", "e"], ["a", "c", "d"]]
    assert assign_shards(costs, 5) == [["b"], ["c"], ["d"], ["e"], ["a"]]


def test_shards_are_fixed_by_job_ids_and_costs_alone() -> None:
    """Jobs of one cost go in the order of the SHA-256 of their ids, not Python's salted
    hash: the same shards on every machine, whatever order the matrix lists them in (at equal
    costs, the round-robin deal of the SHA-256 ranks)."""
    ids = seven_job_ids()
    equal = dict.fromkeys(ids, 1)
    assert shard_job_ids(equal, Shard(1, 3)) == [
        "alexnet-cifar__s0",
        "vgg11-cifar__s0",
        "resnet18-cifar__s0",
    ]
    assert shard_job_ids(equal, Shard(2, 3)) == ["googlenet-cifar__s0", "resnet34-cifar__s0"]
    assert shard_job_ids(equal, Shard(3, 3)) == ["lenet5__s0", "lenet5-relu__s0"]
    reordered = dict.fromkeys(reversed(ids), 1)
    assert shard_job_ids(reordered, Shard(2, 3)) == ["resnet34-cifar__s0", "googlenet-cifar__s0"]
    costs = seven_costs()
    backwards = dict(reversed(costs.items()))
    assert [set(s) for s in assign_shards(backwards, 3)] == [
        set(s) for s in assign_shards(costs, 3)
    ]


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
    assert "conv-autoencoder__s0" in out and "resnet18-cifar__s0" not in out


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


# The largest of 4 shards of cifar10-classic over their mean, in estimated cost: dealt by count
# (the SHA-256 round robin that every job of cost 1 gets) and by cost.
CLASSIC_BY_COUNT, CLASSIC_BY_COST = 1.488, 1.048


def largest_over_mean(costs: dict[str, int], shards: list[list[str]]) -> float:
    loads = [sum(costs[job_id] for job_id in shard) for shard in shards]
    return max(loads) / (sum(loads) / len(loads))


def test_cifar10_classic_in_four_shards_is_balanced_by_cost() -> None:
    """Each job's estimate is exact (counted from shapes), so every task deals the same."""
    raw = read_toml(find_suite("cifar10-classic"))
    suite = build_suite(raw, "cifar10-classic.toml", fit=False)
    costs = {job_id: c.total_flops for job_id, c in suite_costs(suite.jobs).items()}
    assert {job_id.split("__")[0]: cost for job_id, cost in costs.items()} == {
        "lenet5": 5_201_891_976_000,
        "alexnet-cifar": 139_213_944_524_800,
        "vgg16-cifar": 3_184_891_804_057_600,
        "googlenet-cifar": 12_828_386_152_038_400,
        "resnet18-cifar": 5_329_971_147_776_000,
        "resnet50-cifar": 12_461_385_922_150_400,
    }
    shards = assign_shards(costs, 4)
    assert sorted(i for shard in shards for i in shard) == sorted(costs) and len(costs) == 18
    backwards = list(reversed(costs))
    assert assign_shards({job_id: costs[job_id] for job_id in backwards}, 4) == [
        sorted(shard, key=backwards.index) for shard in shards
    ]
    by_cost = largest_over_mean(costs, shards)
    by_count = largest_over_mean(costs, assign_shards(dict.fromkeys(costs, 1), 4))
    assert round(by_cost, 3) == CLASSIC_BY_COST <= 1.15
    assert round(by_count, 3) == CLASSIC_BY_COUNT
    docs = (DOCS / "shards.md").read_text()
    assert f"{CLASSIC_BY_COUNT}" in docs and f"{CLASSIC_BY_COST}" in docs


def test_dry_run_states_the_shards_share_of_the_estimated_cost(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--suite", "smoke", "--shard", "3/3", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "suite smoke: 2 jobs (shard 3/3 of 4)"
    assert lines[1].split()[-3:] == ["est.", "TFLOP", "share"]
    assert [line.split()[0] for line in lines[2:4]] == ["lenet5__s0", "lenet5-relu__s0"]
    assert lines[2].split()[-2:] == ["0.01429", "0.6%"]
    assert lines[4] == (
        "shard 3/3: 0.02858 of 2.239 TFLOP estimated (training, evaluation and inference "
        "FLOPs counted from shapes, multiply-add = 2), 1.3% of the suite; shares of shards "
        "1-3: 86.9%, 11.8%, 1.3%; largest shard 2.608x the mean"
    )


def test_dry_run_without_a_shard_states_each_jobs_estimated_cost(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--suite", "smoke", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "suite smoke: 4 jobs"
    shares = {line.split()[0]: line.split()[-2:] for line in lines[2:6]}
    assert shares["resnet18-cifar__s0"] == ["1.947", "86.9%"]
    assert shares["conv-autoencoder__s0"] == ["0.2637", "11.8%"]
    assert lines[6].startswith("estimated cost: 2.239 TFLOP in all (training, evaluation")


def sharded_run(path: Path, shard: str, jobs: list[str]) -> Path:
    """A run directory of smoke's shard ``shard`` that planned ``jobs``, none of them run."""
    suite = build_suite(read_toml(find_suite("smoke")), "smoke.toml", fit=False)
    info = {"suite": dict(suite.document), "overrides": [], "shard": shard}
    path.mkdir()
    RunDir.create(path, {**info, "jobs": [{"job_id": job_id} for job_id in jobs]})
    return path


def test_resume_keeps_the_jobs_its_shard_recorded(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Not the shard dealt now (resnet18-cifar alone for 1/2): the jobs the run planned."""
    run = sharded_run(tmp_path / "run", "1/2", ["lenet5__s0", "conv-autoencoder__s0"])
    assert main(["run", "--resume", str(run), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "suite smoke: 2 jobs (shard 1/2 of 4)"
    assert [line.split()[0] for line in lines[2:4]] == ["lenet5__s0", "conv-autoencoder__s0"]


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ([], "field 'jobs': missing, and a shard resumes its own jobs"),
        (["lenet5__s0", "vgg16__s0"], "field 'jobs': 'vgg16__s0' is not a job of suite 'smoke'"),
    ],
)
def test_a_shard_without_its_jobs_is_not_resumed(
    jobs: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = sharded_run(tmp_path / "run", "1/2", jobs)
    err = one_line_error(["run", "--resume", str(run), "--dry-run"], capsys)
    assert err.endswith(f"{run / 'run.json'}: {message}"), err
