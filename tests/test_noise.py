"""The machine's run-to-run noise from the history: the noise floor of ``bench compare`` and
``bench history --noise``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from compare_fixtures import write_run

from bench.cli import main
from bench.regress.compare import MachineNoise
from bench.regress.history import record_run
from bench.regress.noise import machine_noise, spread
from bench.results.baseline import load_results

# Ten earlier runs whose epoch time moves within ±8 % of 1 s: σ = 1.4826 × MAD = 1.4826 × 0.04.
HISTORY = (1.0, 1.08, 0.92, 1.04, 0.96, 1.02, 0.98, 1.06, 0.94, 1.0)
SIGMA = 1.4826 * 0.04


def run_at(tmp_path: Path, name: str, day: int, epoch_time: float, **kw: object) -> Path:
    values = {"lenet5": {"epoch_time_s": [epoch_time], "test_acc": [97.0]}}
    return write_run(
        tmp_path / name,
        values,
        commit=f"c{day:02d}",
        created_utc=f"2026-01-{day:02d}T00:00:00+00:00",
        suite="smoke",
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HISTORY recorded on this machine, plus wild runs elsewhere that must not count (read
    only: a test that records more records into a copy)."""
    tmp_path = tmp_path_factory.mktemp("history")
    db = tmp_path / "history.sqlite"
    for day, value in enumerate(HISTORY, start=1):
        record_run(db, run_at(tmp_path, f"h{day}", day, value))
    for day, value in enumerate((0.1, 9.0, 0.2, 8.0, 0.3), start=1):
        record_run(db, run_at(tmp_path, f"m{day}", day, value, machine_id="other-machine"))
        record_run(db, run_at(tmp_path, f"v{day}", day, value, variant="amp-bf16"))
    return db


def compare(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str]:
    code = main(["compare", *map(str, argv)])
    return code, capsys.readouterr().out


def test_spread_is_the_scaled_median_absolute_deviation() -> None:
    assert spread(HISTORY) == pytest.approx(SIGMA)
    assert spread([1.0, 1.0, 1.0, 1.0, 5.0]) == 0.0  # one odd run does not inflate it
    assert spread(HISTORY[:4]) is None  # fewer than five runs


def test_five_percent_inside_a_history_moving_8_percent_is_within_noise(
    tmp_path: Path, history: Path, capsys
) -> None:
    base = run_at(tmp_path, "base", 20, 1.0)
    new = run_at(tmp_path, "new", 21, 1.05)
    db = Path(shutil.copy(history, tmp_path / "history.sqlite"))
    record_run(db, new)  # the run itself (and anything later) is no earlier run
    record_run(db, run_at(tmp_path, "later", 22, 5.0))
    argv = (new, base, "--fail-on", "epoch_time_s:+3%", "--history-db", db)
    code, out = compare(capsys, *argv, "--format", "json")
    assert code == 0
    change = next(c for c in json.loads(out)["changes"] if c["metric"] == "epoch_time_s")
    assert change["noise"] == {"source": "history", "runs": 10, "sigma": pytest.approx(SIGMA)}
    assert change["verdict"] == "noise"  # past +3 %, but 0.05 s is inside 3σ = 0.178 s
    code, out = compare(capsys, *argv)
    assert "+3%        σ 0.0593 (10 runs)" in out and "within noise" in out
    assert "seeds" in out  # accuracy keeps the seeds' noise
    code, out = compare(capsys, new, base, "--fail-on", "epoch_time_s:+3%", "--history-db", "none")
    assert code == 1  # without the history, the threshold alone decides
    assert "unknown (0 earlier runs)" in out


def test_thirty_percent_step_beyond_the_noise_is_a_regression(
    tmp_path: Path, history: Path, capsys
) -> None:
    base = run_at(tmp_path, "base", 20, 1.0)
    new = run_at(tmp_path, "new", 21, 1.3)
    code, out = compare(capsys, new, base, "--history-db", history)
    assert code == 1
    assert (
        "REGRESSION lenet5 epoch_time_s: 1 → 1.3 s (+30.0%, threshold +10%, noise σ 0.0593 "
        "(10 runs))" in out
    )


def test_too_few_earlier_runs_leave_the_noise_unknown(tmp_path: Path, capsys) -> None:
    db = tmp_path / "history.sqlite"
    for day, value in enumerate(HISTORY[:4], start=1):
        record_run(db, run_at(tmp_path, f"h{day}", day, value))
    new = load_results(run_at(tmp_path, "new", 21, 1.05))
    assert machine_noise(db, new) == {("lenet5", "", "epoch_time_s"): MachineNoise(4, None)}
    assert machine_noise(tmp_path / "absent.sqlite", new) == {}
    assert not (tmp_path / "absent.sqlite").exists()
    base = run_at(tmp_path, "base", 20, 1.0)
    code, out = compare(
        capsys, new.source, base, "--fail-on", "epoch_time_s:+3%", "--history-db", db
    )
    assert code == 1
    assert "unknown (4 earlier runs)" in out


def test_history_noise_prints_the_spread_per_model_and_metric(history: Path, capsys) -> None:
    argv = ["history", "--db", str(history), "--suite", "smoke", "--noise"]
    assert main([*argv, "--machine", "cpu-0a1b2c3d"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("run-to-run noise of smoke on cpu-0a1b2c3d (σ = 1.4826 × MAD")
    assert lines[1].split() == ["model", "metric", "runs", "median", "σ", "σ", "%", "3σ", "%"]
    assert lines[2].split() == [
        "lenet5", "epoch_time_s", "10", "1", "s", "0.0593", "s", "5.9%", "17.8%",
    ]  # fmt: skip
    assert lines[3].split()[:4] == ["lenet5[amp-bf16]", "epoch_time_s", "5", "0.3"]
    assert len(lines) == 4  # accuracy's noise is the seeds', not listed
    assert main(argv) == 0
    blocks = capsys.readouterr().out.split("\n\n")
    assert [b.split(" (")[0] for b in blocks] == [
        "run-to-run noise of smoke on cpu-0a1b2c3d",
        "run-to-run noise of smoke on other-machine",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--noise"], "--noise takes --suite (and --machine), not --model, --metric or --plot"),
        (["--noise", "--suite", "smoke", "--model", "lenet5"], "--noise takes --suite"),
        (["--noise", "--suite", "mnist"], "--suite mnist: no history in"),
        (["--noise", "--suite", "smoke", "--machine", "x"], "--machine x: no history of smoke"),
    ],
)
def test_history_noise_usage_errors(history: Path, capsys, argv: list[str], message: str) -> None:
    assert main(["history", "--db", str(history), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
