"""The GPU acceptance run: every GPU path of bench, exercised as a user would, in one script.

    scripts/gpu-check.sh OUT_DIR          # on a machine with one NVIDIA GPU, under 8 minutes
    scripts/gpu-check.sh OUT_DIR --cpu    # the reduced form: tiny sizes on the CPU

First a preflight (``gpu_check_preflight``): without a CUDA GPU (and without ``--cpu``), or
with a Python package missing, it prints one line and exits 2 before anything runs; a
one-operation ``torch.compile`` on the GPU decides whether the compiled variant runs.

Then the stages (``gpu_check_stages``), in the order of what they prove, each a ``python -m``
command under its own time limit (twice its estimate on an H100, ``gpu_check_budget``, and 15 s;
``--stage-timeout NAME=SECONDS`` sets one) and what is left of the whole check's (``--budget``,
480 s); ``--stages`` runs some of them. Then it checks what the runs recorded
(``gpu_check_evaluate``), each check a line with its figure.

Whatever happens to a stage (a failure, its time limit, the whole check's), it becomes a FAIL
line and the rest goes on; OUT_DIR always receives ``check.log`` (every command's output),
``figures.json``, ``figures.md`` (each stage's estimate beside its measured time, the checks,
the figures), ``report.html`` and ``work.tar.gz`` (the run directories and the report), and
``doctor.json`` where doctor answered. The reduced form skips what needs a GPU and says so.
Exit status: 2 for a preflight problem or a usage mistake, 1 when a stage or a check failed,
0 otherwise. The suites it runs are beside this file, in ``gpu-check/``.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import signal
import sys
import tarfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gpu_check_budget as budget
import gpu_check_preflight as preflight
from gpu_check_evaluate import Outcome, evaluate
from gpu_check_process import TIMED_OUT, run_bounded
from gpu_check_stages import (
    PREFLIGHT_ESTIMATE,
    REPORT_ESTIMATE,
    STAGE_NAMES,
    STAGES,
    Command,
    total_estimate_s,
)

from bench.cli import OneLineParser
from bench.errors import first_line
from bench.text_table import align_columns, markdown_text

ROOT = Path(__file__).resolve().parent.parent
PROG = "gpu-check"
BUDGET_S = 480.0  # the whole check, preflight and report included: 8 minutes
CPU_BUDGET_S, CPU_LIMIT_S = 900.0, 300.0  # the reduced form's, whole and per stage: the CPU
# of a shared test machine can be many times slower than when it is idle
MIN_STAGE_S = 10.0  # a stage is not started with less than this left
RESERVE_S = REPORT_ESTIMATE.timeout_s + 10  # kept back for the report and the files


class Stopped(Exception):
    """The check was asked to stop (SIGTERM)."""


def _stop(_signum: int, _frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the files are written next
    raise Stopped


def run_command(
    name: str, command: Command, limit_s: float, work: Path, log: Path, goal_line: str = ""
) -> dict[str, Any]:
    """Run ``command`` for at most ``limit_s`` (a ``bench run`` writes under
    ``work/runs/NAME``), its stderr and stdout appended to ``log``; its result: status (PASS or
    FAIL), exit status, seconds, limit, a note, and its stdout. ``goal_line`` in the output
    makes exit status 1 a missed goal rather than a failure."""
    args = command.args
    if args[0] == "run":
        args = (*args, "--out", str(work / "runs" / name))
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **dict(command.env)}
    shown = "".join(f"{k}={v} " for k, v in command.env)
    cwd = ROOT if command.module == "pytest" else work
    start = time.monotonic()
    with (
        log.open("a", encoding="utf-8", errors="replace") as errors,
        (work / f"{name}.stdout").open("w+", encoding="utf-8", errors="replace") as out,
    ):
        errors.write(f"\n$ {shown}python -m {command.module} {' '.join(args)}\n")
        errors.flush()
        argv = [sys.executable, "-m", command.module, *args]
        rc = run_bounded(argv, limit_s, out, errors, env, cwd)
        out.seek(0)
        stdout = out.read()
        errors.write(stdout)
    wall_s = round(time.monotonic() - start, 1)
    if rc == 0:
        status, note = "PASS", f"exit 0 in {wall_s:g} s"
    elif rc == TIMED_OUT:
        status, note = "FAIL", f"stopped at its limit of {limit_s:.3g} s"
    elif rc == 1 and goal_line and goal_line in stdout:
        status, note = "PASS", f"exit 1 in {wall_s:g} s: a goal missed (its check says which)"
    else:
        status, note = "FAIL", f"exit {rc} in {wall_s:g} s (check.log has its output)"
    limit = round(limit_s, 1)
    return {
        "status": status,
        "rc": rc,
        "wall_s": wall_s,
        "limit_s": limit,
        "note": note,
        "stdout": stdout,
    }


def run_stages(
    args: argparse.Namespace, work: Path, deadline: float, outcome: Outcome, no_compile: str | None
) -> bool:
    """Every stage in turn, each within its own limit and what is left of the check's; each
    one's result a check line. Whether the check was stopped (SIGTERM, Ctrl-C) on the way."""
    limits = dict(args.stage_timeout)
    stopped = False
    for stage in STAGES:
        command = stage.cpu if args.cpu else stage.gpu
        left = deadline - time.monotonic() - RESERVE_S
        result: dict[str, Any]
        if stage.name not in args.stages:
            result = _not_run("SKIP", "not selected (--stages)")
        elif stopped:
            result = _not_run("FAIL", "not run: the check was stopped")
        elif command is None:
            result = _not_run("SKIP", f"not on the CPU: {stage.why}")
        elif stage.name == "compile" and no_compile:
            result = _not_run("SKIP", no_compile)
        elif left < MIN_STAGE_S:
            result = _not_run("FAIL", f"not run: {max(left, 0):.0f} s of the --budget left")
        else:
            own = CPU_LIMIT_S if args.cpu else stage.estimate.timeout_s
            limit = min(limits.get(stage.name, own), left)
            log = args.out / "check.log"
            try:
                result = run_command(stage.name, command, limit, work, log, stage.goal_line)
            except (Stopped, KeyboardInterrupt):
                stopped, result = True, _not_run("FAIL", "stopped with the check")
            if args.cpu and stage.why:
                result["note"] += f" (reduced form: {stage.why})"
        result.update(estimate_s=stage.estimate.seconds, flops=stage.estimate.flops)
        outcome.stages[stage.name] = result
        passed = None if result["status"] == "SKIP" else result["status"] == "PASS"
        outcome.check(f"stage {stage.name}", passed, result["note"])
    return stopped


