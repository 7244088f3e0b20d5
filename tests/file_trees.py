"""What must survive a refused or read-only command: every file, folder and link under some
paths, by content."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def tree_state(*paths: Path) -> dict[str, str]:
    """Each path under ``paths`` (themselves included; links not followed) → the SHA-256 of a
    file's bytes, ``dir`` for a folder, ``-> target`` for a link, ``absent`` where none is."""
    state: dict[str, str] = {}
    for top in paths:
        state[str(top)] = _entry(top)
        for folder, dirs, files in os.walk(top):
            for name in [*dirs, *files]:
                path = Path(folder) / name
                state[str(path)] = _entry(path)
    return state


def _entry(path: Path) -> str:
    if path.is_symlink():
        return f"-> {os.readlink(path)}"
    if path.is_dir():
        return "dir"
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return "absent"
