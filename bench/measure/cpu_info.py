"""The CPUs this process may use: affinity, cgroup quota, frequency governors and load average.

Everything is read from files under ``root`` (``/`` on a real machine; a test passes a folder laid
out like one). The files are untrusted: a missing, unreadable or odd one gives None, never an
error, and nothing read is ever run.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Collection
from pathlib import Path
from typing import Any

_V1_CPU_MOUNTS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def read_cpu(root: Path, affinity: Collection[int] | None) -> dict[str, Any]:
    """CPU facts, JSON-ready: ``affinity_cpus`` (CPUs the scheduler lets this process use),
    ``quota_cpus`` (the cgroup's CPU quota in CPUs), ``usable_cpus`` (the smaller of the two),
    ``governors`` (scaling governor → number of those CPUs) and ``load_average`` (1, 5, 15 min)."""
    cpus = sorted(affinity) if affinity is not None else None
    quota = cgroup_quota_cpus(root)
    limits = [x for x in (len(cpus) if cpus else None, quota) if x is not None]
    return {
        "affinity_cpus": len(cpus) if cpus else None,
        "quota_cpus": quota,
        "usable_cpus": min(limits) if limits else None,
        "governors": governors(root, cpus or []),
        "load_average": load_average(root),
    }


def process_affinity() -> set[int] | None:
    """The CPUs the scheduler lets this process run on; None where the OS does not say."""
    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):  # not Linux
        return None


def cgroup_quota_cpus(root: Path) -> float | None:
    """The tightest CPU quota (quota / period, in CPUs) over this process's cgroup and its
    ancestors, cgroup v2 (``cpu.max``) or v1 (``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``);
    None without a quota."""
    quotas = [q for folder in _cgroup_folders(root) if (q := _quota(folder)) is not None]
    return min(quotas) if quotas else None


def governors(root: Path, cpus: Collection[int]) -> dict[str, int] | None:
    """Scaling governor → how many of ``cpus`` use it; None where none is readable."""
    found = Counter(
        governor
        for cpu in cpus
        if (governor := _word(root / f"sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor"))
    )
    return dict(sorted(found.items())) if found else None


def load_average(root: Path) -> list[float] | None:
    """The 1, 5 and 15 minute load averages from ``proc/loadavg``."""
    fields = (_read(root / "proc/loadavg") or "").split()[:3]
    values = [_finite(f) for f in fields]
    if len(values) != 3 or any(v is None or v < 0 for v in values):
        return None
    return [v for v in values if v is not None]


def _cgroup_folders(root: Path) -> list[Path]:
    """Folders that may hold this process's CPU quota: its own cgroup's and each ancestor's,
    for v2 and for a v1 ``cpu`` hierarchy."""
    base = root / "sys/fs/cgroup"
    folders = []
    for line in (_read(root / "proc/self/cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            mounts = [base]
        elif "cpu" in controllers.split(","):
            mounts = [base / m for m in _V1_CPU_MOUNTS]
        else:
            continue
        names = [n for n in path.split("/") if n not in ("", ".", "..")]
        folders += [m.joinpath(*names[:depth]) for m in mounts for depth in range(len(names) + 1)]
    return folders or [base, *(base / m for m in _V1_CPU_MOUNTS)]


def _quota(folder: Path) -> float | None:
    v2 = (_read(folder / "cpu.max") or "").split()
    if len(v2) == 2:
        quota, period = (_finite(v2[0]) if v2[0] != "max" else None), _finite(v2[1])
    else:
        quota = _finite(_read(folder / "cpu.cfs_quota_us") or "")
        period = _finite(_read(folder / "cpu.cfs_period_us") or "")
    if quota is None or period is None or quota <= 0 or period <= 0:
        return None  # "max" or -1: no quota
    return quota / period


def _word(path: Path) -> str | None:
    """The file's one short printable word, else None."""
    text = (_read(path) or "").strip()
    return text if 0 < len(text) <= 32 and text.isprintable() and " " not in text else None


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _read(path: Path, limit: int = 65536) -> str | None:
    """At most ``limit`` characters of a text file; None where it cannot be read."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return handle.read(limit)
    except (OSError, ValueError):
        return None
