"""``bench report`` on the command line, and the reporting side's independence from torch."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from run_fixtures import write_run

from bench import cli

# main() with only the report command registered: runs whether or not the other command
# modules are importable in this checkout.
REPORT_ONLY = (
    "import sys; import bench.cli as cli; cli.COMMANDS = ('report',); "
    "code = cli.main(sys.argv[1:]); "
    "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(code)"
)


@pytest.fixture
def report_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "COMMANDS", ("report",))


@pytest.fixture
def torchless(tmp_path: Path) -> dict[str, str]:
    """An environment whose ``import torch`` raises ImportError."""
    blocker = tmp_path / "blocker" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("torch is blocked in this test")\n')
    paths = [str(blocker.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def run_python(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_report_writes_into_the_run_directory_by_default(
    report_only: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = write_run(tmp_path / "run", models=("lenet5",))
    assert cli.main(["report", str(run), "--format", "csv,md"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        str(run / "summary.md"),
        str(run / "summary_models.csv"),
        str(run / "summary_lecture.csv"),
        str(run / "summary_failures.csv"),
    ]
    assert not (run / "report.html").exists()


def test_report_of_several_runs_needs_out(
    report_only: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write_run(tmp_path / "a", models=("lenet5",))
    second = write_run(tmp_path / "b", models=("lenet5",))
    assert cli.main(["report", str(first), str(second)]) == 2
    assert capsys.readouterr().err == (
        "bench report: error: --out DIR is required when reporting several run directories\n"
    )
    assert cli.main(["report", str(first), str(second), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "report.html").is_file()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "no such run directory"),
        (lambda p: p.mkdir() or p, "not a run directory (no run.json)"),
    ],
    ids=["missing", "not-a-run"],
)
def test_report_names_a_directory_that_is_not_a_run(
    report_only: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], make, message: str
) -> None:
    path = make(tmp_path / "somewhere")
    assert cli.main(["report", str(path)]) == 2
    assert capsys.readouterr().err == f"bench report: error: {path}: {message}\n"


def test_report_rejects_an_unknown_format(
    report_only: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = write_run(tmp_path / "run", models=("lenet5",))
    assert cli.main(["report", str(run), "--format", "html,pdf"]) == 2
    assert capsys.readouterr().err == (
        "bench report: error: --format: unknown format 'pdf'; known: html, csv, md\n"
    )


def test_reporting_side_imports_without_torch(torchless: dict[str, str], tmp_path: Path) -> None:
    blocked = run_python(["-c", "import torch"], torchless)
    assert "torch is blocked in this test" in blocked.stderr
    check = "import sys, bench.report; assert 'torch' not in sys.modules; print('ok')"
    assert run_python(["-c", check], torchless).stdout == "ok\n"
    run = write_run(tmp_path / "run", models=("conv-autoencoder",))
    done = run_python(
        ["-c", REPORT_ONLY, "report", str(run), "--out", str(tmp_path / "o")], torchless
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o" / "report.html").is_file()


def test_python_m_bench_report_runs_without_torch(
    torchless: dict[str, str], tmp_path: Path
) -> None:
    absent = [n for n in cli.COMMANDS if importlib.util.find_spec(f"bench.commands.{n}") is None]
    if absent:
        pytest.skip(f"command modules not in this checkout yet: {', '.join(absent)}")
    run = write_run(tmp_path / "run", models=("lenet5",))
    done = run_python(["-m", "bench", "report", str(run), "--format", "csv"], torchless)
    assert done.returncode == 0, done.stderr
    assert (run / "summary_models.csv").is_file()
