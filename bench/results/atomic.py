"""Files replaced atomically: readers see the old file or the new one, never half of it."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from bench.errors import WriteError, os_error_line


def write_atomic(path: Path, data: str | bytes | Iterable[memoryview]) -> None:
    """Replace ``path`` with ``data``, text (UTF-8), bytes or buffers written one after the
    other, so that a large file is not first joined in memory (a temporary file beside it, made
    new, never opened through a link left in its place, fsynced, then renamed; the temporary
    file is removed where that fails). A file that cannot be written (read-only folder, disk
    full) is a ``WriteError`` naming ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    chunks: Iterable[bytes | memoryview] = (
        [data.encode("utf-8")]
        if isinstance(data, str)
        else [data]
        if isinstance(data, bytes)
        else data
    )
    try:
        tmp.unlink(missing_ok=True)
        with tmp.open("xb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise WriteError(os_error_line(path, "write", err)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
