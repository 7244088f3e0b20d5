"""A scripted stand-in for ``pynvml``: each call returns the next scripted reading.

It checks bench's arithmetic (aggregation, energy, device mapping), not a GPU: nothing it
returns is ever presented as a measurement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

MIB = 2**20
NOT_AVAILABLE = 2**64 - 1  # NVML's "value not available" for a process's memory


class NVMLError(Exception):
    pass


@dataclass
class Reading:
    gpu: float
    memory: float
    used_mib: float
    power_mw: float | None
    energy_mj: float | None
    temperature: float = 50.0
    sm_clock: float = 1500.0
    mem_clock: float = 2600.0
    reasons: int = 0  # clock-event reasons bitmask


@dataclass
class Board:
    """What a GPU says of itself beyond its readings: names, limits, modes, processes.

    ``None`` for ``ecc`` or ``processes`` makes NVML refuse that query (Not Supported)."""

    name: str = "NVIDIA H100 80GB HBM3"
    driver: str = "570.86.15"
    cuda_driver: int = 12080
    memory_total_mib: int = 81_559
    sm_clock_max: float = 1980.0
    mem_clock_max: float = 2619.0
    slowdown_temperature: float = 90.0
    power_limit_mw: float = 700_000.0
    default_power_limit_mw: float = 700_000.0
    ecc: tuple[int, int] | None = (1, 1)
    processes: list[tuple[int, int]] | None = field(default_factory=list)  # (pid, bytes)


class FakeNvml:
    """A module-like object; ``readings`` are returned in order, the last one repeating.

    ``devices`` are the physical GPUs' UUIDs in NVML order, ``mig_devices`` MIG instances' UUIDs;
    a device's handle is its UUID, and ``sampled`` collects the handles readings were taken from.
    Clock-event reason names are left to nvml.h's documented values, as in old nvidia-ml-py
    releases; a subclass defines ``nvmlClocksEventReason*`` names to act as a newer one.
    """

    NVMLError = NVMLError
    NVML_TEMPERATURE_GPU = 0
    NVML_TEMPERATURE_THRESHOLD_SLOWDOWN = 1
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVML_FEATURE_ENABLED = 1

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
            raise NVMLError("Not Found")
        return uuid

    def nvmlDeviceGetUUID(self, handle: str) -> bytes:
        return handle.encode()  # older pynvml releases return bytes

    def nvmlDeviceGetUtilizationRates(self, handle: str) -> SimpleNamespace:
        self.sampled.add(handle)
        self.index += 1  # the first call of a reading advances the script
        reading = self._current()
        return SimpleNamespace(gpu=reading.gpu, memory=reading.memory)

    def nvmlDeviceGetMemoryInfo(self, handle: str) -> SimpleNamespace:
        used = int(self._current().used_mib * 2**20)
        return SimpleNamespace(used=used, total=self.board.memory_total_mib * 2**20)

    def nvmlDeviceGetPowerUsage(self, handle: str) -> float:
        power = self._current().power_mw
        if power is None:
            raise NVMLError("Not Supported")
        return power

    def nvmlDeviceGetTemperature(self, handle: str, sensor: int) -> float:
        return self._current().temperature

    def nvmlDeviceGetClockInfo(self, handle: str, clock: int) -> float:
        reading = self._current()
        return reading.sm_clock if clock == self.NVML_CLOCK_SM else reading.mem_clock

    def nvmlDeviceGetMaxClockInfo(self, handle: str, clock: int) -> float:
        board = self.board
        return board.sm_clock_max if clock == self.NVML_CLOCK_SM else board.mem_clock_max

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: str) -> int:
        return self._current().reasons

    def nvmlDeviceGetTemperatureThreshold(self, handle: str, threshold: int) -> float:
        return self.board.slowdown_temperature

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: str) -> float:
        return self.board.power_limit_mw

    def nvmlDeviceGetPowerManagementDefaultLimit(self, handle: str) -> float:
        return self.board.default_power_limit_mw

    def nvmlDeviceGetEccMode(self, handle: str) -> tuple[int, int]:
        if self.board.ecc is None:
            raise NVMLError("Not Supported")
        return self.board.ecc

    def nvmlDeviceGetComputeProcesses(self, handle: str) -> list[SimpleNamespace]:
        if self.board.processes is None:
            raise NVMLError("Not Supported")
        return [SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in self.board.processes]

    def nvmlDeviceGetName(self, handle: str) -> bytes:
        return self.board.name.encode()  # older pynvml releases return bytes

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.board.driver

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return self.board.cuda_driver

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: str) -> float:
        energy = self._current().energy_mj
        if energy is None:
            raise NVMLError("Not Supported")
        return energy


class ThrottleNamedNvml(FakeNvml):
    """An older nvidia-ml-py: only ``nvmlDeviceGetCurrentClocksThrottleReasons``."""

    nvmlDeviceGetCurrentClocksEventReasons = None

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: str) -> int:
        return self._current().reasons


class FailingNvml:
    """``nvmlInit`` fails as it does on a machine without a driver."""

    def nvmlInit(self) -> None:  # pynvml's camelCase names
        raise NVMLError("NVML Shared Library Not Found")
