"""Checks and figures of the GPU acceptance run, read from what its stages wrote.

Each check is a line with its figure: PASS, FAIL, SKIP (not checkable here) or MISS (a goal
missed, which does not fail the run). Whatever a stage left (no run directory, a run without
job records, output that is not JSON), the evaluation goes on: a stage without results is a
FAIL line, and an error while reading one is a FAIL line naming it.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpu_check_budget import FULL_SIZES, run_configs, suite_jobs
from gpu_check_energy import energy_check

from bench.errors import first_line
from bench.measure.telemetry import COUNTER, INSTANT, TRAILING_AVERAGE
from bench.suite.settings import trained_images

CLASSIC_EPOCHS, CLASSIC_SEEDS = 30, 3  # cifar10-classic's schedule
UTIL_GOAL_PCT, OVERHEAD_GOAL, CLASSIC_GOAL_MIN = 90.0, 1.02, 30.0
NVML_FIELDS = ("gpu_util_pct", "gpu_mem_util_pct", "power_w", "energy_j", "sm_clock_mhz")
RUN_STAGES = ("smoke", "variants", "classic", "compile", "batch-search", "vgg16-224")
POWER_METHODS = (COUNTER, INSTANT, TRAILING_AVERAGE)
# A compiled job's graphs while training and evaluating: one each without a graph break (the
# training and the evaluation mode guard apart); twice that allows a break in each. More means
# shapes or guards that change from step to step.
MAX_COMPILED_GRAPHS = 4


@dataclass
class Outcome:
    """What the whole check found: stage results, check lines and the figures table."""

    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)

    def check(self, name: str, passed: bool | None, figure: str, goal: bool = False) -> None:
        """Record and print one check (``passed`` None: skipped); a goal that is missed is
        reported, but only a failed check fails the run."""
        status = "SKIP" if passed is None else "PASS" if passed else "MISS" if goal else "FAIL"
        self.checks.append({"check": name, "status": status, "figure": figure})
        print(f"check {status:4}  {name}: {figure}", flush=True)

    def figure(self, name: str, value: str) -> None:
        """Add a row to the table of figures."""
        self.figures.append((name, value))

    def output(self, stage: str) -> str:
        """What a stage printed on stdout ("" where it did not run or failed)."""
        result = self.stages.get(stage, {})
        return str(result.get("stdout", "")) if result.get("rc") in (0, 1) else ""

    def ran(self, stage: str) -> bool:
        """Whether a stage's command was started."""
        return self.stages.get(stage, {}).get("rc") is not None

    @property
    def failed(self) -> bool:
        return any(c["status"] == "FAIL" for c in self.checks)

    def guarded(self, what: str, step: Callable[..., None], *args: Any) -> None:
        """Run one evaluation step; an error in it is a FAIL line, and the rest goes on."""
        try:
            step(self, *args)
        except Exception as err:  # whatever a stage left behind, the check reports it
            self.check(
                f"{what}: results readable", False, f"{type(err).__name__}: {first_line(err)}"
            )


def evaluate(outcome: Outcome, work: Path, on_gpu: bool, doctor: dict[str, Any]) -> None:
    """Checks and figures from the runs and outputs the stages wrote."""
    outcome.guarded("doctor", report_machine, doctor)
    card_mib = (doctor.get("nvml") or {}).get("memory_total_mib")
    device = "cuda" if on_gpu else "cpu"
    runs = {name: outcome_run(outcome, work, name, device) for name in RUN_STAGES}
    if runs["smoke"] is not None:
        outcome.guarded("smoke", report_traces, runs["smoke"], on_gpu)
        rows = list(runs["smoke"].inference)
        outcome.guarded("smoke", report_inference, "smoke [inference]", rows, on_gpu)
    for name in ("variants", "compile"):
        if runs[name] is not None:
            outcome.guarded(name, report_variants, runs[name], on_gpu, card_mib)
    if runs["compile"] is not None:
        outcome.guarded("compile", report_compiled, runs["compile"])
    if runs["classic"] is not None:
        outcome.guarded("classic", report_classic, runs["classic"], on_gpu)
    if outcome.ran("overhead"):
        outcome.guarded("overhead", report_overhead)
    if outcome.ran("infer"):
        outcome.guarded("infer", report_infer, on_gpu)
    if runs["batch-search"] is not None:
        outcome.guarded("batch-search", report_search, runs["batch-search"], on_gpu)
    if runs["vgg16-224"] is not None:
        outcome.guarded("vgg16-224", report_vgg, runs["vgg16-224"])


