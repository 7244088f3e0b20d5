"""What the GPU acceptance run checks before any stage, each problem as one line.

- a CUDA GPU (first through NVML, which answers at once, then through torch);
- every Python distribution the stages need: ``pyproject.toml``'s dependencies and the test
  tools the overhead stage runs (``STAGE_TOOLS`` of the ``dev`` extra), with everything they
  require in turn (torch's and torchvision's own requirements are left to importing them), at
  the versions they ask for; the missing ones are named with the line that installs them from
  a folder of wheels;
- every module of ``bench`` and of those test tools imports;
- on a GPU, whether ``torch.compile`` of one operation runs (Triton needs a C compiler and the
  Python headers), which decides whether the compiled variant runs.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import os
import pkgutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gpu_check_process import TIMED_OUT, run_bounded

from bench.errors import first_line

if TYPE_CHECKING:
    from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
STAGE_TOOLS = ("pytest", "pytest-benchmark")  # from the dev extra: the overhead stage's
OWN_REQUIREMENTS = ("torch", "torchvision")  # checked by importing them, not their metadata
WHEELS = "wheels"  # the folder of wheels named in the install line, under the source tree
COMPILE_PROBE_S = 90  # a cold Inductor compiles one operation in seconds
COMPILE_PROBE = """
import torch
double = torch.compile(lambda x: x * 2 + 1)
assert double(torch.ones(8, device="cuda")).sum().item() == 24
"""


@dataclass
class Requirements:
    """The distributions a set of requirements needs: the missing ones, and the installed
    ones whose version another asks otherwise (``note``)."""

    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    found: dict[str, metadata.Distribution] = field(default_factory=dict)


def no_gpu() -> str | None:
    """Why there is no CUDA GPU to run on, as far as NVML can tell at once; None where NVML
    sees one (or cannot be asked: torch decides later)."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as err:
        return f"no CUDA GPU: NVML finds no NVIDIA driver ({err})"
    try:
        count = pynvml.nvmlDeviceGetCount()
    finally:
        pynvml.nvmlShutdown()
    return None if count > 0 else "no CUDA GPU: NVML sees no NVIDIA GPU"


def torch_sees_no_gpu() -> str | None:
    """Why torch cannot use a CUDA GPU, or None."""
    import torch

    if torch.cuda.is_available():
        return None
    return f"no CUDA GPU: torch {torch.__version__} (CUDA {torch.version.cuda or 'none'}) sees none"


def project_requirements(root: Path = ROOT) -> list[str]:
    """``pyproject.toml``'s dependencies and the ``STAGE_TOOLS`` of its ``dev`` extra."""
    from packaging.requirements import Requirement

    from bench.suite.files import read_toml

    project = read_toml(root / "pyproject.toml")["project"]
    dev = project.get("optional-dependencies", {}).get("dev", [])
    tools = [r for r in dev if Requirement(r).name in STAGE_TOOLS]
    return [*project["dependencies"], *tools]


def requirements(roots: Iterable[str]) -> Requirements:
    """Walk ``roots`` and what each installed distribution requires (markers evaluated here,
    extras followed), except below ``OWN_REQUIREMENTS``."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found = Requirements()
    seen: set[str] = set()
    todo = [(Requirement(text), "") for text in roots]
    while todo:
        requirement, wanted_by = todo.pop(0)
        name = canonicalize_name(requirement.name)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if name not in found.missing:
                found.missing.append(name)
            continue
        if not requirement.specifier.contains(dist.version, prereleases=True):
            who = f"{wanted_by} asks" if wanted_by else "bench asks"
            found.notes.append(f"{name} {dist.version} installed, {who} {requirement}")
        if name in seen:
            continue
        seen.add(name)
        found.found[name] = dist
        if name not in OWN_REQUIREMENTS:
            todo += [(r, name) for r in _required(dist, requirement.extras)]
    return found


def _required(dist: metadata.Distribution, extras: set[str]) -> Iterator[Requirement]:
    """``dist``'s own requirements, with those of ``extras``."""
    from packaging.requirements import Requirement

    for text in dist.requires or ():
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or marker.evaluate({"extra": ""}):
            yield requirement
        elif any(marker.evaluate({"extra": extra}) for extra in extras):
            requirement.marker = None
            yield requirement


def install_line(missing: Iterable[str]) -> str:
    """The command that installs ``missing`` from the folder of wheels ``WHEELS``."""
    names = " ".join(sorted(missing))
    return f"{sys.executable} -m pip install --no-index --find-links {WHEELS} {names}"


def missing_packages(root: Path = ROOT) -> tuple[str | None, list[str]]:
    """The one-line problem where a distribution the stages need is missing (None where all
    are there), and notes on versions that differ from what is asked."""
    try:
        import packaging  # noqa: F401  (matplotlib's: there wherever it is)
    except ImportError:  # needed to read the requirements themselves
        return _missing_line(["packaging"]), []
    found = requirements(project_requirements(root))
    if not found.missing:
        return None, found.notes
    return _missing_line(found.missing), found.notes


def _missing_line(missing: Iterable[str]) -> str:
    names = ", ".join(sorted(missing))
    return (
        f"missing Python packages: {names}; install them from a folder of wheels with: "
        f"{install_line(missing)} (build the folder on a machine with network: "
        f"PYTHONPATH=. python scripts/gpu_check_wheels.py {WHEELS})"
    )


def import_problem(root: Path = ROOT) -> str | None:
    """The first module of bench or of the stage tools that does not import, and why."""
    found = pkgutil.walk_packages([str(root / "bench")], "bench.", onerror=lambda _name: None)
    names = [module.name for module in found]  # a package that fails is reported below
    for name in ("bench", *names, "pytest", "pytest_benchmark"):
        if name.endswith("__main__"):
            continue
        try:
            importlib.import_module(name)
        except Exception as err:  # any import failure is what is reported
            return f"cannot import {name}: {type(err).__name__}: {first_line(err)}"
    return None


def compile_problem(timeout_s: float = COMPILE_PROBE_S) -> str | None:
    """Why ``torch.compile`` of one operation does not run on the GPU here, or None."""
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as log:
        status = run_bounded(
            [sys.executable, "-c", COMPILE_PROBE], timeout_s, log, log, env=os.environ
        )
        log.seek(0)
        lines = [line.strip() for line in log.read().splitlines() if line.strip()]
    if status == 0:
        return None
    if status == TIMED_OUT:
        return f"torch.compile of one operation did not finish in {timeout_s:.0f} s"
    reason = lines[-1] if lines else f"exit status {status}"
    return f"torch.compile of one operation failed: {reason[:300]}"
