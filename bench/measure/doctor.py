"""Is this machine fit to benchmark, and what will be measured: ``bench doctor``'s snapshot.

``take_snapshot`` reads the GPU (through torch and, read-only, NVML), the software versions, the
CPUs and the data directory into one JSON-ready dict with the sections ``gpu``, ``software``,
``nvml``, ``cpu`` and ``data``; ``warnings`` turns a snapshot into one-line warnings. Nothing
here changes a setting (clocks, power limits, persistence or compute mode), downloads data or
loads it into memory. Every source can be replaced, so that tests run on a scripted NVML and a
folder laid out like ``/``.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.data.datasets import DATASETS
from bench.data.imagenette import check_imagenette
from bench.data.torchvision_sets import SOURCES, check_files
from bench.measure.cpu_info import process_affinity, read_cpu
from bench.measure.device_peaks import COPY_BYTES, MATMUL_SIZE, REPEATS, cpu_peaks
from bench.measure.environment import (
    cpu_model,
    driver_version,
    nvml_unavailable,
    package_version,
    software_versions,
)
from bench.measure.gpu_state import BENIGN_REASONS, attempt, read_gpu_state, throttling_reasons
from bench.measure.peak_throughput import gpu_model, gpu_peaks
from bench.measure.telemetry import device_handle

SNAPSHOT_VERSION = 1
NEAR_SLOWDOWN_C = 5.0  # a GPU this close to its slowdown temperature is about to throttle
BAD_DATA = ("incomplete", "unreadable", "corrupt")


@dataclass(frozen=True)
class TorchGpu:
    """The GPU torch runs ``cuda:0`` on, as torch names it."""

    name: str
    uuid: str | None
    count: int


def torch_gpu() -> TorchGpu | None:
    """torch's ``cuda:0``; None where torch cannot use a GPU."""
    try:
        if not torch.cuda.is_available():
            return None
        uuid = str(torch.cuda.get_device_properties(0).uuid)
        return TorchGpu(torch.cuda.get_device_name(0), uuid, torch.cuda.device_count())
    except RuntimeError:  # a driver torch's CUDA cannot work with: torch cannot use the GPU
        return None


def take_snapshot(
    data_dir: Path,
    *,
    nvml: Any = None,
    gpu: Callable[[], TorchGpu | None] = torch_gpu,
    root: Path = Path("/"),
    affinity: Callable[[], Collection[int] | None] = process_affinity,
    env: Mapping[str, str] | None = None,
    measure_cpu: bool = False,
) -> dict[str, Any]:
    """What this machine is and how it stands now, with the warnings it deserves.

    ``nvml`` replaces ``pynvml``, ``gpu`` torch's view of the GPU, ``root`` the folder ``/proc``
    and ``/sys`` are read under, ``affinity`` the CPUs the scheduler allows, ``env`` the
    environment (for ``CUDA_VISIBLE_DEVICES``). With ``measure_cpu``, the CPU's float32 peaks
    are measured (``cpu.measured_peaks``; about a second), else that field is None."""
    seen = gpu()
    nvml_section = read_nvml(nvml, seen, os.environ if env is None else env, own_pids(root))
    name = seen.name if seen else nvml_section.get("name")
    peaks = gpu_peaks(name)
    snapshot: dict[str, Any] = {
        "version": SNAPSHOT_VERSION,
        "gpu": {
            "name": name,
            "count": seen.count if seen else nvml_section.get("device_count"),
            "torch_uses_it": seen is not None,
            "peak_row": gpu_model(name),
            "peaks": None if peaks is None else _peak_figures(peaks._asdict()),
        },
        "software": {
            **software_versions(),
            "driver": nvml_section.pop("driver", None),
            "cuda_driver": nvml_section.pop("cuda_driver", None),
            "fvcore": package_version("fvcore"),
        },
        "nvml": nvml_section,
        "cpu": {
            "model": cpu_model(root / "proc/cpuinfo"),
            "logical_cpus": os.cpu_count(),
            **read_cpu(root, affinity()),
            "torch_threads": torch.get_num_threads(),
            "measured_peaks": _measured_peaks() if measure_cpu else None,
        },
        "data": data_section(data_dir),
    }
    snapshot["warnings"] = warnings(snapshot)
    return snapshot


