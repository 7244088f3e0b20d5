"""What ``bench run`` does when something other than a job fails: a run directory that stops
taking records, a history database or a report that cannot be written after training."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest
from tiny_suite import tiny_suite

from bench import report
from bench.cli import main
from bench.results import rundir
from bench.results.rundir import RunDir

DAMAGED = b"SQLite format 3\x00" + b"not a database, " * 100  # an SQLite file, damaged


def run(tmp_path: Path, *args: str) -> int:
    """One small job (lenet5, seed 0, two epochs) under ``tmp_path/out``."""
    suite = tmp_path / "tiny.toml"
    suite.write_text(tiny_suite(epochs=2, train_size=128, test_size=32))
    common = ["--models", "lenet5", "--seeds", "0", "--quiet"]
    return main(["run", "--suite", str(suite), "--out", str(tmp_path / "out"), *common, *args])


def the_run_dir(tmp_path: Path) -> Path:
    (run_json,) = (tmp_path / "out").glob("*/*/run.json")
    return run_json.parent


def history_rows(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT model, status FROM jobs").fetchall()


def failing_writes(monkeypatch: pytest.MonkeyPatch, after: int, times: int) -> None:
    """Record lines fail with "disk full" after the first ``after``, ``times`` times over."""
    write, calls = rundir._append_line, []

    def append_line(path: Path, line: str) -> None:
        calls.append(line)
        if after < len(calls) <= after + times:
            raise OSError(errno.ENOSPC, "No space left on device")
        write(path, line)

    monkeypatch.setattr(rundir, "_append_line", append_line)


def test_a_record_that_cannot_be_written_stops_the_run_and_resume_finishes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full for the second epoch's record, then space again: the run stops with one line
    and exit 74, the job is recorded as interrupted, and --resume finishes it."""
    with monkeypatch.context() as patch:
        failing_writes(patch, after=1, times=1)
        assert run(tmp_path, "--no-report", "--history-db", "none") == 74
    run_dir = the_run_dir(tmp_path)
    err = capsys.readouterr().err
    assert err == (
        f"bench run: error: {run_dir}/records.jsonl: cannot write: No space left on device; the "
        f"run stops here, finish it with: python -m bench run --resume {run_dir}\n"
    )
    records = RunDir.open(run_dir).records()
    assert [(r["type"], r.get("epoch"), r.get("status")) for r in records] == [
        ("epoch", 1, None),
        ("job", None, "interrupted"),
    ]
    assert (
        records[1]["error"]
        == f"run stopped: {run_dir}/records.jsonl: cannot write: No space left on device"
    )
    assert (
        main(["run", "--resume", str(run_dir), "--quiet", "--no-report", "--history-db", "none"])
        == 0
    )
    jobs = RunDir.open(run_dir).read().jobs
    assert [(j["job_id"], j["status"], j["epochs"]) for j in jobs] == [("lenet5__s0", "ok", 2)]


def test_a_run_directory_that_takes_nothing_more_stops_the_run_keeping_what_it_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every record after the first fails (a folder turned read-only): exit 74, one line, and the
    first record is still there; the interrupted record could not be written."""
    failing_writes(monkeypatch, after=1, times=100)
    assert run(tmp_path, "--no-report", "--history-db", "none") == 74
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err and "--resume" in err
    records = RunDir.open(the_run_dir(tmp_path)).records()
    assert [(r["type"], r["epoch"]) for r in records] == [("epoch", 1)]


def test_a_damaged_history_database_is_moved_aside_and_the_run_ends_as_its_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "out" / "history.sqlite"
    db.parent.mkdir()
    db.write_bytes(DAMAGED)
    assert run(tmp_path, "--no-report") == 0
    out, err = capsys.readouterr()
    (aside,) = db.parent.glob("history.sqlite.damaged-*")
    assert err == f"warning: {db} was damaged: moved it to {aside} and started a new one\n"
    assert aside.read_bytes() == DAMAGED
    assert history_rows(db) == [("lenet5", "ok")]
    run_dir = the_run_dir(tmp_path)
    assert out.splitlines() == [f"results: {run_dir}/results.csv", f"history: {db}"]


def test_a_history_database_that_fails_after_training_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default database is a folder (found only once the run is done): one warning line,
    the results line, exit 0."""
    db = tmp_path / "out" / "history.sqlite"
    db.mkdir(parents=True)
    assert run(tmp_path, "--no-report") == 0
    out, err = capsys.readouterr()
    run_dir = the_run_dir(tmp_path)
    assert err == (
        f"warning: history not recorded: --history-db {db}: is a directory; give a file name; "
        f"record it with: python -m bench history --record {run_dir} --db {db}\n"
    )
    assert out.splitlines() == [f"results: {run_dir}/results.csv"]


@pytest.mark.parametrize(
    ("db", "message"),
    [
        ("folder", "--history-db {tmp}/folder: is a directory; give a file name\n"),
        (
            "file/history.sqlite",
            "--history-db {tmp}/file/history.sqlite: {tmp}/file is a file, not a directory\n",
        ),
    ],
)
def test_a_history_db_flag_that_cannot_be_a_database_is_refused_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], db: str, message: str
) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("a file")
    assert run(tmp_path, "--history-db", str(tmp_path / db)) == 2
    err = capsys.readouterr().err
    assert err == f"bench run: error: {message.replace('{tmp}', str(tmp_path))}"
    assert not (tmp_path / "out").exists()


def test_a_report_that_cannot_be_drawn_leaves_the_run_complete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of memory while drawing: tables and history are written, one line says how to draw
    the report later, and the run ends as its jobs (exit 0)."""

    def out_of_memory(*_args: object, **_kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(report, "write_report", out_of_memory)
    assert run(tmp_path) == 0
    out, err = capsys.readouterr()
    run_dir = the_run_dir(tmp_path)
    assert err == (
        f"warning: report not drawn: MemoryError; draw it with: python -m bench report {run_dir}\n"
    )
    db = tmp_path / "out" / "history.sqlite"
    assert out.splitlines() == [f"results: {run_dir}/results.csv", f"history: {db}"]
    assert (run_dir / "results.csv").is_file() and (run_dir / "epochs.csv").is_file()
    assert history_rows(db) == [("lenet5", "ok")]
    assert not (run_dir / "report.html").exists()
    monkeypatch.undo()
    assert main(["report", str(run_dir), "--format", "md"]) == 0
    assert (run_dir / "summary.md").is_file()
