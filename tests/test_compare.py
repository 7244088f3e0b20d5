"""``bench compare`` and ``bench baseline``: thresholds, seed noise, exit codes, formats."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from compare_fixtures import write_run

from bench.cli import main
from bench.errors import BenchError
from bench.regress.compare import welch_p
from bench.results.baseline import BASELINE_VERSION, load_results
from bench.results.records import METRICS
from bench.suite.files import find_suite, read_toml, shipped_suites
from bench.suite.matrix import load_suite
from bench.suite.thresholds import (
    Threshold,
    default_thresholds,
    parse_fail_on,
    parse_threshold,
    parse_threshold_table,
)

ROOT = Path(__file__).resolve().parent.parent

ONE_SEED = {
    "lenet5": {"epoch_time_s": [2.0], "test_acc": [97.0]},
    "resnet18-cifar": {"epoch_time_s": [10.0], "test_acc": [60.0]},
}


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from an empty folder, so that no reports/history.sqlite of the checkout is read."""
    monkeypatch.chdir(tmp_path)


def table_cells(line: str) -> list[str]:
    """A row of the plain-text table, split at its column gaps."""
    return re.split(r"\s{2,}", line.strip())


def compare(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main(["compare", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_run_compared_with_itself_exits_zero(tmp_path: Path, capsys) -> None:
    run = write_run(tmp_path / "run", ONE_SEED, thresholds={"epoch_time_s": "+10%"})
    code, out, _ = compare(capsys, run, run, "--fail-on", "test_acc:-1.0")
    assert code == 0
    assert "result: no regression (4 metrics of 2 models compared)" in out


def test_planted_30_percent_slower_epoch_fails_naming_model_and_metric(
    tmp_path: Path, capsys
) -> None:
    thresholds = {"epoch_time_s": "+10%"}
    base = write_run(tmp_path / "base", ONE_SEED, thresholds=thresholds)
    slower = {**ONE_SEED, "lenet5": {"epoch_time_s": [2.6], "test_acc": [97.0]}}
    new = write_run(tmp_path / "new", slower, thresholds=thresholds)
    code, out, _ = compare(capsys, new, base)
    assert code == 1
    assert "REGRESSION lenet5 epoch_time_s: 2 → 2.6 s (+30.0%, threshold +10%" in out
    assert "result: 1 regression (lenet5 epoch_time_s)" in out


def test_two_point_accuracy_drop_fails_with_fail_on(tmp_path: Path, capsys) -> None:
    base = write_run(tmp_path / "base", ONE_SEED)
    worse = {**ONE_SEED, "resnet18-cifar": {"epoch_time_s": [10.0], "test_acc": [58.0]}}
    new = write_run(tmp_path / "new", worse)
    assert compare(capsys, new, base, "--fail-on", "test_acc:-3.0")[0] == 0
    code, out, _ = compare(capsys, new, base, "--fail-on", "test_acc:-1.0")
    assert code == 1
    assert "REGRESSION resnet18-cifar test_acc: 60 → 58 % (-3.3%, threshold -1" in out


TIMES = ("epoch_time_s", "first_epoch_time_s", "total_time_s")


def test_default_thresholds_catch_a_two_times_slower_run(tmp_path: Path, capsys) -> None:
    base_values = {
        "lenet5": {"epoch_time_s": [2.0], "first_epoch_time_s": [3.0], "total_time_s": [9.0],
                   "images_per_s": [900.0], "test_acc": [97.0], "train_loss": [0.1]},
    }  # fmt: skip
    slower = {
        "lenet5": {
            **{m: [2 * v[0]] for m, v in base_values["lenet5"].items() if m in TIMES},
            "images_per_s": [450.0], "test_acc": [97.0], "train_loss": [0.2],
        }
    }  # fmt: skip
    base = write_run(tmp_path / "base", base_values)  # no thresholds in the suite
    new = write_run(tmp_path / "new", slower)
    code, out, _ = compare(capsys, new, base)
    assert code == 1
    assert (
        "thresholds: defaults (test_acc -1, epoch_time_s +10%, first_epoch_time_s +10%, "
        "images_per_s -10%, total_time_s +10%);" in out
    )  # train_loss has no default: not listed
    regressions = [line for line in out.splitlines() if line.startswith("REGRESSION")]
    assert [line.split()[2].rstrip(":") for line in regressions] == [
        "epoch_time_s", "first_epoch_time_s", "images_per_s", "total_time_s",
    ]  # fmt: skip
    assert "REGRESSION lenet5 epoch_time_s: 2 → 4 s (+100.0%, threshold +10%)" in out
    rows = {cells[1]: cells for cells in map(table_cells, out.splitlines()) if len(cells) == 9}
    assert rows["train_loss"] == [
        "lenet5", "train_loss", "0.1", "0.2", "+0.1 (+100.0%)", "-", "seeds", "-", "-",
    ]  # fmt: skip
    assert rows["epoch_time_s"][5:] == ["+10%", "unknown (0 earlier runs)", "-", "REGRESSION"]
    code, out, _ = compare(capsys, new, base, "--fail-on", "none")
    assert code == 0
    assert "thresholds: none;" in out
    assert "result: no regression (6 metrics of 1 models compared)" in out


def test_suite_and_fail_on_thresholds_replace_the_defaults(tmp_path: Path, capsys) -> None:
    base = write_run(tmp_path / "base", ONE_SEED, thresholds={"epoch_time_s": "+50%"})
    slower = {**ONE_SEED, "lenet5": {"epoch_time_s": [2.6], "test_acc": [96.5]}}
    new = write_run(tmp_path / "new", slower)
    code, out, _ = compare(capsys, new, base, "--format", "json")
    assert code == 0  # +30 % is inside the suite's +50 %, -0.5 points inside the default -1.0
    doc = json.loads(out)
    assert doc["thresholds"]["epoch_time_s"] == "+50%"
    assert "epoch_time_s" not in doc["default_thresholds"]
    assert "test_acc" in doc["default_thresholds"]
    code, out, _ = compare(capsys, new, base, "--fail-on", "test_acc:-0.25")
    assert code == 1
    assert "thresholds: test_acc -0.25, epoch_time_s +50%;" in out
    assert "REGRESSION lenet5 test_acc" in out


def test_none_turns_off_suite_thresholds_too(tmp_path: Path, capsys) -> None:
    base = write_run(tmp_path / "base", ONE_SEED, thresholds={"epoch_time_s": "+10%"})
    slower = {**ONE_SEED, "lenet5": {"epoch_time_s": [2.6], "test_acc": [97.0]}}
    new = write_run(tmp_path / "new", slower)
    assert compare(capsys, new, base)[0] == 1
    code, out, _ = compare(capsys, new, base, "--fail-on", "None")
    assert code == 0
    assert "REGRESSION" not in out


def test_every_default_threshold_parses_in_the_metrics_direction() -> None:
    defaults = default_thresholds()
    assert defaults["epoch_time_s"] == Threshold("epoch_time_s", 10.0, True)
    assert defaults["images_per_s"] == Threshold("images_per_s", 10.0, True)
    assert defaults["peak_mem_mib"] == Threshold("peak_mem_mib", 10.0, True)
    assert defaults["energy_j"] == Threshold("energy_j", 10.0, True)
    assert defaults["test_acc"] == Threshold("test_acc", 1.0, False)
    assert all(t.default for t in defaults.values())
    assert "train_loss" not in defaults and "mfu" not in defaults
    assert parse_fail_on("none") is None


def test_change_inside_the_seed_spread_passes(tmp_path: Path, capsys) -> None:
    base = write_run(tmp_path / "base", {"vgg16": {"epoch_time_s": [1.0, 1.3, 0.7]}})
    new = write_run(tmp_path / "new", {"vgg16": {"epoch_time_s": [1.25, 0.95, 1.16]}})
    code, out, _ = compare(capsys, new, base, "--fail-on", "epoch_time_s:+10%", "--format", "json")
    assert code == 0
    (change,) = json.loads(out)["changes"]
    assert change["delta_pct"] == pytest.approx(12.0)  # past +10% ...
    assert change["p_value"] > 0.05  # ... but inside the seed noise
    assert change["verdict"] == "noise"


def test_change_outside_the_seed_spread_fails(tmp_path: Path, capsys) -> None:
    base = write_run(tmp_path / "base", {"vgg16": {"epoch_time_s": [1.0, 1.02, 0.98]}})
    new = write_run(tmp_path / "new", {"vgg16": {"epoch_time_s": [1.3, 1.32, 1.28]}})
    code, out, _ = compare(capsys, new, base, "--fail-on", "epoch_time_s:+10%", "--format", "json")
    assert code == 1
    (change,) = json.loads(out)["changes"]
    assert change["verdict"] == "regression"
    assert change["p_value"] < 0.001
    assert change["base"]["n"] == change["new"]["n"] == 3


def test_welch_p_is_one_sided() -> None:
    # t = -3/sqrt(2/3) = -3.674 with 4 degrees of freedom
    assert welch_p([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], "less") == pytest.approx(0.010653, abs=1e-5)
    assert welch_p([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], "greater") == pytest.approx(0.989347, abs=1e-5)
    assert welch_p([2.0, 2.0], [1.0, 1.0], "greater") == 0.0  # constant samples: no noise
    assert welch_p([2.0, 2.0], [1.0, 1.0], "less") == 1.0


def test_unknown_metric_in_fail_on_exits_two_with_one_line(tmp_path: Path, capsys) -> None:
    run = write_run(tmp_path / "run", ONE_SEED)
    code, out, err = compare(capsys, run, run, "--fail-on", "epoch_tme_s:+10%")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "--fail-on: unknown metric 'epoch_tme_s'; did you mean epoch_time_s" in err


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("test_acc:+1.0", "threshold '+1.0' for test_acc must start with '-'"),
        ("epoch_time_s:-10%", "threshold '-10%' for epoch_time_s must start with '+'"),
        ("epoch_time_s:ten%", "threshold 'ten%' for epoch_time_s must be like '+10%' or -1.0"),
        ("epoch_time_s", "--fail-on 'epoch_time_s': expected METRIC:THRESHOLD"),
    ],
)
def test_bad_fail_on_is_a_usage_error(tmp_path: Path, capsys, spec: str, message: str) -> None:
    run = write_run(tmp_path / "run", ONE_SEED)
    code, _, err = compare(capsys, run, run, "--fail-on", spec)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1


def test_thresholds_parse_relative_and_absolute() -> None:
    assert parse_fail_on("epoch_time_s:+10%, test_acc:-1.0") == {
        "epoch_time_s": Threshold("epoch_time_s", 10.0, True),
        "test_acc": Threshold("test_acc", 1.0, False),
    }
    assert parse_threshold("test_acc", -1.0, "suite") == Threshold("test_acc", 1.0, False)
    assert parse_threshold("peak_mem_mib", "5%", "suite") == Threshold("peak_mem_mib", 5.0, True)
    assert str(Threshold("images_per_s", 10.0, True)) == "-10%"
    with pytest.raises(BenchError, match="must start with '-'"):
        parse_threshold("images_per_s", "+10%", "suite.thresholds")


def test_bad_suite_threshold_names_the_run(tmp_path: Path, capsys) -> None:
    run = write_run(tmp_path / "run", ONE_SEED, thresholds={"test_acc": 1.0})
    code, _, err = compare(capsys, run, run)
    assert code == 2
    assert f"{run}: suite.thresholds: threshold '1.0' for test_acc must start with '-'" in err


def test_fail_on_overrides_the_suite_threshold(tmp_path: Path, capsys) -> None:
    base = write_run(tmp_path / "base", ONE_SEED, thresholds={"epoch_time_s": "+10%"})
    slower = {**ONE_SEED, "lenet5": {"epoch_time_s": [2.6], "test_acc": [97.0]}}
    new = write_run(tmp_path / "new", slower, thresholds={"epoch_time_s": "+10%"})
    assert compare(capsys, new, base, "--fail-on", "epoch_time_s:+50%")[0] == 0


def test_junit_has_one_test_case_per_model_and_metric_and_a_status_per_model(
    tmp_path: Path, capsys
) -> None:
    base = write_run(tmp_path / "base", ONE_SEED)
    slower = {**ONE_SEED, "lenet5": {"epoch_time_s": [2.6], "test_acc": [97.0]}}
    new = write_run(tmp_path / "new", slower)
    junit = tmp_path / "out" / "compare.xml"
    code, out, _ = compare(
        capsys, new, base, "--fail-on", "epoch_time_s:+10%", "--format", "junit", "--out", junit
    )
    assert code == 1
    assert "REGRESSION lenet5 epoch_time_s" in out  # stdout keeps the table
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    cases = {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}
    assert set(cases) == {
        (f"bench.fixture.{model}", metric)
        for model in ("lenet5", "resnet18-cifar")
        for metric in ("epoch_time_s", "test_acc", "status")
    }
    failed = {key for key, case in cases.items() if case.find("failure") is not None}
    assert failed == {("bench.fixture.lenet5", "epoch_time_s")}
    assert (suite.get("tests"), suite.get("failures")) == ("6", "1")


def test_different_machines_are_refused_unless_allowed_and_then_flagged(
    tmp_path: Path, capsys
) -> None:
    base = write_run(tmp_path / "base", ONE_SEED, machine_id="a100-11111111")
    new = write_run(tmp_path / "new", ONE_SEED, machine_id="h100-22222222")
    code, out, err = compare(capsys, new, base)
    assert code == 2
    assert "'h100-22222222'" in err and "'a100-11111111'" in err
    assert "--allow-cross-machine" in err and err.count("\n") == 1
    code, out, _ = compare(capsys, new, base, "--allow-cross-machine")
    assert code == 0
    assert "CROSS-MACHINE comparison" in out
    code, out, _ = compare(capsys, new, base, "--allow-cross-machine", "--format", "json")
    assert json.loads(out)["cross_machine"] is True
    code, out, _ = compare(capsys, new, base, "--allow-cross-machine", "--format", "md")
    assert "> **Warning:** CROSS-MACHINE comparison" in out


def test_models_on_one_side_only_are_reported(tmp_path: Path, capsys) -> None:
    lenet = {"epoch_time_s": [2.0]}
    base = write_run(tmp_path / "base", {"lenet5": lenet, "vgg16": lenet})
    new = write_run(tmp_path / "new", {"lenet5": lenet, "googlenet": lenet})
    code, out, _ = compare(capsys, new, base, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["only_base"] == [{"model": "vgg16", "variant": ""}]
    assert doc["only_new"] == [{"model": "googlenet", "variant": ""}]
    code, out, _ = compare(capsys, new, base)
    assert "only in the baseline (not compared): vgg16" in out
    assert "only in the new run (not compared): googlenet" in out


def test_a_model_whose_jobs_all_failed_is_a_regression(tmp_path: Path, capsys) -> None:
    base = write_run(tmp_path / "base", ONE_SEED)
    new = write_run(tmp_path / "new", ONE_SEED, status={"resnet18-cifar": "oom"})
    code, out, _ = compare(capsys, new, base)
    assert code == 1
    assert "FAILED resnet18-cifar: no ok job in the new run (status: oom)" in out


def test_variants_are_compared_apart(tmp_path: Path, capsys) -> None:
    base = write_run(tmp_path / "base", {"lenet5": {"epoch_time_s": [2.0]}}, variant="amp-bf16")
    new = write_run(tmp_path / "new", {"lenet5": {"epoch_time_s": [3.0]}}, variant="amp-bf16")
    code, out, _ = compare(capsys, new, base, "--fail-on", "epoch_time_s:+10%")
    assert code == 1
    assert "REGRESSION lenet5[amp-bf16] epoch_time_s" in out


def test_markdown_has_a_verdict_heading_and_a_table(tmp_path: Path, capsys) -> None:
    base = write_run(tmp_path / "base", {"lenet5": {"epoch_time_s": [2.0], "train_loss": [0.1]}})
    slower = {"lenet5": {"epoch_time_s": [2.6], "train_loss": [0.1]}}  # no default for losses
    new = write_run(tmp_path / "new", slower)
    code, out, _ = compare(capsys, new, base, "--fail-on", "epoch_time_s:+10%", "--format", "md")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "### bench compare: 1 regression (lenet5 epoch_time_s)"
    assert (
        "| lenet5 | epoch_time_s | 2 | 2.6 | +0.6 (+30.0%) | +10% | unknown (0 earlier runs) | \\- "
        "| **REGRESSION** |" in lines
    )
    assert "<details><summary>Metrics without a threshold</summary>" in lines


def test_baseline_file_keeps_every_metric_and_compares_like_the_run(tmp_path: Path, capsys) -> None:
    run = write_run(tmp_path / "run", ONE_SEED, thresholds={"epoch_time_s": "+10%"})
    baseline = tmp_path / "baselines" / "fixture.json"
    assert main(["baseline", "save", str(run), "--out", str(baseline)]) == 0
    assert f"saved 2 jobs of run (machine cpu-0a1b2c3d) to {baseline}" in capsys.readouterr().out
    doc = json.loads(baseline.read_text())
    assert doc["format"] == "bench-baseline" and doc["version"] == BASELINE_VERSION
    assert doc["machine_id"] == "cpu-0a1b2c3d"
    assert doc["suite"]["thresholds"] == {"epoch_time_s": "+10%"}
    assert [(j["model"], j["seed"]) for j in doc["jobs"]] == [("lenet5", 0), ("resnet18-cifar", 0)]
    assert set(doc["jobs"][0]["metrics"]) == set(METRICS)
    assert doc["jobs"][0]["metrics"]["epoch_time_s"] == 2.0
    assert doc["jobs"][0]["metrics"]["peak_mem_mib"] is None
    assert load_results(baseline).jobs == load_results(run).jobs
    assert compare(capsys, run, baseline)[0] == 0
    slower = {**ONE_SEED, "lenet5": {"epoch_time_s": [2.6], "test_acc": [97.0]}}
    assert compare(capsys, write_run(tmp_path / "new", slower), baseline)[0] == 1


def test_newer_baseline_version_is_refused(tmp_path: Path, capsys) -> None:
    run = write_run(tmp_path / "run", ONE_SEED)
    baseline = tmp_path / "b.json"
    main(["baseline", "save", str(run), "--out", str(baseline)])
    doc = json.loads(baseline.read_text())
    baseline.write_text(json.dumps({**doc, "version": BASELINE_VERSION + 1}))
    code, _, err = compare(capsys, run, baseline)
    assert code == 2
    assert f"baseline version {BASELINE_VERSION + 1} is newer than this bench reads" in err


def test_missing_run_is_a_usage_error(tmp_path: Path, capsys) -> None:
    run = write_run(tmp_path / "run", ONE_SEED)
    code, _, err = compare(capsys, run, tmp_path / "nowhere")
    assert code == 2
    assert f"{tmp_path / 'nowhere'}: no such run directory or baseline file" in err
    code, _, err = compare(capsys, run, tmp_path)
    assert code == 2
    assert f"{tmp_path}: not a run directory (no run.json)" in err


def test_compare_runs_where_torch_cannot_be_imported(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", ONE_SEED)
    blocker = tmp_path / "no_torch" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('torch is not installed here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker.parent), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-m", "bench", "compare", str(run), str(run), "--format", "md"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("### bench compare: no regression")


def test_compare_without_samples_or_seeds_to_test_loads_no_numpy_or_scipy(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", ONE_SEED)
    script = (
        "import sys; from bench.cli import main; code = main(sys.argv[1:]); "
        "print(sorted({'numpy', 'scipy'} & set(sys.modules))); sys.exit(code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "compare", str(run), str(run)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


def recorded_metrics(name: str) -> set[str]:
    """The metrics a shipped suite's jobs record where their device measures everything: all
    but time to target without a target, and the inference metrics without (batch-1) timing."""
    configs = [job.config for job in load_suite(name).jobs]
    out = set(METRICS)
    if all(c.target_acc is None for c in configs):
        out.discard("time_to_target_s")
    if all(not c.inference.batch_sizes for c in configs):
        out.discard("inference_images_per_s")
    if all(1 not in c.inference.batch_sizes for c in configs):
        out.discard("latency_ms_p50")
    return out


def test_every_shipped_training_suite_names_every_metric_it_records() -> None:
    trained = [n for n in shipped_suites() if read_toml(find_suite(n)).get("kind") != "profile"]
    assert "smoke" in trained and "cifar10-classic" in trained
    for name in trained:
        table = parse_threshold_table(read_toml(find_suite(name)).get("thresholds"), name)
        assert set(table) == recorded_metrics(name), name
    assert recorded_metrics("smoke") == set(METRICS)
    assert "time_to_target_s" not in recorded_metrics("cifar10-classic")
    assert "latency_ms_p50" not in recorded_metrics("cifar10-lecture")


def test_every_shipped_time_margin_lets_a_two_times_slowdown_fail() -> None:
    """A 2x slower run doubles its times and halves its throughputs: each margin on them must
    lie inside that, or the gate would let it pass."""
    for name in shipped_suites():
        table = read_toml(find_suite(name)).get("thresholds") or {}
        for metric, threshold in parse_threshold_table(table, name).items():
            unit = METRICS[metric].unit
            if unit in ("s", "ms"):
                assert threshold.relative and threshold.amount < 100, (name, metric)
            if unit == "images/s":
                assert threshold.relative and threshold.amount < 50, (name, metric)