def read_nvml(
    nvml: Any, seen: TorchGpu | None, env: Mapping[str, str], pids: Collection[int]
) -> dict[str, Any]:
    """NVML's view of torch's ``cuda:0`` (or, where torch sees no GPU, of the first device
    ``CUDA_VISIBLE_DEVICES`` shows): ``status`` is ``available`` or why not."""
    try:
        nvml = nvml if nvml is not None else importlib.import_module("pynvml")
        nvml.nvmlInit()
    except Exception as err:  # no library, no driver, no GPU: not readable here
        return {"status": nvml_unavailable(err)}
    try:
        section: dict[str, Any] = {
            "status": "available",
            "driver": attempt(lambda: driver_version(nvml)),
            "cuda_driver": _cuda_version(attempt(lambda: nvml.nvmlSystemGetCudaDriverVersion())),
            "device_count": attempt(lambda: nvml.nvmlDeviceGetCount()),
        }
        if section["device_count"]:
            uuid = seen.uuid if seen else None
            handle = attempt(lambda: device_handle(nvml, 0, uuid, env))
            if handle is not None:
                section.update(read_gpu_state(nvml, handle, pids))
        return section
    finally:
        attempt(nvml.nvmlShutdown)


def own_pids(root: Path) -> set[int]:
    """This process's ids: ``os.getpid()`` and, from ``proc/self/status``, its id in every PID
    namespace it is in (NVML may report any of them)."""
    pids = {os.getpid()}
    try:
        status = (root / "proc/self/status").read_text(errors="replace")
    except (OSError, ValueError):
        return pids
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key == "NSpid":
            pids |= {int(v) for v in value.split() if v.isdigit()}
    return pids


def data_section(data_dir: Path) -> dict[str, Any]:
    """Each data set's files under ``data_dir``: verified, present, missing or what is wrong."""
    datasets = {}
    for name in DATASETS:
        if name in SOURCES:
            check = check_files(name, data_dir)
        elif name == "imagenette":
            check = check_imagenette(data_dir)
        else:
            datasets[name] = {"status": "built-in", "detail": "needs no files"}
            continue
        datasets[name] = {"status": check.status, "detail": check.detail}
    return {
        "dir": str(data_dir),
        "is_dir": _is_dir(data_dir),
        "datasets": datasets,
        "download": f"bench run --download --data-dir {data_dir}",
    }


def warnings(snapshot: Mapping[str, Any]) -> list[str]:
    """One line per thing a careful benchmarker wants to know before trusting a measurement."""
    return [
        *_gpu_warnings(snapshot["gpu"], snapshot["nvml"]),
        *_cpu_warnings(snapshot["cpu"]),
        *_data_warnings(snapshot["data"]),
        *_software_warnings(snapshot["software"]),
    ]


def _gpu_warnings(gpu: Mapping[str, Any], nvml: Mapping[str, Any]) -> list[str]:
    if gpu["name"] is None:
        return ["no CUDA GPU: jobs with device auto train on the CPU"]
    found: list[str] = []
    if not gpu["torch_uses_it"]:
        found.append(
            f"torch cannot use the {gpu['name']} NVML sees (a CPU-only torch build?): "
            "jobs train on the CPU"
        )
    if nvml["status"] != "available":
        found.append(
            f"no NVML ({nvml['status']}): GPU utilisation, power, energy and throttling will be n/a"
        )
        return found
    if gpu["peaks"] is None:
        found.append(f"no datasheet peaks for {gpu['name']}: MFU will be n/a")
    reasons = nvml.get("reasons") or []
    throttled = throttling_reasons(reasons)
    if throttled:
        found.append(f"GPU throttled: {', '.join(throttled)}")
    held = [r for r in reasons if r in BENIGN_REASONS and r != "idle"]
    if held:
        found.append(f"GPU clocks held by a setting: {', '.join(held)}")
    for process in nvml.get("other_processes") or []:
        found.append(f"another process is using the GPU ({process_text(process)})")
    if nvml.get("energy_counter") is False:
        found.append(
            "no energy counter: energy integrated from power samples"
            if nvml.get("power_w") is not None
            else "no energy counter and no power reading: energy will be n/a"
        )
    found += _limit_warnings(nvml)
    return found


