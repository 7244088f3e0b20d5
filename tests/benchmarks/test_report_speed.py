"""Time to write a full report (tables, 15 figures as PNG and SVG, HTML, Markdown) for a run
of 6 models × 3 seeds × 5 epochs with telemetry and artifacts (synthetic run directory).

Run: ``pytest tests/benchmarks/test_report_speed.py -m benchmark --benchmark-enable``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for run_fixtures
from run_fixtures import MODELS, write_run

from bench.report import write_report


@pytest.mark.benchmark
def test_report_of_six_models_times_three_seeds(benchmark, tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", models=[m.name for m in MODELS], seeds=(0, 1, 2), epochs=5)
    paths = benchmark.pedantic(
        write_report, args=([run], tmp_path / "out"), rounds=3, iterations=1, warmup_rounds=1
    )
    assert len(paths.figures) == 2 * 15
    assert paths.notes == ()
