"""No bad number passes a gate: every reader checks what it reads (``bench.results.checks``).

A non-finite, mistyped, out-of-range or too deeply nested value in a baseline, a run
directory's ``run.json`` or records, an inference row, a sample of pass or step times, a trace
table or a telemetry CSV is one line naming the file and field and exit 2 in every command
that reads it, before any work (before training for ``bench run --baseline``), and no input
changes; a history row that bench did not write is skipped with one warning line; a baseline
of another suite is refused unless allowed.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from cli_errors import one_line_error
from compare_fixtures import write_run as write_compare_run
from file_trees import tree_state
from place_fixtures import Place
from run_fixtures import write_run
from tiny_suite import tiny_suite

from bench.cli import main
from bench.measure.environment import current_machine_id
from bench.measure.telemetry import CSV_COLUMNS
from bench.regress.history import record_results
from bench.results.baseline import load_results, save
from bench.results.run_results import JobRow, RunResults
from bench.results.rundir import RunDir, TraceFiles
from bench.run.gate import Gate

SUITE = "fixture-suite"
TRACED = "lenet5-s0"
OPERATORS = (
    "operator,calls_per_step,self_ms_per_step,self_pct,total_ms_per_step,clock\n"
    "aten::convolution,2.0,1.5,60.0,2.5,cpu\n"
    "aten::mm,1.0,1.0,40.0,1.0,cpu\n"
)
MODULES = "module,calls_per_step,forward_ms_per_step,clock\nconv1,1.0,1.2,cpu\n"
DEEP = "[" * 100_000 + "]" * 100_000
HUGE = str(10**400)


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Place:
    """What a command reads: a run directory (lenet5 and vgg16, seeds 0 and 1, inference rows,
    a trace of lenet5-s0), its baseline file and a history of five earlier runs of its suite."""
    inputs = Place(tmp_path_factory.mktemp("pristine"))
    write_run(inputs.run, seeds=(0, 1), telemetry=False, artifacts=False)
    info = json.loads((inputs.run / "run.json").read_text())
    info["suite"] |= {"models": [{"name": "lenet5"}, {"name": "vgg16"}], "seeds": [0, 1]}
    (inputs.run / "run.json").write_text(json.dumps(info))  # a suite bench merge can re-read
    trace = TraceFiles(gzip.compress(b'{"traceEvents": []}'), OPERATORS, MODULES)
    RunDir.open(inputs.run).save_trace(TRACED, trace)
    results = load_results(inputs.run)
    save(results, inputs.baseline)
    record_earlier_runs(inputs.db, results)
    inputs.suite.write_text(tiny_suite(epochs=1, train_size=64, test_size=32))
    return inputs


def record_earlier_runs(db: Path, results: RunResults) -> None:
    """Five runs like ``results`` made before it, their epoch time and accuracy only (a small
    dashboard)."""
    kept = ("epoch_time_s", "test_acc")
    jobs = tuple(
        dataclasses.replace(job, metrics={name: job.metrics.get(name) for name in kept})
        for job in results.jobs
    )
    for hour in range(5):
        earlier = dataclasses.replace(
            results,
            run_id=f"earlier-{hour}",
            created_utc=f"2025-01-01T0{hour}:00:00+00:00",
            jobs=jobs,
        )
        record_results(db, earlier)


@pytest.fixture
def inputs(pristine: Place, tmp_path: Path) -> Place:
    """A copy of the pristine inputs, to damage."""
    shutil.copytree(pristine.root, tmp_path / "inputs")
    return Place(tmp_path / "inputs")


def set_field(text: str, path: Sequence[str | int], value: str) -> str:
    """The JSON ``text`` with the field at ``path`` set to the raw JSON text ``value`` (which
    Python's reader may not even parse back)."""
    document = json.loads(text)
    holder = document
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = "@@value@@"
    compact = "\n" not in text.strip()
    dumped = json.dumps(document, separators=(",", ":")) if compact else json.dumps(document)
    return dumped.replace('"@@value@@"', value)


def edit_baseline(inputs: Place, path: Sequence[str | int], value: str) -> str:
    inputs.baseline.write_text(set_field(inputs.baseline.read_text(), path, value))
    return str(inputs.baseline)


def edit_run_json(inputs: Place, path: Sequence[str | int], value: str) -> str:
    run_json = inputs.run / "run.json"
    run_json.write_text(set_field(run_json.read_text(), path, value))
    return str(run_json)


def edit_job(inputs: Place, path: Sequence[str | int], value: str) -> str:
    """Set a field of lenet5-s0's job record; where it is, as messages name it."""
    records = inputs.run / "records.jsonl"
    lines = records.read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if '"type":"job"' in line and TRACED in line)
    lines[number - 1] = set_field(lines[number - 1], path, value)
    records.write_text("".join(f"{line}\n" for line in lines))
    return f"{records}: line {number}"