def _limit_warnings(nvml: Mapping[str, Any]) -> list[str]:
    found = []
    limit, default = nvml.get("power_limit_w"), nvml.get("default_power_limit_w")
    if limit is not None and default is not None and limit < default:
        found.append(f"power limit {limit:.0f} W is below the default {default:.0f} W")
    temperature, slowdown = nvml.get("temperature_c"), nvml.get("slowdown_temperature_c")
    if (
        temperature is not None
        and slowdown is not None
        and temperature >= slowdown - NEAR_SLOWDOWN_C
    ):
        found.append(f"GPU at {temperature:.0f} °C, its slowdown temperature is {slowdown:.0f} °C")
    if nvml.get("ecc") is not None and nvml.get("ecc_pending") != nvml.get("ecc"):
        found.append(f"ECC turns {nvml['ecc_pending']} at the next reboot: memory speed changes")
    return found


def _cpu_warnings(cpu: Mapping[str, Any]) -> list[str]:
    found = []
    usable = cpu["usable_cpus"]
    for governor, count in (cpu["governors"] or {}).items():
        if governor != "performance":
            total = sum(cpu["governors"].values())
            found.append(f"CPU governor {governor} on {count} of {total} CPUs")
    load = cpu["load_average"]
    if load is not None and usable is not None and load[0] > 1 + usable / 2:
        found.append(f"load average {load[0]:.1f} on {_cpus(usable)}")
    threads = cpu["torch_threads"]
    if usable is not None and threads > math.ceil(usable):
        found.append(f"torch uses {threads} threads on {_cpus(usable)}")
    return found


def _data_warnings(data: Mapping[str, Any]) -> list[str]:
    return [
        f"{name} data {check['status']}: {check['detail']}"
        for name, check in data["datasets"].items()
        if check["status"] in BAD_DATA
    ]


def _software_warnings(software: Mapping[str, Any]) -> list[str]:
    if software["fvcore"] is None:
        return ["fvcore is not installed: MACs cannot be counted"]
    return []


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a folder above it that may not be entered
        return False


def process_text(process: Mapping[str, Any]) -> str:
    """``pid 1234, 2.1 GiB`` for an entry of ``other_processes``."""
    used = process["used_mib"]
    return f"pid {process['pid']}, " + (
        f"{used / 1024:.1f} GiB" if used is not None else "memory n/a"
    )


def _cpus(count: float) -> str:
    return f"{count:g} usable CPU{'s' if count != 1 else ''}"


def _measured_peaks() -> dict[str, Any]:
    """The CPU's float32 peaks, measured (``bench.measure.device_peaks``)."""
    peaks = cpu_peaks("fp32")
    return {
        "fp32_gflops": peaks.flops_per_s / 1e9,
        "memory_gb_s": peaks.bytes_per_s / 1e9,
        "method": f"best of {REPEATS}: {MATMUL_SIZE}x{MATMUL_SIZE} float32 matrix product; "
        f"copy of {COPY_BYTES // 2**20} MiB (read + written)",
    }


def _peak_figures(peaks: Mapping[str, float | None]) -> dict[str, float | None]:
    return {(k if k == "memory_gb_s" else f"{k}_tflops"): v for k, v in peaks.items()}


def _cuda_version(number: Any) -> str | None:
    """NVML's CUDA version number (12080) as CUDA writes it (12.8)."""
    if not isinstance(number, int) or number <= 0:
        return None
    return f"{number // 1000}.{number % 1000 // 10}"
