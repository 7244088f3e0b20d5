"""Every command that reads a run directory refuses a damaged, foreign or newer one the same
way: exit 2 and one line naming the file, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from run_fixtures import write_run

from bench.cli import main
from bench.results.rundir import RunDir


def _edit_info(run: Path, **changes: object) -> None:
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, **changes}))


def _insert_line(run: Path, line: str) -> None:
    records = (run / "records.jsonl").read_text().splitlines(keepends=True)
    (run / "records.jsonl").write_text("".join([records[0], line + "\n", *records[1:]]))


def _first_job(run: Path, **changes: object) -> str:
    job = next(r for r in RunDir.open(run).records() if r["type"] == "job")
    return json.dumps({**job, **changes})


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "newer-schema": (
        lambda run: _edit_info(run, schema_version=99),
        "run.json: schema_version 99 is newer than this bench reads (1); upgrade bench",
    ),
    "not-json": (
        lambda run: (run / "run.json").write_text("{not json"),
        "run.json: cannot read: Expecting property name enclosed in double quotes",
    ),
    "jobs-not-a-list": (
        lambda run: _edit_info(run, jobs="all of them"),
        "run.json: field 'jobs' not a list: 'all of them'",
    ),
    "schema-version-zero": (
        lambda run: _edit_info(run, schema_version=0),
        "run.json: field 'schema_version' below 1: 0",
    ),
    "planned-job-without-id": (
        lambda run: _edit_info(run, jobs=[{"model": "lenet5"}]),
        "run.json: field 'jobs[0].job_id' missing or not a string",
    ),
    "override-not-a-string": (
        lambda run: _edit_info(run, overrides=["epochs=1", 2]),
        "run.json: field 'overrides[1]' not a string: 2",
    ),
    "garbage-record": (
        lambda run: _insert_line(run, "<html>"),
        "records.jsonl: line 2: not a JSON record",
    ),
    "foreign-record": (
        lambda run: _insert_line(run, '{"type": "metric", "value": 1}'),
        "records.jsonl: line 2: not a bench record (type must be 'epoch' or 'job')",
    ),
    "seed-not-a-number": (
        lambda run: _insert_line(run, _first_job(run, seed="zero")),
        "records.jsonl: line 2: field 'seed' missing or not an integer",
    ),
    "path-in-job-id": (
        lambda run: _insert_line(run, _first_job(run, job_id="../../escaped")),
        "records.jsonl: line 2: job id '../../escaped' is not a plain name",
    ),
}

COMMANDS: dict[str, Callable[[Path, Path], list[str]]] = {
    "report": lambda run, tmp: ["report", str(run), "--out", str(tmp / "out")],
    "compare": lambda run, tmp: ["compare", str(run), str(run)],
    "baseline": lambda run, tmp: ["baseline", "save", str(run), "--out", str(tmp / "b.json")],
    "history": lambda run, tmp: ["history", "--record", str(run), "--db", str(tmp / "h.sqlite")],
    "merge": lambda run, tmp: ["merge", str(run), "--out", str(tmp / "merged")],
    "resume": lambda run, tmp: ["run", "--resume", str(run)],
    "export": lambda run, tmp: ["export", "mlflow", str(run), "--tracking-uri", str(tmp / "ml")],
}


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_damaged_run_directory_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, damage: str
) -> None:
    run = write_run(tmp_path / "run", models=("lenet5",), telemetry=False, artifacts=False)
    spoil, message = DAMAGES[damage]
    spoil(run)
    assert main(COMMANDS[command](run, tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"bench {command if command != 'resume' else 'run'}: error: {run}/")
    assert message in err
    assert not (tmp_path / "merged").exists() and not (tmp_path / "b.json").exists()
    assert not (tmp_path / "ml").exists()


def test_null_fields_read_as_absent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run whose suite and planned jobs are null: the report needs neither, a resume needs
    the suite and says so in one line."""
    run = write_run(tmp_path / "run", models=("lenet5",), telemetry=False, artifacts=False)
    _edit_info(run, suite=None, jobs=None, environments=None)
    assert main(["report", str(run), "--out", str(tmp_path / "out"), "--format", "md"]) == 0
    assert main(["run", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert err == f"bench run: error: {run}/run.json: field 'suite' missing or not an object\n"