def repeat_job(inputs: Place) -> str:
    """Add a job record of lenet5 seed 0 under another job id (a seed counted twice)."""
    records = inputs.run / "records.jsonl"
    line = next(
        line
        for line in records.read_text().splitlines()
        if f'"job_id":"{TRACED}"' in line and '"type":"job"' in line
    )
    with records.open("a") as handle:
        handle.write(line.replace(f'"job_id":"{TRACED}"', '"job_id":"lenet5-copy"') + "\n")
    return str(records)


def repeat_baseline_row(inputs: Place) -> str:
    document = json.loads(inputs.baseline.read_text())
    document["jobs"].append(document["jobs"][0])
    inputs.baseline.write_text(json.dumps(document))
    return str(inputs.baseline)


def edit_trace(inputs: Place, table: str, old: str, new: str) -> str:
    path = inputs.run / "traces" / f"{TRACED}_{table}.csv"
    path.write_text(path.read_text().replace(old, new, 1))
    return f"{path}: line 2"


# One reading as the sampler writes it, by column of CSV_COLUMNS.
TELEMETRY_ROW = {
    "time_s": "0.5", "phase": "train", "epoch": "1", "gpu_util_pct": "92.0",
    "mem_util_pct": "55.0", "mem_used_mib": "2048.0", "power_w": "180.0",
    "temperature_c": "60.0", "sm_clock_mhz": "1755.0", "mem_clock_mhz": "5001.0",
    "clock_event_reasons": "0", "segment": "1", "power_source": "instant",
}  # fmt: skip


def spoil_telemetry(inputs: Place, column: str, value: str) -> str:
    """Give lenet5-s0 a telemetry CSV of two readings, the second's ``column`` set to
    ``value``."""
    path = inputs.run / "telemetry" / f"{TRACED}.csv"
    rows = [TELEMETRY_ROW, {**TELEMETRY_ROW, "time_s": "1.0", column: value}]
    path.parent.mkdir(exist_ok=True)
    lines = [",".join(CSV_COLUMNS), *(",".join(row[c] for c in CSV_COLUMNS) for row in rows)]
    path.write_text("".join(f"{line}\n" for line in lines))
    return f"{path}: line 3"


Damage = Callable[[Place], str]
"""Spoils a copy of the inputs; returns where the message must say the damage is."""

