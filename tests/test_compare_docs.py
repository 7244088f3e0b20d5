"""The CI recipe and the documented rule agree with the code."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from bench.cli import get_args_parser
from bench.regress.compare import ALPHA
from bench.regress.history import STEP_K, STEP_MIN_CHANGE

DOCS = Path(__file__).resolve().parent.parent / "docs"


def bench_commands(script: str) -> list[list[str]]:
    """The argv of every ``python -m bench`` command of a shell script, variables filled in."""
    script = script.replace("\\\n", " ")
    script = re.sub(r"\$\{\{[^}]*\}\}|\"?\$\{?\w+\}?\"?", "VALUE", script)
    commands = []
    for line in script.splitlines():
        line = re.split(r"\|\||>|#", line)[0]
        if "python -m bench " in line:
            commands.append(shlex.split(line.split("python -m bench ", 1)[1]))
    return commands


def test_ci_workflow_runs_valid_bench_commands() -> None:
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((DOCS / "ci" / "github-actions.yml").read_text())
    scripts = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    commands = [argv for script in scripts for argv in bench_commands(script)]
    assert [argv[0] for argv in commands] == ["run", "run", "history", "baseline"]
    parser = get_args_parser()
    for argv in commands:
        parser.parse_args(argv)  # exits 2 on an unknown flag
    assert "--baseline" in commands[0] and "--fail-on" in commands[0]
    summary_step = next(s for s in scripts if "GITHUB_STEP_SUMMARY" in s)
    assert 'compare.md" >> "$GITHUB_STEP_SUMMARY"' in summary_step
    assert "python -m bench run" in summary_step


def test_documented_rule_matches_the_constants() -> None:
    text = (DOCS / "regressions.md").read_text()
    assert f"p < {ALPHA:g}" in text
    assert f"max({STEP_MIN_CHANGE:g} × |m_{{i−1}}|, {STEP_K:g} × σ)" in text
