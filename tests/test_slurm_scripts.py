"""The shipped Slurm scripts, run with stand-ins for ``sbatch`` and Python (no Slurm needed):
what each array task runs, and what the submit script asks Slurm for. tests/test_slurm.py runs
them on a real Slurm."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from test_compare_docs import DOCS

from bench.cli import get_args_parser
from bench.suite.shard import Shard

ARRAY, SUBMIT = DOCS / "slurm-array.sh", DOCS / "slurm-submit.sh"
# argv and the thread count of the Python the scripts call, one JSON line each
RECORDER = """#!/bin/sh
printf '%s\\n' "$@" | "$REAL_PYTHON" -c '
import json, os, sys
print(json.dumps({"argv": sys.stdin.read().splitlines(),
                  "omp": os.environ.get("OMP_NUM_THREADS")}))' >> "$CALLS"
"""
# sbatch: records argv and the variables the jobs get, answers with a job id (41, 42, ...)
SBATCH = """#!/bin/sh
n=$(($(wc -l < "$CALLS") + 41))
printf '%s\\n' "$@" | "$REAL_PYTHON" -c '
import json, os, sys
keys = ("SUITE", "SHARDS", "BENCH_PYTHON", "BENCH_OUT")
print(json.dumps({"argv": sys.stdin.read().splitlines(),
                  "env": {k: os.environ.get(k) for k in keys}}))' >> "$CALLS"
echo "$n"
"""
# a bare python or python3 on PATH must never be what runs
REFUSE = "#!/bin/sh\necho 'a bare python ran' >&2\nexit 127\n"


def stand_ins(root: Path, **scripts: str) -> Path:
    """A folder of executable stand-ins (``python`` and ``python3`` always refuse)."""
    folder = root / "bin"
    folder.mkdir(exist_ok=True)
    for name, text in {"python": REFUSE, "python3": REFUSE, **scripts}.items():
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    return folder


def stock_env(bin_dir: Path, calls: Path, **extra: str) -> dict[str, str]:
    """A stock PATH (the stand-ins first), and only what the scripts are meant to read."""
    env = {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "CALLS": str(calls),
        "REAL_PYTHON": sys.executable,
        **extra,
    }
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def calls(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def sbatch_directives(path: Path) -> list[str]:
    return re.findall(r"^#SBATCH (\S+)", path.read_text(), flags=re.MULTILINE)


def test_the_scripts_parse() -> None:
    for script in (ARRAY, SUBMIT):
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_the_array_asks_for_no_gpu_nor_cpu_count_and_takes_its_node() -> None:
    """A CPU cluster rejects --gres=gpu:1; --cpus-per-task=8 pends forever on a smaller node.
    Both are the submitter's to give; a timing task has its node to itself."""
    directives = sbatch_directives(ARRAY)
    assert directives == [
        "--job-name=bench-shard",
        "--nodes=1",
        "--ntasks=1",
        "--exclusive",
        "--time=12:00:00",
    ]


def array_task(tmp_path: Path, task: int, count: int, *args: str, **env: str) -> tuple[int, str]:
    """Run the array script as array task ``task`` of ``count``; its exit code and stderr."""
    record = tmp_path / "calls.jsonl"
    record.touch()
    bin_dir = stand_ins(tmp_path, bench_python=RECORDER)
    variables = stock_env(
        bin_dir,
        record,
        SLURM_ARRAY_TASK_ID=str(task),
        SLURM_ARRAY_TASK_COUNT=str(count),
        BENCH_OUT=str(tmp_path / "out"),
        BENCH_PYTHON=str(bin_dir / "bench_python"),
        SUITE="smoke",
        **env,
    )
    result = subprocess.run(
        ["bash", str(ARRAY), *args], env=variables, capture_output=True, text=True, timeout=60
    )
    return result.returncode, result.stderr


def test_a_task_runs_its_shard_of_the_arrays_size_with_the_extra_arguments(
    tmp_path: Path,
) -> None:
    code, err = array_task(tmp_path, 2, 3, "--epochs", "1", SLURM_CPUS_PER_TASK="3")
    assert code == 0, err
    ((call),) = calls(tmp_path / "calls.jsonl")
    argv = call["argv"]
    assert isinstance(argv, list) and argv[:2] == ["-m", "bench"]
    args = get_args_parser().parse_args(argv[2:])
    assert (args.suite, args.shard, args.epochs) == ("smoke", Shard(2, 3), 1)
    assert args.out == tmp_path / "out" / "shard-2"
    assert call["omp"] == "3"  # the allocation's CPUs, not the machine's


def test_a_task_without_a_cpu_count_takes_the_cores_it_is_pinned_to(tmp_path: Path) -> None:
    code, err = array_task(tmp_path, 1, 1, OMP_NUM_THREADS="7")  # the submitting shell's
    assert code == 0, err
    ((call),) = calls(tmp_path / "calls.jsonl")
    assert call["omp"] == str(len(os.sched_getaffinity(0)))


