"""Errors with a one-line message: the CLI prints it and exits with the error's ``exit_code``
(2 for a user's mistake)."""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterable, Iterator


class BenchError(Exception):
    """A mistake in input (flag, suite file, data location) with a one-line message."""

    exit_code = 2


class UnknownNameError(BenchError):
    """A name that is not in a registry; the message suggests the closest names."""

    def __init__(self, kind: str, name: str, known: Iterable[str], where: str = "") -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(known)}"
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}unknown {kind} {name!r}{hint}")
        self.name = name


class SuiteError(BenchError):
    """A suite file that cannot be parsed or does not validate."""


class DataError(BenchError):
    """A data set that is missing or cannot be read."""


class UnreadableData(DataError):
    """A data file or folder the OS will not let bench read (permissions, say), with the OS's
    ``reason``: fetching it again would not help, so it is neither missing nor corrupt."""

    def __init__(self, path: object, err: OSError, verb: str = "be read") -> None:
        self.reason = os_reason(err)
        super().__init__(os_error_line(path, verb, err))


class WriteError(BenchError):
    """A file that cannot be written (read-only folder, disk full): no mistake of the user's,
    so it exits 74 (``EX_IOERR`` of sysexits.h)."""

    exit_code = 74


class OutOfMemory(BenchError):
    """A command's one measurement did not fit in memory (sizes within their bounds, too large
    for this machine): exit 1, as a run whose job runs out of memory."""

    exit_code = 1


def first_line(err: BaseException) -> str:
    """The first line of ``err``'s message, or its type's name where it has none."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def os_reason(err: OSError) -> str:
    """Why the OS refused: its reason, or the error's first line where it gives none."""
    return err.strerror or first_line(err)


def os_error_line(path: object, verb: str, err: OSError) -> str:
    """``PATH: cannot VERB: REASON``, the one line for an ``OSError`` met on ``path``
    (``os_reason``)."""
    return f"{path}: cannot {verb}: {os_reason(err)}"


@contextlib.contextmanager
def os_errors(path: object, verb: str, error: type[BenchError] = BenchError) -> Iterator[None]:
    """Within: an ``OSError`` becomes ``error`` with its ``os_error_line``."""
    try:
        yield
    except OSError as err:
        raise error(os_error_line(path, verb, err)) from None