# Commands that read a baseline (the baseline file, or the run directory given as one).
BASELINE_READERS: dict[str, Callable[[Place, Path, Path], list[str]]] = {
    "compare-table": lambda i, base, out: ["compare", str(i.run), str(base), "--history-db",
                                           "none"],
    "compare-md": lambda i, base, out: ["compare", str(i.run), str(base), "--format", "md",
                                        "--history-db", "none"],
    "compare-json": lambda i, base, out: ["compare", str(i.run), str(base), "--format", "json",
                                          "--history-db", "none"],
    "run-baseline": lambda i, base, out: ["run", "--suite", str(i.suite), "--quiet",
                                          "--out", str(out / "reports"), "--baseline", str(base)],
    "history-html-baseline": lambda i, base, out: ["history", "--html", str(out / "site"),
                                                   "--db", str(i.db), "--baseline", str(base)],
}  # fmt: skip
# Commands that read a run directory (and nothing else that is damaged here).
RUN_READERS: dict[str, Callable[[Place, Path], list[str]]] = {
    "report": lambda i, out: ["report", str(i.run), "--out", str(out / "report")],
    "baseline-save": lambda i, out: ["baseline", "save", str(i.run), "--out", str(out / "b.json")],
    "history-record": lambda i, out: ["history", "--record", str(i.run), "--db",
                                      str(out / "h.sqlite")],
    "merge": lambda i, out: ["merge", str(i.run), "--out", str(out / "merged"), "--partial"],
    "compare-new": lambda i, out: ["compare", str(i.run), str(i.baseline), "--format", "json",
                                   "--history-db", "none"],
}  # fmt: skip


@pytest.mark.parametrize("command", [*RUN_READERS, "history-html-baseline"])
def test_every_reader_takes_the_undamaged_inputs(inputs: Place, command: str) -> None:
    """The control of the refusals below: each command reads the inputs as they were made, so
    a refusal there is the damage's doing."""
    out = inputs.root.parent / "out"
    if command in RUN_READERS:
        argv = RUN_READERS[command](inputs, out)
    else:
        argv = BASELINE_READERS[command](inputs, inputs.baseline, out)
    assert main(argv) == 0


def refused(argv: list[str], inputs: Place, capsys: pytest.CaptureFixture[str]) -> str:
    """The one stderr line of ``bench ARGV`` (``one_line_error``), which leaves every input
    unchanged and writes nothing: ``out/``, where the outputs go, stays absent (nothing
    trained, merged or saved)."""
    assert not (inputs.root.parent / "out").exists()
    return one_line_error(argv, capsys, unchanged=[inputs.root, inputs.root.parent / "out"])


def check_refused_everywhere(
    inputs: Place,
    capsys: pytest.CaptureFixture[str],
    command: str,
    damage: Damage,
    message: str,
    in_baseline: bool,
) -> None:
    """Spoil the inputs; ``command`` (of ``BASELINE_READERS`` or ``RUN_READERS``) refuses them
    with a line naming where and ``message``."""
    where = damage(inputs)
    out = inputs.root.parent / "out"
    if command in BASELINE_READERS:
        argv = BASELINE_READERS[command](
            inputs, inputs.baseline if in_baseline else inputs.run, out
        )
    else:
        argv = RUN_READERS[command](inputs, out)
    line = refused(argv, inputs, capsys)
    assert f"{where}: {message}" in line, line


def commands_for(in_baseline: bool) -> list[str]:
    """The commands that read a damaged baseline file, or a damaged run directory."""
    return list(BASELINE_READERS) if in_baseline else [*BASELINE_READERS, *RUN_READERS]


def cases(damages: dict[str, tuple[Damage, str, bool]]) -> list[Any]:
    """(command, damage) pairs: every reader of what each damage spoils."""
    return [
        pytest.param(command, name, id=f"{name}-{command}")
        for name, (_, _, in_baseline) in damages.items()
        for command in commands_for(in_baseline)
    ]


