"""The GPU acceptance script in its reduced form, on the CPU: every stage runs (or says why it
is skipped), what needs a GPU is reported as skipped, and the files and the table come out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_reduced_form_runs_every_stage_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [str(ROOT / "scripts" / "gpu-check.sh"), str(out), "--cpu"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "check.log",
        "doctor.json",
        "figures.json",
        "figures.md",
        "report.html",
        "work.tar.gz",
    ]
    summary = json.loads((out / "figures.json").read_text())
    assert summary["on_gpu"] is False
    stages = summary["stages"]
    assert list(stages) == [
        "doctor", "smoke", "infer", "variants", "overhead", "batch-search", "vgg16-224", "classic"
    ]  # fmt: skip
    assert stages["vgg16-224"]["rc"] is None and "CPU" in stages["vgg16-224"]["skipped"]
    assert all(s["rc"] == 0 for name, s in stages.items() if name != "vgg16-224")
    statuses = {c["check"]: c["status"] for c in summary["checks"]}
    assert statuses["smoke: every job ok on cpu"] == "PASS"
    assert statuses["lenet5-relu__s0: operator trace"] == "PASS"
    assert statuses["smoke [inference]: rows ok or oom"] == "PASS"
    assert statuses["bench infer: rows ok or oom"] == "PASS"
    assert statuses["variants: every job ok"] == "PASS"
    assert statuses["variants: NVML, energy, MFU and GPU memory"] == "SKIP"
    assert "FAIL" not in statuses.values()
    assert "stage vgg16-224: skipped on the CPU" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith("whole check")
    names = [row[0] for row in summary["figures"]]
    assert "harness / bare loop (outside clock)" in names
    assert {"bench infer: lenet5 fp32", "bench infer: lenet5 amp-bf16"} <= set(names)
    assert "cifar10-classic, whole suite (projected)" in names
    with tarfile.open(out / "work.tar.gz") as archive:
        runs = [n for n in archive.getnames() if n.endswith("/run.json")]
    assert len(runs) == 4  # smoke, variants, batch-search, classic
    assert "gpu-variants" in (out / "report.html").read_text()
