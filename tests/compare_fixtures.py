"""Run directories in the layout ``bench run`` writes (run.json, records.jsonl, results.csv),
built with the real ``RunDir`` from given per-seed metric values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.results.records import JobRecord
from bench.results.rundir import RunDir

MACHINE = "cpu-0a1b2c3d"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
CREATED = "2026-01-01T00:00:00+00:00"

Values = Mapping[str, Mapping[str, Sequence[float]]]
"""model → metric → one value per seed (seed = position)."""
Samples = Mapping[str, Mapping[str, Sequence[float]]]
"""model → metric → the pass or step times (ms) each seed's job keeps for it."""


def write_run(
    path: Path,
    values: Values,
    *,
    machine_id: str = MACHINE,
    commit: str | None = COMMIT,
    created_utc: str = CREATED,
    suite: str = "fixture",
    thresholds: Mapping[str, Any] | None = None,
    variant: str = "",
    status: Mapping[str, str] | None = None,
    samples: Samples | None = None,
) -> Path:
    """A run directory at ``path`` with one ok job per model and seed (``status`` overrides a
    model's status for all its seeds; ``samples`` gives a model's jobs their times)."""
    path.mkdir(parents=True)
    jobs: list[dict[str, Any]] = [
        {"job_id": _job_id(model, seed, variant), "model": model, "seed": seed, "variant": variant}
        for model, metrics in values.items()
        for seed in range(_seeds(metrics))
    ]
    store = RunDir.create(
        path,
        {
            "created_utc": created_utc,
            "command": ["bench", "run", "--suite", suite],
            "suite": {"name": suite, "description": "", "thresholds": dict(thresholds or {})},
            "environment": {
                "machine_id": machine_id,
                "hostname": "host",
                "commit": commit,
                "dirty": False,
            },
            "jobs": jobs,
        },
    )
    for job in jobs:
        model, seed = job["model"], job["seed"]
        job_status = (status or {}).get(model, "ok")
        metrics = {name: v[seed] for name, v in values[model].items()} if job_status == "ok" else {}
        store.append(
            JobRecord(
                job_id=job["job_id"],
                suite=suite,
                model=model,
                seed=seed,
                variant=variant,
                status=job_status,
                error=None if job_status == "ok" else "out of memory",
                dataset="digits",
                recipe="classify",
                device="cpu",
                precision="fp32",
                batch_size=64,
                epochs=3,
                samples={k: list(v) for k, v in (samples or {}).get(model, {}).items()} or None,
                **metrics,
            )
        )
    return path


def _seeds(metrics: Mapping[str, Sequence[float]]) -> int:
    counts = {len(v) for v in metrics.values()}
    assert len(counts) == 1, "every metric needs one value per seed"
    return counts.pop()


def _job_id(model: str, seed: int, variant: str) -> str:
    return f"{model}{'-' + variant if variant else ''}-s{seed}"
