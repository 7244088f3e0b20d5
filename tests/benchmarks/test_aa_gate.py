"""A/A test of the gate: an unchanged checkout passes its own gate, and a planted 2× slowdown
fails it.

``BENCH_AA_PAIRS`` pairs (default 20) of ``smoke`` runs of the checkout as it is, each pair in
a folder of its own (so no history from other pairs), in the steps docs/ci/github-actions.yml
takes: the first run is saved as a baseline file (``bench baseline save``), then the second run
is gated against it (``bench run --suite smoke --baseline FILE``), both without the HTML report,
which the gate does not read. A pair passes when the gated run exits 0.

The planted change reuses each pair: the baseline file made 2× faster in every time metric
(times, energies and the kept pass and step times halved; throughputs and MFU doubled) must fail
the pair's second run with ``bench compare SECOND PLANTED`` (the gate's own comparison; no
history, so the runs' own times give the noise), in every pair.

The runs are kept in ``BENCH_AA_DIR`` (default ``reports/aa-<suite>-<utc>``), one folder per
pair; the figures are printed and written to ``aa.json`` there: the pairs that exit 0 and, per
metric, its threshold, the largest change in its bad direction and in either direction over all
pairs and models, the pairs that flagged it, the noise that judged it, and how many of the
planted (pair, model) changes it caught. A pair takes two ``smoke`` runs (about a minute on a
quiet 2-core CPU). ``BENCH_AA_SUITE`` runs another suite's pairs the same way.

    python -m pytest tests/benchmarks/test_aa_gate.py -m benchmark -s
    BENCH_AA_PAIRS=2 python -m pytest tests/benchmarks/test_aa_gate.py -m benchmark -s
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bench.results.records import METRICS
from bench.text_table import align_columns

PAIRS = int(os.environ.get("BENCH_AA_PAIRS", "20"))
SUITE = os.environ.get("BENCH_AA_SUITE", "smoke")
STAMP = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
OUT = Path(os.environ.get("BENCH_AA_DIR", f"reports/aa-{SUITE}-{STAMP}"))
# How a 2× faster baseline differs, per unit: times and energies halve, throughputs (and the
# throughput per watt and the MFU that follow them) double.
PLANTED_FACTORS = {"s": 0.5, "ms": 0.5, "J": 0.5, "images/s": 2.0, "images/s/W": 2.0}
PLANTED = {
    name: PLANTED_FACTORS.get(m.unit, 2.0 if name == "mfu" else 1.0) for name, m in METRICS.items()
}


def bench(*argv: object) -> subprocess.CompletedProcess[str]:
    """``python -m bench ARGV`` as CI runs it; its output captured."""
    command = [sys.executable, "-m", "bench", *map(str, argv)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def smoke_run(out: Path, *extra: object) -> tuple[int, Path]:
    """A ``smoke`` run into ``out``: its exit status and its run directory (the newest)."""
    before = set(out.glob("*/*/run.json"))
    result = bench("run", "--suite", SUITE, "--out", out, "--quiet", "--no-report", *extra)
    (run_json,) = set(out.glob("*/*/run.json")) - before
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, run_json.parent


def planted_copy(baseline: Path, out: Path) -> Path:
    """``baseline`` made 2× faster in every time metric and in its kept times."""
    doc = json.loads(baseline.read_text())
    for job in doc["jobs"]:
        metrics = job["metrics"]
        for name, value in metrics.items():
            if value is not None:
                metrics[name] = value * PLANTED[name]
        job["samples"] = {k: [v * 0.5 for v in ms] for k, ms in job.get("samples", {}).items()}
    out.write_text(json.dumps(doc, indent=2))
    return out


def bad_change(change: dict[str, Any]) -> float | None:
    """A change in % of the baseline, positive in the metric's bad direction."""
    pct = change["delta_pct"]
    return None if pct is None else (-pct if change["higher_is_better"] else pct)


@dataclass
class MetricFigures:
    """One metric over every pair and model."""

    threshold: str | None = None
    # the change furthest in the bad direction: how far (%), the change (%), model, pair
    worst: tuple[float, float, str, int] = (-math.inf, 0.0, "", -1)
    widest: float = 0.0  # largest |change| in %
    flagged: set[int] = field(default_factory=set)  # pairs whose gate flagged it
    planted_caught: set[tuple[int, str]] = field(default_factory=set)  # (pair, model)
    planted_seen: set[tuple[int, str]] = field(default_factory=set)
    noise: set[str] = field(default_factory=set)  # noise sources used


