"""The shipped Slurm path on a real Slurm: a single-node cluster started for the test
(tests/slurm_cluster.py) runs the ``smoke`` suite as an array of 3 shards submitted with
docs/slurm-submit.sh, then the merge job it submits after the array, then ``bench compare``.

It skips, with the reason, where Slurm cannot be started (not root, packages missing), unless
BENCH_REQUIRE_SLURM is set (.ci/run sets it: CI installs the packages and must not skip).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from slurm_cluster import Cluster, SlurmUnavailable, slurm_cluster
from test_slurm_scripts import REFUSE, SUBMIT

from bench.cli import main
from bench.results.rundir import RunDir
from bench.suite.matrix import load_suite

pytestmark = pytest.mark.slow
SHARDS = 3
# one epoch keeps the test short, and shows that arguments reach every shard's bench run
RUN_ARGS = ("--epochs", "1", "--history-db", "none")
JOBS_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    try:
        with slurm_cluster() as running:
            yield running
    except SlurmUnavailable as reason:
        if os.environ.get("BENCH_REQUIRE_SLURM"):
            pytest.fail(f"BENCH_REQUIRE_SLURM is set, but Slurm cannot be started: {reason}")
        pytest.skip(str(reason))


def stock_path(tmp_path: Path) -> str:
    """A stock PATH whose bare ``python`` and ``python3`` refuse to run, so the jobs can only
    have used the Python the submission named."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("python", "python3"):
        (folder / name).write_text(REFUSE)
        (folder / name).chmod(0o755)
    return f"{folder}:/usr/local/bin:/usr/bin:/bin"


def job_ids(run_dir: Path) -> list[str]:
    return [r["job_id"] for r in RunDir.open(run_dir).records() if r["type"] == "job"]


def test_smoke_suite_in_three_shards_on_slurm_then_merged_and_compared(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"PATH": stock_path(tmp_path), "SUITE": "smoke", "SHARDS": str(SHARDS)}
    in_venv = sys.prefix != sys.base_prefix
    env.update({"VIRTUAL_ENV": sys.prefix} if in_venv else {"BENCH_PYTHON": sys.executable})
    # each task on one core of its own, two at a time on a 2-core node (not the --exclusive
    # default, under which they would run one after the other)
    options = ("--oversubscribe", "--cpus-per-task=1", "--time=10")
    work = tmp_path / "work"
    work.mkdir()
    submitted = cluster.command("bash", str(SUBMIT), *options, "--", *RUN_ARGS, env=env, cwd=work)
    assert submitted.returncode == 0, submitted.stderr + cluster.diagnostics()
    printed = dict(line.split(": ", 1) for line in submitted.stdout.splitlines())
    out = Path(printed["out"])
    array, merge = printed["array job"].split()[0], printed["merge job"].split()[0]
    logs = out / "logs"
    assert out.parent == work / "reports" / "slurm" and out.name.startswith("smoke-")
    dependency = cluster.command("scontrol", "-o", "show", "job", merge).stdout
    assert f" Dependency=afterany:{array}_*" in dependency  # the whole array, not task 1

    cluster.wait([array, merge], JOBS_TIMEOUT_S, sorted(logs.glob("*")))
    states = {**cluster.job_states(array), **cluster.job_states(merge)}
    report = cluster.diagnostics(sorted(logs.glob("*")))
    assert sorted(states.values()) == ["COMPLETED"] * (SHARDS + 1), report
    assert sorted(p.name for p in logs.iterdir()) == sorted(
        [f"shard-{i}-{array}.out" for i in range(1, SHARDS + 1)] + [f"merge-{merge}.out"]
    )
    assert sorted(p.name for p in work.iterdir()) == ["reports"]  # no logs beside the code

    suite = load_suite("smoke", overrides=["epochs=1"])
    suite_jobs = [job.job_id for job in suite.jobs]
    shard_runs = {i: list((out / f"shard-{i}").glob("*/*/run.json")) for i in range(1, 4)}
    for index, runs in shard_runs.items():
        assert len(runs) == 1, report
        info = json.loads(runs[0].read_text())
        assert info["shard"] == f"{index}/{SHARDS}"  # the array's size, not a fixed 4
        assert info["overrides"] == ["epochs=1"]  # the arguments after the script
        assert info["environment"]["torch_threads"] == 1  # OMP_NUM_THREADS from the allocation
        log = (logs / f"shard-{index}-{array}.out").read_text()
        assert re.search(rf"shard {index}/{SHARDS} on \S+: cores \d+, OMP_NUM_THREADS=1\n", log)

    merged = out / f"merged-{merge}"
    assert sorted(job_ids(merged)) == sorted(suite_jobs)  # every job exactly once
    assert len(suite_jobs) == 4 and (merged / "report.html").is_file()
    assert (
        (logs / f"merge-{merge}.out")
        .read_text()
        .startswith(f"merged {SHARDS} runs (4 jobs) into {merged}\n")
    )

    # The merged run saved as the suite's baseline and judged against it, as a cluster's CI
    # would gate its next merged run: compare must read every job of the merged run as one
    # run of one suite on one machine, and find all four compared, unchanged.
    baseline = tmp_path / "baseline.json"
    assert main(["baseline", "save", str(merged), "--out", str(baseline)]) == 0
    capsys.readouterr()
    compare = ["compare", str(merged), str(baseline), "--format", "json", "--history-db", "none"]
    assert main(compare) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert (verdict["regressed"], verdict["cross_machine"], verdict["cross_suite"]) == (
        False,
        False,
        False,
    )
    assert verdict["failed"] == verdict["only_base"] == verdict["only_new"] == []
    models = {job.model for job in suite.jobs}
    assert {change["model"] for change in verdict["changes"]} == models
    assert {change["delta"] for change in verdict["changes"]} == {0.0}  # the same measurements
