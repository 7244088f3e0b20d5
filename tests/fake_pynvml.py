"""A scripted stand-in for ``pynvml``: each call returns the next scripted reading.

It checks bench's arithmetic (aggregation, energy, device mapping), not a GPU: nothing it
returns is ever presented as a measurement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace


class NVMLError(Exception):
    pass


@dataclass
class Reading:
    gpu: float
    memory: float
    used_mib: float
    power_mw: float
    energy_mj: float | None
    temperature: float = 50.0
    sm_clock: float = 1500.0


class FakeNvml:
    """A module-like object; ``readings`` are returned in order, the last one repeating.

    ``devices`` are the physical GPUs' UUIDs in NVML order, ``mig_devices`` MIG instances' UUIDs;
    a device's handle is its UUID, and ``sampled`` collects the handles readings were taken from.
    """

    NVMLError = NVMLError
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1

    def __init__(
        self,
        readings: Sequence[Reading],
        devices: Sequence[str] = ("GPU-0",),
        mig_devices: Sequence[str] = (),
    ) -> None:
        self.readings = list(readings)
        self.devices = list(devices)
        self.mig_devices = list(mig_devices)
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
        return SimpleNamespace(used=self._current().used_mib * 2**20)

    def nvmlDeviceGetPowerUsage(self, handle: str) -> float:
        return self._current().power_mw

    def nvmlDeviceGetTemperature(self, handle: str, sensor: int) -> float:
        return self._current().temperature

    def nvmlDeviceGetClockInfo(self, handle: str, clock: int) -> float:
        return self._current().sm_clock

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: str) -> float:
        energy = self._current().energy_mj
        if energy is None:
            raise NVMLError("Not Supported")
        return energy


class FailingNvml:
    """``nvmlInit`` fails as it does on a machine without a driver."""

    def nvmlInit(self) -> None:  # pynvml's camelCase names
        raise NVMLError("NVML Shared Library Not Found")
