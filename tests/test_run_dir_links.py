"""Links never leave a run directory: a file of a run directory that is a symbolic link (or lies
in a linked folder) leading out of it is refused by every command that reads it, before anything
is written, so nothing from outside lands in a report or a merged run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cli_errors import one_line_error

from bench.cli import main
from bench.errors import BenchError
from bench.results.rundir import RunDir

if TYPE_CHECKING:
    from place_fixtures import Place

pytest_plugins = ["place_fixtures"]

COMMANDS: dict[str, Callable[[Place], list[str]]] = {
    "report": lambda p: ["report", str(p.run), "--out", str(p.root / "report")],
    "merge": lambda p: [
        "merge",
        str(p.run),
        "--out",
        str(p.root / "merged"),
        "--no-report",
        "--partial",
    ],
    "compare": lambda p: ["compare", str(p.run), str(p.baseline)],
    "baseline": lambda p: ["baseline", "save", str(p.run), "--out", str(p.root / "b.json")],
    "history": lambda p: ["history", "--record", str(p.run), "--db", str(p.root / "h.sqlite")],
    "resume": lambda p: ["run", "--resume", str(p.run), "--history-db", "none"],
}
EVERY_READER = tuple(COMMANDS)
# the files only the report and merge read (merge copies them into the merged run)
JOB_FILES = ("report", "merge")

LINKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "run-json": ("run.json", EVERY_READER),
    "records": ("records.jsonl", EVERY_READER),
    "operator-table": ("traces/lenet5-s0/operators.csv", JOB_FILES),
    "module-table": ("traces/lenet5-s0/modules.csv", JOB_FILES),
    "chrome-trace": ("traces/lenet5-s0/rank0.pt.trace.json.gz", JOB_FILES),
    "operator-table-before-folders": ("traces/lenet5-s0_ops.csv", JOB_FILES),
    "telemetry": ("telemetry/lenet5-s0.csv", JOB_FILES),
    "artifact": ("artifacts/lenet5-s0/first_layer_init.npy", JOB_FILES),
    "comparison": ("compare.md", ("report",)),
}
CASES = [(link, command) for link, (_, commands) in LINKS.items() for command in commands]


def link_out(place: Place, relative: str) -> Path:
    """Move the run's file ``relative`` out of the run directory (a private folder beside it)
    and leave a relative symbolic link to it in its place; the link's path."""
    path = place.run / relative
    private = place.root / "private" / relative.replace("/", "_")
    private.parent.mkdir(exist_ok=True)
    if path.exists():
        shutil.move(path, private)
    else:
        private.write_text("# private\n")
    path.symlink_to(os.path.relpath(private, path.parent))
    return path


@pytest.mark.parametrize(("link", "command"), CASES)
def test_a_link_out_of_the_run_directory_is_refused_by_every_reader(
    place: Place, capsys: pytest.CaptureFixture[str], link: str, command: str
) -> None:
    path = link_out(place, LINKS[link][0])
    argv = COMMANDS[command](place)
    err = one_line_error(argv, capsys, unchanged=[place.root])
    assert err == (
        f"bench {argv[0]}: error: {path}: a symbolic link out of the run directory {place.run}; "
        "bench reads nothing outside a run directory"
    )


@pytest.mark.parametrize("folder", ["traces", "telemetry", "artifacts/lenet5-s0"])
@pytest.mark.parametrize("command", JOB_FILES)
def test_a_linked_folder_out_of_the_run_directory_is_refused(
    place: Place, capsys: pytest.CaptureFixture[str], folder: str, command: str
) -> None:
    link_out(place, folder)
    argv = COMMANDS[command](place)
    err = one_line_error(argv, capsys, unchanged=[place.root])
    assert err.startswith(f"bench {argv[0]}: error: {place.run}/{folder}")
    assert err.endswith(
        f": a symbolic link out of the run directory {place.run}; bench reads nothing outside a "
        "run directory"
    )


def test_a_link_inside_the_run_directory_is_read_and_merged_as_a_plain_file(
    place: Place, capsys: pytest.CaptureFixture[str]
) -> None:
    ops = place.run / "traces" / "lenet5-s0" / "operators.csv"
    shutil.move(ops, place.run / "ops-kept-here.csv")
    ops.symlink_to("../../ops-kept-here.csv")
    assert main(COMMANDS["report"](place)) == 0
    assert "aten::conv2d" in (place.root / "report" / "report.html").read_text()
    assert main(COMMANDS["merge"](place)) == 0
    merged = place.root / "merged" / "traces" / "lenet5-s0" / "operators.csv"
    assert not merged.is_symlink()
    assert merged.read_bytes() == (place.run / "ops-kept-here.csv").read_bytes()


def test_no_write_follows_a_link_left_in_the_run_directory(place: Place) -> None:
    """A link planted where bench writes a temporary file (``.summary.md.tmp``) or keeps a torn
    line (``records.jsonl.torn``) is replaced, or refused, never written through."""
    outside = place.root / "outside.txt"
    outside.write_text("keep me\n")
    for name in (".summary.md.tmp", "records.jsonl.torn"):
        (place.run / name).symlink_to(os.path.relpath(outside, place.run))
    assert main(["report", str(place.run), "--format", "md"]) == 0
    assert not (place.run / "summary.md").is_symlink()
    with (place.run / "records.jsonl").open("a") as records:
        records.write('{"type": "epo')  # a line torn by a kill, kept aside before an append
    with pytest.raises(BenchError) as refused:
        RunDir.open(place.run).cut_torn_tail()
    assert str(refused.value) == (
        f"{place.run}/records.jsonl.torn: a symbolic link out of the run directory {place.run}; "
        "bench reads nothing outside a run directory"
    )
    assert outside.read_text() == "keep me\n"