NON_FINITE: dict[str, tuple[Damage, str, bool]] = {
    "baseline-nan": (
        lambda i: edit_baseline(i, ("jobs", 0, "metrics", "epoch_time_s"), "NaN"),
        "field 'jobs[0].metrics.epoch_time_s' not a finite number: NaN",
        True,
    ),
    "baseline-infinity": (
        lambda i: edit_baseline(i, ("jobs", 1, "metrics", "test_acc"), "Infinity"),
        "field 'jobs[1].metrics.test_acc' not a finite number: Infinity",
        True,
    ),
    "baseline-1e400": (
        lambda i: edit_baseline(i, ("jobs", 0, "metrics", "images_per_s"), "-1e400"),
        "field 'jobs[0].metrics.images_per_s' not a finite number: -Infinity",
        True,
    ),
    "run-nan": (
        lambda i: edit_job(i, ("epoch_time_s",), "NaN"),
        "field 'epoch_time_s' not a finite number: NaN",
        False,
    ),
    "run-nan-latency": (
        lambda i: edit_job(i, ("latency_ms_p50",), "NaN"),
        "field 'latency_ms_p50' not a finite number: NaN",
        False,
    ),
    "run-json-infinity": (
        lambda i: edit_run_json(i, ("environment", "ram_gib"), "Infinity"),
        "field 'environment.ram_gib' not a finite number: Infinity",
        False,
    ),
}


@pytest.mark.parametrize(("command", "damage"), cases(NON_FINITE))
def test_a_non_finite_value_is_refused_where_it_is_read(
    inputs: Place, capsys: pytest.CaptureFixture[str], command: str, damage: str
) -> None:
    spoil, message, in_baseline = NON_FINITE[damage]
    check_refused_everywhere(inputs, capsys, command, spoil, message, in_baseline)


def test_a_job_row_never_holds_a_non_finite_metric() -> None:
    """What a comparison judges cannot be NaN or infinite, so never an improvement."""
    with pytest.raises(ValueError, match="metric epoch_time_s is nan, not a finite number"):
        JobRow("lenet5", "", 0, "ok", {"epoch_time_s": float("nan")})


WRONG_TYPES: dict[str, tuple[Damage, str, bool]] = {
    "baseline-string-metric": (
        lambda i: edit_baseline(i, ("jobs", 0, "metrics", "epoch_time_s"), '"fast"'),
        "field 'jobs[0].metrics.epoch_time_s' not a number: 'fast'",
        True,
    ),
    "baseline-true-metric": (
        lambda i: edit_baseline(i, ("jobs", 0, "metrics", "test_acc"), "true"),
        "field 'jobs[0].metrics.test_acc' not a number: true",
        True,
    ),
    "baseline-list-metric": (
        lambda i: edit_baseline(i, ("jobs", 0, "metrics", "test_acc"), "[1]"),
        "field 'jobs[0].metrics.test_acc' not a number: a list",
        True,
    ),
    "baseline-weird-status": (
        lambda i: edit_baseline(i, ("jobs", 2, "status"), '"weird"'),
        "field 'jobs[2].status' not one of diverged, error, interrupted, ok, oom: 'weird'",
        True,
    ),
    "baseline-negative-time": (
        lambda i: edit_baseline(i, ("jobs", 0, "metrics", "epoch_time_s"), "-3.5"),
        "field 'jobs[0].metrics.epoch_time_s' below 0: -3.5",
        True,
    ),
    "baseline-accuracy-over-100": (
        lambda i: edit_baseline(i, ("jobs", 0, "metrics", "test_acc"), "150"),
        "field 'jobs[0].metrics.test_acc' above 100: 150",
        True,
    ),
    "baseline-repeated-row": (
        repeat_baseline_row,
        "jobs[4] repeats jobs[0] (lenet5, seed 0); a seed is measured once",
        True,
    ),
    "run-string-metric": (
        lambda i: edit_job(i, ("epoch_time_s",), '"fast"'),
        "field 'epoch_time_s' not a number: 'fast'",
        False,
    ),
    "run-weird-status": (
        lambda i: edit_job(i, ("status",), '"weird"'),
        "field 'status' not one of diverged, error, interrupted, ok, oom: 'weird'",
        False,
    ),
    "run-negative-time": (
        lambda i: edit_job(i, ("first_epoch_time_s",), "-1"),
        "field 'first_epoch_time_s' below 0: -1",
        False,
    ),
    "baseline-negative-sample": (
        lambda i: edit_baseline(i, ("jobs", 0, "samples"), '{"epoch_time_s": [1.5, -1]}'),
        "field 'jobs[0].samples.epoch_time_s[1]' below 0: -1",
        True,
    ),
    "run-sample-not-a-list": (
        lambda i: edit_job(i, ("samples",), '{"epoch_time_s": "fast"}'),
        "field 'samples.epoch_time_s' not a list: 'fast'",
        False,
    ),
    "run-repeated-seed": (
        repeat_job,
        f"job lenet5-copy repeats job {TRACED} (lenet5, seed 0); a seed is measured once",
        False,
    ),
}


