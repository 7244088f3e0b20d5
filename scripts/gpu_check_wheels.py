"""Build the folder of wheels that the GPU acceptance run installs from on a machine without
network: every pure-Python distribution the stages need (``gpu_check_preflight``'s walk of
``pyproject.toml``), at the version installed here. ``pip wheel`` builds a wheel of those that
ship only as source (fvcore, iopath); pure-Python wheels suit any Python 3.

    python scripts/gpu_check_wheels.py [DIR]     # default: wheels (git-ignored)

Run it with the environment the tests pass in, on a machine with network. Binary distributions
(torch, numpy, pandas...) are left out: the GPU machine's Python must have them.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from gpu_check_preflight import WHEELS, project_requirements, requirements

ROOT = Path(__file__).resolve().parent.parent


def is_pure(dist: metadata.Distribution) -> bool:
    """Whether ``dist`` was installed from a pure-Python wheel (``Root-Is-Purelib: true``)."""
    return "root-is-purelib: true" in (dist.read_text("WHEEL") or "").lower()


def pure_pins(root: Path = ROOT) -> list[str]:
    """``name==version`` of every installed pure-Python distribution the stages need."""
    found = requirements(project_requirements(root))
    return [f"{name}=={d.version}" for name, d in sorted(found.found.items()) if is_pure(d)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=ROOT / WHEELS)
    args = parser.parse_args(argv)
    pins = pure_pins()
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(args.folder)]
    status = subprocess.run([*command, *pins], check=False).returncode
    if status == 0:
        size = sum(p.stat().st_size for p in args.folder.glob("*.whl"))
        print(f"{len(pins)} wheels in {args.folder}, {size / 2**20:.1f} MiB")
    return status


if __name__ == "__main__":
    sys.exit(main())
