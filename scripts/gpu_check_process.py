"""One child process under a time limit that always ends: on time-out its whole process group
(DataLoader workers, compile workers) gets SIGTERM, then SIGKILL after a grace period. The group
stays in this process's session, so whatever ends the session's processes ends it too."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

TIMED_OUT = 124  # the exit status of timeout(1)
GRACE_S = 5.0  # between SIGTERM and SIGKILL: bench run writes what it has on SIGTERM


def run_bounded(
    argv: Sequence[str],
    timeout_s: float,
    stdout: IO[str],
    stderr: IO[str] | int,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Run ``argv`` to the end or to ``timeout_s``; its exit status, ``TIMED_OUT`` where the
    limit stopped it, or 127 where it could not start (the reason written to ``stderr``)."""
    try:
        child = subprocess.Popen(
            list(argv),
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            env=None if env is None else dict(env),
            cwd=cwd,
            **_own_group(),
        )
    except OSError as err:
        if not isinstance(stderr, int):
            stderr.write(f"cannot start {argv[0]}: {err}\n")
        return 127
    try:
        return child.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _stop(child)
        return TIMED_OUT
    except BaseException:  # this process is being stopped: the child goes first
        _stop(child)
        raise


def _stop(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the child's process group, then, after the grace period or once the child
    is gone, SIGKILL to whatever of the group is left."""
    _signal_group(child.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=GRACE_S)
    _signal_group(child.pid, signal.SIGKILL)
    child.wait()


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)


def _own_group() -> dict[str, Any]:
    """Popen's arguments that put the child in a process group of its own."""
    if sys.version_info >= (3, 11):
        return {"process_group": 0}
    return {"preexec_fn": os.setpgrp}  # pragma: no cover
