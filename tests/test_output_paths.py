"""Outputs never overwrite inputs: no command writes onto, into or through a link onto what it
reads, nor into another run directory; and a path it cannot write or read is one line and exit
2 before any work. Every file, run directory and database of the place is unchanged after."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cli_errors import one_line_error
from file_trees import tree_state
from permissions import enforced

if TYPE_CHECKING:
    from place_fixtures import Place

pytest_plugins = ["place_fixtures"]

Case = Callable[["Place"], tuple[list[str], str]]
"""A place → (bench's arguments, the error after ``bench COMMAND: error: ``)."""

INSIDE = "write outside what this command reads"
IN_RUN = "write outside run directories"


def _link_onto_records(p: Place) -> Path:
    link = p.root / "link.json"
    link.symlink_to(p.run / "records.jsonl")
    return link


def _index_is_the_db(p: Place) -> Path:
    site = p.root / "site"
    site.mkdir()
    (site / "index.html").write_bytes(p.db.read_bytes())
    return site


ONTO_INPUTS: dict[str, Case] = {
    "compare-out-onto-the-runs-records": lambda p: (
        [
            *("compare", str(p.run), str(p.baseline), "--format", "json"),
            *("--out", str(p.run / "records.jsonl")),
        ],
        f"--out {p.run}/records.jsonl: inside the input {p.run}; {INSIDE}",
    ),
    "compare-out-onto-the-baseline": lambda p: (
        ["compare", str(p.run), str(p.baseline), "--out", str(p.baseline)],
        f"--out {p.baseline}: inside the input {p.baseline}; {INSIDE}",
    ),
    "compare-out-onto-the-history": lambda p: (
        ["compare", str(p.run), str(p.baseline), "--history-db", str(p.db), "--out", str(p.db)],
        f"--out {p.db}: inside the input {p.db}; {INSIDE}",
    ),
    "baseline-save-onto-the-runs-run-json": lambda p: (
        ["baseline", "save", str(p.run), "--out", str(p.run / "run.json")],
        f"--out {p.run}/run.json: inside the input {p.run}; {INSIDE}",
    ),
    "baseline-save-through-a-link-onto-records": lambda p: (
        ["baseline", "save", str(p.run), "--out", str(_link_onto_records(p))],
        f"--out {p.root}/link.json: inside the input {p.run}; {INSIDE}",
    ),
    "baseline-save-into-another-run": lambda p: (
        ["baseline", "save", str(p.run), "--out", str(p.other / "run.json")],
        f"--out {p.other}/run.json: inside the run directory {p.other}; {IN_RUN}",
    ),
    "history-record-db-inside-the-run": lambda p: (
        ["history", "--record", str(p.run), "--db", str(p.run / "history.sqlite")],
        f"--db {p.run}/history.sqlite: inside the input {p.run}; {INSIDE}",
    ),
    "history-html-into-a-run": lambda p: (
        ["history", "--db", str(p.db), "--html", str(p.run)],
        f"--html {p.run}: inside the run directory {p.run}; {IN_RUN}",
    ),
    "history-html-over-its-database": lambda p: (
        [
            *("history", "--db", str(_index_is_the_db(p) / "index.html")),
            *("--html", str(p.root / "site")),
        ],
        f"--html {p.root}/site: writing index.html there would replace {p.root}/site/index.html",
    ),
    "history-plot-into-a-run": lambda p: (
        ["history", *p.series(), "--plot", str(p.other / "plot.png")],
        f"--plot {p.other}/plot.png: inside the run directory {p.other}; {IN_RUN}",
    ),
    "report-into-one-of-its-runs": lambda p: (
        ["report", str(p.run), str(p.other), "--out", str(p.other)],
        f"--out {p.other}: inside the input {p.other}; {INSIDE}",
    ),
    "report-into-a-folder-of-its-run": lambda p: (
        ["report", str(p.run), "--out", str(p.run / "traces")],
        f"--out {p.run}/traces: inside the input {p.run}; {INSIDE}",
    ),
    "report-into-another-run": lambda p: (
        ["report", str(p.run), "--out", str(p.other)],
        f"--out {p.other}: inside the run directory {p.other}; {IN_RUN}",
    ),
    "merge-into-its-input": lambda p: (
        ["merge", str(p.run), str(p.other), "--out", str(p.other / "merged")],
        f"--out {p.other}/merged: inside the input {p.other}; {INSIDE}",
    ),
    "infer-into-a-run": lambda p: (
        ["infer", "lenet5", "--batch-sizes", "1", "--out", str(p.run)],
        f"--out {p.run}: inside the run directory {p.run}; {IN_RUN}",
    ),
    "profile-suite-into-a-run": lambda p: (
        ["profile", "--suite", str(p.profile_suite), "--out", str(p.run)],
        f"--out {p.run}: inside the run directory {p.run}; {IN_RUN}",
    ),
    "profile-suite-over-its-suite-file": lambda p: (
        [
            *("profile", "--out", str(p.root)),
            *("--suite", str(p.profile_suite.rename(p.root / "tiny-profile.md"))),
        ],
        f"--out {p.root}: writing tiny-profile.md there would replace {p.root}/tiny-profile.md",
    ),
    "profile-trace-into-a-run": lambda p: (
        ["profile", "lenet5", "--trace", "1", "--out", str(p.run)],
        f"--out {p.run}/traces: inside the run directory {p.run}; {IN_RUN}",
    ),
    "run-out-inside-its-baseline-run": lambda p: (
        ["run", "--suite", str(p.suite), "--baseline", str(p.run), "--out", str(p.run / "runs")],
        f"--out {p.run}/runs: inside the input {p.run}; {INSIDE}",
    ),
}


@pytest.mark.parametrize("case", ONTO_INPUTS)
def test_an_output_onto_an_input_or_into_a_run_is_refused_before_any_work(
    place: Place, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    argv, message = ONTO_INPUTS[case](place)
    err = one_line_error(argv, capsys, unchanged=[place.root])
    assert err == f"bench {argv[0]}: error: {message}"


def test_a_report_into_its_own_run_directory_is_the_default(
    place: Place, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.cli import main

    for argv in (["report", str(place.run)], ["report", str(place.run), "--out", str(place.run)]):
        assert main([*argv, "--format", "md"]) == 0
    assert (place.run / "summary.md").is_file()


def _folder(p: Place, name: str, mode: int) -> tuple[Path, int]:
    path = p.root / name
    path.mkdir(exist_ok=True)
    return path, mode


def _a_file(p: Place) -> Path:
    path = p.root / "a-file"
    path.write_text("mine\n")
    return path


LockedCase = Callable[["Place"], tuple[list[str], list[tuple[Path, int]], str]]
"""A place → (arguments, the (path, mode) changes it runs under, the error)."""

RO = 0o555  # a folder that cannot be written
NONE = 0o000  # a folder that cannot be read either

LOCKED: dict[str, LockedCase] = {
    "compare-base-unreadable": lambda p: (
        ["compare", str(p.run), str(p.other), "--out", str(p.root / "new" / "c.md")],
        [(p.other, NONE)],
        f"{p.other}/run.json: cannot read: Permission denied",
    ),
    "compare-out-read-only": lambda p: (
        ["compare", str(p.run), str(p.baseline), "--out", str(p.root / "ro" / "c.md")],
        [_folder(p, "ro", RO)],
        f"--out {p.root}/ro/c.md: {p.root}/ro is not writable",
    ),
    "run-baseline-unreadable": lambda p: (
        ["run", "--suite", str(p.suite), "--baseline", str(p.other), "--out", str(p.root)],
        [(p.other, NONE)],
        f"--baseline {p.other}/run.json: cannot read: Permission denied",
    ),
    "run-out-read-only": lambda p: (
        ["run", "--suite", str(p.suite), "--out", str(p.root / "ro" / "runs")],
        [_folder(p, "ro", RO)],
        f"--out {p.root}/ro/runs: {p.root}/ro is not writable",
    ),
    "run-history-db-read-only": lambda p: (
        [
            *("run", "--suite", str(p.suite), "--out", str(p.root / "runs")),
            *("--history-db", str(p.root / "ro" / "h.sqlite")),
        ],
        [_folder(p, "ro", RO)],
        f"--history-db {p.root}/ro/h.sqlite: {p.root}/ro is not writable",
    ),
    "baseline-save-out-read-only": lambda p: (
        ["baseline", "save", str(p.run), "--out", str(p.root / "ro" / "b.json")],
        [_folder(p, "ro", RO)],
        f"--out {p.root}/ro/b.json: {p.root}/ro is not writable",
    ),
    "baseline-save-run-unreadable": lambda p: (
        ["baseline", "save", str(p.run), "--out", str(p.root / "new" / "b.json")],
        [(p.run, NONE)],
        f"{p.run}/run.json: cannot read: Permission denied",
    ),
    "merge-input-unreadable": lambda p: (
        ["merge", str(p.run), str(p.other), "--out", str(p.root / "merged")],
        [(p.other, NONE)],
        f"{p.other}/run.json: cannot read: Permission denied",
    ),
    "merge-out-read-only": lambda p: (
        ["merge", str(p.run), "--out", str(p.root / "ro" / "merged")],
        [_folder(p, "ro", RO)],
        f"--out {p.root}/ro/merged: {p.root}/ro is not writable",
    ),
    "history-record-run-unreadable": lambda p: (
        ["history", "--record", str(p.other), "--db", str(p.root / "new" / "h.sqlite")],
        [(p.other, NONE)],
        f"{p.other}/run.json: cannot read: Permission denied",
    ),
    "history-record-db-read-only": lambda p: (
        ["history", "--record", str(p.run), "--db", str(p.root / "ro" / "h.sqlite")],
        [_folder(p, "ro", RO)],
        f"--db {p.root}/ro/h.sqlite: {p.root}/ro is not writable",
    ),
    "history-html-read-only": lambda p: (
        ["history", "--db", str(p.db), "--html", str(p.root / "ro" / "site")],
        [_folder(p, "ro", RO)],
        f"--html {p.root}/ro/site: {p.root}/ro is not writable",
    ),
    "history-plot-read-only": lambda p: (
        ["history", *p.series(), "--plot", str(p.root / "ro" / "x.png")],
        [_folder(p, "ro", RO)],
        f"--plot {p.root}/ro/x.png: {p.root}/ro is not writable",
    ),
    "history-plot-under-a-file": lambda p: (
        ["history", *p.series(), "--plot", str(_a_file(p) / "x.png")],
        [],
        f"--plot {p.root}/a-file/x.png: {p.root}/a-file is a file, not a directory",
    ),
    "report-traces-unreadable": lambda p: (
        ["report", str(p.run), "--out", str(p.root / "report")],
        [(p.run / "traces", NONE)],
        f"{p.run}/traces/lenet5-s0/rank0.pt.trace.json.gz: cannot read: Permission denied",
    ),
    "report-into-its-read-only-run": lambda p: (
        ["report", str(p.run)],
        [(p.run, RO)],
        f"RUN_DIR {p.run}: {p.run} is not writable",
    ),
    "infer-out-read-only": lambda p: (
        ["infer", "lenet5", "--batch-sizes", "1", "--out", str(p.root / "ro")],
        [_folder(p, "ro", RO)],
        f"--out {p.root}/ro: {p.root}/ro is not writable",
    ),
    "profile-trace-out-a-file": lambda p: (
        ["profile", "lenet5", "--trace", "1", "--out", str(_a_file(p))],
        [],
        f"--out {p.root}/a-file/traces: {p.root}/a-file is a file, not a directory",
    ),
    "profile-trace-out-read-only": lambda p: (
        ["profile", "lenet5", "--trace", "1", "--out", str(p.root / "ro")],
        [_folder(p, "ro", RO)],
        f"--out {p.root}/ro/traces: {p.root}/ro is not writable",
    ),
    "profile-suite-out-read-only": lambda p: (
        ["profile", "--suite", str(p.profile_suite), "--out", str(p.root / "ro" / "p")],
        [_folder(p, "ro", RO)],
        f"--out {p.root}/ro/p: {p.root}/ro is not writable",
    ),
}


@pytest.mark.parametrize("case", LOCKED)
def test_a_path_that_cannot_be_read_or_written_is_one_line_before_any_work(
    place: Place, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    """Run without the permission bits' override root has (tests/permissions.py), so that
    ``chmod`` binds as it does for any user."""
    argv, changes, message = LOCKED[case](place)
    before = tree_state(place.root)
    with enforced(*changes):
        err = one_line_error(argv, capsys)
    assert err == f"bench {argv[0]}: error: {message}"
    assert tree_state(place.root) == before


def test_permissions_are_enforced_for_root_too(tmp_path: Path) -> None:
    """The promise tests/permissions.py makes, held: a read-only folder refuses a new file and
    an unreadable one its listing, whoever runs the tests."""
    folder = tmp_path / "folder"
    folder.mkdir()
    with enforced((folder, RO)), pytest.raises(PermissionError):
        (folder / "new").write_text("x")
    with enforced((folder, NONE)), pytest.raises(PermissionError):
        list(folder.iterdir())
    (folder / "new").write_text("x")  # as before once the block ends
