"""Run directories: durable appends, latest-record semantics, atomic tables."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.errors import BenchError, WriteError
from bench.results.columns import JOB_COLUMNS
from bench.results.records import EpochRecord, JobRecord
from bench.results.rundir import RunDir, latest_epochs, new_run_dir


def epoch(job: str, phase: str, n: int, loss: float) -> EpochRecord:
    return EpochRecord(
        job_id=job,
        suite="s",
        model="m",
        seed=0,
        variant="",
        phase=phase,
        epoch=n,
        train_loss=loss,
        train_acc=None,
        test_loss=None,
        test_acc=None,
        lr=0.1,
        epoch_time_s=1.0,
        train_time_s=0.8,
        eval_time_s=0.2,
        data_wait_s=0.1,
        compute_s=0.7,
        images=10,
        images_per_s=12.5,
    )


def job(job_id: str, status: str) -> JobRecord:
    return JobRecord(
        job_id=job_id,
        suite="s",
        model=f"m-{job_id}",
        seed=0,
        variant="",
        status=status,
        error=None,
        dataset="digits",
        recipe="classify",
        device="cpu",
        precision="fp32",
        batch_size=8,
        epochs=1,
    )


def test_run_dirs_made_at_once_by_several_processes_take_distinct_numbers(
    tmp_path: Path,
) -> None:
    """Four processes, 50 run directories each, started together (two and two for the same
    suite, so names collide too): 200 directories, no number twice."""
    maker = (
        "import sys, time; from pathlib import Path; from bench.results.rundir import new_run_dir\n"
        "while not Path(sys.argv[1], 'go').exists(): time.sleep(0.001)\n"
        "for _ in range(50): print(new_run_dir(Path(sys.argv[1]), 'm', sys.argv[2], None).name)\n"
    )
    makers = [
        subprocess.Popen(
            [sys.executable, "-c", maker, str(tmp_path), f"suite{i % 2}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    time.sleep(1.0)  # let every process start and wait
    (tmp_path / "go").touch()
    names = [line for m in makers for line in m.communicate(timeout=120)[0].split()]
    assert [m.returncode for m in makers] == [0, 0, 0, 0]
    numbers = [int(name[:4]) for name in names]
    assert len(numbers) == len(set(numbers)) == 200
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == sorted(names)


def test_run_dirs_are_numbered_per_machine(tmp_path: Path) -> None:
    first = new_run_dir(tmp_path, "cpu-1234", "smoke", "abcdef0123")
    second = new_run_dir(tmp_path, "cpu-1234", "smoke", None)
    assert first.parent == tmp_path / "cpu-1234"
    assert first.name.startswith("0001_smoke_abcdef01_")
    assert second.name.startswith("0002_smoke_nogit_")


def test_append_writes_complete_lines_and_results(tmp_path: Path) -> None:
    run_dir = RunDir.create(tmp_path, {"suite": {"name": "s"}})
    run_dir.append(epoch("a", "train", 1, 0.5))
    run_dir.append(job("a", "ok"))
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["epoch", "job"]
    assert all(json.loads(line)["schema_version"] == 1 for line in lines)
    with (tmp_path / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [c.name for c in JOB_COLUMNS]
    assert rows[0]["job_id"] == "a" and rows[0]["status"] == "ok"
    assert json.loads((tmp_path / "run.json").read_text())["run_id"] == tmp_path.name


def test_interrupted_jobs_are_not_finished_and_latest_record_wins(tmp_path: Path) -> None:
    run_dir = RunDir.create(tmp_path, {})
    run_dir.append(job("a", "ok"))
    run_dir.append(job("b", "interrupted"))
    run_dir.append(job("c", "diverged"))
    assert run_dir.finished_job_ids() == {"a", "c"}
    run_dir.append(job("b", "ok"))
    assert run_dir.finished_job_ids() == {"a", "b", "c"}


@pytest.mark.parametrize(
    "fragment", [b'{"type": "job", "job_id": "b", "sta', b"\x00\x00\x00", b'{"job_id": "\xe2\x82']
)
def test_torn_last_line_is_ignored_then_cut_and_kept_before_the_next_append(
    tmp_path: Path, fragment: bytes
) -> None:
    """A last line without its newline (half a record, the zeros a power loss leaves, half a
    UTF-8 character): readers skip it; the first append moves it to records.jsonl.torn."""
    run_dir = RunDir.create(tmp_path, {})
    run_dir.append(job("a", "ok"))
    with (tmp_path / "records.jsonl").open("ab") as handle:
        handle.write(fragment)
    resumed = RunDir.open(tmp_path)
    assert [r["job_id"] for r in resumed.records()] == ["a"]
    note = resumed.cut_torn_tail()
    assert note == (
        f"{tmp_path}/records.jsonl: cut off its unterminated last line ({len(fragment)} bytes, "
        f"left by a killed run) and kept it in {tmp_path}/records.jsonl.torn"
    )
    assert resumed.cut_torn_tail() is None  # once per opened directory
    resumed.append(job("b", "ok"))
    assert [r["job_id"] for r in RunDir.open(tmp_path).records()] == ["a", "b"]
    assert (tmp_path / "records.jsonl").read_text().count("\n") == 2
    assert (tmp_path / "records.jsonl.torn").read_bytes() == fragment + b"\n"


def test_a_whole_last_line_is_left_alone(tmp_path: Path) -> None:
    RunDir.create(tmp_path, {}).append(job("a", "ok"))
    before = (tmp_path / "records.jsonl").read_bytes()
    assert RunDir.open(tmp_path).cut_torn_tail() is None
    assert (tmp_path / "records.jsonl").read_bytes() == before
    assert not (tmp_path / "records.jsonl.torn").exists()


def test_a_damaged_line_before_the_last_is_refused_with_its_number(tmp_path: Path) -> None:
    RunDir.create(tmp_path, {}).append(job("a", "ok"))
    whole = (tmp_path / "records.jsonl").read_bytes()
    (tmp_path / "records.jsonl").write_bytes(whole + b'{"job_id": "\xff"}\n' + whole)
    with pytest.raises(BenchError, match=r"^.*/records\.jsonl: line 2: not a JSON record$"):
        RunDir.open(tmp_path).records()


def test_a_record_that_cannot_be_written_names_the_file(tmp_path: Path) -> None:
    run_dir = RunDir.create(tmp_path, {})
    (tmp_path / "records.jsonl").unlink()
    (tmp_path / "records.jsonl").mkdir()  # any OSError on the way: here "Is a directory"
    with pytest.raises(WriteError) as caught:
        run_dir.append(job("a", "ok"))
    assert str(caught.value) == f"{tmp_path}/records.jsonl: cannot write: Is a directory"
    assert caught.value.exit_code == 74


def test_a_run_directory_without_schema_version_is_read(tmp_path: Path) -> None:
    RunDir.create(tmp_path, {"suite": {"name": "s"}}).append(job("a", "ok"))
    info = json.loads((tmp_path / "run.json").read_text())
    del info["schema_version"]
    (tmp_path / "run.json").write_text(json.dumps(info))
    run = RunDir.open(tmp_path).read()
    assert run.suite_name == "s" and [j["job_id"] for j in run.jobs] == ["a"]


def test_one_read_gives_every_record_and_the_latest_of_each_job(tmp_path: Path) -> None:
    run_dir = RunDir.create(tmp_path, {"suite": {"name": "s"}})
    for record in (epoch("a", "train", 1, 0.5), job("a", "interrupted"), job("a", "ok")):
        run_dir.append(record)
    run = run_dir.read()
    assert [r["type"] for r in run.records] == ["epoch", "job", "job"]
    assert [(j["job_id"], j["status"]) for j in run.jobs] == [("a", "ok")]
    assert [e["epoch"] for e in run.epochs] == [1]
    assert run.required("suite") == {"name": "s"}
    with pytest.raises(BenchError, match=r"run\.json: field 'environment\.machine_id' missing"):
        run.required("environment.machine_id", str)


def test_package_names_the_run_directory_files_in_one_module_only() -> None:
    """Only ``bench/results/rundir.py`` spells out the run directory's layout."""
    layout = re.compile(
        r"run\.json|records\.jsonl|results\.csv|epochs\.csv|inference\.csv"
        r"|[\"']telemetry[\"'/]|[\"']artifacts[\"'/]|telemetry/|artifacts/"
        r"|[\"']traces[\"'/]|traces/|_ops\.csv|_modules\.csv|\.json\.gz"
        r"|compare\.md|compare\.json|compare\.junit"
    )
    package = Path(__file__).resolve().parents[1] / "bench"
    naming = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*")
        if path.suffix in (".py", ".j2") and layout.search(path.read_text(encoding="utf-8"))
    )
    assert naming == ["results/rundir.py"]


def test_resumed_attempt_replaces_earlier_epochs() -> None:
    records = [
        epoch("a", "train", 1, 0.9).__dict__,
        epoch("a", "train", 2, 0.8).__dict__,
        epoch("a", "train", 3, 0.7).__dict__,  # killed after this
        epoch("a", "train", 1, 0.9).__dict__,  # new attempt
        epoch("a", "train", 2, 0.8).__dict__,
    ]
    assert [(r["epoch"], r["train_loss"]) for r in latest_epochs(records)] == [(1, 0.9), (2, 0.8)]
