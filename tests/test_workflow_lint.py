"""The shipped GitHub Actions workflows pass actionlint (installed by the dev extra)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
WORKFLOWS = [DOCS / "ci" / "github-actions.yml", DOCS / "ci" / "matrix.yml"]


def actionlint() -> str:
    """The actionlint command beside this interpreter or on PATH; the test skips without it."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("actionlint", path=path)
    if found is None:
        pytest.skip("actionlint is not installed (pip install -e '.[dev]' installs it)")
    return found


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_the_example_workflows_pass_actionlint(workflow: Path) -> None:
    done = subprocess.run(
        [actionlint(), "-no-color", str(workflow)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
