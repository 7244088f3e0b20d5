"""The runs' own pass and step times as the noise of a change where the history cannot give it:
kept compact in records and baselines, checked where read, used and named by ``bench compare``."""

from __future__ import annotations

import json
import math
import re
import statistics
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from cli_errors import one_line_error
from compare_fixtures import write_run

from bench.cli import main
from bench.regress import compare
from bench.regress.compare import MIN_SAMPLE, MachineNoise, compare_runs, run_spread
from bench.results.baseline import load_results
from bench.results.run_results import RunResults
from bench.results.rundir import RECORDS_FILE
from bench.results.samples import SAMPLE_CAP, SAMPLED_METRICS, compact
from bench.suite.thresholds import default_thresholds

# Eight passes evenly spread over ±50 % of their 1 ms median.
PASSES = tuple(0.5 + i / 7 for i in range(8))


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from an empty folder, so that no reports/history.sqlite of the checkout is read."""
    monkeypatch.chdir(tmp_path)


def latency_run(path: Path, factor: float, passes: tuple[float, ...] = PASSES) -> Path:
    """lenet5 whose batch-1 passes are ``passes`` × ``factor`` ms (latency: their median)."""
    times = [factor * ms for ms in passes]
    values = {"lenet5": {"latency_ms_p50": [statistics.median(times)]}}
    return write_run(path, values, samples={"lenet5": {"latency_ms_p50": times}})


def compare_json(new: Path, base: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    code = main(["compare", str(new), str(base), "--format", "json"])
    (change,) = json.loads(capsys.readouterr().out)["changes"]
    return code, change


def test_forty_percent_slower_latency_inside_a_fifty_percent_pass_spread_is_within_noise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = latency_run(tmp_path / "base", 1.0)
    code, change = compare_json(latency_run(tmp_path / "new", 1.4), base, capsys)
    assert code == 0
    assert change["delta_pct"] == pytest.approx(40.0)  # past the default +10 % ...
    assert change["threshold"] == "+10%"
    assert change["verdict"] == "noise"  # ... but inside what eight passes a side can tell
    noise = change["noise"]
    assert {k: v for k, v in noise.items() if k != "margin_pct"} == {
        "source": "passes", "statistic": "median", "n_base": 8, "n_new": 8, "runs": 0,
    }  # fmt: skip
    assert 40.0 < noise["margin_pct"] < 100.0


@pytest.mark.parametrize("factor", [2.0, 3.0])
def test_two_and_three_times_slower_latency_beyond_the_pass_spread_is_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], factor: float
) -> None:
    base = latency_run(tmp_path / "base", 1.0)
    new = latency_run(tmp_path / "new", factor)
    code, change = compare_json(new, base, capsys)
    assert code == 1
    assert change["verdict"] == "regression"
    assert change["noise"]["source"] == "passes"
    assert change["noise"]["margin_pct"] < 100 * (factor - 1)
    main(["compare", str(new), str(base)])
    out = capsys.readouterr().out
    assert re.search(
        rf"REGRESSION lenet5 latency_ms_p50: 1 → {factor:g} ms \(\+{100 * (factor - 1):.1f}%, "
        r"threshold \+10%, noise passes ±\d+\.\d%\)",
        out,
    ), out


def test_the_same_spread_over_more_passes_narrows_the_noise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The noise is how well each run's own times fix its median: 32 passes a side spread
    ±50 % fix it to well within 40 %, so the +40 % change of the first test counts here."""
    many = tuple(0.5 + i / 31 for i in range(SAMPLE_CAP))
    base = latency_run(tmp_path / "base", 1.0, many)
    code, change = compare_json(latency_run(tmp_path / "new", 1.4, many), base, capsys)
    assert code == 1
    assert change["verdict"] == "regression"
    assert change["noise"]["n_base"] == change["noise"]["n_new"] == SAMPLE_CAP
    assert change["noise"]["margin_pct"] < 40.0


def test_too_few_passes_leave_the_noise_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    few = PASSES[: MIN_SAMPLE - 1]
    base = latency_run(tmp_path / "base", 1.0, few)
    code, change = compare_json(latency_run(tmp_path / "new", 1.4, few), base, capsys)
    assert code == 1  # the threshold alone decides
    assert change["noise"] == {"source": "unknown", "runs": 0}


def steps_run(path: Path, epoch_time: float, steps: list[float]) -> Path:
    values = {"lenet5": {"epoch_time_s": [epoch_time]}}
    return write_run(path, values, samples={"lenet5": {"epoch_time_s": steps}})


