"""The history database: only an SQLite file is ever opened, written or moved aside, an SQLite
database of something else is refused, and the commands that only read the history open it
read-only: they leave every byte of it as it was."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cli_errors import one_line_error
from file_trees import tree_state

from bench.cli import main
from bench.errors import BenchError
from bench.regress.history import record_run, record_run_results
from bench.results.records import METRICS
from bench.results.run_results import results_of
from bench.results.rundir import RunDir

if TYPE_CHECKING:
    from place_fixtures import Place

pytest_plugins = ["place_fixtures"]

FOREIGN = "an SQLite database of something else (no bench jobs table); give another path for the "
NOT_SQLITE = "not an SQLite database; bench keeps its history only in one (give another path)"


def foreign_database(path: Path) -> Path:
    """An SQLite database of another program: a table of its own, no ``jobs``."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('mine')")
    return path


NOT_HISTORY: dict[str, Callable[[Place], tuple[Path, str]]] = {
    "another-runs-records": lambda p: (
        p.other / "records.jsonl",
        f"{p.other}/records.jsonl: inside the run directory {p.other}; write outside run "
        "directories",
    ),
    "a-baseline-file": lambda p: (p.baseline, f"{p.baseline}: {NOT_SQLITE}"),
    "a-text-file": lambda p: (p.root / "notes.txt", f"{p.root}/notes.txt: {NOT_SQLITE}"),
    "a-foreign-sqlite-database": lambda p: (
        foreign_database(p.root / "other.sqlite"),
        f"{p.root}/other.sqlite: {FOREIGN}history",
    ),
}


WRITERS: dict[str, Callable[[Place, Path], list[str]]] = {
    "run": lambda p, db: [
        *("run", "--suite", str(p.suite), "--out", str(p.root / "out")),
        *("--history-db", str(db)),
    ],
    "history-record": lambda p, db: ["history", "--record", str(p.run), "--db", str(db)],
}
PREFIX = {"run": "--history-db ", "history-record": "--db "}


@pytest.mark.parametrize(("writer", "target"), [(w, t) for w in WRITERS for t in NOT_HISTORY])
def test_a_history_db_that_is_not_a_history_is_refused_before_anything_runs(
    place: Place, capsys: pytest.CaptureFixture[str], writer: str, target: str
) -> None:
    """Nothing trained or recorded (``bench run``: no run directory under out/), nothing moved
    aside or written."""
    (place.root / "notes.txt").write_text("my notes\n")
    db, message = NOT_HISTORY[target](place)
    argv = WRITERS[writer](place, db)
    err = one_line_error(argv, capsys, unchanged=[place.root])
    assert err == f"bench {argv[0]}: error: {PREFIX[writer]}{message}"


def test_a_file_that_is_not_sqlite_is_never_moved_aside(place: Place) -> None:
    """What ``bench run`` does with its default database at the end: a file that is not an
    SQLite database stays where it is, untouched (the run warns), unlike a damaged database."""
    db = place.root / "history.sqlite"
    db.write_text("not a database: somebody's notes\n")
    before = tree_state(place.root)
    with pytest.raises(BenchError, match=NOT_SQLITE.replace("(", r"\(").replace(")", r"\)")):
        record_run_results(db, results_of(RunDir.open(place.run).read()))
    assert tree_state(place.root) == before


def test_an_empty_file_is_a_new_database(place: Place) -> None:
    db = place.root / "empty.sqlite"
    db.touch()
    assert record_run(db, place.run) == 1


def older_database(place: Place) -> Path:
    """The place's history as an older bench left it: without the column of its last metric."""
    with sqlite3.connect(place.db) as conn:
        conn.execute(f"ALTER TABLE jobs DROP COLUMN {list(METRICS)[-1]}")
    return place.db


READERS: dict[str, Callable[[Place, Path], list[str]]] = {
    "series": lambda p, db: ["history", *p.series()[:-2], "--db", str(db)],
    "plot": lambda p, db: [
        *("history", *p.series()[:-2], "--db", str(db)),
        *("--plot", str(p.root / "series.png")),
    ],
    "noise": lambda p, db: ["history", "--noise", "--suite", "fixture-suite", "--db", str(db)],
    "html": lambda p, db: ["history", "--html", str(p.root / "site"), "--db", str(db)],
    "compare": lambda p, db: ["compare", str(p.run), str(p.baseline), "--history-db", str(db)],
}
WRITTEN = {"plot": "series.png", "html": "site"}


@pytest.mark.parametrize("reader", READERS)
def test_a_reader_leaves_every_byte_of_the_database(
    place: Place, capsys: pytest.CaptureFixture[str], reader: str
) -> None:
    db = older_database(place)
    before = tree_state(place.root)
    assert main(READERS[reader](place, db)) == 0
    after = tree_state(place.root)
    written = place.root / WRITTEN[reader] if reader in WRITTEN else None
    assert {k: v for k, v in after.items() if written is None or written.name not in k} == before
    if reader == "series":
        assert "fixture-suite / lenet5 / epoch_time_s [s]" in capsys.readouterr().out


@pytest.mark.parametrize("reader", READERS)
def test_a_reader_refuses_a_foreign_sqlite_database_and_leaves_it(
    place: Place, capsys: pytest.CaptureFixture[str], reader: str
) -> None:
    db = foreign_database(place.root / "other.sqlite")
    argv = READERS[reader](place, db)
    err = one_line_error(argv, capsys, unchanged=[place.root])
    assert err == f"bench {argv[0]}: error: {db}: {FOREIGN}history"
