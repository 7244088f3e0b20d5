"""What ``--resume`` keeps from the run it finishes: the run's history database (or none), and,
when a folder of the run turned read-only meanwhile, the promise of a run directory that stops
taking writes (exit 74, one line, the job recorded ``interrupted``)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from permissions import enforced
from tiny_suite import tiny_suite

from bench.cli import main
from bench.results.rundir import RunDir

QUIET = ["--quiet", "--no-report"]


def cut_short(tmp_path: Path, *flags: str) -> Path:
    """A one-job run (lenet5, seed 0, one epoch) whose job record is then cut off, as a kill
    before the job's end leaves it; its run directory."""
    suite = tmp_path / "tiny.toml"
    suite.write_text(tiny_suite(epochs=1, train_size=128, test_size=32))
    out = tmp_path / "out"
    argv = ["run", "--suite", str(suite), "--models", "lenet5", "--seeds", "0", "--out", str(out)]
    assert main([*argv, *QUIET, *flags]) == 0
    (run_json,) = out.glob("*/*/run.json")
    records = run_json.parent / "records.jsonl"
    lines = records.read_text().splitlines(keepends=True)
    assert json.loads(lines[-1])["type"] == "job"
    records.write_text("".join(lines[:-1]))
    return run_json.parent


def history_rows(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT model, status FROM jobs").fetchall()


@pytest.mark.parametrize("given", ["a-database", "none"])
def test_resume_records_into_the_history_db_the_run_was_started_with(
    tmp_path: Path, given: str
) -> None:
    db = tmp_path / "elsewhere" / "history.sqlite"
    flag = str(db) if given == "a-database" else "none"
    run_dir = cut_short(tmp_path, "--history-db", flag)
    db.unlink(missing_ok=True)
    assert main(["run", "--resume", str(run_dir), *QUIET]) == 0
    assert not (tmp_path / "out" / "history.sqlite").exists()  # the default, beside the output
    if given == "a-database":
        assert history_rows(db) == [("lenet5", "ok")]
    else:
        assert not db.exists()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["history_db"] == (str(db.absolute()) if given == "a-database" else "none")


def test_a_trace_folder_turned_read_only_stops_the_resume_with_74_and_the_job_interrupted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The job's trace folder of a traced run is made read-only before ``--resume`` (under
    tests/permissions.py, so that it binds for root too): the job trains, its trace cannot be
    kept, and the run stops as docs/reliability.md promises; once the folder takes writes again,
    a second ``--resume`` finishes the job."""
    run_dir = cut_short(tmp_path, "--trace", "1", "--history-db", "none")
    kept = (run_dir / "records.jsonl").read_text()
    capsys.readouterr()
    with enforced((run_dir / "traces" / "lenet5__s0", 0o555)):
        assert main(["run", "--resume", str(run_dir), *QUIET]) == 74
    err = capsys.readouterr().err
    assert err == (
        f"bench run: error: {run_dir}/traces/lenet5__s0/rank0.pt.trace.json.gz: cannot write: "
        "Permission denied; "
        f"the run stops here, finish it with: python -m bench run --resume {run_dir}\n"
    )
    records = (run_dir / "records.jsonl").read_text()
    assert records.startswith(kept)
    last = RunDir.open(run_dir).records()[-1]
    assert (last["type"], last["status"]) == ("job", "interrupted")
    assert main(["run", "--resume", str(run_dir), *QUIET]) == 0
    jobs = RunDir.open(run_dir).read().jobs
    assert [(j["job_id"], j["status"]) for j in jobs] == [("lenet5__s0", "ok")]
