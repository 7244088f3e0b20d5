"""``bench run --baseline``: the baseline checked before training, the run judged against it,
the comparison kept in the run directory and linked from the report."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from compare_fixtures import write_run
from test_report_html import markup_errors
from tiny_suite import tiny_suite

from bench.cli import main
from bench.measure.environment import current_machine_id
from bench.results.baseline import load_results
from bench.results.rundir import RunDir
from bench.run.gate import Gate

# The CPU is shared with other work: two equal runs here have differed by 7x in epoch time, so
# the suite gates time only on changes of 20x or more, which the planted baseline makes.
THRESHOLDS = """
[thresholds]
epoch_time_s = "+2000%"
first_epoch_time_s = "+2000%"
total_time_s = "+2000%"
images_per_s = "-95%"
peak_rss_mib = "+50%"
test_acc = -1.0
"""
# Times of a baseline far faster than any CPU trains LeNet-5 (a planted figure, not measured):
# 10 µs, so that even 21 times that (the +2000% threshold) lies far below the ~30 ms an epoch
# of this suite takes on an idle CPU.
PLANTED = {"epoch_time_s": [1e-5], "first_epoch_time_s": [1e-5], "total_time_s": [1e-5],
           "images_per_s": [1e9]}  # fmt: skip


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("suite") / "tiny.toml"
    path.write_text(tiny_suite(epochs=2, train_size=256, test_size=64) + THRESHOLDS)
    return path


def bench_run(suite: Path, out: Path, *extra: object) -> int:
    argv = ["run", "--suite", str(suite), "--models", "lenet5", "--seeds", "0", "--quiet"]
    return main([*argv, "--out", str(out), *map(str, extra)])


def only_run(out: Path) -> Path:
    (run_json,) = out.glob("*/*/run.json")
    return run_json.parent


@pytest.fixture(scope="module")
def first(suite: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path, Path]:
    """A run judged against the planted faster baseline: its exit status, output, directory
    and the baseline."""
    folder = tmp_path_factory.mktemp("first")
    planted = write_run(
        folder / "planted", {"lenet5": PLANTED}, machine_id=current_machine_id(), suite="tiny"
    )
    capture = io.StringIO()
    with contextlib.redirect_stdout(capture):
        code = bench_run(suite, folder / "reports", "--baseline", planted, "--no-report")
    return code, capture.getvalue(), only_run(folder / "reports"), planted


def test_run_against_a_faster_baseline_fails_naming_the_time_metrics(
    first: tuple[int, str, Path, Path],
) -> None:
    code, out, run, planted = first
    assert code == 1
    for metric in ("epoch_time_s", "first_epoch_time_s", "total_time_s"):
        assert f"REGRESSION lenet5 {metric}: 1e-05 → " in out
    assert "REGRESSION lenet5 images_per_s: 1,000,000,000 → " in out
    assert "result: 4 regressions" in out
    markdown = (run / "compare.md").read_text()
    assert markdown.startswith("### bench compare: 4 regressions")
    assert json.loads((run / "compare.json").read_text())["regressed"] is True
    assert (run / "compare.junit.xml").read_text().count("<failure ") == 4
    assert main(["compare", str(run), str(planted), "--history-db", "none"]) == 1


def test_the_run_keeps_each_epochs_steps_and_the_steady_ones_as_the_jobs_sample(
    first: tuple[int, str, Path, Path],
) -> None:
    records = RunDir.open(first[2]).records()
    epochs = [r for r in records if r["type"] == "epoch"]
    assert [len(e["step_ms"]) for e in epochs] == [4, 4]  # 256 images, batch 64
    for epoch in epochs:
        assert epoch["step_ms"] == sorted(epoch["step_ms"]) and epoch["step_ms"][0] > 0
        assert sum(epoch["step_ms"]) <= 1000.5 * epoch["train_time_s"]  # all but the last fetch
    (job,) = [r for r in records if r["type"] == "job"]
    steady = epochs[1]["step_ms"]
    assert job["samples"] == {"epoch_time_s": steady, "images_per_s": steady}
    changes = json.loads((first[2] / "compare.json").read_text())["changes"]
    noise = {c["metric"]: c["noise"]["source"] for c in changes}
    assert noise["epoch_time_s"] == "unknown"  # the planted baseline kept no steps


def test_run_against_a_baseline_of_an_equal_run_passes_and_links_the_comparison(
    suite: Path, first: tuple[int, str, Path, Path], tmp_path: Path, capsys
) -> None:
    baseline = tmp_path / "equal.json"
    assert main(["baseline", "save", str(first[2]), "--out", str(baseline)]) == 0
    capsys.readouterr()
    assert bench_run(suite, tmp_path / "reports", "--baseline", baseline) == 0
    out = capsys.readouterr().out
    run = only_run(tmp_path / "reports")
    assert "result: no regression" in out
    assert f"compare: {run / 'compare.md'}" in out
    assert (run / "compare.md").read_text().startswith("### bench compare: no regression")
    changes = json.loads((run / "compare.json").read_text())["changes"]
    accuracy = next(c for c in changes if c["metric"] == "test_acc")
    assert accuracy["delta"] == 0.0 and accuracy["verdict"] == "ok"  # same seed, same result
    page = (run / "report.html").read_text()
    assert 'Comparison with the baseline: <a href="compare.md">compare.md</a>' in page
    assert markup_errors(page)[0] == []


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        ("none", (), "--baseline {tmp}/nowhere.json: no such run directory or baseline file"),
        ("other", (), "was measured on machine 'elsewhere-1234', this is"),
        ("bad", (), "--baseline {tmp}/bad.json: not a bench baseline file"),
        ("none", ("--fail-on", "epoch_time_s:-5%"), "must start with '+'"),
    ],
)
def test_a_bad_baseline_stops_the_run_before_training(
    suite: Path, tmp_path: Path, capsys, make: str, extra: tuple[str, ...], message: str
) -> None:
    baseline = {
        "none": tmp_path / "nowhere.json",
        "other": write_run(tmp_path / "other", {"lenet5": {"epoch_time_s": [1.0]}},
                           machine_id="elsewhere-1234"),
        "bad": tmp_path / "bad.json",
    }[make]  # fmt: skip
    (tmp_path / "bad.json").write_text("{}")
    code = bench_run(suite, tmp_path / "reports", "--baseline", baseline, *extra)
    err = capsys.readouterr().err
    assert code == 2
    assert message.format(tmp=tmp_path) in err and err.count("\n") == 1
    assert not (tmp_path / "reports").exists()  # nothing trained, no run directory


def test_fail_on_needs_a_baseline(suite: Path, tmp_path: Path, capsys) -> None:
    assert bench_run(suite, tmp_path / "reports", "--fail-on", "none") == 2
    assert "--fail-on needs --baseline FILE_OR_RUN" in capsys.readouterr().err


def test_an_unreadable_history_leaves_the_noise_unknown_and_still_compares(
    tmp_path: Path, capsys
) -> None:
    base = write_run(tmp_path / "base", {"lenet5": {"epoch_time_s": [1.0]}})
    new = write_run(tmp_path / "new", {"lenet5": {"epoch_time_s": [2.0]}})
    damaged = tmp_path / "history.sqlite"
    damaged.write_bytes(b"not a database, " * 100)
    gate = Gate(load_results(base), fail_on={})
    code, lines = gate.judge(RunDir.open(new).read(), damaged)
    out, err = capsys.readouterr()
    assert code == 1  # the default +10% on a 2x slower epoch
    assert err.startswith("warning: machine noise unknown: ") and err.count("\n") == 1
    assert "unknown (0 earlier runs)" in out
    assert lines == [f"compare: {new / 'compare.md'}"]
    assert (new / "compare.md").read_text().startswith("### bench compare: 1 regression")