def outcome_run(outcome: Outcome, work: Path, stage: str, device: str) -> Any:
    """The run a stage wrote, checked: every planned job there and ok on ``device`` (a FAIL
    line otherwise, zero jobs included). None where the stage did not run or left no job."""
    if not outcome.ran(stage):
        return None
    try:
        run = run_of(work, stage)
    except Exception as err:  # a damaged run directory is reported, not raised
        outcome.check(f"{stage}: run directory readable", False, first_line(err))
        return None
    if run is None:
        outcome.check(f"{stage}: every job ok on {device}", False, "no run directory written")
        return None
    planned = len(run.planned_jobs()) or len(run.jobs)
    ok = [j for j in run.jobs if j["status"] == "ok" and str(j["device"]).startswith(device)]
    found = f"{len(ok)} of {planned} jobs" + "".join(
        f", {j['job_id']} {j['status']} on {j['device']}" for j in run.jobs if j not in ok
    )
    outcome.check(f"{stage}: every job ok on {device}", planned > 0 and len(ok) == planned, found)
    outcome.figure(f"{stage} jobs", f"{len(ok)} of {planned} ok on {device}")
    return run if run.jobs else None


def run_of(work: Path, stage: str) -> Any:
    """The run directory a stage wrote, read (None where it wrote none)."""
    from bench.results.rundir import RunDir

    found = sorted((work / "runs" / stage).glob("*/*/run.json"))
    return RunDir.open(found[-1].parent).read() if found else None


def job_epochs(run: Any, job: dict[str, Any]) -> list[dict[str, Any]]:
    """A job's epoch records, in order."""
    return [e for e in run.epochs if e["job_id"] == job["job_id"]]


def whole_epoch_scale(run: Any, job: dict[str, Any]) -> float:
    """A whole CIFAR-10 epoch's training images over those the job's last epoch trained (its
    record: a compiled job leaves out its last partial batch, and so would a whole epoch at its
    batch; the job's settings as its ``run.json`` gives them)."""
    config = run_configs(run.info, str(run.info_path))[job["job_id"]]
    whole = trained_images(FULL_SIZES["cifar10"][0], job["batch_size"], config.drops_last_batch)
    return whole / job_epochs(run, job)[-1]["images"]


def check_gpu_job(outcome: Outcome, run: Any, job: dict[str, Any], card_mib: Any) -> None:
    """NVML fields, utilisation, power, energy, MFU and memory of one GPU job."""
    name, epochs = job["job_id"], job_epochs(run, job)
    missing = sorted({f for e in epochs for f in NVML_FIELDS if e.get(f) is None})
    found = f"missing {missing}" if missing else f"{len(epochs)} epochs"
    outcome.check(f"{name}: NVML fields non-null", bool(epochs) and not missing, found)
    utils = [e["gpu_util_pct"] for e in epochs if e.get("gpu_util_pct") is not None]
    in_range = bool(utils) and all(0 <= u <= 100 for u in utils)
    outcome.check(f"{name}: utilisation in [0, 100]", in_range, f"{utils} %")
    powers = [e["power_w"] for e in epochs if e.get("power_w") is not None]
    outcome.check(f"{name}: power > 0", bool(powers) and min(powers) > 0, f"{powers} W")
    methods = [job.get("power_method"), *(e.get("power_method") for e in epochs)]
    outcome.check(
        f"{name}: power_method one of {', '.join(POWER_METHODS)}",
        all(m in POWER_METHODS for m in methods),
        f"job {methods[0]}; epochs {', '.join(map(str, methods[1:])) or 'none'}",
    )
    passed, shown = energy_check(epochs, run.telemetry(name))
    outcome.check(
        f"{name}: energy counter > 0 and within 10% of integrated instantaneous power",
        passed,
        shown,
    )
    mfu = job.get("mfu")
    outcome.check(
        f"{name}: MFU in (0, 100] %",
        mfu is not None and 0 < mfu <= 1,
        _fmt(None if mfu is None else 100 * mfu, ".1f", "%"),
    )
    peak = job.get("peak_mem_mib")
    fits = peak is not None and peak > 0 and (card_mib is None or peak < card_mib)
    outcome.check(
        f"{name}: peak memory > 0 and below the card's",
        fits,
        f"{_fmt(peak, ',.0f')} of {_fmt(card_mib, ',.0f')} MiB",
    )