def _not_run(status: str, note: str) -> dict[str, Any]:
    return {"status": status, "rc": None, "note": note}


def run_preflight(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """The preflight's one-line problem (None when the check can run) and its notes on
    versions other than those asked for."""
    problem = None if args.cpu else preflight.no_gpu()
    notes: list[str] = []
    if problem is None:
        problem, notes = preflight.missing_packages()
    if problem is None:
        problem = preflight.import_problem()
    if problem is None and not args.cpu:
        problem = preflight.torch_sees_no_gpu()
    if problem is not None and problem.startswith("no CUDA GPU"):
        problem += "; --cpu runs the reduced form"
    return problem, notes


def write_report(work: Path, out: Path, log: Path, stopped: bool) -> str:
    """``out/report.html``: bench's report of every run the stages wrote; where there is none
    (or the check was stopped: no time for one), a page that says why, and an error."""
    runs = sorted(str(p.parent) for p in (work / "runs").glob("*/*/*/run.json"))
    why = "the check was stopped" if stopped else "no stage wrote a run directory"
    if runs and not stopped:
        command = Command("bench", ("report", *runs, "--out", str(work / "report")))
        result = run_command("report", command, REPORT_ESTIMATE.timeout_s, work, log)
        made = work / "report" / "report.html"
        if made.is_file():
            shutil.copyfile(made, out / "report.html")
            return f"bench report of {len(runs)} runs, {result['note']}"
        why = f"bench report wrote none ({result['note']})"
    page = (
        "<!doctype html>\n<meta charset='utf-8'>\n<title>GPU acceptance run</title>\n"
        f"<h1>GPU acceptance run</h1>\n<p>No report: {html.escape(why)}. figures.md and "
        "check.log say what happened.</p>\n"
    )
    (out / "report.html").write_text(page, encoding="utf-8")
    raise RuntimeError(why)


def archive(work: Path, out: Path) -> str:
    """``out/work.tar.gz``: the run directories and the report; ``work`` is then removed."""
    with tarfile.open(out / "work.tar.gz", "w:gz") as tar:
        tar.add(work, arcname="work")
    shutil.rmtree(work)
    return f"{(out / 'work.tar.gz').stat().st_size / 2**20:.1f} MiB"


def finish(
    outcome: Outcome, args: argparse.Namespace, work: Path, started: float, stopped: bool
) -> int:
    """Evaluate what the stages left, then write the report, the archive and the figures,
    whatever happened; the exit status."""
    out = args.out
    doctor = _doctor(outcome, out)
    evaluate(outcome, work, not args.cpu, doctor)
    start, notes, status = time.monotonic(), [], "PASS"
    steps = (
        ("report.html", lambda: write_report(work, out, out / "check.log", stopped)),
        ("work.tar.gz", lambda: archive(work, out)),
    )
    for name, step in steps:
        try:
            notes.append(f"{name}: {step()}")
        except Exception as err:  # the figures below are written regardless
            status = "FAIL"
            notes.append(f"{name}: {first_line(err)}")
            outcome.check(f"{name} written", False, first_line(err))
    wall_s = round(time.monotonic() - start, 1)
    note = "; ".join(notes)
    outcome.stages["report"] = {
        "status": status,
        "rc": None,
        "wall_s": wall_s,
        "note": note,
        "estimate_s": REPORT_ESTIMATE.seconds,
    }
    whole_s = time.monotonic() - started
    outcome.figure(
        "whole check", f"{whole_s:.0f} s (estimate on an H100: {total_estimate_s():g} s)"
    )
    figures = write_figures(outcome, out, not args.cpu, whole_s, args.budget)
    print("\n" + "\n".join(figures), flush=True)
    return 1 if outcome.failed else 0


def _doctor(outcome: Outcome, out: Path) -> dict[str, Any]:
    """Doctor's JSON, kept as ``doctor.json`` ({} where it printed none; a FAIL line where it
    printed something else)."""
    text = outcome.output("doctor")
    if not text.strip():
        return {}
    try:
        doctor = json.loads(text)
    except json.JSONDecodeError as err:
        outcome.check("doctor: JSON output", False, str(err))
        return {}
    (out / "doctor.json").write_text(text)
    return doctor if isinstance(doctor, dict) else {}


def stage_table(outcome: Outcome, whole_s: float, budget_s: float) -> Iterator[str]:
    """Markdown rows: each stage's estimate on an H100, its GPU work, limit, measured time and
    result, then the whole check's."""
    columns = ("estimate on an H100 (s)", "GPU work (TFLOP)", "limit (s)", "measured (s)")
    yield f"| stage | {' | '.join(columns)} | result |"
    yield "|---|---:|---:|---:|---:|---|"
    for name, result in outcome.stages.items():
        cells = (
            name,
            f"{result['estimate_s']:g}",
            _number(result.get("flops"), 1e12, ",.1f"),
            _number(result.get("limit_s"), 1, "g"),
            _number(result.get("wall_s"), 1, "g"),
            f"{result['status']}: {result['note']}",
        )
        yield "| " + " | ".join(markdown_text(c) for c in cells) + " |"
    yield f"| whole check | {total_estimate_s():g} | | {budget_s:g} | {whole_s:.0f} | |"


def _number(value: float | None, unit: float, spec: str) -> str:
    return "" if value is None else f"{value / unit:{spec}}"


def write_figures(
    outcome: Outcome, out: Path, on_gpu: bool, whole_s: float, budget_s: float
) -> list[str]:
    """``figures.json`` and ``figures.md``; the lines of the table of figures."""
    stages = {n: {k: v for k, v in r.items() if k != "stdout"} for n, r in outcome.stages.items()}
    summary = {
        "on_gpu": on_gpu,
        "estimate_s": total_estimate_s(),
        "budget_s": budget_s,
        "whole_check_s": round(whole_s, 1),
        "assumptions": budget.assumptions(),
        "stages": stages,
        "checks": outcome.checks,
        "figures": outcome.figures,
    }
    (out / "figures.json").write_text(json.dumps(summary, indent=2) + "\n")
    figures = align_columns(outcome.figures) if outcome.figures else []
    form = "on a GPU" if on_gpu else "reduced form, on the CPU"
    checks = [f"{c['status']:4}  {c['check']}: {c['figure']}" for c in outcome.checks]
    text = [
        f"# GPU acceptance run ({form})",
        "",
        *stage_table(outcome, whole_s, budget_s),
        "",
        budget.assumptions(),
        "",
        "## Checks",
        "",
        "```",
        *checks,
        "```",
        "",
        "## Figures",
        "",
        "```",
        *figures,
        "```",
    ]
    (out / "figures.md").write_text("\n".join(text) + "\n")
    return figures


def seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def stage_names(text: str) -> tuple[str, ...]:
    """Comma-separated stage names."""
    names = tuple(name.strip() for name in text.split(","))
    for name in names:
        if name not in STAGE_NAMES:
            raise argparse.ArgumentTypeError(
                f"no stage {name!r}; the stages: {', '.join(STAGE_NAMES)}"
            )
    return names


def stage_timeout(text: str) -> tuple[str, float]:
    """``NAME=SECONDS``: a stage's own time limit."""
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=SECONDS, got {text!r}")
    (stage,) = stage_names(name)
    return stage, seconds(value)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="a new folder for what is measured")
    parser.add_argument("--cpu", action="store_true", help="the reduced form, on the CPU")
    parser.add_argument(
        "--budget",
        type=seconds,
        help=f"seconds the whole check may take ({BUDGET_S:g}; with --cpu {CPU_BUDGET_S:g})",
    )
    parser.add_argument(
        "--stages",
        type=stage_names,
        default=STAGE_NAMES,
        help=f"comma-separated stages to run (default: all of {','.join(STAGE_NAMES)})",
    )
    parser.add_argument(
        "--stage-timeout",
        type=stage_timeout,
        action="append",
        default=[],
        metavar="NAME=SECONDS",
        help="a stage's time limit instead of twice its estimate and 15 s (with --cpu: "
        f"{CPU_LIMIT_S:g} s) (repeatable)",
    )
    args = parser.parse_args(argv)
    args.budget = args.budget or (CPU_BUDGET_S if args.cpu else BUDGET_S)
    args.out = args.out.resolve()
    if (args.out / "work").exists() or (args.out / "figures.json").exists():
        parser.error(f"{args.out} already holds a check; give a new folder")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    started = time.monotonic()
    args = parse_args(argv)
    problem, notes = run_preflight(args)
    if problem is not None:
        print(f"{PROG}: error: {problem}", file=sys.stderr)
        return 2
    wanted = not args.cpu and "compile" in args.stages
    no_compile = preflight.compile_problem() if wanted else None
    work = args.out / "work"
    work.mkdir(parents=True)
    form = "reduced form, on the CPU" if args.cpu else "on the GPU"
    print(f"GPU acceptance run ({form}) into {args.out}", flush=True)
    lines = [f"version: {note}" for note in notes]
    if no_compile:
        lines.append(f"the compiled variant is skipped: {no_compile}")
    (args.out / "check.log").write_text("".join(f"preflight: {line}\n" for line in lines))
    outcome = Outcome()
    outcome.stages["preflight"] = {
        "status": "PASS",
        "rc": None,
        "wall_s": round(time.monotonic() - started, 1),
        "note": "; ".join(lines) or "GPU, packages, imports" + ("" if args.cpu else ", compile"),
        "estimate_s": PREFLIGHT_ESTIMATE.seconds,
    }
    signal.signal(signal.SIGTERM, _stop)
    try:
        stopped = run_stages(args, work, started + args.budget, outcome, no_compile)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the files are written first
    except (Stopped, KeyboardInterrupt):  # between two stages
        stopped = True
    return finish(outcome, args, work, started, stopped)


if __name__ == "__main__":
    sys.exit(main())
