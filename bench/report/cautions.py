"""Warnings a report shows: the machine's, from each run's ``doctor`` snapshot,
and GPU throttling of each job (its record's ``extra.throttled_pct``). Runs and jobs recorded
before these existed have none."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

THROTTLED_PCT = 5.0  # a job whose GPU throttled in more of its NVML readings than this is flagged


def run_warnings(info: Mapping[str, Any]) -> list[str]:
    """The warnings of a run's doctor snapshot, or of each measuring run's snapshot (named by
    run id) for a merged run; none where there is no snapshot."""
    sources = info.get("environments")
    if isinstance(sources, list):
        return [
            f"{entry.get('run_id')}: {warning}"
            for entry in sources
            if isinstance(entry, Mapping)
            for warning in _snapshot_warnings(entry)
        ]
    return _snapshot_warnings(info)


def _snapshot_warnings(info: Mapping[str, Any]) -> list[str]:
    doctor = info.get("doctor")
    found = doctor.get("warnings") if isinstance(doctor, Mapping) else None
    return [str(w) for w in found] if isinstance(found, list) else []


def throttle_warning(job: Mapping[str, Any]) -> str | None:
    """``GPU throttled in 12% of samples (power cap)`` for a job record whose GPU throttled in
    more than ``THROTTLED_PCT`` % of its readings; None otherwise."""
    extra = job.get("extra")
    extra = extra if isinstance(extra, Mapping) else {}
    pct, reasons = extra.get("throttled_pct"), extra.get("throttle_reasons")
    if isinstance(pct, bool) or not isinstance(pct, (int, float)) or not pct > THROTTLED_PCT:
        return None
    why = f" ({', '.join(map(str, reasons))})" if isinstance(reasons, list) and reasons else ""
    return f"GPU throttled in {pct:.0f}% of samples{why}"
