"""The history database, commit order, step detection and ``bench history``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from compare_fixtures import write_run

from bench.cli import main
from bench.regress.history import CommitPoint, detect_steps, load_series, noise_scale, record_run


def at_commit(tmp_path: Path, name: str, commit: str, created: str, values: list[float]) -> Path:
    return write_run(
        tmp_path / name,
        {"lenet5": {"epoch_time_s": values, "test_acc": [97.0] * len(values)}},
        commit=commit,
        created_utc=created,
        suite="smoke",
    )


def points(*medians_and_spread: tuple[float, float]) -> list[CommitPoint]:
    """One commit per (median, spread): two seeds at median ± spread (one when spread is 0)."""
    return [
        CommitPoint(f"c{i}", f"2026-01-0{i + 1}", (m - s, m + s) if s else (m,))
        for i, (m, s) in enumerate(medians_and_spread)
    ]


def test_record_run_writes_a_row_per_job_and_is_idempotent(tmp_path: Path) -> None:
    run = at_commit(tmp_path, "run", "c1", "2026-01-01T00:00:00+00:00", [1.0, 1.1])
    db = tmp_path / "h" / "history.sqlite"
    assert record_run(db, run) == 2
    assert record_run(db, run) == 2
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT machine_id, git_commit, suite, model, variant, seed, run_id, status, "
            "epoch_time_s, test_acc FROM jobs ORDER BY seed"
        ).fetchall()
    assert rows == [
        ("cpu-0a1b2c3d", "c1", "smoke", "lenet5", "", 0, "run", "ok", 1.0, 97.0),
        ("cpu-0a1b2c3d", "c1", "smoke", "lenet5", "", 1, "run", "ok", 1.1, 97.0),
    ]


def test_three_commits_come_back_in_order_of_first_appearance(tmp_path: Path, capsys) -> None:
    db = tmp_path / "history.sqlite"
    runs = [
        at_commit(tmp_path, "r3", "ccc333", "2026-01-03T00:00:00+00:00", [1.2]),
        at_commit(tmp_path, "r1", "aaa111", "2026-01-01T00:00:00+00:00", [1.0]),
        at_commit(tmp_path, "r4", "aaa111", "2026-01-04T00:00:00+00:00", [1.02]),  # re-measured
        at_commit(tmp_path, "r2", "bbb222", "2026-01-02T00:00:00+00:00", [1.1]),
    ]
    for run in runs:  # recorded out of order
        record_run(db, run)
    series = load_series(db, "smoke", "lenet5", "epoch_time_s")
    assert [(p.commit, p.first_utc, p.values) for p in series.points] == [
        ("aaa111", "2026-01-01T00:00:00+00:00", (1.0, 1.02)),
        ("bbb222", "2026-01-02T00:00:00+00:00", (1.1,)),
        ("ccc333", "2026-01-03T00:00:00+00:00", (1.2,)),
    ]
    assert main(["history", "--db", str(db), "--suite", "smoke", "--model", "lenet5",
                 "--metric", "epoch_time_s"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("smoke / lenet5 / epoch_time_s [s] on cpu-0a1b2c3d: 3 commits")
    assert [line.split()[1] for line in lines[2:5]] == ["aaa111", "bbb222", "ccc333"]


def test_planted_step_is_detected_and_plotted(tmp_path: Path, capsys) -> None:
    db = tmp_path / "history.sqlite"
    times = [[1.0, 1.02], [0.99, 1.01], [1.01, 1.03], [1.3, 1.32], [1.31, 1.29], [1.3, 1.33]]
    for i, values in enumerate(times):
        record_run(db, at_commit(tmp_path, f"r{i}", f"commit{i}", f"2026-01-0{i + 1}", values))
    series = load_series(db, "smoke", "lenet5", "epoch_time_s")
    (step,) = detect_steps(series.points, higher_is_better=False)
    assert (step.index, step.worse) == (3, True)
    assert (step.before, step.after) == pytest.approx((1.02, 1.31))
    assert step.change_pct == pytest.approx(28.431373)
    for plot in (tmp_path / "plots" / "epoch.png", tmp_path / "epoch.svg"):
        argv = ["history", "--db", str(db), "--suite", "smoke", "--model", "lenet5"]
        assert main([*argv, "--metric", "epoch_time_s", "--plot", str(plot)]) == 0
        out = capsys.readouterr().out
        assert "commit3" in out and "step +28.4% (worse)" in out
        assert "1 step(s) detected" in out
    assert (tmp_path / "plots" / "epoch.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (tmp_path / "epoch.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "Steady-state epoch time (s)" in svg


def test_noise_between_commits_is_not_a_step() -> None:
    # Commit medians move by up to 8 %, past the 5 % minimum, but seeds spread ±8 %.
    series = points((1.0, 0.08), (1.07, 0.08), (0.99, 0.08), (1.06, 0.08), (1.0, 0.08))
    assert noise_scale(series) == pytest.approx(1.4826 * 0.08)
    assert detect_steps(series, higher_is_better=False) == []
    assert len(detect_steps(series, higher_is_better=False, k=0.0)) == 4  # the noise rule matters


def test_step_with_one_value_per_commit_uses_consecutive_differences() -> None:
    series = points(*((m, 0.0) for m in (1.0, 1.01, 0.99, 1.0, 1.3, 1.31, 1.29)))
    assert noise_scale(series) == pytest.approx(1.4826 * 0.015 / 2**0.5)
    assert [(s.index, s.worse) for s in detect_steps(series, higher_is_better=False)] == [(4, True)]
    assert [s.worse for s in detect_steps(series, higher_is_better=True)] == [False]


def test_short_series_without_seeds_uses_the_minimum_change() -> None:
    series = points((97.0, 0.0), (96.0, 0.0), (90.0, 0.0))
    assert noise_scale(series) is None
    (step,) = detect_steps(series, higher_is_better=True)
    assert (step.index, step.worse) == (2, True)


def test_failed_jobs_are_left_out_of_the_series(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    ok = {"lenet5": {"epoch_time_s": [1.0]}, "vgg16": {"epoch_time_s": [9.0]}}
    record_run(db, write_run(tmp_path / "a", ok, commit="c1", created_utc="2026-01-01"))
    failed = write_run(
        tmp_path / "b", ok, commit="c2", created_utc="2026-01-02", status={"vgg16": "oom"}
    )
    assert record_run(db, failed) == 2
    series = load_series(db, "fixture", "vgg16", "epoch_time_s")
    assert [p.commit for p in series.points] == ["c1"]


def test_history_cli_records_run_directories(tmp_path: Path, capsys) -> None:
    db = tmp_path / "history.sqlite"
    run = at_commit(tmp_path, "run", "c1", "2026-01-01", [1.0, 1.1, 1.2])
    assert main(["history", "--db", str(db), "--record", str(run)]) == 0
    assert capsys.readouterr().out == f"recorded 3 jobs of {run} in {db}\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--metric", "epoch_tim"], "--metric: unknown metric 'epoch_tim'; did you mean"),
        (["--metric", "epoch_time_s", "--model", "vgg"], "--model vgg: no history for suite"),
        (["--metric", "epoch_time_s", "--suite", "x"], "--suite x: no history in"),
        (["--metric", "peak_mem_mib"], "--metric peak_mem_mib: no measured value for lenet5"),
        (["--metric", "epoch_time_s", "--plot", "a.jpg"], "must end in .png or .svg"),
        (["--metric", "epoch_time_s"], "several values of --machine ('m1', 'm2')"),
    ],
)
def test_history_usage_errors_are_one_line(
    tmp_path: Path, capsys, extra: list[str], message: str
) -> None:
    db = tmp_path / "history.sqlite"
    for machine in ("m1", "m2"):
        record_run(
            db,
            write_run(tmp_path / machine, {"lenet5": {"epoch_time_s": [1.0]}}, machine_id=machine),
        )
    argv = ["history", "--db", str(db), "--suite", "fixture", "--model", "lenet5"]
    code = main([*argv, *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1


def test_history_without_a_database_is_a_usage_error(tmp_path: Path, capsys) -> None:
    argv = ["history", "--db", str(tmp_path / "none.sqlite"), "--suite", "s", "--model", "m"]
    assert main([*argv, "--metric", "epoch_time_s"]) == 2
    assert "no such history database" in capsys.readouterr().err