@pytest.mark.parametrize(("command", "damage"), cases(WRONG_TYPES))
def test_a_wrong_type_or_range_is_refused_where_it_is_read(
    inputs: Place, capsys: pytest.CaptureFixture[str], command: str, damage: str
) -> None:
    spoil, message, in_baseline = WRONG_TYPES[damage]
    check_refused_everywhere(inputs, capsys, command, spoil, message, in_baseline)


BEYOND_RANGE: dict[str, tuple[Damage, str, bool]] = {
    "baseline-huge-integer": (
        lambda i: edit_baseline(i, ("jobs", 0, "metrics", "epoch_time_s"), HUGE),
        "field 'jobs[0].metrics.epoch_time_s' out of range (beyond ±2^63): a 1329-bit integer",
        True,
    ),
    "baseline-deep": (
        lambda i: edit_baseline(i, ("suite", "notes"), DEEP),
        "cannot read JSON: nested deeper than 32 levels",
        True,
    ),
    "baseline-deep-within-the-interpreter": (
        lambda i: edit_baseline(i, ("suite", "notes"), "[" * 40 + "]" * 40),
        "field 'suite.notes" + "[0]" * 30 + "' nested deeper than 32 levels",
        True,
    ),
    "run-json-huge-integer": (
        lambda i: edit_run_json(i, ("environment", "cpu_count"), HUGE),
        "field 'environment.cpu_count' out of range (beyond ±2^63): a 1329-bit integer",
        False,
    ),
    "run-json-deep": (
        lambda i: edit_run_json(i, ("environment", "notes"), DEEP),
        "cannot read: nested deeper than 32 levels",
        False,
    ),
    "records-huge-integer": (
        lambda i: edit_job(i, ("params",), HUGE),
        "field 'params' out of range (beyond ±2^63): a 1329-bit integer",
        False,
    ),
    "records-huge-sample": (
        lambda i: edit_job(i, ("samples",), '{"latency_ms_p50": [1e300]}'),
        "field 'samples.latency_ms_p50[0]' out of range (beyond ±2^63): 1e+300",
        False,
    ),
    "records-deep": (
        lambda i: edit_job(i, ("extra", "notes"), DEEP),
        "not a JSON record",
        False,
    ),
}


@pytest.mark.parametrize(("command", "damage"), cases(BEYOND_RANGE))
def test_numbers_and_nesting_beyond_range_are_refused_where_read(
    inputs: Place, capsys: pytest.CaptureFixture[str], command: str, damage: str
) -> None:
    spoil, message, in_baseline = BEYOND_RANGE[damage]
    check_refused_everywhere(inputs, capsys, command, spoil, message, in_baseline)


