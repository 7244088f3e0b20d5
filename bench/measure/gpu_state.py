"""Read-only NVML state of one GPU: clocks, clock-event (throttle) reasons, temperature, power
limit, ECC, compute processes and the energy counter. Nothing here changes a setting.

NVML reports why clocks are below their maximum as a bitmask ("clocks event reasons", called
"throttle reasons" before NVML 12). Bit names come from the installed nvidia-ml-py
(``nvmlClocksEventReason*`` or ``nvmlClocksThrottleReason*``), with ``nvml.h``'s documented values
for any it lacks. Reasons are split in two:

- benign, ``BENIGN_REASONS``: idle (nothing to run: the GPU waits for data or the host),
  applications clocks or user-defined clocks (a ceiling someone set on purpose, the same for the
  whole run), display clock setting and sync boost (settings, not a reaction to load);
- throttling: every other bit, among them power cap, HW slowdown, HW thermal, HW power brake and SW
  thermal: the GPU slowed itself down because of power, temperature or its hardware, which varies
  with the load and the room and makes timings unrepeatable. A bit no name is known for counts as
  throttling too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable
from typing import Any

MIB = 2**20
REASON_PREFIXES = ("nvmlClocksEventReason", "nvmlClocksThrottleReason")
# nvml.h's values, for nvidia-ml-py releases that predate some names.
_DOCUMENTED_BITS = {
    "GpuIdle": 0x1,
    "ApplicationsClocksSetting": 0x2,
    "SwPowerCap": 0x4,
    "HwSlowdown": 0x8,
    "SyncBoost": 0x10,
    "SwThermalSlowdown": 0x20,
    "HwThermalSlowdown": 0x40,
    "HwPowerBrakeSlowdown": 0x80,
    "DisplayClockSetting": 0x100,
}
_LABELS = {
    "GpuIdle": "idle",
    "ApplicationsClocksSetting": "applications clocks setting",
    "UserDefinedClocks": "applications clocks setting",
    "SwPowerCap": "power cap",
    "HwSlowdown": "HW slowdown",
    "SyncBoost": "sync boost",
    "SwThermalSlowdown": "SW thermal",
    "HwThermalSlowdown": "HW thermal",
    "HwPowerBrakeSlowdown": "HW power brake",
    "DisplayClockSetting": "display clock setting",
}
BENIGN_REASONS = frozenset(
    {"idle", "applications clocks setting", "display clock setting", "sync boost"}
)
_NOT_AVAILABLE = 2**63  # NVML marks an unknown memory figure with the largest unsigned value


def reason_labels(nvml: Any) -> dict[int, str]:
    """Each clock-event bit → its label, from the names ``nvml`` defines (nvml.h's otherwise)."""
    bits = dict(_DOCUMENTED_BITS)
    for name in dir(nvml):
        prefix = next((p for p in REASON_PREFIXES if name.startswith(p)), "")
        suffix, value = name[len(prefix) :], getattr(nvml, name, None)
        if prefix and suffix not in ("All", "None") and isinstance(value, int) and _is_bit(value):
            bits[suffix] = value
    labels: dict[int, str] = {}
    for suffix, bit in sorted(bits.items()):
        labels.setdefault(bit, _LABELS.get(suffix) or _words(suffix))
    return labels


def decode_reasons(mask: int, labels: dict[int, str]) -> list[str]:
    """The labels of the bits set in ``mask``, lowest bit first (``reason 0x…`` for an unnamed
    bit)."""
    bits = [1 << i for i in range(mask.bit_length()) if mask >> i & 1]
    return [labels.get(bit, f"reason {bit:#x}") for bit in bits]


def throttling_reasons(reasons: Iterable[str]) -> list[str]:
    """The reasons that count as throttling (all but ``BENIGN_REASONS``)."""
    return [r for r in reasons if r not in BENIGN_REASONS]


def reasons_reader(nvml: Any) -> Callable[[Any], int] | None:
    """NVML's call for the current reasons bitmask: ``nvmlDeviceGetCurrentClocksEventReasons``,
    else the older ``…ThrottleReasons``; None when the module has neither."""
    for name in (
        "nvmlDeviceGetCurrentClocksEventReasons",
        "nvmlDeviceGetCurrentClocksThrottleReasons",
    ):
        reader = getattr(nvml, name, None)
        if callable(reader):
            return reader
    return None


def read_gpu_state(nvml: Any, handle: Any, own_pids: Collection[int]) -> dict[str, Any]:
    """What NVML says of the GPU now, JSON-ready; a reading the GPU refuses is None."""
    reader = reasons_reader(nvml)
    mask = attempt(lambda: int(reader(handle))) if reader is not None else None
    ecc = attempt(lambda: nvml.nvmlDeviceGetEccMode(handle))
    memory = attempt(lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
    enabled = getattr(nvml, "NVML_FEATURE_ENABLED", 1)
    return {
        "name": text(attempt(lambda: nvml.nvmlDeviceGetName(handle))),
        "sm_clock_mhz": read_number(nvml, "nvmlDeviceGetClockInfo", handle, "NVML_CLOCK_SM"),
        "sm_clock_max_mhz": read_number(nvml, "nvmlDeviceGetMaxClockInfo", handle, "NVML_CLOCK_SM"),
        "mem_clock_mhz": read_number(nvml, "nvmlDeviceGetClockInfo", handle, "NVML_CLOCK_MEM"),
        "mem_clock_max_mhz": read_number(
            nvml, "nvmlDeviceGetMaxClockInfo", handle, "NVML_CLOCK_MEM"
        ),
        "memory_total_mib": _mib(getattr(memory, "total", None)),
        "memory_used_mib": _mib(getattr(memory, "used", None)),
        "reasons": None if mask is None else decode_reasons(mask, reason_labels(nvml)),
        "temperature_c": read_number(
            nvml, "nvmlDeviceGetTemperature", handle, "NVML_TEMPERATURE_GPU"
        ),
        "slowdown_temperature_c": read_number(
            nvml, "nvmlDeviceGetTemperatureThreshold", handle, "NVML_TEMPERATURE_THRESHOLD_SLOWDOWN"
        ),
        "power_w": watts(read_number(nvml, "nvmlDeviceGetPowerUsage", handle)),
        "power_limit_w": watts(read_number(nvml, "nvmlDeviceGetEnforcedPowerLimit", handle)),
        "default_power_limit_w": watts(
            read_number(nvml, "nvmlDeviceGetPowerManagementDefaultLimit", handle)
        ),
        "energy_counter": read_number(nvml, "nvmlDeviceGetTotalEnergyConsumption", handle)
        is not None,
        "ecc": None if ecc is None else _on_off(ecc[0], enabled),
        "ecc_pending": None if ecc is None else _on_off(ecc[1], enabled),
        "other_processes": _other_processes(
            attempt(lambda: nvml.nvmlDeviceGetComputeRunningProcesses(handle)), own_pids
        ),
    }


def attempt(read: Callable[[], Any]) -> Any:
    """The call's result, or None where NVML refuses it (a reading the GPU lacks, a shutdown)."""
    try:
        return read()
    except Exception:  # NVMLError_NotSupported and friends: that field is unmeasurable
        return None


def _other_processes(processes: Any, own_pids: Collection[int]) -> list[dict[str, Any]] | None:
    """Compute processes other than ours: pid and GPU memory in MiB (None where NVML hides it)."""
    if processes is None:
        return None
    others = []
    for process in processes:
        pid = getattr(process, "pid", None)
        if not isinstance(pid, int) or pid in own_pids:
            continue
        others.append({"pid": pid, "used_mib": _mib(getattr(process, "usedGpuMemory", None))})
    return others


def _on_off(mode: Any, enabled: int) -> str:
    return "on" if mode == enabled else "off"


def _mib(size: Any) -> float | None:
    """Bytes in MiB; None where NVML gives no figure."""
    return size / MIB if isinstance(size, int) and 0 <= size < _NOT_AVAILABLE else None


def read_number(nvml: Any, call: str, handle: Any, *constants: str) -> float | None:
    """NVML's ``call(handle, *constants)`` (names of the module's function and constants) as a
    finite float; None where NVML refuses it, the module lacks a name, or it is not a number."""
    return _number(
        attempt(lambda: getattr(nvml, call)(handle, *(getattr(nvml, c) for c in constants)))
    )


def field_number(nvml: Any, handle: Any, field: str) -> float | None:
    """NVML's field ``field`` (the name of a field constant: ``NVML_FI_DEV_POWER_INSTANT``) through
    ``nvmlDeviceGetFieldValues``, as a finite float: the union member its ``valueType`` names.
    None where the module lacks the field or the call, or NVML refuses the call or the field
    (each field has its own ``nvmlReturn``)."""

    def read() -> Any:
        (value,) = nvml.nvmlDeviceGetFieldValues(handle, [getattr(nvml, field)])
        if value.nvmlReturn != nvml.NVML_SUCCESS:
            return None
        member = VALUE_MEMBERS.get(value.valueType)
        return getattr(value.value, member) if member is not None else None

    return _number(attempt(read))


VALUE_MEMBERS = {
    0: "dVal",  # NVML_VALUE_TYPE_DOUBLE
    1: "uiVal",  # NVML_VALUE_TYPE_UNSIGNED_INT
    2: "ulVal",  # NVML_VALUE_TYPE_UNSIGNED_LONG
    3: "ullVal",  # NVML_VALUE_TYPE_UNSIGNED_LONG_LONG
    4: "sllVal",  # NVML_VALUE_TYPE_SIGNED_LONG_LONG
    5: "siVal",  # NVML_VALUE_TYPE_SIGNED_INT
    6: "usVal",  # NVML_VALUE_TYPE_UNSIGNED_SHORT
}
"""A field value's ``valueType`` (the numbers nvml.h gives the value types, those of the pynvml
constants named beside them) → the member of its ``c_nvmlValue_t`` union that holds the value."""


def _number(value: Any) -> float | None:
    """``value`` as a finite float; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def watts(milliwatts: float | None) -> float | None:
    """NVML's milliwatts in watts."""
    return None if milliwatts is None else milliwatts / 1000


def text(value: Any) -> str | None:
    """An NVML string: pynvml returns bytes in older releases, str in newer ones."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value if isinstance(value, str) else None


def _is_bit(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


def _words(suffix: str) -> str:
    """``FanLimitSlowdown`` → ``fan limit slowdown``."""
    return " ".join(re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", suffix)).lower()
