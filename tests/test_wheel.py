"""The built wheel works on its own: installed into a fresh virtual environment, run from
another folder, with the source tree nowhere on the path, it has every subpackage and the
shipped suites."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# what a checkout may hold beside its source (virtual environments, builds, runs, data sets)
NOT_SOURCE = {"build", "dist", "reports", "data"}


def _run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, cwd=cwd, env=env, timeout=600
    )
    assert done.returncode == 0, f"{argv}: {done.stderr[-2000:]}"
    return done.stdout


def _not_source(folder: str, names: list[str]) -> set[str]:
    top = Path(folder) == ROOT
    return {
        n
        for n in names
        if n.startswith(".")
        or n == "__pycache__"
        or n.endswith(".egg-info")
        or (top and n in NOT_SOURCE)
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """A fresh venv with the wheel installed (no dependencies: those are made visible from
    this interpreter's site-packages, read as a plain folder, so this checkout's editable
    install stays out), a folder outside the source tree, and the environment to run in."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a copy, so that building leaves the checkout as it was
    shutil.copytree(ROOT, source, ignore=_not_source)
    _run(sys.executable, "-m", "pip", "wheel", source, "--no-deps", "-q", "-w", root, cwd=root)
    (wheel,) = root.glob("bench-*.whl")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel, cwd=root)
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    fresh_site = _run(python, "-c", purelib, cwd=root)
    deps = sysconfig.get_path("purelib")
    (Path(fresh_site.strip()) / "deps.pth").write_text(deps + "\n")
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return env_dir, elsewhere, env


def test_the_wheel_holds_every_subpackage_and_the_suites(
    installed: tuple[Path, Path, dict[str, str]],
) -> None:
    env_dir, elsewhere, env = installed
    check = (
        "import bench, pkgutil, sys; from importlib import resources; "
        "print(bench.__file__); "
        "print(sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.ispkg)); "
        "print(sorted(p.name for p in resources.files('bench.suites').iterdir() "
        "if p.name.endswith('.toml')))"
    )
    output = _run(env_dir / "bin/python", "-c", check, cwd=elsewhere, env=env)
    where, packages, suites = output.splitlines()
    assert Path(where).is_relative_to(env_dir) and not Path(where).is_relative_to(ROOT)
    in_tree = [p.name for p in (ROOT / "bench").iterdir() if (p / "__init__.py").is_file()]
    assert packages == str(sorted([*in_tree, "suites"]))
    assert suites == str(sorted(p.name for p in (ROOT / "suites").glob("*.toml")))


def test_installed_commands_run_from_another_folder(
    installed: tuple[Path, Path, dict[str, str]],
) -> None:
    env_dir, elsewhere, env = installed
    bench = env_dir / "bin" / "bench"
    assert "lenet5-relu" in _run(bench, "list", "--no-macs", cwd=elsewhere, env=env)
    profile = _run(bench, "profile", "lenet5", "--format", "json", cwd=elsewhere, env=env)
    assert '"params": 61706' in profile
    matrix = _run(bench, "run", "--suite", "smoke", "--dry-run", cwd=elsewhere, env=env)
    assert matrix.startswith("suite smoke: 4 jobs")
    assert not (elsewhere / "reports").exists()
