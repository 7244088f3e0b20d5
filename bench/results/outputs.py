"""Where a command is told to write (``--out``, ``--html``, ``--plot``, a database), checked
before any work, the same way by every command.

An output may not be, or lie inside, anything the command reads (``reads``: run directories,
baseline files, databases, suite files), symbolic links resolved, so an output that is a link
onto an input is refused too; nor lie inside any other run directory (a typo must not replace
another run's files). A folder that receives files (``writes``, their names) may not hold an
input under one of those names. A file where a folder must be, a folder where a file must be, a
folder that cannot be written or created, or a name the file system cannot hold: each is one
line naming the flag and the path, never a traceback after the work is done.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from bench.errors import BenchError, os_error_line
from bench.results.rundir import enclosing_run_dir, may_access, real_path


def output_dir(
    path: Path,
    flag: str = "--out",
    *,
    create: bool = True,
    reads: Sequence[Path] = (),
    writes: Iterable[str] = (),
    own: Path | None = None,
) -> Path:
    """``path``, created as a directory (with its parents) where it is not one yet; without
    ``create``, only checked to be one or to be creatable. ``own`` is a run directory the
    command writes into by design (``bench report RUN`` writes its report there)."""
    check_apart(path, flag, reads, writes=writes, own=own)
    _make_dir(path, flag, path, create)
    return path


def output_file(
    path: Path, flag: str = "--out", *, create: bool = True, reads: Sequence[Path] = ()
) -> Path:
    """``path``, checked to be no directory and apart from ``reads``, its folder created (without
    ``create``, only checked to be one or to be creatable)."""
    check_apart(path, flag, reads)
    try:
        if path.is_dir():
            raise BenchError(f"{flag} {path}: is a directory; give a file name")
    except OSError as err:
        raise BenchError(f"{flag} {path}: {err.strerror}") from None
    _make_dir(path.parent, flag, path, create)
    return path


def check_apart(
    path: Path,
    flag: str,
    reads: Sequence[Path],
    *,
    writes: Iterable[str] = (),
    own: Path | None = None,
) -> None:
    """A ``BenchError`` where the output ``path`` is, or lies inside, one of ``reads`` or
    another run directory, or where a file ``writes`` names in it would replace one of
    ``reads``."""
    target = real_path(path)
    sources = [(source, real_path(source)) for source in reads]
    if own is None or target != real_path(own):
        for source, real in sources:
            if target.is_relative_to(real):
                raise BenchError(
                    f"{flag} {path}: inside the input {source}; write outside what this "
                    "command reads"
                )
        run_dir = enclosing_run_dir(target)
        if run_dir is not None:
            raise BenchError(
                f"{flag} {path}: inside the run directory {run_dir}; write outside run directories"
            )
    for name in writes:
        entry = real_path(path / name)
        for source, real in sources:
            if real.is_relative_to(entry):
                raise BenchError(f"{flag} {path}: writing {name} there would replace {source}")


def _make_dir(folder: Path, flag: str, named: Path, create: bool) -> None:
    try:
        blocker = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise BenchError(f"{flag} {named}: {blocker} is a file, not a directory")
        if blocker is not None and not may_access(blocker, os.W_OK | os.X_OK):
            raise BenchError(f"{flag} {named}: {blocker} is not writable")
        if create:
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BenchError(os_error_line(f"{flag} {named}", f"create {folder}", err)) from None