def test_an_epoch_is_judged_by_the_spread_of_its_steps_mean_but_not_excused_beyond_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sum of steps moves with their mean: the steps' spread bounds how much of the epoch's
    change their own scatter explains; a larger change counts even where the steps did not
    move (the time went elsewhere, as into evaluation)."""
    steps = [10 * ms for ms in PASSES]
    base = steps_run(tmp_path / "base", 1.0, steps)
    code, change = compare_json(
        steps_run(tmp_path / "slower", 1.2, [1.2 * s for s in steps]), base, capsys
    )
    assert (code, change["verdict"]) == (0, "noise")
    assert change["noise"]["source"] == "steps" and change["noise"]["statistic"] == "mean"
    margin = change["noise"]["margin_pct"]
    assert 20.0 < margin < 50.0
    code, change = compare_json(steps_run(tmp_path / "eval", 1.5, steps), base, capsys)
    assert (code, change["verdict"]) == (1, "regression")  # +50 %, the steps unchanged


@pytest.mark.filterwarnings("error")  # outside pytest, a warning is printed to stderr
def test_absurd_times_leave_the_noise_unknown_without_a_warning() -> None:
    steps = SAMPLED_METRICS["epoch_time_s"]
    assert run_spread(steps, [1e-300] * 8, [1.7e308] * 8) is None  # their mean overflows
    assert run_spread(steps, [0.0] * 8, [1.0] * 8) is None  # no ratio to a zero time


def test_the_history_noise_comes_first(tmp_path: Path) -> None:
    base = load_results(latency_run(tmp_path / "base", 1.0))
    new = load_results(latency_run(tmp_path / "new", 1.4))
    noise = {("lenet5", "", "latency_ms_p50"): MachineNoise(10, 0.05)}
    (change,) = compare_runs(new, base, default_thresholds(), noise=noise).changes
    assert (change.noise_source, change.spread, change.verdict) == ("history", None, "regression")
    (change,) = compare_runs(new, base, default_thresholds()).changes
    assert (change.noise_source, change.verdict) == ("passes", "noise")


def test_epoch_time_and_throughput_share_one_bootstrap_of_their_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job keeps its steady steps for both training metrics: a comparison bootstraps them
    once, and both changes are judged by that one spread."""

    def run(path: Path, factor: float) -> RunResults:
        values = {"lenet5": {"epoch_time_s": [factor], "images_per_s": [100 / factor]}}
        times = [10 * factor * ms for ms in PASSES]
        kept = {"lenet5": {"epoch_time_s": times, "images_per_s": times}}
        return load_results(write_run(path, values, samples=kept))

    bootstraps = []
    real = compare.run_spread
    monkeypatch.setattr(compare, "run_spread", lambda *a: bootstraps.append(a) or real(*a))
    changes = compare_runs(run(tmp_path / "new", 1.2), run(tmp_path / "base", 1.0), {}).changes
    spreads = {change.metric: change.spread for change in changes}
    assert len(bootstraps) == 1
    assert spreads["epoch_time_s"] is spreads["images_per_s"] is not None
    assert spreads["epoch_time_s"] == real(*bootstraps[0])


def test_every_format_names_the_noise_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = latency_run(tmp_path / "base", 1.0)
    new = latency_run(tmp_path / "new", 1.4)
    main(["compare", str(new), str(base)])
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.startswith("lenet5 "))
    assert re.search(r"\+10%\s+passes ±\d+\.\d%\s+-\s+within noise$", row), row
    main(["compare", str(new), str(base), "--format", "md"])
    assert re.search(
        r"\| \+10% \| passes ±\d+\.\d% \| \\- \| within noise \|", capsys.readouterr().out
    )
    junit = tmp_path / "compare.xml"
    main(["compare", str(new), str(base), "--format", "junit", "--out", str(junit)])
    (case, _status) = ET.parse(junit).getroot().iter("testcase")
    assert re.search(r"noise passes ±\d+\.\d%\): noise$", case.findtext("system-out") or "")
    (noise,) = case.iter("property")
    assert noise.get("name") == "noise" and re.fullmatch(r"passes ±\d+\.\d%", noise.get("value"))
    few = latency_run(tmp_path / "few", 1.4, PASSES[:4])
    main(["compare", str(few), str(base), "--format", "junit", "--out", str(junit)])
    (case, _status) = ET.parse(junit).getroot().iter("testcase")
    (noise,) = case.iter("property")
    assert noise.get("value") == "unknown (0 earlier runs)"


