"""The history database's schema: its version in the file, the migration of an older file
(every row kept), what each row says it ran on, and a newer file refused in one line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cli_errors import one_line_error
from run_fixtures import write_run

from bench.errors import BenchError
from bench.regress.history import SCHEMA_VERSION, load_series, record_run
from bench.results.rundir import RunDir

# the jobs table as bench wrote it before the schema had a version (user_version 0)
OLD_TABLE = (
    "CREATE TABLE jobs (run_id TEXT NOT NULL, created_utc TEXT NOT NULL, machine_id TEXT NOT "
    "NULL, git_commit TEXT, dirty INTEGER, suite TEXT NOT NULL, model TEXT NOT NULL, variant "
    "TEXT NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL, test_acc REAL, epoch_time_s "
    "REAL, PRIMARY KEY (machine_id, run_id, model, variant, seed))"
)
OLD_ROWS = [
    ("old-1", "2024-05-01T00:00:00+00:00", "fixture-machine", "c0", 0, "fixture-suite",
     "lenet5", "", 0, "ok", 97.25, 1.5),
    ("old-1", "2024-05-01T00:00:00+00:00", "fixture-machine", "c0", 1, "fixture-suite",
     "lenet5", "amp-fp16", 0, "oom", None, None),
]  # fmt: skip
OLD_COLUMNS = (
    "run_id, created_utc, machine_id, git_commit, dirty, suite, model, variant, seed, status, "
    "test_acc, epoch_time_s"
)
NEW_COLUMNS = "device, precision, batch_size, torch_version"


def old_database(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute(OLD_TABLE)
        conn.executemany(
            f"INSERT INTO jobs ({OLD_COLUMNS}) VALUES ({', '.join('?' * 12)})", OLD_ROWS
        )
    conn.close()
    return path


def rows(db: Path, columns: str, where: str = "1") -> list[tuple]:
    with sqlite3.connect(db) as conn:
        found = conn.execute(f"SELECT {columns} FROM jobs WHERE {where} ORDER BY rowid").fetchall()
    conn.close()
    return found


def user_version(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
    conn.close()
    return version


def test_an_old_database_gains_the_new_columns_and_keeps_every_row(tmp_path: Path) -> None:
    db = old_database(tmp_path / "history.sqlite")
    assert user_version(db) == 0
    run = write_run(tmp_path / "run", models=("lenet5", "vgg16"), artifacts=False)
    assert record_run(db, run) == 2
    assert user_version(db) == SCHEMA_VERSION == 2
    assert rows(db, OLD_COLUMNS, "run_id = 'old-1'") == OLD_ROWS
    assert rows(db, NEW_COLUMNS, "run_id = 'old-1'") == [(None,) * 4] * 2
    mfu = {j["model"]: j["mfu"] for j in RunDir.open(run).read().jobs}
    assert rows(db, f"model, {NEW_COLUMNS}, mfu", "run_id = 'run'") == [
        ("lenet5", "cuda", "fp32", 64, "2.11.0", mfu["lenet5"]),
        ("vgg16", "cuda", "fp32", 64, "2.11.0", mfu["vgg16"]),
    ]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def test_a_new_database_holds_each_jobs_device_precision_batch_and_torch(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    run = write_run(tmp_path / "run", models=("lenet5",), gpu=False, artifacts=False)
    record_run(db, run)
    assert user_version(db) == SCHEMA_VERSION
    assert rows(db, NEW_COLUMNS) == [("cpu", "fp32", 64, "2.11.0")]


def test_readers_take_an_old_database_as_it_is(tmp_path: Path) -> None:
    db = old_database(tmp_path / "history.sqlite")
    before = db.read_bytes()
    series = load_series(db, "fixture-suite", "lenet5", "test_acc", variant="")
    assert [p.values for p in series.points] == [(97.25,)]
    assert db.read_bytes() == before


def test_a_database_of_a_newer_schema_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = old_database(tmp_path / "history.sqlite")
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    message = f"{db}: history schema version 3 is newer than this bench knows (2); upgrade bench"
    run = write_run(tmp_path / "run", models=("lenet5",), artifacts=False)
    with pytest.raises(BenchError) as raised:
        record_run(db, run)
    assert str(raised.value) == message
    common = ["--suite", "fixture-suite", "--model", "lenet5", "--metric", "test_acc"]
    err = one_line_error(["history", "--db", str(db), *common], capsys, unchanged=[db])
    assert err == f"bench history: error: {message}"
    err = one_line_error(["history", "--db", str(db), "--record", str(run)], capsys, unchanged=[db])
    assert err.endswith(message)
    assert rows(db, OLD_COLUMNS) == OLD_ROWS