ROWS_AND_TRACES: dict[str, tuple[Damage, str]] = {
    "inference-string": (
        lambda i: edit_job(i, ("inference", 0, "latency_ms_p50"), '"fast"'),
        "field 'inference[0].latency_ms_p50' not a number: 'fast'",
    ),
    "inference-list": (
        lambda i: edit_job(i, ("inference", 1, "images_per_s"), "[1, 2]"),
        "field 'inference[1].images_per_s' not a number: a list",
    ),
    "inference-nan": (
        lambda i: edit_job(i, ("inference", 0, "power_w"), "NaN"),
        "field 'inference[0].power_w' not a finite number: NaN",
    ),
    "inference-negative": (
        lambda i: edit_job(i, ("inference", 2, "peak_rss_mib"), "-2.5"),
        "field 'inference[2].peak_rss_mib' below 0: -2.5",
    ),
    "inference-zero-latency": (
        lambda i: edit_job(i, ("inference", 0, "latency_ms_p50"), "0"),
        "field 'inference[0].latency_ms_p50' not above 0: 0",
    ),
    "inference-overflow": (
        lambda i: edit_job(i, ("inference", 0, "flops"), HUGE),
        "field 'inference[0].flops' out of range (beyond ±2^63): a 1329-bit integer",
    ),
    "inference-status": (
        lambda i: edit_job(i, ("inference", 0, "status"), '"weird"'),
        "field 'inference[0].status' not one of ok, oom: 'weird'",
    ),
    "operators-string": (
        lambda i: edit_trace(i, "ops", "1.5,60.0", "fast,60.0"),
        "field 'self_ms_per_step' not a number: 'fast'",
    ),
    "operators-list": (
        lambda i: edit_trace(i, "ops", "2.0,1.5", '"[1, 2]",1.5'),
        "field 'calls_per_step' not a number: '[1, 2]'",
    ),
    "operators-nan": (
        lambda i: edit_trace(i, "ops", "60.0", "nan"),
        "field 'self_pct' not a finite number: NaN",
    ),
    "operators-negative": (
        lambda i: edit_trace(i, "ops", "2.5,cpu", "-2.5,cpu"),
        "field 'total_ms_per_step' below 0: -2.5",
    ),
    "operators-overflow": (
        lambda i: edit_trace(i, "ops", "1.5,60.0", "1e400,60.0"),
        "field 'self_ms_per_step' not a finite number: Infinity",
    ),
    "modules-infinite": (
        lambda i: edit_trace(i, "modules", "1.2", "inf"),
        "field 'forward_ms_per_step' not a finite number: Infinity",
    ),
    "modules-clock": (
        lambda i: edit_trace(i, "modules", ",cpu", ",gpu"),
        "field 'clock' not one of cpu, device: 'gpu'",
    ),
    "telemetry-string": (
        lambda i: spoil_telemetry(i, "power_w", "fast"),
        "field 'power_w' not a number: 'fast'",
    ),
    "telemetry-nan": (
        lambda i: spoil_telemetry(i, "gpu_util_pct", "NaN"),
        "field 'gpu_util_pct' not a finite number: NaN",
    ),
    "telemetry-negative-utilisation": (
        lambda i: spoil_telemetry(i, "gpu_util_pct", "-1"),
        "field 'gpu_util_pct' below 0: -1.0",
    ),
    "telemetry-utilisation-over-100": (
        lambda i: spoil_telemetry(i, "gpu_util_pct", "100.5"),
        "field 'gpu_util_pct' above 100: 100.5",
    ),
    "telemetry-overflow": (
        lambda i: spoil_telemetry(i, "mem_used_mib", HUGE),
        "field 'mem_used_mib' not a finite number: Infinity",
    ),
    "telemetry-huge-segment": (
        lambda i: spoil_telemetry(i, "segment", "1e19"),
        "field 'segment' out of range (beyond ±2^63): a 64-bit integer",
    ),
    "telemetry-fractional-epoch": (
        lambda i: spoil_telemetry(i, "epoch", "1.5"),
        "field 'epoch' not an integer: 1.5",
    ),
    "telemetry-no-time": (
        lambda i: spoil_telemetry(i, "time_s", ""),
        "field 'time_s' missing or not a number",
    ),
    "samples-too-many": (
        lambda i: edit_job(i, ("inference", 0, "pass_ms"), "[" + ",".join(["1"] * 33) + "]"),
        "field 'inference[0].pass_ms' more than 32 items: 33",
    ),
}


