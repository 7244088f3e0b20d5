"""File permissions that hold in tests run as root too, as they do for any other user.

Root passes every permission check through two capabilities, CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH; ``enforced`` takes them out of the calling thread's effective set (they stay
permitted, so they come back after), so a folder made read-only or unreadable with ``chmod``
refuses root's reads and writes as it refuses a user's: the kernel says no, nothing is faked.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import stat
from collections.abc import Iterator
from pathlib import Path

_OVERRIDES = (1 << 1) | (1 << 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
_VERSION_3 = 0x20080522  # _LINUX_CAPABILITY_VERSION_3


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _effective(change: int | None) -> int:
    """The thread's effective capabilities (low word), first set to ``change`` where given."""
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _Header(_VERSION_3, 0), (_Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget failed")
    before = int(data[0].effective)
    if change is not None:
        data[0].effective = change
        if libc.capset(ctypes.byref(header), data) != 0:
            raise OSError(ctypes.get_errno(), "capset failed")
    return before


@contextlib.contextmanager
def enforced(*changes: tuple[Path, int]) -> Iterator[None]:
    """Within: each (path, mode) of ``changes`` applied with ``chmod`` and permission bits
    checked for this thread even as root; after: the modes and capabilities as they were."""
    saved = [(path, stat.S_IMODE(path.stat().st_mode)) for path, _ in changes]
    for path, mode in changes:
        path.chmod(mode)
    root = os.geteuid() == 0
    before = _effective(None) if root else 0
    try:
        if root:
            _effective(before & ~_OVERRIDES)
        yield
    finally:
        if root:
            _effective(before)
        for path, mode in reversed(saved):
            path.chmod(mode)