def test_seeds_pool_their_times(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def run(path: Path, factor: float) -> Path:
        times = [factor * ms for ms in PASSES[:4]]  # four passes per seed: two seeds make 8
        values = {"lenet5": {"latency_ms_p50": [factor, factor]}}
        return write_run(path, values, samples={"lenet5": {"latency_ms_p50": times}})

    code, change = compare_json(run(tmp_path / "new", 1.4), run(tmp_path / "base", 1.0), capsys)
    assert (change["noise"]["n_base"], change["noise"]["n_new"]) == (8, 8)
    assert (code, change["base"]["n"]) == (1, 2)  # equal seeds: the Welch test finds p = 0


def test_a_baseline_file_keeps_the_samples(tmp_path: Path, capsys) -> None:
    run = latency_run(tmp_path / "run", 1.0)
    baseline = tmp_path / "b.json"
    assert main(["baseline", "save", str(run), "--out", str(baseline)]) == 0
    assert json.loads(baseline.read_text())["jobs"][0]["samples"] == {
        "latency_ms_p50": list(PASSES)
    }
    (job,) = load_results(baseline).jobs
    assert job.samples == {"latency_ms_p50": PASSES}
    assert load_results(baseline).jobs == load_results(run).jobs


BAD_SAMPLES = [  # a sample, and what the error says after the field's name
    ([1.0, math.nan], "[1]' not a finite number: NaN"),  # every reader refuses NaN, Infinity
    ([1.0, math.inf], "[1]' not a finite number: Infinity"),
    ([1.0, 1e300], "[1]' out of range (beyond ±2^63): 1e+300"),
    ([1.0, -0.5], "[1]' below 0: -0.5"),
    (["1.0"], "[0]' not a number: '1.0'"),
    ([True], "[0]' not a number: true"),
    ([1.0, None], "[1]' not a number: null"),
    ([1.0] * (SAMPLE_CAP + 1), f"' more than {SAMPLE_CAP} items: {SAMPLE_CAP + 1}"),
    ({"0": 1.0}, "' not a list: an object"),
    ("fast", "' not a list: 'fast'"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_SAMPLES)
def test_damaged_samples_in_a_run_are_one_line_naming_the_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: Any, message: str
) -> None:
    run = latency_run(tmp_path / "run", 1.0)
    path = run / RECORDS_FILE
    (record,) = (json.loads(line) for line in path.read_text().splitlines())
    record["samples"] = {"latency_ms_p50": bad}
    path.write_text(json.dumps(record) + "\n")  # NaN and Infinity as Python writes them
    err = one_line_error(["compare", str(run), str(run)], capsys)
    assert err.endswith(f"{path}: line 1: field 'samples.latency_ms_p50{message}")


@pytest.mark.parametrize("kind", ["epoch", "job"])
@pytest.mark.parametrize(("bad", "message"), BAD_SAMPLES)
def test_damaged_step_and_pass_times_are_one_line_in_the_same_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, bad: Any, message: str
) -> None:
    run = latency_run(tmp_path / "run", 1.0)
    path = run / RECORDS_FILE
    (job,) = (json.loads(line) for line in path.read_text().splitlines())
    row = {"model": "lenet5", "precision": "fp32", "batch_size": 1, "status": "ok"}
    epoch = {"type": "epoch", "job_id": job["job_id"], "phase": "train", "epoch": 1}
    damaged = {"step_ms": bad} if kind == "epoch" else {"inference": [{**row, "pass_ms": bad}]}
    records = [{**epoch, **damaged}, job] if kind == "epoch" else [{**job, **damaged}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    err = one_line_error(["report", str(run)], capsys)
    name = "step_ms" if kind == "epoch" else "inference[0].pass_ms"
    assert err.endswith(f"{path}: line 1: field '{name}{message}")


@pytest.mark.parametrize(("bad", "message"), [*BAD_SAMPLES, ("not a map", None)])
def test_damaged_samples_in_a_baseline_file_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: Any, message: str | None
) -> None:
    run = latency_run(tmp_path / "run", 1.0)
    baseline = tmp_path / "b.json"
    main(["baseline", "save", str(run), "--out", str(baseline)])
    doc = json.loads(baseline.read_text())
    doc["jobs"][0]["samples"] = bad if message is None else {"latency_ms_p50": bad}
    baseline.write_text(json.dumps(doc))
    err = one_line_error(["compare", str(run), str(baseline)], capsys)
    if message is None:
        assert err.endswith(f"{baseline}: field 'jobs[0].samples' not an object: 'not a map'")
    else:
        assert err.endswith(f"{baseline}: field 'jobs[0].samples.latency_ms_p50{message}")


def test_compact_keeps_every_value_up_to_the_cap_and_evenly_ranked_ones_beyond() -> None:
    assert compact([3.0, 1.23456, 2.0]) == [1.235, 2.0, 3.0]
    assert compact([]) == []
    hundred = compact(float(v) for v in range(100, 0, -1))  # 1 … 100
    assert len(hundred) == SAMPLE_CAP
    assert hundred == [float(int((i + 0.5) * 100 / SAMPLE_CAP) + 1) for i in range(SAMPLE_CAP)]
    assert hundred[:3] == [2.0, 5.0, 8.0] and hundred[-1] == 99.0
