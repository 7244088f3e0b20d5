"""Finding and reading suite files: a path, or a name shipped in ``suites/``."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Any

from bench.errors import SuiteError, UnknownNameError, os_error_line

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_SOURCE_TREE_SUITES = Path(__file__).resolve().parents[2] / "suites"


def shipped_suite_dir() -> Path:
    """``suites/`` beside the package in a source tree, else the installed ``bench.suites``."""
    if _SOURCE_TREE_SUITES.is_dir():
        return _SOURCE_TREE_SUITES
    return Path(str(resources.files("bench.suites")))


def shipped_suites() -> list[str]:
    """Names of the suites that ship with bench."""
    return sorted(p.stem for p in shipped_suite_dir().glob("*.toml"))


def find_suite(name_or_path: str) -> Path:
    """A suite file from a path (anything with ``/`` or ``.toml``) or a shipped suite's name."""
    path = Path(name_or_path)
    try:
        if path.suffix == ".toml" or len(path.parts) > 1:
            if not path.is_file():
                raise SuiteError(f"--suite: no such file {name_or_path}")
            return path
        candidate = shipped_suite_dir() / f"{name_or_path}.toml"
        if not candidate.is_file():
            raise UnknownNameError("suite", name_or_path, shipped_suites(), where="--suite")
    except OSError as err:  # a name too long for the file system, say
        raise SuiteError(f"--suite: cannot read {name_or_path}: {err.strerror}") from None
    return candidate


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a syntax error names the file, line and column."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise SuiteError(f"{path}: invalid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise SuiteError(
            f"{path}: not UTF-8 text, as TOML must be (byte {err.object[err.start]:#04x} at "
            f"offset {err.start})"
        ) from None
    except OSError as err:
        raise SuiteError(os_error_line(path, "read", err)) from None