@pytest.mark.parametrize("command", ["report", "merge"])
@pytest.mark.parametrize("damage", ROWS_AND_TRACES)
def test_inference_rows_trace_tables_and_telemetry_are_checked_on_read(
    inputs: Place, capsys: pytest.CaptureFixture[str], command: str, damage: str
) -> None:
    spoil, message = ROWS_AND_TRACES[damage]
    check_refused_everywhere(inputs, capsys, command, spoil, message, False)


BAD_ROWS = {
    "string": "'fast'",
    "blob": "X'00ff'",
    "nan-text": "'NaN'",
    "infinite": "9e999",
}
HISTORY_READERS: dict[str, Callable[[Place, Path], list[str]]] = {
    "series": lambda i, out: ["history", "--db", str(i.db), "--suite", SUITE, "--model", "lenet5",
                              "--metric", "epoch_time_s"],
    "plot": lambda i, out: ["history", "--db", str(i.db), "--suite", SUITE, "--model", "lenet5",
                            "--metric", "epoch_time_s", "--plot", str(out / "lenet5.png")],
    "noise": lambda i, out: ["history", "--db", str(i.db), "--noise", "--suite", SUITE],
    "html": lambda i, out: ["history", "--db", str(i.db), "--html", str(out / "site")],
    "compare": lambda i, out: ["compare", str(i.run), str(i.baseline), "--history-db", str(i.db),
                               "--format", "json"],
}  # fmt: skip


def spoil_history(db: Path, values: Sequence[str]) -> None:
    """Set epoch_time_s of lenet5 seed 0 in the first runs to ``values`` (SQL literals)."""
    with sqlite3.connect(db) as conn:
        for hour, value in enumerate(values):
            conn.execute(
                f"UPDATE jobs SET epoch_time_s = {value} WHERE run_id = 'earlier-{hour}' "
                "AND model = 'lenet5' AND seed = 0"
            )
    conn.close()


@pytest.mark.parametrize("command", HISTORY_READERS)
@pytest.mark.parametrize("value", BAD_ROWS)
def test_a_history_row_bench_did_not_write_is_skipped_with_one_warning(
    inputs: Place, capsys: pytest.CaptureFixture[str], command: str, value: str
) -> None:
    spoil_history(inputs.db, [BAD_ROWS[value]])
    before = tree_state(inputs.root)
    out = inputs.root.parent / "out"
    capsys.readouterr()
    assert main(HISTORY_READERS[command](inputs, out)) == 0
    stdout, err = capsys.readouterr()
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"warning: {inputs.db}: skipped 1 row(s) that bench did not write "), err
    assert "field 'epoch_time_s' not " in err
    assert tree_state(inputs.root) == before
    if command == "compare":  # the five runs still give the machine's noise
        (change,) = [
            c
            for c in json.loads(stdout)["changes"]
            if (c["model"], c["metric"]) == ("lenet5", "epoch_time_s")
        ]
        assert change["noise"]["runs"] == 5


@pytest.mark.parametrize(
    ("command", "spoil", "skipped", "first"),
    [
        pytest.param(
            "series",
            "epoch_time_s = 'fast'",
            10,
            "field 'epoch_time_s' not a number: 'fast'",
            id="series",
        ),
        pytest.param(
            "html",
            "model = CAST(model AS BLOB)",
            20,
            "field 'model' missing or not a string",
            id="html",
        ),
    ],
)
def test_a_history_of_nothing_but_bad_rows_is_one_line(
    inputs: Place,
    capsys: pytest.CaptureFixture[str],
    command: str,
    spoil: str,
    skipped: int,
    first: str,
) -> None:
    with sqlite3.connect(inputs.db) as conn:
        conn.execute(f"UPDATE jobs SET {spoil}")
    conn.close()
    line = refused(HISTORY_READERS[command](inputs, inputs.root.parent / "out"), inputs, capsys)
    assert line == (
        f"bench history: error: {inputs.db}: skipped {skipped} row(s) that bench did not write "
        f"(first: row 1: {first}), and no other row holds what was asked"
    )


