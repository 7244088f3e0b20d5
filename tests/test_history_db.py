"""The history database as a store: opening it, a damaged one, and runs written at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from compare_fixtures import write_run

from bench.cli import main
from bench.regress.history import record_run, record_run_results
from bench.results.run_results import results_of
from bench.results.rundir import RunDir

ROOT = Path(__file__).resolve().parent.parent
DAMAGED = b"SQLite format 3\x00" + b"not a database, " * 100  # an SQLite file, damaged


def a_run(tmp_path: Path, name: str = "run", seeds: int = 2) -> Path:
    return write_run(tmp_path / name, {"lenet5": {"epoch_time_s": [1.0] * seeds}})


def rows_per_run(db: Path) -> dict[str, int]:
    with sqlite3.connect(db, timeout=30) as conn:
        return dict(conn.execute("SELECT run_id, COUNT(*) FROM jobs GROUP BY run_id"))


@pytest.mark.parametrize(
    ("db", "message"),
    [
        ("folder", "--db {tmp}/folder: is a directory; give a file name"),
        (
            "file/history.sqlite",
            "--db {tmp}/file/history.sqlite: {tmp}/file is a file, not a directory",
        ),
        (
            "file/deeper/history.sqlite",
            "--db {tmp}/file/deeper/history.sqlite: {tmp}/file is a file, not a directory",
        ),
        (
            "damaged.sqlite",
            "{tmp}/damaged.sqlite: not a usable history database: file is not a database",
        ),
    ],
)
def test_a_database_that_cannot_be_used_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], db: str, message: str
) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("a file")
    (tmp_path / "damaged.sqlite").write_bytes(DAMAGED)
    run = a_run(tmp_path)
    assert main(["history", "--record", str(run), "--db", str(tmp_path / db)]) == 2
    err = capsys.readouterr().err
    assert err == f"bench history: error: {message.replace('{tmp}', str(tmp_path))}\n"
    # bench history leaves a damaged database where it is: the user decides
    assert (tmp_path / "damaged.sqlite").read_bytes() == DAMAGED


def test_a_damaged_database_is_moved_aside_and_a_new_one_started(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    db.write_bytes(DAMAGED)
    results = results_of(RunDir.open(a_run(tmp_path)).read())
    aside = record_run_results(db, results)
    assert aside is not None and aside.parent == tmp_path
    assert aside.name.startswith("history.sqlite.damaged-")
    assert aside.read_bytes() == DAMAGED
    assert rows_per_run(db) == {"run": 2}
    assert record_run_results(db, results) is None  # a sound database stays where it is
    assert rows_per_run(db) == {"run": 2}


def test_runs_recorded_at_once_are_each_whole(tmp_path: Path) -> None:
    """Two processes record the same runs over and over (each time replacing their rows) while
    this one reads: every read sees every run with all of its rows, never half of one."""
    db = tmp_path / "history.sqlite"
    runs = [a_run(tmp_path, f"run{i}", seeds=40) for i in range(3)]
    for run in runs:
        record_run(db, run)
    writer = (
        "import sys; from pathlib import Path; from bench.regress.history import record_run\n"
        "for _ in range(15):\n"
        "    for run in sys.argv[2:]: record_run(Path(sys.argv[1]), Path(run))\n"
    )
    command = [sys.executable, "-c", writer, str(db), *map(str, runs)]
    writers = [subprocess.Popen(command, cwd=ROOT) for _ in range(2)]
    reads = []
    while any(w.poll() is None for w in writers):
        reads.append(rows_per_run(db))
        time.sleep(0.001)
    assert [w.returncode for w in writers] == [0, 0]
    assert reads and all(read == {"run0": 40, "run1": 40, "run2": 40} for read in reads)
