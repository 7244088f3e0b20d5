"""What a run was measured on: versions, hardware, commit, and a stable machine id."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
import torchvision


def capture_environment(repo: Path | None = None) -> dict[str, Any]:
    """Versions, hardware and source revision of this process."""
    cuda = torch.cuda.is_available()
    commit, dirty = git_revision(repo or Path.cwd())
    driver, nvml = nvml_status()
    env: dict[str, Any] = {
        **_machine_facts(),
        "platform": platform.platform(),
        **software_versions(),
        "gpu_count": torch.cuda.device_count() if cuda else 0,
        "driver": driver,
        "nvml": nvml,
        "torch_threads": torch.get_num_threads(),
        "ram_gib": ram_gib(),
        "commit": commit,
        "dirty": dirty,
        "argv0": sys.argv[0],
    }
    env["machine_id"] = machine_id(env)
    return env


def software_versions() -> dict[str, Any]:
    """Python, torch and torchvision versions, and CUDA and cuDNN where torch can use a GPU."""
    cuda = torch.cuda.is_available()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
    }


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``; None where it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def current_machine_id() -> str:
    """The machine id of this machine, as :func:`capture_environment` records it."""
    return machine_id(_machine_facts())


def _machine_facts() -> dict[str, Any]:
    """What the machine id is derived from: the hostname, the CPU and the first GPU."""
    return {
        "hostname": socket.gethostname(),
        "gpu_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
    }


def machine_id(env: dict[str, Any]) -> str:
    """A stable id for results that may be compared: ``BENCH_MACHINE_ID`` or one derived from
    the hostname and hardware (``<gpu-or-cpu slug>-<8 hex>``)."""
    if os.environ.get("BENCH_MACHINE_ID"):
        return _slug(os.environ["BENCH_MACHINE_ID"])
    key = f"{env['hostname']}|{env['cpu_model']}|{env['cpu_count']}|{env['gpu_name']}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]
    kind = _slug(env["gpu_name"] or "cpu").removeprefix("nvidia-")[:24].strip("-")
    return f"{kind}-{digest}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "machine"


def git_revision(repo: Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git work tree holding ``repo``; (None, None) outside one, or
    where git fails or hangs (10 s)."""
    try:
        commit = _git(repo, "rev-parse", "HEAD")
        dirty = bool(_git(repo, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, dirty


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=10
    )
    return out.stdout.strip()


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (from ``cpuinfo`` on Linux, else what the platform says)."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            name, colon, value = line.partition(":")
            if name.strip() == "model name" and colon and value.strip():
                return value.strip()
    except (OSError, ValueError):
        pass
    return platform.processor() or platform.machine()


def ram_gib() -> float | None:
    """Total physical memory in GiB."""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages / 2**30, 1)


def nvml_status() -> tuple[str | None, str]:
    """(driver version, "available" or why NVML cannot be used), one line each."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            driver = driver_version(pynvml)
        finally:
            pynvml.nvmlShutdown()
    except Exception as err:  # no library, no driver, no GPU: all mean "not measurable here"
        return None, nvml_unavailable(err)
    return driver, "available"


def driver_version(nvml: Any) -> str:
    """The NVIDIA driver's version from an initialised NVML."""
    version = nvml.nvmlSystemGetDriverVersion()
    return version.decode() if isinstance(version, bytes) else str(version)


def nvml_unavailable(err: BaseException) -> str:
    """Why NVML cannot be used, in one line."""
    return f"unavailable: {err}".splitlines()[0]
