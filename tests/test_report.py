"""bench.report end to end on synthetic run directories (tests/run_fixtures.py)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pandas as pd
import pytest
from run_fixtures import write_run

from bench.report import ReportPaths, write_report
from bench.report.frames import inference_frame, job_frame
from bench.report.roofline import roofline_table
from bench.results.rundir import RunDir, read_runs

FULL_FIGURES = {
    "accuracy_vs_gflops",
    "learning_curves_train",
    "learning_curves_pretrain",
    "learning_curves_finetune",
    "epoch_time_throughput",
    "peak_memory",
    "roofline",
    "confusion_matrices",
    "first_layer_filters",
    "gpu_telemetry",
    "reconstructions_conv-autoencoder",
    "accuracy_per_mparam",
    "inference_time_vs_batch",
    "inference_throughput_power_vs_batch",
    "inference_memory_vs_batch",
    "operations_vs_inference_time",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> ReportPaths:
    """Three models × two seeds; vgg16 seed 1 ran out of memory, lenet5 seed 1 never ran."""
    run = write_run(
        tmp_path_factory.mktemp("report") / "run",
        models=("lenet5", "vgg16", "conv-autoencoder"),
        seeds=(0, 1),
        failures={("vgg16", 1): "oom"},
        missing={("lenet5", 1)},
    )
    return write_report(read_runs([run]), run)


def read_csv(path: Path) -> pd.DataFrame:
    """A report table; an empty cell (not measured) becomes NaN, nothing else does."""
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def test_report_of_a_run_has_every_table_and_figure(report: ReportPaths) -> None:
    out = report.out_dir
    assert report.html == out / "report.html"
    assert report.markdown == out / "summary.md"
    assert [p.name for p in report.tables] == [
        "summary_models.csv",
        "summary_lecture.csv",
        "summary_failures.csv",
    ]
    stems = {p.stem for p in report.figures}
    assert stems == FULL_FIGURES
    for stem in stems:
        assert (out / "figures" / f"{stem}.png").read_bytes().startswith(b"\x89PNG")
        assert "<svg" in (out / "figures" / f"{stem}.svg").read_text()
    assert report.notes == ()
    html = report.html.read_text()
    for table in ("lecture", "models", "roofline", "failures", "environment"):
        assert f'id="table-{table}"' in html
    assert "<dt>Roofline</dt><dd>memory-bound, 50% of the roof (training step)</dd>" in html
    assert html.count('<img src="data:image/png;base64,') == len(FULL_FIGURES)
    for stem in ("lenet5", "vgg16", "conv-autoencoder"):
        assert f'<section id="model-{stem}">' in html
    markdown = report.markdown.read_text()
    for title in ("Summary in the lecture layout", "Results by model", "Failed jobs"):
        assert f"## {title}" in markdown


def test_captions_link_every_figure_file_in_html_and_markdown(report: ReportPaths) -> None:
    assert report.html is not None and report.markdown is not None
    html, markdown = report.html.read_text(), report.markdown.read_text()
    assert markdown.count("](figures/") == 2 * len(FULL_FIGURES)
    for stem in FULL_FIGURES:
        for ext in ("png", "svg"):
            assert (report.out_dir / "figures" / f"{stem}.{ext}").is_file()
            assert f'<a href="figures/{stem}.{ext}">' in html
        assert f"](figures/{stem}.png) ([SVG](figures/{stem}.svg))" in markdown
    assert (
        "- [conv-autoencoder: Reconstructions (each image scaled to its own min–max for "
        "display)](figures/reconstructions_conv-autoencoder.png)"
    ) in markdown
    assert "Reconstructions (each image scaled to its own min–max for display) <span" in html


def test_model_table_shows_mean_and_std_over_seeds(report: ReportPaths) -> None:
    jobs = RunDir.open(report.out_dir).read().jobs
    accuracies = [j["test_acc"] for j in jobs if j["model"] == "conv-autoencoder"]
    expected = f"{statistics.mean(accuracies):.2f} ± {statistics.stdev(accuracies):.2f}"
    markdown = report.markdown.read_text()
    row = next(
        line for line in markdown.splitlines() if line.startswith("| conv-autoencoder | 2011")
    )
    assert f" {expected} " in row
    models = read_csv(report.tables[0]).set_index("network")
    assert models.loc["conv-autoencoder", "test_acc_pct_mean"] == pytest.approx(
        statistics.mean(accuracies)
    )
    assert models.loc["conv-autoencoder", "test_acc_pct_std"] == pytest.approx(
        statistics.stdev(accuracies)
    )
    assert models["seeds_ok"].to_dict() == {"lenet5": 1, "vgg16": 1, "conv-autoencoder": 2}
    assert models.loc["vgg16", "params"] == 134_301_514
    assert pd.isna(models.loc["lenet5", "test_acc_pct_std"])


def test_lecture_table_puts_published_top5_beside_the_measured_top1_and_top5(
    report: ReportPaths,
) -> None:
    lecture = read_csv(report.tables[1])
    assert list(lecture.columns) == [
        "network",
        "year",
        "salient_feature",
        "test_acc_pct_mean",
        "test_acc_pct_std",
        "test_top5_pct_mean",
        "test_top5_pct_std",
        "published_top5_pct",
        "paper_top5_pct",
        "params",
        "forward_macs_per_image",
        "forward_flops_per_image",
        "flops_per_mac",
        "latency_ms_p50_mean",
        "latency_ms_p50_std",
        "inference_images_per_s_mean",
        "inference_images_per_s_std",
        "seeds_ok",
    ]
    markdown = report.markdown.read_text()
    # top-5 of the fixture: 71.54 + 0.8 × (100 − 71.54) = 94.308, kept as 94.31
    vgg16 = (
        "| vgg16 | 2014 | Fixed-size kernels | 71.54 | 94.31 | 90.38 | 92.30 | 134.3 | 15.47 |"
        " 30.94 |"
    )
    assert f"{vgg16} n/a | 77.8 | 13 | 1 |" in markdown
    # vgg16 ran out of memory at batch 128: its throughput is the one at batch 16
    row = lecture.set_index("network").loc["vgg16"]
    latency_16 = 0.5 + 16 * 15_470_000_000 / 2e8  # run_fixtures._inference_rows
    assert row["inference_images_per_s_mean"] == pytest.approx(16_000 / latency_16)
    assert row["test_top5_pct_mean"] == 94.31
    lenet5 = "| lenet5 | 1998 | Convolution + pooling | 55.54 | 91.11 | n/a | n/a | 0.06171 |"
    assert lenet5 in markdown
    header = (
        "| Network | Year | Salient feature | Top-1, cifar10 test set (%) | "
        "Top-5, cifar10 test set (%) | ImageNet top-5, published (%) | "
        "ImageNet top-5, paper (%) |"
    )
    assert header in markdown
    assert "Top-1 and top-5: measured here on the test set of cifar10" in markdown


def test_records_made_before_top5_was_kept_read_and_show_it_as_na(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", models=("lenet5",), inference=False)
    records = run / "records.jsonl"
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert all(line.pop("test_top5") is not None for line in lines)
    records.write_text("".join(json.dumps(line) + "\n" for line in lines))
    paths = write_report(read_runs([run]), tmp_path / "out", {"csv", "md"})
    lecture = read_csv(paths.tables[1]).set_index("network")
    assert lecture.loc["lenet5", "test_acc_pct_mean"] == 55.54
    assert pd.isna(lecture.loc["lenet5", "test_top5_pct_mean"])
    assert "| lenet5 | 1998 | Convolution + pooling | 55.54 | n/a | n/a |" in (
        paths.markdown.read_text()
    )


def test_failed_and_missing_jobs_are_listed_with_their_errors(report: ReportPaths) -> None:
    failures = read_csv(report.tables[2])
    assert failures[["job_id", "status"]].values.tolist() == [
        ["vgg16-s1", "oom"],
        ["lenet5-s1", "missing"],
    ]
    assert failures.loc[0, "error"] == "RuntimeError: synthetic oom in fixture job"
    html = report.html.read_text()
    assert "vgg16-s1 (seed 1): oom: RuntimeError: synthetic oom in fixture job" in html
    assert "Failed jobs (2)" in html


def test_cpu_run_shows_unmeasured_values_as_na_and_notes_missing_telemetry(
    tmp_path: Path,
) -> None:
    run = write_run(tmp_path / "run", models=("lenet5",), gpu=False)
    paths = write_report(read_runs([run]), tmp_path / "out", {"html", "csv"})
    models = read_csv(paths.tables[0])
    for column in ("peak_mem_mib", "gpu_util_pct", "energy_per_epoch_j", "mfu_pct"):
        assert pd.isna(models.loc[0, f"{column}_mean"])
    assert paths.notes == ("GPU telemetry: none in these runs (CPU run or NVML unavailable)",)
    assert "gpu_telemetry" not in {p.stem for p in paths.figures}
    assert "peak_memory" in {p.stem for p in paths.figures}  # host RSS stands in
    html = paths.html.read_text()
    assert "GPU telemetry: none in these runs" in html
    assert "<dt>Roofline</dt><dd>compute-bound, 50% of the roof (training step)</dd>" in html


def test_inference_figures_and_columns_appear_only_with_inference_rows(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", models=("lenet5", "vgg16"), inference=False)
    paths = write_report(read_runs([run]), run, {"html", "csv"})
    assert {p.stem for p in paths.figures} == FULL_FIGURES - {
        "learning_curves_pretrain",
        "learning_curves_finetune",
        "reconstructions_conv-autoencoder",
        "inference_time_vs_batch",
        "inference_throughput_power_vs_batch",
        "inference_memory_vs_batch",
        "operations_vs_inference_time",
    }
    assert paths.notes == ("Inference figures: no inference measurements in these runs",)
    assert not any("inference" in c for c in read_csv(paths.tables[1]).columns)
    html = paths.html.read_text()
    assert "Roofline of the training step (mean ± std over seeds)" in html
    assert "inference batch" not in html


def test_the_roofline_places_inference_batches_beside_the_training_step(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", models=("lenet5",))
    runs = read_runs([run])
    jobs = job_frame(runs)
    table = roofline_table(jobs, inference_frame(runs, jobs))
    assert table.title.startswith("Roofline of the training step and of inference batches")
    data = table.data.set_index("network")
    assert list(data.index) == ["lenet5", "lenet5@1", "lenet5@16", "lenet5@128"]
    assert list(data["step"]) == ["training step (batch 64, fp32)", *3 * ["inference batch (fp32)"]]
    # the fixture's batches lie at 10 × batch FLOP/byte; the GPU's ridge point is 50
    assert list(data["roofline_intensity_mean"]) == pytest.approx([10, 10, 160, 1280])
    bounds = ["memory-bound", "memory-bound", "compute-bound", "compute-bound"]
    assert list(data["roofline_bound"]) == bounds
    # achieved: 860,000 FLOPs per image × batch over the fixture's latency, 0.5 + batch ×
    # 0.00215 ms; roof: 10 FLOP/byte × 2 TB/s at batch 1, else the 100 TFLOP/s peak
    shares = [
        50.0,  # the training step reaches half its roof
        100 * 860_000 / 0.50215e-3 / 20e12,
        100 * 860_000 * 16 / 0.5344e-3 / 100e12,
        100 * 860_000 * 128 / 0.7752e-3 / 100e12,
    ]
    assert list(100 * data["roofline_fraction_mean"]) == pytest.approx(shares)
    write_report(runs, run, {"html"})
    svg = (run / "figures" / "roofline.svg").read_text()
    for label in ("lenet5@1<", "lenet5@128<", "training step<", "inference batch (labelled"):
        assert label in svg


def test_cpu_inference_rows_draw_memory_from_the_host_and_say_power_is_na(
    tmp_path: Path,
) -> None:
    run = write_run(tmp_path / "run", models=("lenet5",), gpu=False)
    paths = write_report(read_runs([run]), run, {"html"})
    stems = {p.stem for p in paths.figures}
    assert {"inference_memory_vs_batch", "inference_throughput_power_vs_batch"} <= stems
    svg = (run / "figures" / "inference_throughput_power_vs_batch.svg").read_text()
    assert "Power: n/a (no GPU power readings: CPU run or NVML unavailable)" in svg
    assert "process RSS" in (run / "figures" / "inference_memory_vs_batch.svg").read_text()


def test_missing_artifacts_are_noted_and_the_rest_is_drawn(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", models=("conv-autoencoder",), artifacts=False)
    paths = write_report(read_runs([run]), run, {"html"})
    assert paths.notes == (
        "conv-autoencoder: first-layer filters: not saved for job conv-autoencoder-s0",
        "conv-autoencoder: reconstructions: not saved for job conv-autoencoder-s0",
    )
    assert {p.stem for p in paths.figures} == FULL_FIGURES - {
        "learning_curves_train",
        "first_layer_filters",
        "reconstructions_conv-autoencoder",
    }


def test_csv_only_writes_tables_and_no_figures(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", models=("lenet5",))
    paths = write_report(read_runs([run]), tmp_path / "out", {"csv"})
    assert (paths.html, paths.markdown, paths.figures) == (None, None, ())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "summary_failures.csv",
        "summary_lecture.csv",
        "summary_models.csv",
    ]


def test_several_runs_are_reported_together_and_told_apart(tmp_path: Path) -> None:
    first = write_run(tmp_path / "a", suite="suite-a", models=("lenet5",))
    second = write_run(
        tmp_path / "b", suite="suite-b", models=("lenet5",), failures={("lenet5", 0): "error"}
    )
    paths = write_report(read_runs([first, second]), tmp_path / "out", {"csv", "md"})
    models = read_csv(paths.tables[0])
    assert models["network"].tolist() == ["lenet5 [suite-a]", "lenet5 [suite-b]"]
    assert models["seeds_ok"].tolist() == [1, 0]
    failures = read_csv(paths.tables[2])
    assert failures[["run_id", "job_id", "status"]].values.tolist() == [["b", "lenet5-s0", "error"]]
    assert "| Field | a | b |" in paths.markdown.read_text()


def test_run_without_any_job_record_still_reports(tmp_path: Path) -> None:
    run = write_run(
        tmp_path / "run", models=("lenet5",), seeds=(0, 1), missing={("lenet5", 0), ("lenet5", 1)}
    )
    paths = write_report(read_runs([run]), run)
    assert paths.figures == ()
    assert paths.notes == (
        "Accuracy vs GFLOPs: no job has both a test accuracy and a FLOP count",
        "Accuracy per million parameters: no job has both a test accuracy and a parameter count",
        "Learning curves: no epoch records of jobs that ended ok",
        "Epoch time and throughput: no epoch times recorded",
        "Peak memory: no memory figures recorded",
        "Inference figures: no inference measurements in these runs",
        "Roofline: no job has a roofline point (needs a steady epoch and device peaks)",
        "GPU telemetry: none in these runs (CPU run or NVML unavailable)",
    )
    assert read_csv(paths.tables[0]).empty
    assert read_csv(paths.tables[2])["status"].tolist() == ["missing", "missing"]
    assert "No figure could be drawn from these runs." in paths.html.read_text()
