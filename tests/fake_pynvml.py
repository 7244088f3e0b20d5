"""A scripted stand-in for ``pynvml``: each call returns the next scripted reading.

It checks bench's arithmetic (aggregation, energy, device mapping), not a GPU: nothing it
returns is ever presented as a measurement. ``tests/test_nvml_contract.py`` holds it to the
installed nvidia-ml-py: every name it defines exists there with a compatible signature, and what
it returns has the kinds and units the real wrappers return for the same C answers (ints in mW,
mJ, MHz, °C and bytes; str names; structures with the same field names; pynvml's error classes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import pynvml

MIB = 2**20
NVMLError = pynvml.NVMLError


@dataclass
class Reading:
    """One reading of the GPU; ``power_mw`` is ``nvmlDeviceGetPowerUsage`` (a trailing one-second
    average on Ampere and newer GPUs but the A100), ``instant_mw`` the
    ``NVML_FI_DEV_POWER_INSTANT`` field; None makes NVML refuse that reading (Not Supported)."""

    gpu: int
    memory: int
    used_mib: float
    power_mw: int | None
    energy_mj: int | None
    temperature: int = 50
    sm_clock: int = 1500
    mem_clock: int = 2600
    reasons: int = 0  # clock-event reasons bitmask
    instant_mw: int | None = None


@dataclass
class Board:
    """What a GPU says of itself beyond its readings: names, limits, modes, processes.

    ``None`` for ``ecc`` or ``processes`` makes NVML refuse that query (Not Supported); a
    process's memory is None where NVML cannot tell it (pynvml turns NVML's "not available"
    into None)."""

    name: str = "NVIDIA H100 80GB HBM3"
    driver: str = "570.86.15"
    cuda_driver: int = 12080
    memory_total_mib: int = 81_559
    sm_clock_max: int = 1980
    mem_clock_max: int = 2619
    slowdown_temperature: int = 90
    power_limit_mw: int = 700_000
    default_power_limit_mw: int = 700_000
    ecc: tuple[int, int] | None = (1, 1)
    processes: list[tuple[int, int | None]] | None = field(default_factory=list)  # (pid, bytes)


def _supported(value: int | None) -> int:
    """A reading NVML gives, as the int pynvml returns; Not Supported where there is none."""
    if value is None:
        raise pynvml.NVMLError_NotSupported()
    return int(value)


class FakeNvml:
    """A module-like object; ``readings`` are returned in order, the last one repeating.

    ``devices`` are the physical GPUs' UUIDs in NVML order, ``mig_devices`` MIG instances' UUIDs;
    a device's handle is its UUID, and ``sampled`` collects the handles readings were taken from.
    Clock-event reason names are left to nvml.h's documented values, as in old nvidia-ml-py
    releases; a subclass defines ``nvmlClocksEventReason*`` names to act as a newer one.
    """

    NVMLError = pynvml.NVMLError
    NVML_TEMPERATURE_GPU = 0
    NVML_TEMPERATURE_THRESHOLD_SLOWDOWN = 1
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVML_FEATURE_ENABLED = 1
    NVML_SUCCESS = 0
    NVML_VALUE_TYPE_UNSIGNED_INT = 1
    NVML_FI_DEV_POWER_INSTANT = 186

    def __init__(
        self,
        readings: Sequence[Reading],
        devices: Sequence[str] = ("GPU-0",),
        mig_devices: Sequence[str] = (),
        board: Board | None = None,
    ) -> None:
        self.readings = list(readings)
        self.devices = list(devices)
        self.mig_devices = list(mig_devices)
        self.board = board or Board()
        self.index = -1
        self.sampled: set[str] = set()
        self.init_calls = self.shutdown_calls = 0

    def _current(self) -> Reading:
        return self.readings[min(self.index, len(self.readings) - 1)]

    def nvmlInit(self) -> None:  # pynvml's camelCase names
        self.init_calls += 1

    def nvmlShutdown(self) -> None:
        self.shutdown_calls += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:
        return self.devices[index]

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> str:
        if uuid not in self.devices + self.mig_devices:  # exact UUIDs only, as NVML
            raise pynvml.NVMLError_NotFound()
        return uuid

    def nvmlDeviceGetUUID(self, handle: str) -> str:
        return handle

    def nvmlDeviceGetUtilizationRates(self, handle: str) -> SimpleNamespace:
        self.sampled.add(handle)
        self.index += 1  # the first call of a reading advances the script
        reading = self._current()
        return SimpleNamespace(gpu=int(reading.gpu), memory=int(reading.memory))

    def nvmlDeviceGetMemoryInfo(self, handle: str) -> SimpleNamespace:
        used = int(self._current().used_mib * MIB)
        total = self.board.memory_total_mib * MIB
        return SimpleNamespace(total=total, free=total - used, used=used)

    def nvmlDeviceGetPowerUsage(self, handle: str) -> int:
        return _supported(self._current().power_mw)

    def nvmlDeviceGetFieldValues(self, handle: str, fieldIds: list[int]) -> list[SimpleNamespace]:
        """Each field as pynvml's ``c_nvmlFieldValue_t``: the instantaneous power where the
        reading has one, else (and for any other field) Not Supported in ``nvmlReturn``."""
        instant = self._current().instant_mw
        return [
            SimpleNamespace(
                fieldId=field_id,
                valueType=self.NVML_VALUE_TYPE_UNSIGNED_INT,
                nvmlReturn=pynvml.NVML_ERROR_NOT_SUPPORTED if value is None else self.NVML_SUCCESS,
                value=SimpleNamespace(uiVal=0 if value is None else int(value)),
            )
            for field_id in fieldIds
            for value in [instant if field_id == self.NVML_FI_DEV_POWER_INSTANT else None]
        ]

    def nvmlDeviceGetTemperature(self, handle: str, sensor: int) -> int:
        return int(self._current().temperature)

    def nvmlDeviceGetClockInfo(self, handle: str, clock: int, /) -> int:
        reading = self._current()
        return int(reading.sm_clock if clock == self.NVML_CLOCK_SM else reading.mem_clock)

    def nvmlDeviceGetMaxClockInfo(self, handle: str, clock: int, /) -> int:
        board = self.board
        return board.sm_clock_max if clock == self.NVML_CLOCK_SM else board.mem_clock_max

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: str) -> int:
        return self._current().reasons

    def nvmlDeviceGetTemperatureThreshold(self, handle: str, threshold: int) -> int:
        return self.board.slowdown_temperature

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: str) -> int:
        return self.board.power_limit_mw

    def nvmlDeviceGetPowerManagementDefaultLimit(self, handle: str) -> int:
        return self.board.default_power_limit_mw

    def nvmlDeviceGetEccMode(self, handle: str) -> list[int]:
        if self.board.ecc is None:
            raise pynvml.NVMLError_NotSupported()
        return list(self.board.ecc)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: str) -> list[SimpleNamespace]:
        if self.board.processes is None:
            raise pynvml.NVMLError_NotSupported()
        return [SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in self.board.processes]

    def nvmlDeviceGetName(self, handle: str) -> str:
        return self.board.name

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.board.driver

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return self.board.cuda_driver

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: str) -> int:
        return _supported(self._current().energy_mj)


class ThrottleNamedNvml(FakeNvml):
    """An older nvidia-ml-py: only ``nvmlDeviceGetCurrentClocksThrottleReasons``."""

    nvmlDeviceGetCurrentClocksEventReasons = None

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: str) -> int:
        return self._current().reasons


class FailingNvml:
    """``nvmlInit`` fails as it does on a machine without a driver."""

    def nvmlInit(self) -> None:  # pynvml's camelCase names
        raise pynvml.NVMLError_LibraryNotFound()


@dataclass
class Timeline:
    """Scripted time and energy for a GPU: ``run(seconds, watts)`` moves the clock (``now``,
    seconds) on while the GPU draws ``watts``, adding to ``energy_j``."""

    now: float = 0.0
    energy_j: float = 0.0
    watts: float = 0.0

    def run(self, seconds: float, watts: float) -> None:
        self.now += seconds
        self.energy_j += seconds * watts
        self.watts = watts

    def clock(self) -> float:
        return self.now


class TimelineNvml(FakeNvml):
    """A GPU whose energy counter and instantaneous power follow ``timeline``; its
    ``nvmlDeviceGetPowerUsage`` stays at ``average_mw``, as a trailing one-second average that
    has not caught up. ``counter`` or ``instant`` False: that reading is Not Supported."""

    def __init__(
        self,
        timeline: Timeline,
        counter: bool = True,
        instant: bool = True,
        average_mw: int = 60_000,
    ) -> None:
        super().__init__([Reading(50, 10, 1000, average_mw, None)])
        self.timeline, self.counter, self.instant = timeline, counter, instant

    def _current(self) -> Reading:
        scripted, now = self.readings[0], self.timeline
        return Reading(
            scripted.gpu,
            scripted.memory,
            scripted.used_mib,
            scripted.power_mw,
            round(now.energy_j * 1000) if self.counter else None,
            instant_mw=round(now.watts * 1000) if self.instant else None,
        )
