"""A user mistake on the command line ends in one line on stderr and exit status 2, never a
traceback, and loses nothing already recorded."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cli_errors import one_line_error
from file_trees import tree_state
from run_fixtures import write_run
from tiny_suite import tiny_suite

from bench.cli import main
from bench.errors import WriteError
from bench.measure import environment
from bench.results.atomic import write_atomic


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run", models=("lenet5",), telemetry=False, artifacts=False)


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("mine\n")
    return path


@pytest.mark.parametrize("under", ["", "sub"], ids=["a-file", "under-a-file"])
def test_run_out_a_file_or_under_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], a_file: Path, under: str
) -> None:
    suite = tmp_path / "tiny.toml"
    suite.write_text(tiny_suite())
    out = a_file / under if under else a_file
    err = one_line_error(["run", "--suite", str(suite), "--out", str(out)], capsys)
    assert err == f"bench run: error: --out {out}: {a_file} is a file, not a directory"
    assert a_file.read_text() == "mine\n"


def test_compare_out_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], run: Path
) -> None:
    (tmp_path / "folder").mkdir()
    argv = ["compare", str(run), str(run), "--out", str(tmp_path / "folder")]
    err = one_line_error(argv, capsys)
    assert err.endswith(f"--out {tmp_path / 'folder'}: is a directory; give a file name")
    assert list((tmp_path / "folder").iterdir()) == []


def test_baseline_save_out_a_directory_leaves_no_stray_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], run: Path
) -> None:
    (tmp_path / "empty").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    err = one_line_error(["baseline", "save", str(run), "--out", str(tmp_path / "empty")], capsys)
    assert err.endswith(f"--out {tmp_path / 'empty'}: is a directory; give a file name")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no .empty.tmp
    assert list((tmp_path / "empty").iterdir()) == []


def test_baseline_save_out_under_a_file(
    capsys: pytest.CaptureFixture[str], run: Path, a_file: Path
) -> None:
    saved = tree_state(run)
    out = a_file / "x.json"
    err = one_line_error(["baseline", "save", str(run), "--out", str(out)], capsys)
    assert err == f"bench baseline: error: --out {out}: {a_file} is a file, not a directory"
    assert tree_state(run) == saved and a_file.read_text() == "mine\n"


def test_report_out_a_file(capsys: pytest.CaptureFixture[str], run: Path, a_file: Path) -> None:
    saved = tree_state(run)
    err = one_line_error(["report", str(run), "--out", str(a_file)], capsys)
    assert err == f"bench report: error: --out {a_file}: {a_file} is a file, not a directory"
    assert tree_state(run) == saved and a_file.read_text() == "mine\n"


def test_profile_suite_out_a_file_is_refused_before_profiling(
    capsys: pytest.CaptureFixture[str], a_file: Path
) -> None:
    argv = ["profile", "--suite", "imagenet-profile", "--out", str(a_file)]
    err = one_line_error(argv, capsys)
    assert err == f"bench profile: error: --out {a_file}: {a_file} is a file, not a directory"
    assert "profiling" not in capsys.readouterr().err


def test_profile_an_input_size_too_small_for_resnet18(capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_error(["profile", "resnet18", "--input-size", "3x16x16"], capsys)
    assert err == (
        "bench profile: error: --input-size 3x16x16 does not fit resnet18: Expected more than "
        "1 value per channel when training, got input size torch.Size([1, 256, 1, 1])"
    )


def test_merge_out_inside_one_of_its_inputs(capsys: pytest.CaptureFixture[str], run: Path) -> None:
    saved = tree_state(run)
    for out in (run / "merged", run):
        err = one_line_error(["merge", str(run), "--out", str(out)], capsys)
        assert err == (
            f"bench merge: error: --out {out}: inside the input {run}; write outside what this "
            "command reads"
        )
    assert tree_state(run) == saved


RUN_JSON = {
    "a-list": lambda info: "[]",
    "no-suite": lambda info: json.dumps({k: v for k, v in info.items() if k != "suite"}),
    "garbage": lambda info: "\x00garbage{",
}


@pytest.mark.parametrize("damage", RUN_JSON)
def test_resume_of_a_run_json_that_is_not_a_run(
    capsys: pytest.CaptureFixture[str], run: Path, damage: str
) -> None:
    info_path = run / "run.json"
    info_path.write_text(RUN_JSON[damage](json.loads(info_path.read_text())))
    saved = tree_state(run)
    err = one_line_error(["run", "--resume", str(run)], capsys)
    assert err.startswith(f"bench run: error: {info_path}: ")
    assert tree_state(run) == saved


def test_resume_of_a_run_json_of_another_suite_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], run: Path
) -> None:
    """run.json of another suite beside these records: resuming would mix two suites."""
    info = json.loads((run / "run.json").read_text())
    info["suite"] = {**info["suite"], "name": "other-suite", "models": ["vgg16"]}
    (run / "run.json").write_text(json.dumps(info))
    saved = tree_state(run)
    err = one_line_error(["run", "--resume", str(run)], capsys)
    assert err == (
        f"bench run: error: {run / 'run.json'}: holds suite 'other-suite', which has no job "
        "'lenet5-s0' of suite 'fixture-suite' recorded beside it; the file belongs to another "
        "suite document"
    )
    assert tree_state(run) == saved


def test_compare_markdown_escapes_the_suite_name_as_the_html_report_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "<img src=x onerror=alert(1)>"
    run = write_run(tmp_path / "run", suite=name, models=("lenet5",), artifacts=False)
    capsys.readouterr()
    assert main(["compare", str(run), str(run), "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert "<img" not in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in out


def test_the_report_shows_the_suite_description(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], run: Path
) -> None:
    info = json.loads((run / "run.json").read_text())
    info["suite"]["description"] = "LeNet-5 <b>on</b> digits & more"
    (run / "run.json").write_text(json.dumps(info))
    assert main(["report", str(run), "--out", str(tmp_path / "r"), "--format", "html,md"]) == 0
    html = (tmp_path / "r" / "report.html").read_text()
    assert '<p class="description">LeNet-5 &lt;b&gt;on&lt;/b&gt; digits &amp; more</p>' in html
    markdown = (tmp_path / "r" / "summary.md").read_text().splitlines()
    assert markdown[2] == "LeNet-5 &lt;b&gt;on&lt;/b&gt; digits &amp; more"


def test_a_git_that_hangs_gives_no_commit_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def hangs(command: list[str], **kwargs: object) -> None:
        raise subprocess.TimeoutExpired(command, 10)

    monkeypatch.setattr(environment.subprocess, "run", hangs)
    assert environment.git_revision(tmp_path) == (None, None)


def test_an_atomic_write_that_fails_leaves_no_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(WriteError, match="folder: cannot write: Is a directory"):
        write_atomic(tmp_path / "folder", "text")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]