def _fmt(value: Any, spec: str, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{unit}"


def _watts(record: dict[str, Any]) -> str:
    """A record's mean power and how it was found: ``250 W (counter)``."""
    power = record.get("power_w")
    return "n/a" if power is None else f"{power:.0f} W ({record.get('power_method')})"


def report_machine(outcome: Outcome, doctor: dict[str, Any]) -> None:
    software = doctor.get("software") or {}
    name = (doctor.get("gpu") or {}).get("name") or "none"
    outcome.figure("GPU", f"{name}, driver {software.get('driver') or 'n/a'}")
    outcome.figure(
        "versions",
        ", ".join(
            f"{label} {software.get(key) or 'n/a'}"
            for label, key in (("torch", "torch"), ("CUDA", "cuda"), ("cuDNN", "cudnn"))
        )
        + f", python {software.get('python') or 'n/a'}",
    )
    for warning in doctor.get("warnings") or []:
        outcome.figure("doctor warning", str(warning))


def report_traces(outcome: Outcome, run: Any, on_gpu: bool) -> None:
    """Each ok smoke job's operator trace: a Chrome trace with events (CUDA kernels on a GPU)
    and an operator table on the device's clock (the CPU's off a GPU)."""
    from bench.results.rundir import TRACES_DIR, trace_paths

    for job in (j for j in run.jobs if j["status"] == "ok"):
        name = job["job_id"]
        path = trace_paths(run.path / TRACES_DIR, name).chrome_trace
        events = (
            json.loads(gzip.decompress(path.read_bytes()))["traceEvents"] if path.is_file() else []
        )
        kernels = sum(1 for event in events if event.get("cat") == "kernel")
        tables = run.trace_tables(name)
        operators = tables[0] if tables is not None else None
        clock = "n/a" if operators is None or operators.empty else str(operators["clock"].iloc[0])
        found = f"{len(events)} events, {kernels} CUDA kernels, operators on the {clock} clock"
        wanted = kernels > 0 and clock == "device" if on_gpu else clock == "cpu"
        outcome.check(f"{name}: operator trace", bool(events) and wanted, found)
        if operators is not None and not operators.empty:
            top = operators.iloc[0]
            outcome.figure(
                f"trace {name}: top operator",
                f"{top['operator']}, {top['self_pct']:.0f}% of self time ({clock} clock)",
            )


def report_infer(outcome: Outcome, on_gpu: bool) -> None:
    """``bench infer``'s JSON rows (a FAIL line where it printed none)."""
    text = outcome.output("infer")
    rows = json.loads(text) if text.strip() else []
    report_inference(outcome, "bench infer", rows, on_gpu)


def report_inference(
    outcome: Outcome, source: str, rows: list[dict[str, Any]], on_gpu: bool
) -> None:
    """Inference rows: each ok or oom; on a GPU, power, energy per image and a roofline point
    under the datasheet's peaks; the figures of each model and precision."""
    ok = [r for r in rows if r.get("status") == "ok"]
    statuses = sorted({str(r.get("status")) for r in rows})
    outcome.check(
        f"{source}: rows ok or oom",
        bool(ok) and set(statuses) <= {"ok", "oom"},
        f"{len(rows)} rows: {', '.join(statuses)}",
    )
    if on_gpu:
        missing = sorted(
            {
                f
                for r in ok
                for f in ("power_w", "energy_per_image_j", "roofline")
                if r.get(f) is None
            }
        )
        sources = sorted({str((r.get("roofline") or {}).get("peaks_source")) for r in ok})
        found = f"missing {missing}" if missing else f"peaks: {', '.join(sources)}"
        outcome.check(
            f"{source}: power, energy per image, roofline",
            bool(ok) and not missing and sources == ["datasheet"],
            found,
        )
        methods = [r.get("power_method") for r in ok]
        outcome.check(
            f"{source}: power_method one of {', '.join(POWER_METHODS)}",
            bool(ok) and all(m in POWER_METHODS for m in methods),
            ", ".join(f"{n} rows {m}" for m, n in Counter(map(str, methods)).items()),
        )
    for (model, precision), group in _groups(ok):
        first, last = group[0], group[-1]
        point = last.get("roofline") or {}
        share = point.get("roof_fraction")
        roof = "n/a" if share is None else f"{point.get('bound')}, {share:.0%} of the roof"
        energy = last.get("energy_per_image_j")
        joules = "" if energy is None else f", {energy * 1e3:.3g} mJ/image"
        watts = "" if last.get("power_w") is None else f", {_watts(last)}"
        outcome.figure(
            f"{source}: {model} {precision}",
            f"batch {first['batch_size']} p50 {_fmt(first.get('latency_ms_p50'), '.3g', ' ms')}; "
            f"batch {last['batch_size']} {_fmt(last.get('images_per_s'), ',.0f', ' images/s')}"
            f"{watts}{joules}; {roof}",
        )


def _groups(rows: list[dict[str, Any]]) -> list[tuple[tuple[str, str], list[dict[str, Any]]]]:
    """``rows`` by model and precision, each group in increasing batch size."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((str(row.get("model")), str(row.get("precision"))), []).append(row)
    return [(key, sorted(g, key=lambda r: int(r["batch_size"]))) for key, g in groups.items()]


def report_variants(outcome: Outcome, run: Any, on_gpu: bool, card_mib: Any) -> None:
    for job in run.jobs:
        extra = job.get("extra") or {}
        mfu = job.get("mfu")
        label = f"resnet18-cifar {job['variant']} (batch {job['batch_size']})"
        epochs = job_epochs(run, job)
        images = epochs[-1]["images"] if epochs else None
        outcome.figure(
            label,
            f"steady epoch {_fmt(job.get('epoch_time_s'), '.2f', ' s')} "
            f"({_fmt(images, ',')} images trained), "
            f"{_fmt(job.get('images_per_s'), ',.0f', ' img/s')}, "
            f"GPU util {_fmt(job.get('gpu_util_pct'), '.1f', '%')}, "
            f"{_watts(job)}, "
            f"{_fmt(job.get('energy_per_epoch_j'), ',.0f', ' J/epoch')}, "
            f"peak {_fmt(job.get('peak_mem_mib'), ',.0f', ' MiB')}, "
            f"MFU {_fmt(None if mfu is None else 100 * mfu, '.1f', '%')}, "
            f"first epoch {_fmt(job.get('first_epoch_time_s'), '.1f', ' s')}, "
            f"throttled {_fmt(extra.get('throttled_pct'), '.0f', '%')}",
        )
        point = extra.get("roofline") or {}
        achieved = point.get("achieved_flops_per_s")
        outcome.figure(
            f"{label}: training step on the roofline",
            f"{_fmt(point.get('intensity_flop_per_byte'), '.1f', ' FLOP/byte')}, "
            f"{_fmt(None if achieved is None else achieved / 1e12, '.2f', ' TFLOP/s')}, "
            f"{point.get('bound', 'n/a')}, "
            f"{_fmt(point.get('roof_fraction'), '.0%')} of the roof "
            f"({point.get('peaks_source', 'no')} peaks)",
        )
        if on_gpu:
            check_gpu_job(outcome, run, job, card_mib)
        if job["variant"] == "amp-bf16+channels_last":
            util = job.get("gpu_util_pct")
            outcome.check(
                f"goal: {label} keeps the GPU >= {UTIL_GOAL_PCT:.0f}% busy (steady state)",
                None if util is None else util >= UTIL_GOAL_PCT,
                _fmt(util, ".1f", "%"),
                goal=True,
            )
    if not on_gpu:
        outcome.check("variants: NVML, energy, MFU and GPU memory", None, "no GPU")


def report_compiled(outcome: Outcome, run: Any) -> None:
    """Each compiled job compiled its graphs in the first epoch of each phase only (none in a
    steady epoch: a graph compiled there means a shape changed, or a dynamic graph replaced a
    static one), and a few in all."""
    for job in (j for j in run.jobs if j["status"] == "ok"):
        extra = job.get("extra") or {}
        graphs, steady = extra.get("compiled_graphs"), extra.get("compiled_graphs_steady")
        bounded = isinstance(graphs, int) and 1 <= graphs <= MAX_COMPILED_GRAPHS
        outcome.check(
            f"{job['job_id']}: graphs compiled in the first epoch only",
            bounded and steady == 0,
            f"{graphs} graphs while training and evaluating (1 to {MAX_COMPILED_GRAPHS} "
            f"expected), {steady} of them in steady epochs; "
            f"{extra.get('compiled_graphs_inference', 'no')} for inference",
        )


def report_search(outcome: Outcome, run: Any, on_gpu: bool) -> None:
    job = run.jobs[0]
    extra = job.get("extra") or {}
    outcome.check(
        "batch search: ran and pinned a batch",
        bool(extra.get("batch_size_searched")) if on_gpu else None,
        f"batch {job['batch_size']}: {extra.get('batch_size_search')}",
    )
    outcome.figure(
        "vgg16-cifar --find-batch-size",
        f"batch {job['batch_size']}, {_fmt(job.get('images_per_s'), ',.0f', ' img/s')}, "
        f"peak {_fmt(job.get('peak_mem_mib'), ',.0f', ' MiB')}",
    )


def report_vgg(outcome: Outcome, run: Any) -> None:
    """The lecture's VGG16 recipe: one CIFAR-10 epoch (train and test, in the stage's
    proportion of 5 to 1) projected from the steady epoch and the images it trained."""
    job = run.jobs[0]
    images = job_epochs(run, job)[-1]["images"]
    steady_s = job.get("epoch_time_s")
    minutes = None if steady_s is None else steady_s * whole_epoch_scale(run, job) / 60
    steps = -(-images // job["batch_size"])
    outcome.figure(
        "vgg16 224 px, batch 64, Adam 1e-4 (lecture)",
        f"{_fmt(minutes, '.2f', ' min')} per CIFAR-10 epoch (projected from {steps} steps), "
        f"{_fmt(job.get('images_per_s'), ',.0f', ' img/s')}, "
        f"peak {_fmt(job.get('peak_mem_mib'), ',.0f', ' MiB')}",
    )


def report_classic(outcome: Outcome, run: Any, on_gpu: bool) -> None:
    """Project cifar10-classic (30 epochs, 3 seeds, all of CIFAR-10) from two short epochs per
    model: per job, its fixed cost (profile, build) + warm-up + 30 steady epochs scaled from the
    images they trained to the whole data set (train and test, in the stage's proportion of 5
    to 1), + the suite's inference timing at its minimum (the stage leaves it out)."""
    timing_s = classic_inference_s()
    total_s, measured = 0.0, 0
    for job in run.jobs:
        steady_s, first_s = job.get("epoch_time_s"), job.get("first_epoch_time_s")
        if job["status"] != "ok" or steady_s is None or first_s is None:
            continue
        measured += 1
        epochs = job_epochs(run, job)
        scale = whole_epoch_scale(run, job)
        fixed = job["total_time_s"] - sum(e["epoch_time_s"] for e in epochs)
        per_seed = (
            max(fixed, 0.0)
            + (first_s - steady_s)
            + CLASSIC_EPOCHS * steady_s * scale
            + timing_s.get(job["model"], 0.0)
        )
        total_s += CLASSIC_SEEDS * per_seed
        outcome.figure(
            f"cifar10-classic {job['model']}",
            f"{steady_s * scale:.1f} s per CIFAR-10 epoch, {per_seed / 60:.1f} min per seed "
            "(projected)",
        )
    planned = len(run.planned_jobs()) or len(run.jobs)
    shown = f"{total_s / 60:.1f} min projected"
    outcome.figure(
        "cifar10-classic, whole suite (projected)",
        f"{total_s / 60:.1f} min ({measured} of {planned} models measured; inference timing "
        "counted at its minimum)",
    )
    if not on_gpu:
        verdict, shown = None, shown + " (on the CPU: no GPU figure)"
    elif measured < planned:
        verdict, shown = None, shown + f" over {measured} of {planned} models only"
    else:
        verdict = total_s / 60 <= CLASSIC_GOAL_MIN
    outcome.check(
        f"goal: cifar10-classic fits in {CLASSIC_GOAL_MIN:.0f} minutes on this GPU",
        verdict,
        shown,
        goal=True,
    )


def classic_inference_s() -> dict[str, float]:
    """Per model, the least time cifar10-classic's ``[inference]`` takes per seed: each
    precision and batch size timed for its minimum seconds."""
    return {
        job.model: len(job.config.inference.precisions or (job.config.precision,))
        * len(job.config.inference.batch_sizes)
        * job.config.inference.min_time_s
        for job in suite_jobs("cifar10-classic", (), None)
    }


def report_overhead(outcome: Outcome) -> None:
    """The harness-overhead benchmark's ratio (its ``harness/bare=`` line); the benchmark exits
    1 when the ratio misses its bound, a goal rather than a failure here."""
    lines = outcome.output("overhead").splitlines()
    ratio = next(
        (line.split("=", 1)[1] for line in lines if line.startswith("harness/bare=")), None
    )
    outcome.figure("harness / bare loop (outside clock)", ratio or "n/a")
    outcome.check(
        f"goal: harness / bare loop <= {OVERHEAD_GOAL}",
        None if ratio is None else float(ratio.split()[0]) <= OVERHEAD_GOAL,
        ratio or "n/a",
        goal=True,
    )
