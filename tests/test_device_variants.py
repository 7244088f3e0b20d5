"""Variants ``cpu`` and ``cuda``: the same job on both devices, the cuda part skipped on a
machine without CUDA, and the report's comparison of the two (speed-up, agreement)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_errors import one_line_error
from fake_cuda import patch_cuda
from tiny_suite import tiny_suite

from bench.cli import main
from bench.report import write_report
from bench.report.devices import agreement
from bench.results.records import EpochRecord, JobRecord
from bench.results.rundir import RunDir, read_runs
from bench.run.merge import merge_runs
from bench.suite.matrix import build_suite
from bench.suite.variants import split_device

DEVICE_SUITE = tiny_suite(epochs=1, train_size=128, test_size=64).replace(
    "seeds = [0, 1]", 'seeds = [0]\nvariants = ["cpu", "cuda"]'
)


def test_a_device_part_sets_the_device_over_the_suite_and_the_flag() -> None:
    raw = {
        "device": "cpu",
        "variants": ["cpu", "cuda+amp-bf16"],
        "dataset": {"name": "digits"},
        "models": ["lenet5"],
    }
    suite = build_suite(raw, "s.toml", overrides=["device=auto"], fit=False)
    devices = {job.job_id: (job.config.device, job.config.precision) for job in suite.jobs}
    assert devices == {
        "lenet5__s0__cpu": ("cpu", "fp32"),
        "lenet5__s0__cuda+amp-bf16": ("cuda", "amp-bf16"),
    }
    plain = build_suite(
        {**raw, "variants": ["fp32"]}, "s.toml", overrides=["device=auto"], fit=False
    )
    assert plain.jobs[0].config.device == "auto"  # without a device part, --device wins


def test_split_device_keeps_the_other_parts_in_order() -> None:
    assert split_device("cuda+amp-bf16+channels_last") == ("cuda", "amp-bf16+channels_last")
    assert split_device("amp-bf16+cpu") == ("cpu", "amp-bf16")
    assert split_device("tf32") == (None, "tf32")
    assert split_device("") == (None, "")


def test_a_variant_naming_two_devices_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "two.toml"
    suite.write_text(DEVICE_SUITE.replace('["cpu", "cuda"]', '["cpu+cuda"]'))
    line = one_line_error(["run", "--suite", str(suite), "--dry-run"], capsys)
    assert line == f"bench run: error: {suite}: 'cpu+cuda' names two devices; give one of them"


def test_without_cuda_the_cuda_variant_is_skipped_in_one_line_and_the_rest_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    patch_cuda(monkeypatch, "is_available", lambda: False)  # as on a machine without a GPU
    suite = tmp_path / "devices.toml"
    suite.write_text(DEVICE_SUITE.split('[[models]]\nname = "lenet5"\n')[0])
    out = tmp_path / "out"
    argv = ["run", "--suite", str(suite), "--out", str(out), "--quiet", "--no-report"]
    capsys.readouterr()
    assert main([*argv, "--history-db", "none"]) == 0
    err = capsys.readouterr().err
    assert err == (
        "bench run: note: variant cuda skipped (1 job): no CUDA device on this machine; the "
        "other jobs run (a --resume on a machine that has the device runs these)\n"
    )
    (run_dir,) = [p.parent for p in out.glob("*/*/run.json")]
    run = RunDir.open(run_dir).read()
    assert [j["job_id"] for j in run.jobs] == ["lenet5-relu__s0__cpu"]
    job = run.jobs[0]
    assert job["status"] == "ok" and job["device"] == "cpu"
    # top-5 of 10 digit classes, from the same evaluation as top-1
    assert job["test_acc"] <= job["test_top5"] <= 100.0
    assert [e["test_top5"] for e in run.epochs] == [job["test_top5"]]
    assert run.planned_jobs()[1] == {
        "job_id": "lenet5-relu__s0__cuda",
        "model": "lenet5-relu",
        "seed": 0,
        "variant": "cuda",
        "skipped": "no CUDA device on this machine",
    }
    # a resume still without CUDA skips it again, in the same line, and runs nothing else
    resume = ["run", "--resume", str(run_dir), "--quiet", "--no-report", "--history-db", "none"]
    assert main(resume) == 0
    assert capsys.readouterr().err == err
    assert [j["job_id"] for j in RunDir.open(run_dir).read().jobs] == ["lenet5-relu__s0__cpu"]
    # the report lists the skipped job with its reason, and a merge keeps it
    merged = merge_runs([run_dir], tmp_path / "merged", ["bench", "merge"]).run
    for source in (run, merged):
        paths = write_report([source], tmp_path / f"report-{source.path.name}", {"md"})
        assert paths.markdown is not None
        markdown = paths.markdown.read_text()
        row = "| lenet5-relu__s0__cuda | lenet5-relu (cuda) | 0 | missing | skipped: no CUDA device"
        assert row in markdown
        assert "CPU against GPU" not in markdown


def identity(seed: int, device: str) -> dict[str, Any]:
    """The fields naming the job of ``seed`` on ``device``, as both record types hold them."""
    return {
        "job_id": f"lenet5__s{seed}__{device}",
        "suite": "devices",
        "model": "lenet5",
        "seed": seed,
        "variant": device,
    }


def epoch(seed: int, device: str, number: int, time_s: float, acc: float) -> EpochRecord:
    return EpochRecord(
        **identity(seed, device),
        phase="train",
        epoch=number,
        train_loss=1.0,
        train_acc=50.0,
        test_loss=1.0,
        test_acc=acc,
        lr=0.01,
        epoch_time_s=time_s,
        train_time_s=time_s,
        eval_time_s=0.0,
        data_wait_s=0.0,
        compute_s=time_s,
        images=1000,
        images_per_s=1000 / time_s,
    )


# (seed, device) → (epoch times in s, test accuracies in %), deterministic flag
MEASURED = {
    (0, "cpu"): ((6.0, 4.0), (90.0, 95.5), True),
    (0, "cuda"): ((1.5, 0.5), (90.004, 95.5), False),  # 90.004 prints as 90.00
    (1, "cpu"): ((5.0, 3.0), (91.0, 96.0), True),
    (1, "cuda"): ((3.0, 1.0), (91.3, 95.6), False),
    (2, "cpu"): ((9.0,), (93.0,), True),
    (2, "cuda"): ((3.0,), (95.0,), True),
}


def write_device_run(path: Path) -> Path:
    path.mkdir()
    jobs = [(seed, device) for seed in (0, 1, 2) for device in ("cpu", "cuda")]
    store = RunDir.create(
        path,
        {
            "suite": {"name": "devices", "dataset": {"name": "mnist"}},
            "jobs": [identity(seed, device) for seed, device in jobs],
        },
    )
    for seed, device in jobs:
        times, accuracies, deterministic = MEASURED[(seed, device)]
        for number, (time_s, acc) in enumerate(zip(times, accuracies, strict=True), start=1):
            store.append(epoch(seed, device, number, time_s, acc))
        job = JobRecord(
            **identity(seed, device),
            status="ok",
            error=None,
            dataset="mnist",
            recipe="classify",
            device=device,
            precision="fp32",
            batch_size=64,
            epochs=len(times),
            test_acc=accuracies[-1],
            deterministic=deterministic,
        )
        store.append(job)
    store.write_tables()
    return path


def test_the_report_shows_the_speedup_and_whether_the_accuracies_agree(tmp_path: Path) -> None:
    run = write_device_run(tmp_path / "run")
    paths = write_report(read_runs([run]), tmp_path / "report", {"md", "html"})
    assert paths.markdown is not None and paths.html is not None
    markdown = paths.markdown.read_text()
    header = (
        "| Network | Seed | CPU time (s, all epochs) | CUDA time (s, all epochs) | "
        "Speed-up (CPU time ÷ CUDA time, ×) | Final top-1, CPU (%) | Final top-1, CUDA (%) | "
        "Accuracy agreement (epoch by epoch) | Deterministic (CPU / CUDA) |"
    )
    assert "## CPU against GPU (the same jobs on both devices)" in markdown
    assert header in markdown
    rows = [
        "| lenet5 | 0 | 10 | 2 | 5 | 95.50 | 95.50 | exact (2 epochs) | yes / no |",
        "| lenet5 | 1 | 8 | 4 | 2 | 96.00 | 95.60 | within 1 pp (largest difference 0.40 pp "
        "over 2 epochs) | yes / no |",
        "| lenet5 | 2 | 9 | 3 | 3 | 93.00 | 95.00 | differ, past 1 pp (largest difference "
        "2.00 pp over 1 epoch) | yes / yes |",
    ]
    for row in rows:
        assert row in markdown
    assert "bench compare's default accuracy margin" in markdown
    html = paths.html.read_text()
    assert '<section id="devices">' in html and 'href="#devices"' in html


def test_a_report_without_both_devices_has_no_device_comparison(tmp_path: Path) -> None:
    run = write_device_run(tmp_path / "run")
    records = run / "records.jsonl"
    kept = [line for line in records.read_text().splitlines() if "__cuda" not in line]
    records.write_text("\n".join(kept) + "\n")
    paths = write_report(read_runs([run]), tmp_path / "report", {"md", "html"})
    assert paths.markdown is not None and paths.html is not None
    assert "CPU against GPU" not in paths.markdown.read_text()
    assert 'id="devices"' not in paths.html.read_text()


def test_agreement_compares_the_epochs_both_jobs_have() -> None:
    cpu = {("train", 1): 50.0, ("train", 2): 60.0}
    assert agreement(cpu, {("train", 1): 50.001}) == "exact (1 epoch)"
    assert agreement(cpu, {("finetune", 1): 50.0}) == "n/a"
    assert agreement(cpu, {("train", 1): 51.0, ("train", 2): 60.0}) == (
        "within 1 pp (largest difference 1.00 pp over 2 epochs)"
    )


def test_run_json_with_a_skipped_job_that_is_not_text_is_refused(tmp_path: Path) -> None:
    run = write_device_run(tmp_path / "run")
    info = json.loads((run / "run.json").read_text())
    info["jobs"][1]["skipped"] = 7
    (run / "run.json").write_text(json.dumps(info))
    with pytest.raises(Exception, match=r"jobs\[1\]\.skipped"):
        RunDir.open(run)