def test_a_run_judged_with_a_history_of_bad_rows_keeps_everything(
    inputs: Place, capsys: pytest.CaptureFixture[str]
) -> None:
    """``bench run --baseline --history-db``: the rows bench did not write are skipped (one
    warning line), and the run is compared, recorded and kept."""
    db = inputs.root / "tiny-history.sqlite"
    base = write_compare_run(
        inputs.root / "tiny-base",
        {"lenet5": {"test_acc": [0.0]}},
        machine_id=current_machine_id(),
        suite="tiny",
    )
    record_earlier_runs(db, load_results(base))
    spoil_history(db, BAD_ROWS.values())
    out = inputs.root.parent / "out"
    argv = ["run", "--suite", str(inputs.suite), "--models", "lenet5", "--seeds", "0", "--quiet",
            "--no-report", "--out", str(out), "--baseline", str(base),
            "--history-db", str(db)]  # fmt: skip
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"warning: {db}: skipped 4 row(s) that bench did not write "), err
    (run,) = [p.parent for p in out.glob("*/*/run.json")]
    assert (run / "compare.md").read_text().startswith("### bench compare: no regression")
    with sqlite3.connect(db) as conn:
        runs = {row[0] for row in conn.execute("SELECT run_id FROM jobs")}
    conn.close()
    assert run.name in runs and len(runs) == 6


def other_suite(inputs: Place, machine_id: str) -> Path:
    """The baseline, as if saved from a run of another suite on ``machine_id``."""
    document = json.loads(inputs.baseline.read_text())
    document["suite"]["name"], document["machine_id"] = "other-suite", machine_id
    path = inputs.root / "other.json"
    path.write_text(json.dumps(document))
    return path


def test_compare_refuses_a_baseline_of_another_suite_unless_allowed(
    inputs: Place, capsys: pytest.CaptureFixture[str]
) -> None:
    other = other_suite(inputs, "fixture-machine")
    argv = ["compare", str(inputs.run), str(other), "--history-db", "none"]
    line = refused(argv, inputs, capsys)
    assert line == (
        f"bench compare: error: {inputs.run} is a run of suite '{SUITE}' and {other} of "
        "'other-suite'; pass --allow-cross-suite to compare them anyway"
    )
    for fmt, flag in (("table", "CROSS-SUITE comparison (--allow-cross-suite)"),
                      ("md", "> **Warning:** CROSS-SUITE comparison"),
                      ("json", '"cross_suite": true'),
                      ("junit", '<property name="cross_suite" value="true" />')):  # fmt: skip
        assert main([*argv, "--allow-cross-suite", "--format", fmt]) == 0
        assert flag in capsys.readouterr().out


def test_run_refuses_a_baseline_of_another_suite_before_training(
    inputs: Place, capsys: pytest.CaptureFixture[str]
) -> None:
    other = other_suite(inputs, current_machine_id())
    out = inputs.root.parent / "out"
    argv = ["run", "--suite", str(inputs.suite), "--out", str(out), "--baseline", str(other)]
    line = refused(argv, inputs, capsys)
    assert line == (
        f"bench run: error: --baseline {other} is a run of suite 'other-suite', this is 'tiny'; "
        "save a baseline of this suite (or pass --allow-cross-suite)"
    )
    gate = Gate.load(other, "", current_machine_id(), allow_cross_suite=True)
    gate.check_suite("tiny")  # allowed: no error
    assert "needs --baseline" in refused(
        ["run", "--suite", str(inputs.suite), "--allow-cross-suite"], inputs, capsys
    )