def tally(
    figures: dict[str, MetricFigures], pair: int, gated: dict[str, Any], planted: dict[str, Any]
) -> None:
    """Add a pair's gated comparison and its planted one to ``figures``."""
    for change in gated["changes"]:
        entry = figures.setdefault(change["metric"], MetricFigures())
        entry.threshold = change["threshold"]
        entry.noise.add(change["noise"]["source"])
        bad = bad_change(change)
        if bad is not None:
            entry.worst = max(entry.worst, (bad, change["delta_pct"], change["model"], pair))
            entry.widest = max(entry.widest, abs(bad))
        if change["verdict"] == "regression":
            entry.flagged.add(pair)
    for change in planted["changes"]:
        if PLANTED[change["metric"]] == 1.0:
            continue
        entry = figures.setdefault(change["metric"], MetricFigures())
        entry.planted_seen.add((pair, change["model"]))
        if change["verdict"] == "regression":
            entry.planted_caught.add((pair, change["model"]))


def table(figures: dict[str, MetricFigures], pairs: int) -> list[str]:
    header = (
        "metric", "threshold", "worst change", "model (pair)", "largest |change|",
        f"pairs flagged (of {pairs})", "planted 2x caught", "noise",
    )  # fmt: skip
    rows: list[Sequence[str]] = [header]
    for metric, entry in figures.items():
        bad, pct, model, pair = entry.worst
        planted = (
            f"{len(entry.planted_caught)}/{len(entry.planted_seen)}" if entry.planted_seen else "-"
        )
        rows.append(
            (
                metric,
                entry.threshold or "-",
                f"{pct:+.1f}%" if math.isfinite(bad) else "-",
                f"{model} ({pair})" if model else "-",
                f"{entry.widest:.1f}%",
                str(len(entry.flagged)),
                planted,
                ", ".join(sorted(entry.noise)),
            )
        )
    return align_columns(rows)


@pytest.mark.benchmark
def test_an_unchanged_suite_passes_its_gate_and_a_planted_2x_slowdown_fails_it() -> None:
    figures: dict[str, MetricFigures] = {}
    pairs: list[dict[str, Any]] = []
    load = os.getloadavg()
    for pair in range(PAIRS):
        start = time.perf_counter()
        out = OUT / f"pair-{pair:02d}"
        code, first = smoke_run(out)
        assert code == 0, f"pair {pair}: the first run failed"
        baseline = out / "baseline.json"
        assert bench("baseline", "save", first, "--out", baseline).returncode == 0
        code, second = smoke_run(out, "--baseline", baseline)
        gated = json.loads((second / "compare.json").read_text())
        planted = planted_copy(baseline, out / "planted.json")
        caught = bench("compare", second, planted, "--format", "json", "--history-db", "none")
        planted_doc = json.loads(caught.stdout)
        tally(figures, pair, gated, planted_doc)
        regressions = [f"{c['model']} {c['metric']}" for c in gated["changes"]
                       if c["verdict"] == "regression"]  # fmt: skip
        pairs.append(
            {
                "pair": pair,
                "exit": code,
                "regressions": regressions,
                "planted_exit": caught.returncode,
                "seconds": round(time.perf_counter() - start, 1),
                "runs": [str(first), str(second)],
            }
        )
        print(
            f"pair {pair}: exit {code} {regressions or ''}, planted 2x: exit "
            f"{caught.returncode}, {pairs[-1]['seconds']} s",
            flush=True,
        )
    passed = sum(1 for p in pairs if p["exit"] == 0)
    caught_all = sum(1 for p in pairs if p["planted_exit"] == 1)
    print(f"\nA/A of {SUITE}: {passed} of {PAIRS} pairs exit 0; planted 2x slowdown caught "
          f"(exit 1) in {caught_all} of {PAIRS}; load average {load[0]:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end; runs under {OUT}")  # fmt: skip
    print("\n".join(table(figures, PAIRS)))
    report = {
        "suite": SUITE,
        "pairs": PAIRS,
        "passed": passed,
        "planted_caught": caught_all,
        "load_average": {"start": load, "end": os.getloadavg()},
        "metrics": {
            metric: {
                "threshold": entry.threshold,
                "worst_pct": entry.worst[1] if math.isfinite(entry.worst[0]) else None,
                "worst_model": entry.worst[2] or None,
                "worst_pair": entry.worst[3] if entry.worst[2] else None,
                "largest_abs_pct": entry.widest,
                "flagged_pairs": sorted(entry.flagged),
                "planted_caught": len(entry.planted_caught),
                "planted_compared": len(entry.planted_seen),
                "noise": sorted(entry.noise),
            }
            for metric, entry in figures.items()
        },
        "pair_results": pairs,
    }
    (OUT / "aa.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {OUT / 'aa.json'}")
    assert PAIRS - passed <= PAIRS // 20, "more than one pair in twenty failed its own gate"
    assert caught_all == PAIRS, "a planted 2x slowdown passed the gate"
