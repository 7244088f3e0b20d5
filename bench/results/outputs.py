"""Where a command is told to write (``--out``), made ready before any work: a file where a
folder must be, a folder where a file must be, or a name the file system cannot hold is one
line naming the flag and the path, never a traceback after the work is done."""

from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError


def output_dir(path: Path, flag: str = "--out", *, create: bool = True) -> Path:
    """``path``, created as a directory (with its parents) where it is not one yet; without
    ``create``, only checked to be one or to be creatable."""
    _make_dir(path, flag, path, create)
    return path


def output_file(path: Path, flag: str = "--out") -> Path:
    """``path``, checked to be no directory, its folder created."""
    try:
        if path.is_dir():
            raise BenchError(f"{flag} {path}: is a directory; give a file name")
    except OSError as err:
        raise BenchError(f"{flag} {path}: {err.strerror}") from None
    _make_dir(path.parent, flag, path, True)
    return path


def _make_dir(folder: Path, flag: str, named: Path, create: bool) -> None:
    try:
        blocker = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise BenchError(f"{flag} {named}: {blocker} is a file, not a directory")
        if create:
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BenchError(f"{flag} {named}: cannot create {folder}: {err.strerror}") from None
