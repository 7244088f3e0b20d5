"""The GPU acceptance run's energy check: two independent NVML sources over the same spans.

An epoch's ``energy_j`` is the GPU's total-energy counter's difference over the epoch's
telemetry segments: its training pass and its evaluation pass, each begun and ended by a
reading (``bench.measure.collectors``). The check integrates the instantaneous power readings
(``NVML_FI_DEV_POWER_INSTANT``) that the job's telemetry kept for exactly those segments,
grouped as the sampler groups them (``bench.measure.telemetry``), and asks the two to agree
within 10%. An autoencoder's pre-training and fine-tuning epochs of one number stay apart: the
segments are found by their own numbers, not by the epoch's. Where the epoch's energy came from
the power readings themselves (no counter) or the readings are NVML's trailing one-second
average, there is no independent pair, and the check is skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from bench.measure.telemetry import (
    COUNTER,
    EVAL,
    IDLE,
    INSTANT,
    Sample,
    integrated_energy_j,
    segment_runs,
)

TOLERANCE = 0.10
SOURCES = "energy counter difference vs integral of instantaneous power (NVML_FI_DEV_POWER_INSTANT)"
USED_COLUMNS = ("time_s", "segment", "phase", "epoch", "power_w", "power_source")


@dataclass(frozen=True)
class EpochEnergy:
    """One epoch's joules by the counter (its record) and by its power readings' integral
    (None where a reading has no power); ``sources`` the readings' power sources."""

    label: str
    counter_j: float
    integral_j: float | None
    sources: frozenset[str | None]

    @property
    def gap(self) -> float | None:
        """|counter - integral| / integral; None without a positive integral."""
        if self.integral_j is None or self.integral_j <= 0:
            return None
        return abs(self.counter_j - self.integral_j) / self.integral_j

    def shown(self) -> str:
        integral = "n/a" if self.integral_j is None else f"{self.integral_j:,.0f} J"
        gap = "" if self.gap is None else f" ({self.gap:.1%} off)"
        return f"{self.label}: {self.counter_j:,.0f} J vs {integral}{gap}"


def telemetry_samples(frame: Any) -> list[Sample]:
    """A job's telemetry CSV, as ``Run.telemetry`` reads it, back as the sampler's samples (the
    energy counter, which the CSV leaves out, None); ValueError naming a missing column."""
    missing = [c for c in USED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"telemetry without the column(s) {', '.join(missing)}")
    names = [f.name for f in fields(Sample)]
    samples = []
    for row in frame.astype(object).where(frame.notna(), None).to_dict("records"):
        values = {name: row.get(name) for name in names}
        values.update(segment=int(row["segment"]), epoch=_integer(row["epoch"]))
        samples.append(Sample(**values))
    return samples


def _integer(value: Any) -> int | None:
    return None if value is None else int(value)


def epoch_segments(samples: Sequence[Sample], phase: str, epoch: int) -> list[int]:
    """The segments of one epoch as the job's collectors begin them: the training segment,
    labelled ``phase`` and ``epoch``, and the evaluation segment after it (labelled ``eval``
    and ``epoch``, past the idle segment between them). ValueError where the telemetry has no
    single such training segment."""
    labels = list(dict.fromkeys((s.segment, s.phase, s.epoch) for s in samples if s.phase != IDLE))
    found = [i for i, (_, p, e) in enumerate(labels) if (p, e) == (phase, epoch)]
    if len(found) != 1:
        raise ValueError(f"{len(found)} telemetry segments of {phase} epoch {epoch}, not 1")
    (index,) = found
    segments = [labels[index][0]]
    if index + 1 < len(labels) and labels[index + 1][1:] == (EVAL, epoch):
        segments.append(labels[index + 1][0])
    return segments


def epoch_energy(samples: Sequence[Sample], epoch: dict[str, Any]) -> EpochEnergy:
    """One epoch record's counter energy beside the integral of its segments' power."""
    runs = segment_runs(samples, epoch_segments(samples, epoch["phase"], epoch["epoch"]))
    return EpochEnergy(
        f"{epoch['phase']} {epoch['epoch']}",
        float(epoch["energy_j"]),
        integrated_energy_j(runs),
        frozenset(s.power_source for run in runs for s in run),
    )


def energy_check(epochs: Sequence[dict[str, Any]], frame: Any) -> tuple[bool | None, str]:
    """The check of a GPU job's epochs against its telemetry ``frame`` (None where it kept
    none): whether every epoch's counter energy is positive and within 10% of its power
    integral (None: not checkable here, with the reason; False where the telemetry lacks an
    epoch's segments), and the figure."""
    if not epochs or frame is None:
        return False, "no epoch records" if not epochs else "no telemetry kept"
    methods = sorted({str(e.get("energy_method")) for e in epochs})
    if methods != [COUNTER]:
        return None, (
            f"no energy counter on this GPU (energy_method {', '.join(methods)}): the energy "
            "comes from the power readings, so nothing independent to compare"
        )
    try:
        samples = telemetry_samples(frame)
        found = [epoch_energy(samples, e) for e in epochs]
    except ValueError as err:  # telemetry that does not hold the epochs' segments
        return False, str(err)
    sources = frozenset().union(*(f.sources for f in found))
    if INSTANT not in sources:
        shown = ", ".join(sorted(str(s) for s in sources))
        return None, (
            f"no instantaneous power reading on this GPU (power_source {shown}): NVML's "
            "trailing one-second average is no independent measure of a segment's energy"
        )
    passed = all(
        f.sources == {INSTANT} and f.counter_j > 0 and f.gap is not None and f.gap <= TOLERANCE
        for f in found
    )
    mixed = [f.label for f in found if f.sources != {INSTANT}]
    note = f"; readings not all instantaneous in {', '.join(mixed)}" if mixed else ""
    return passed, f"{SOURCES}, per epoch: {'; '.join(f.shown() for f in found)}{note}"
