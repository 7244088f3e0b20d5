"""``bench doctor``: is this machine fit to benchmark, and what will be measured (docs/doctor.md).

Reads only: it never changes a clock, power limit, persistence or compute mode, never downloads
and exits 0 whatever it finds (2 for wrong arguments).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.data import DEFAULT_DATA_DIR

FORMATS = ("table", "json")
NA = "n/a"


def add_parser(subparsers: Any) -> None:
    """Register ``doctor``."""
    parser = subparsers.add_parser(
        "doctor",
        help="is this machine fit to benchmark: GPU, NVML, CPU, data sets, warnings",
        description="Show the GPU and its datasheet peaks, software versions, what NVML can "
        "measure, clocks and throttling, CPUs and their measured peaks (a short matrix-product "
        "and copy benchmark, for the roofline), the data sets present, and warnings; changes "
        "no setting.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="where data sets live, as for bench run (default: $BENCH_DATA_DIR or ./data)",
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    parser.set_defaults(handler=doctor_command)


def doctor_command(args: argparse.Namespace) -> int:
    """Handler of ``bench doctor``."""
    from bench.measure.doctor import take_snapshot
    from bench.text_table import align_columns

    snapshot = take_snapshot(args.data_dir, measure_cpu=True)
    if args.format == "json":
        print(json.dumps(snapshot, indent=2))
    else:
        print("\n".join(align_columns([["Section", "Item", "Value"], *table_rows(snapshot)])))
    return 0


def table_rows(snapshot: Mapping[str, Any]) -> list[list[str]]:
    """The snapshot as (section, item, value) rows; the section named on its first row only."""
    sections = {
        "GPU": _gpu(snapshot["gpu"]),
        "Software": _software(snapshot["software"]),
        "NVML": _nvml(snapshot["nvml"]),
        "CPU": _cpu(snapshot["cpu"]),
        "Data": _data(snapshot["data"]),
        "Warnings": [("", w) for w in snapshot["warnings"]] or [("", "none")],
    }
    return [
        [section if i == 0 else "", item, value]
        for section, rows in sections.items()
        for i, (item, value) in enumerate(rows)
    ]


def _gpu(gpu: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    if gpu["name"] is None:
        yield "device", "none"
        return
    user = "used by torch" if gpu["torch_uses_it"] else "not usable by torch"
    yield "device", f"{gpu['name']} ({gpu['count']} visible, cuda:0 {user})"
    peaks = gpu["peaks"]
    if peaks is None:
        yield "datasheet peaks", f"{NA} (no row for this name)"
        return
    dense = ", ".join(f"{k} {_num(peaks[f'{k}_tflops'])}" for k in ("fp32", "tf32", "bf16"))
    yield "datasheet peaks", f"{gpu['peak_row']}: {dense} TFLOP/s dense"
    yield "memory bandwidth", f"{_num(peaks['memory_gb_s'])} GB/s"


def _software(software: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    yield "driver", _text(software["driver"])
    yield "CUDA", f"{_text(software['cuda'])} (torch), {_text(software['cuda_driver'])} (driver)"
    yield "cuDNN", _text(software["cudnn"])
    for name in ("torch", "torchvision", "python"):
        yield name, _text(software[name])
    yield "fvcore", _text(software["fvcore"] or "not installed")


def _nvml(nvml: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    yield "status", nvml["status"]
    if "energy_counter" not in nvml:
        return
    if nvml["energy_counter"]:
        yield "energy", "total-energy counter"
    else:
        yield "energy", "integrated from power samples" if nvml["power_w"] is not None else NA
    for clock in ("sm", "mem"):
        now, most = nvml[f"{clock}_clock_mhz"], nvml[f"{clock}_clock_max_mhz"]
        yield f"{clock.upper()} clock", f"{_num(now)} of {_num(most)} MHz"
    used, total = nvml["memory_used_mib"], nvml["memory_total_mib"]
    yield "memory", f"{_num(used)} of {_num(total)} MiB in use"
    reasons = nvml["reasons"]
    yield "clock event reasons", NA if reasons is None else ", ".join(reasons) or "none"
    now, slowdown = _num(nvml["temperature_c"]), _num(nvml["slowdown_temperature_c"])
    yield "temperature", f"{now} °C, slowdown at {slowdown} °C"
    draw, limit = _num(nvml["power_w"]), _num(nvml["power_limit_w"])
    yield "power", f"{draw} W, limit {limit} W (default {_num(nvml['default_power_limit_w'])} W)"
    ecc, pending = nvml["ecc"], nvml["ecc_pending"]
    yield "ECC", _text(ecc) + (f", {pending} after reboot" if pending != ecc else "")
    others = nvml["other_processes"]
    yield "other processes", NA if others is None else _processes(others)


def _cpu(cpu: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    yield "model", cpu["model"]
    quota = cpu["quota_cpus"]
    limit = f"cgroup quota {quota:g}" if quota is not None else "no cgroup quota"
    affinity, logical = _num(cpu["affinity_cpus"]), _num(cpu["logical_cpus"])
    yield "usable CPUs", f"{_num(cpu['usable_cpus'])}: affinity {affinity} of {logical}, {limit}"
    governors = cpu["governors"]
    yield "governor", NA if governors is None else _counts(governors)
    load = cpu["load_average"]
    averages = NA if load is None else " / ".join(f"{v:.2f}" for v in load)
    yield "load average", f"{averages} (1, 5, 15 min)"
    yield "torch threads", str(cpu["torch_threads"])
    peaks = cpu.get("measured_peaks")
    if peaks is not None:
        figures = f"{_num(round(peaks['fp32_gflops'], 1))} GFLOP/s float32, "
        figures += f"{_num(round(peaks['memory_gb_s'], 1))} GB/s"
        yield "measured peaks", f"{figures} (measured: {peaks['method']})"


def _data(data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    yield "directory", data["dir"] + ("" if data["is_dir"] else " (no such directory)")
    checks = data["datasets"]
    for name, check in checks.items():
        yield name, f"{check['status']}: {check['detail']}"
    if any(check["status"] == "missing" for check in checks.values()):
        yield "to fetch missing", data["download"]


def _processes(others: Sequence[Mapping[str, Any]]) -> str:
    from bench.measure.doctor import process_text

    return "; ".join(process_text(p) for p in others) or "none"


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} ({n} CPU{'s' if n != 1 else ''})" for name, n in counts.items())


def _num(value: float | None) -> str:
    return NA if value is None else f"{value:g}"


def _text(value: Any) -> str:
    return NA if value is None else str(value)
