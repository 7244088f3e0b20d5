"""GPU telemetry through NVML (nvidia-ml-py): a background sampler of utilisation, memory, power,
temperature, SM and memory clocks and clock-event (throttle) reasons, with energy per phase and
the share of readings in which the GPU throttled.

Samples belong to segments: ``begin`` takes a reading that ends the current segment and starts
a new one, numbered in order (the number is the segment's key: two segments with the same labels,
such as epoch 1's evaluation in pre-training and in fine-tuning, or one batch size of two models,
stay apart); ``end`` takes a reading that closes it. ``summary`` aggregates the segments it is
given. Energy comes from the GPU's total-energy counter where it has one (difference between a
segment's first and last reading), else from integrating power over time (trapezoids); mean power
is energy over the segments' time, so from the counter it is exact whatever NVML's power reading
averages. Power readings are instantaneous (the ``NVML_FI_DEV_POWER_INSTANT`` field) where NVML
gives them, else ``nvmlDeviceGetPowerUsage``, which on Ampere and newer GPUs but the A100 is a
trailing one-second average; ``energy_method`` and ``power_method`` say which source gave each
figure. Without NVML (no library, no driver, no GPU) the sampler is unavailable: every figure is
``None`` and ``unavailable_reason`` says why.

The GPU is found by the UUID torch reports for the device where the caller passes it (exact
whatever ``CUDA_DEVICE_ORDER`` is: CUDA numbers devices fastest first by default, NVML by PCI bus),
else through ``CUDA_VISIBLE_DEVICES``.

``clock_event_reasons`` is NVML's bitmask of why clocks are below their maximum (one NVML call per
reading); ``bench.measure.gpu_state`` names the bits and says which count as throttling.
``throttling()`` gives the share of readings with a throttling reason.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import os
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import IO, Any

from bench.measure.gpu_state import (
    attempt,
    decode_reasons,
    field_number,
    read_number,
    reason_labels,
    reasons_reader,
    text,
    throttling_reasons,
    watts,
)
from bench.results.checks import TELEMETRY_FIELDS

MIB = 2**20
Reading = tuple[float, dict[str, Any]]
CSV_COLUMNS = tuple(TELEMETRY_FIELDS)
"""The columns of the CSV ``write_csv`` writes, as ``bench.results`` reads them back."""
# Where a power reading comes from (``Sample.power_source``) and how a mean power was found
# (``PhaseTelemetry.power_method``): the total-energy counter over the exact span, or readings.
INSTANT, TRAILING_AVERAGE, COUNTER = "instant", "trailing-average", "counter"
INTEGRATED = "integrated-power"  # energy from the power readings (else COUNTER: the counter's)
SOURCE_RANK = (TRAILING_AVERAGE, INSTANT)  # readings of mixed sources are named by the first
IDLE = "idle"  # the label of the time between segments (before the first, after an ``end``)
EVAL = "eval"  # the label of an epoch's evaluation segment (training's is its phase)


@dataclass(frozen=True)
class Sample:
    """One NVML reading in segment ``segment`` (labelled ``phase`` and ``epoch``);
    ``energy_mj`` is the total-energy counter (None where unsupported), ``power_source``
    ``instant`` or ``trailing-average``, ``clock_event_reasons`` NVML's bitmask of why clocks
    are below their maximum."""

    time_s: float
    segment: int
    phase: str
    epoch: int | None
    gpu_util_pct: float | None
    mem_util_pct: float | None
    mem_used_mib: float | None
    power_w: float | None
    temperature_c: float | None
    sm_clock_mhz: float | None
    mem_clock_mhz: float | None
    clock_event_reasons: int | None
    energy_mj: float | None
    power_source: str | None


@dataclass(frozen=True)
class PhaseTelemetry:
    """Aggregates of the samples of some segments; all ``None`` without samples. ``power_mean_w``
    is energy over time; ``power_method`` ``counter`` (the energy counter's difference over the
    exact span), else the source of the power readings integrated."""

    gpu_util_mean: float | None = None
    gpu_util_p50: float | None = None
    gpu_util_p95: float | None = None
    mem_util_mean: float | None = None
    mem_used_max_mib: float | None = None
    power_mean_w: float | None = None
    sm_clock_mean_mhz: float | None = None
    temperature_mean_c: float | None = None
    energy_j: float | None = None
    energy_method: str | None = None
    power_method: str | None = None
    duration_s: float | None = None
    samples: int = 0


def nvml_device_for(cuda_index: int, env: Mapping[str, str]) -> int | str:
    """The NVML device behind torch's ``cuda:<cuda_index>``: a physical index, or a ``GPU-``/
    ``MIG-`` UUID (or a unique prefix of one) when ``CUDA_VISIBLE_DEVICES`` names devices so.

    As in CUDA, the list ends at its first entry that is neither; an unset or empty variable
    shows every device. Raises ``LookupError`` when the index is not visible."""
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is None or not visible.strip():
        return cuda_index
    entries: list[int | str] = []
    for entry in (e.strip() for e in visible.split(",")):
        if entry.isdigit():
            entries.append(int(entry))
        elif entry.startswith(("GPU-", "MIG-")):
            entries.append(entry)
        else:
            break
    if cuda_index >= len(entries):
        raise LookupError(f"cuda:{cuda_index} is not among CUDA_VISIBLE_DEVICES={visible}")
    return entries[cuda_index]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) with linear interpolation between closest ranks."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class NvmlSampler:
    """Samples one GPU every ``interval_s`` in a daemon thread between ``start`` and ``stop``.

    ``device_uuid`` is torch's UUID of the device (``str(get_device_properties(i).uuid)``);
    ``env``, ``nvml`` and ``clock`` replace ``os.environ``, ``pynvml`` and the time source."""

    def __init__(
        self,
        cuda_index: int | None,
        interval_s: float = 0.1,
        *,
        device_uuid: str | None = None,
        env: Mapping[str, str] | None = None,
        nvml: ModuleType | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cuda_index = cuda_index
        self.interval_s = interval_s
        self.device_uuid = device_uuid
        self._env = env
        self._nvml = nvml
        self._clock = clock
        self._handle: Any = None
        self._reasons: Callable[[Any], int] | None = None
        self._instant = False
        self._t0 = 0.0
        self._segment: tuple[int, str, int | None] = (0, IDLE, None)
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.unavailable_reason: str | None = None if cuda_index is not None else "no CUDA device"

    @property
    def available(self) -> bool:
        """True while NVML is initialised for the job's GPU."""
        return self._handle is not None

    def start(self) -> None:
        """Open NVML and start sampling; on any NVML failure, stay unavailable."""
        if self.cuda_index is None or self._thread is not None:
            return
        try:
            self._open()
        except Exception as err:  # no library, no driver, unsupported GPU: not measurable here
            self.unavailable_reason = f"NVML unavailable: {err}".splitlines()[0]
            self._handle = None
            return
        self._t0 = self._clock()
        self._record()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="nvml-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Take a last reading, stop the thread and close NVML."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=5 * self.interval_s + 1)
        self._thread = None
        self._record()
        self._handle = None
        attempt(self._module().nvmlShutdown)

    def __enter__(self) -> NvmlSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def begin(self, phase: str, epoch: int | None = None) -> int:
        """Start a new segment labelled ``phase`` and ``epoch``: the reading taken now ends the
        current one and starts it. Returns its number, the key ``summary`` takes."""
        serial = self._segment[0] + 1
        if self.available:
            with self._lock:
                reading = self._read()
                self._samples.append(self._sample(reading, self._segment))
                self._segment = (serial, phase, epoch)
                self._samples.append(self._sample(reading, self._segment))
        else:
            self._segment = (serial, phase, epoch)
        return serial

    def end(self) -> None:
        """Close the current segment with a reading now; later samples are ``idle``."""
        self.begin(IDLE)

    def samples(self) -> list[Sample]:
        """A copy of the samples so far."""
        with self._lock:
            return list(self._samples)

    def summary(self, *segments: int) -> PhaseTelemetry:
        """Aggregates over the samples of the numbered ``segments`` (as ``begin`` returned)."""
        runs = segment_runs(self.samples(), segments)
        chosen = [s for run in runs for s in run]
        if not chosen:
            return PhaseTelemetry()
        util = _known(s.gpu_util_pct for s in chosen)
        energy, energy_method = _energy(runs)
        duration = sum(run[-1].time_s - run[0].time_s for run in runs)
        power, power_method = _power(chosen, energy, energy_method, duration)
        return PhaseTelemetry(
            gpu_util_mean=_mean(util),
            gpu_util_p50=percentile(util, 50) if util else None,
            gpu_util_p95=percentile(util, 95) if util else None,
            mem_util_mean=_mean(_known(s.mem_util_pct for s in chosen)),
            mem_used_max_mib=max(_known(s.mem_used_mib for s in chosen), default=None),
            power_mean_w=power,
            sm_clock_mean_mhz=_mean(_known(s.sm_clock_mhz for s in chosen)),
            temperature_mean_c=_mean(_known(s.temperature_c for s in chosen)),
            energy_j=energy,
            energy_method=energy_method,
            power_method=power_method,
            duration_s=duration,
            samples=len(chosen),
        )

    def throttling(self) -> tuple[float | None, list[str]]:
        """(% of readings whose clocks were throttled, those throttling reasons by how many
        readings had them, most first); (None, []) without readings of the reasons.

        A phase change's reading is stored twice (end of one segment, start of the next) and
        counted once."""
        samples = self.samples()
        readings = [s for i, s in enumerate(samples) if i == 0 or s.time_s != samples[i - 1].time_s]
        masks = [s.clock_event_reasons for s in readings if s.clock_event_reasons is not None]
        if not masks:
            return None, []
        labels = reason_labels(self._module())
        counts: Counter[str] = Counter()
        throttled = 0
        for mask in masks:
            reasons = throttling_reasons(decode_reasons(mask, labels))
            throttled += bool(reasons)
            counts.update(reasons)
        ranked = sorted(counts, key=lambda reason: (-counts[reason], reason))
        return 100 * throttled / len(masks), ranked

    def write_csv(self, handle: IO[str]) -> None:
        """The time series, one row per sample (columns ``CSV_COLUMNS``)."""
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(asdict(s) for s in self.samples())

    def _module(self) -> Any:
        if self._nvml is None:
            import pynvml

            self._nvml = pynvml
        return self._nvml

    def _open(self) -> None:
        nvml = self._module()
        nvml.nvmlInit()
        try:
            assert self.cuda_index is not None
            env = os.environ if self._env is None else self._env
            self._handle = device_handle(nvml, self.cuda_index, self.device_uuid, env)
        except Exception:
            attempt(nvml.nvmlShutdown)  # balance nvmlInit: pynvml counts initialisations
            raise
        self._reasons = reasons_reader(nvml)
        self._instant = self._instant_power() is not None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._record()

    def _record(self) -> None:
        # A reading is taken and labelled under one lock, as in ``begin``: a periodic reading
        # taken just before a segment begins can then neither join the new segment nor land
        # after its first reading, so samples stay in time order.
        with self._lock:
            self._samples.append(self._sample(self._read(), self._segment))

    @staticmethod
    def _sample(reading: Reading, segment: tuple[int, str, int | None]) -> Sample:
        time_s, values = reading
        return Sample(time_s, *segment, **values)

    def _instant_power(self) -> float | None:
        """NVML's instantaneous power (``NVML_FI_DEV_POWER_INSTANT``) in W, None without it."""
        return watts(field_number(self._module(), self._handle, "NVML_FI_DEV_POWER_INSTANT"))

    def _read(self) -> Reading:
        nvml, handle = self._module(), self._handle
        values: dict[str, float | int | str | None] = {}
        util = attempt(lambda: nvml.nvmlDeviceGetUtilizationRates(handle))
        values["gpu_util_pct"] = float(util.gpu) if util is not None else None
        values["mem_util_pct"] = float(util.memory) if util is not None else None
        memory = attempt(lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
        values["mem_used_mib"] = memory.used / MIB if memory is not None else None
        if self._instant:
            values["power_w"], source = self._instant_power(), INSTANT
        else:
            power = read_number(nvml, "nvmlDeviceGetPowerUsage", handle)
            values["power_w"], source = watts(power), TRAILING_AVERAGE
        values["power_source"] = source if values["power_w"] is not None else None
        values["temperature_c"] = read_number(
            nvml, "nvmlDeviceGetTemperature", handle, "NVML_TEMPERATURE_GPU"
        )
        values["sm_clock_mhz"] = read_number(
            nvml, "nvmlDeviceGetClockInfo", handle, "NVML_CLOCK_SM"
        )
        values["mem_clock_mhz"] = read_number(
            nvml, "nvmlDeviceGetClockInfo", handle, "NVML_CLOCK_MEM"
        )
        reasons = self._reasons
        values["clock_event_reasons"] = (
            attempt(lambda: int(reasons(handle))) if reasons is not None else None
        )
        values["energy_mj"] = read_number(nvml, "nvmlDeviceGetTotalEnergyConsumption", handle)
        return self._clock() - self._t0, values


def device_handle(
    nvml: Any, cuda_index: int, device_uuid: str | None, env: Mapping[str, str]
) -> Any:
    """The NVML handle of torch's ``cuda:<cuda_index>``: by torch's UUID of it where given, else
    through ``CUDA_VISIBLE_DEVICES``; ``LookupError`` where there is no such single GPU."""
    if device_uuid is not None:
        for prefix in ("GPU-", "MIG-"):
            handle = _handle_by_uuid(nvml, prefix + device_uuid)
            if handle is not None:
                return handle
    device = nvml_device_for(cuda_index, env)
    if isinstance(device, int):
        return nvml.nvmlDeviceGetHandleByIndex(device)
    handle = _handle_by_uuid(nvml, device)
    if handle is None:
        raise LookupError(f"no single GPU with UUID {device}")
    return handle


def _handle_by_uuid(nvml: Any, uuid: str) -> Any:
    """The device with this UUID, else the one GPU whose UUID starts with it (CUDA accepts a
    unique prefix); None when there is no such device or several."""
    with contextlib.suppress(nvml.NVMLError):
        return nvml.nvmlDeviceGetHandleByUUID(uuid)
    handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
    matches = [h for h in handles if (text(nvml.nvmlDeviceGetUUID(h)) or "").startswith(uuid)]
    return matches[0] if len(matches) == 1 else None


def segment_runs(samples: Iterable[Sample], segments: Collection[int]) -> list[list[Sample]]:
    """The samples of the numbered ``segments`` as ``summary`` aggregates them: one list per run
    of consecutive samples of one segment, in the order taken."""
    chosen = [s for s in samples if s.segment in segments]
    return [list(run) for _, run in itertools.groupby(chosen, key=lambda s: s.segment)]


def integrated_energy_j(segments: Sequence[Sequence[Sample]]) -> float | None:
    """Joules from integrating the power readings over time (trapezoids) within each run of
    ``segment_runs``; None where a reading has no power."""
    if any(s.power_w is None for seg in segments for s in seg):
        return None
    total = 0.0
    for seg in segments:
        for a, b in itertools.pairwise(seg):
            total += (_value(a.power_w) + _value(b.power_w)) / 2 * (b.time_s - a.time_s)
    return total


def _energy(segments: Sequence[Sequence[Sample]]) -> tuple[float | None, str | None]:
    """Joules over the segments: counter differences where every sample has the counter, else
    trapezoidal integration of power."""
    samples = [s for seg in segments for s in seg]
    if all(s.energy_mj is not None for s in samples):
        counters = [_known(s.energy_mj for s in seg) for seg in segments]
        return sum((seg[-1] - seg[0]) / 1000 for seg in counters), COUNTER
    integrated = integrated_energy_j(segments)
    return (integrated, INTEGRATED) if integrated is not None else (None, None)


def _power(
    samples: Sequence[Sample], energy: float | None, energy_method: str | None, duration: float
) -> tuple[float | None, str | None]:
    """Mean power (W) over the segments and how it was found: energy over time (``counter``
    where the energy came from the counter, else the source of the power readings integrated);
    the mean of the readings where no time passed."""
    sources = {s.power_source for s in samples}
    source = None if None in sources else min(sources, key=SOURCE_RANK.index)
    if energy is not None and duration > 0:
        return energy / duration, COUNTER if energy_method == COUNTER else source
    if source is None:
        return None, None
    return _mean(_known(s.power_w for s in samples)), source


def _value(reading: float | None) -> float:
    assert reading is not None
    return reading


def _known(values: Any) -> list[float]:
    return [v for v in values if v is not None]


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None