def test_a_task_resubmitted_alone_needs_shards_and_resumes_its_run(tmp_path: Path) -> None:
    code, err = array_task(tmp_path, 2, 1)
    assert code == 2 and "array task 2 is not a shard of 1-1" in err, err
    assert not (tmp_path / "calls.jsonl").read_text()
    run_dir = tmp_path / "out" / "shard-2" / "cpu-0" / "0001_smoke"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text("{}")
    code, err = array_task(tmp_path, 2, 1, "--epochs", "1", SHARDS="4")
    assert code == 0, err
    ((call),) = calls(tmp_path / "calls.jsonl")
    argv = call["argv"]
    assert isinstance(argv, list)
    args = get_args_parser().parse_args(argv[2:])
    assert args.resume == run_dir and args.epochs is None  # the run's own settings


def submit(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the submit script in ``tmp_path/work`` against the stand-in sbatch."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    record = tmp_path / "calls.jsonl"
    record.touch()
    bin_dir = stand_ins(tmp_path, sbatch=SBATCH)
    return subprocess.run(
        ["bash", str(SUBMIT), *args],
        env=stock_env(bin_dir, record, **{"SUITE": "smoke", "SHARDS": "3", **env}),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_submit_sends_the_array_then_a_merge_after_all_of_it(tmp_path: Path) -> None:
    in_venv = sys.prefix != sys.base_prefix  # then its python is the default
    env = {"VIRTUAL_ENV": sys.prefix} if in_venv else {"BENCH_PYTHON": sys.executable}
    options = ["--partition=gpu", "--gpus-per-task=1", "--cpus-per-task=8"]
    first = submit(tmp_path, *options, "--", "--epochs", "1", **env)
    assert first.returncode == 0, first.stderr
    second = submit(tmp_path, **env)
    assert second.returncode == 0, second.stderr
    array, merge, again, _ = calls(tmp_path / "calls.jsonl")
    outs = [Path(call["env"]["BENCH_OUT"]) for call in (array, merge, again)]  # type: ignore[index]
    assert outs[0] == outs[1] != outs[2]  # a new folder for each submission
    out = outs[0]
    assert out.parent == tmp_path / "work" / "reports" / "slurm"
    assert out.name.startswith("smoke-") and (out / "logs").is_dir()
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["reports"]
    python = Path(sys.prefix) / "bin" / "python" if in_venv else sys.executable
    assert array["env"] == {  # named once, absolute: the jobs' PATH does not matter
        "SUITE": "smoke",
        "SHARDS": "3",
        "BENCH_PYTHON": str(python),
        "BENCH_OUT": str(out),
    }
    assert array["argv"] == [
        "--parsable",
        "--array=1-3",
        f"--output={out}/logs/shard-%a-%A.out",
        *options,
        str(ARRAY),
        "--epochs",
        "1",
    ]
    merge_argv = merge["argv"]
    assert isinstance(merge_argv, list)
    assert "--dependency=afterany:41" in merge_argv  # the whole array, however it ended
    assert f"--output={out}/logs/merge-%j.out" in merge_argv
    (wrap,) = (a.removeprefix("--wrap=") for a in merge_argv if a.startswith("--wrap="))
    assert wrap.startswith('exec "$BENCH_PYTHON" -m bench merge "$BENCH_OUT"/shard-*/*/*')
    assert first.stdout == (
        f"out: {out}\narray job: 41 (tasks 1-3 of 3 shards)\nmerge job: 42 -> {out}/merged-42\n"
    )


def test_submit_names_the_folder_after_a_suite_given_as_a_path(tmp_path: Path) -> None:
    in_venv = sys.prefix != sys.base_prefix
    env = {"VIRTUAL_ENV": sys.prefix} if in_venv else {"BENCH_PYTHON": sys.executable}
    result = submit(tmp_path, **env, SUITE=str(tmp_path / "suites" / "mine.toml"))
    assert result.returncode == 0, result.stderr
    out = Path(result.stdout.splitlines()[0].removeprefix("out: "))
    assert out.parent == tmp_path / "work" / "reports" / "slurm"
    assert re.fullmatch(r"mine-\d{8}T\d{6}Z-\w{4}", out.name), out.name


def test_submit_refuses_a_python_without_bench(tmp_path: Path) -> None:
    result = submit(tmp_path, BENCH_PYTHON="python3")
    assert result.returncode == 2
    assert result.stderr == f"slurm-submit.sh: {tmp_path}/bin/python3 cannot import bench; " + (
        "set BENCH_PYTHON\n"
    )
    assert not (tmp_path / "calls.jsonl").read_text()
    assert not (tmp_path / "work" / "reports").exists()
