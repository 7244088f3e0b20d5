"""The GPU acceptance script (scripts/gpu_check*.py): its preflight, its budget, and that it
finishes and reports whatever its stages do. The GPU form cannot run here; its reduced form on
the CPU runs every stage it can, and one stage is stopped by its time limit."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from bench.results.rundir import RunDir
from bench.text_table import markdown_text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import gpu_check  # noqa: E402
import gpu_check_budget as budget  # noqa: E402
import gpu_check_preflight as preflight  # noqa: E402
import gpu_check_stages as stages  # noqa: E402
from gpu_check_evaluate import Outcome  # noqa: E402
from gpu_check_process import TIMED_OUT, run_bounded  # noqa: E402

SCRIPT = ROOT / "scripts" / "gpu-check.sh"
FILES = ["check.log", "doctor.json", "figures.json", "figures.md", "report.html", "work.tar.gz"]
ALL_STAGES = ["preflight", *stages.STAGE_NAMES, "report"]


def check(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    """``scripts/gpu-check.sh ARGS`` with this Python, its stages' torch on one thread: on a
    shared 2-core machine two threads each wait for the other (a stage 5x slower at a load of
    3), and the test checks what the stages do, not how fast."""
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", **env},
        timeout=timeout,
    )


def statuses(summary: dict[str, object]) -> dict[str, str]:
    return {c["check"]: c["status"] for c in summary["checks"]}  # type: ignore[attr-defined]


def stage_rows(figures_md: str) -> dict[str, list[str]]:
    """The stage table of figures.md: per stage, its cells after the name (split at the
    pipes between cells, not at a cell's escaped ``\\|``)."""
    rows = [
        re.split(r"(?<!\\)\|", line[1:-1])
        for line in figures_md.splitlines()
        if line.startswith("| ")
    ]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows[1:]}


def test_a_stage_table_cell_is_markdown_text() -> None:
    """A note holding Markdown's syntax (a pipe, emphasis, a tag) shows those characters in
    its own cell: nothing in it ends the cell or renders as markup."""
    outcome = Outcome()
    note = "exit 1 in 2 s | *bold* <b>x</b> [link](https://example.com)"
    outcome.stages["smoke"] = {"status": "FAIL", "note": note, "estimate_s": 29.9, "flops": 0.0}
    text = "\n".join(gpu_check.stage_table(outcome, 12.0, 480.0))
    assert text.splitlines()[2] == (
        "| smoke | 29.9 | 0.0 |  |  | FAIL: exit 1 in 2 s \\| \\*bold\\* &lt;b&gt;x&lt;/b&gt; "
        "\\[link\\](https\\://example.com) |"
    )
    assert stage_rows(text)["smoke"][-1] == f"FAIL: {markdown_text(note)}"


def test_without_a_gpu_it_says_so_in_one_line_and_exits_2_at_once(tmp_path: Path) -> None:
    start = time.monotonic()
    done = check(str(tmp_path / "out"), timeout=30, CUDA_VISIBLE_DEVICES="")
    elapsed = time.monotonic() - start
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("gpu-check: error: no CUDA GPU: ")
    assert done.stderr.rstrip().endswith("; --cpu runs the reduced form")
    assert done.stdout == "" and not (tmp_path / "out").exists()
    assert elapsed < 10


@pytest.mark.parametrize(
    ("lent", "named"),
    [((), ("packaging",)), (("packaging",), ("fvcore", "nvidia-ml-py", "pandas", "torch"))],
    ids=["bare", "with-packaging"],
)
def test_a_python_without_the_packages_is_told_which_and_how_in_one_line(
    tmp_path: Path, lent: tuple[str, ...], named: tuple[str, ...]
) -> None:
    """A bare Python (a venv with the standard library, and ``lent`` packages of this one): the
    script's own modules load without torch, pandas or NVML, so the preflight names what is
    missing (first ``packaging``, which it reads the requirements with) instead of a traceback
    from an import."""
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    (site,) = bare.glob("lib/python*/site-packages")
    for name in lent:
        (site / name).symlink_to(Path(importlib.import_module(name).__file__).parent)
    done = check(str(tmp_path / "out"), "--cpu", timeout=60, PYTHON=str(bare / "bin" / "python"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    line = done.stderr.strip()
    assert line.startswith("gpu-check: error: missing Python packages: ")
    assert all(name in line for name in named)
    assert " -m pip install --no-index --find-links wheels " in line
    assert done.stdout == "" and not (tmp_path / "out").exists()


def test_the_reduced_form_runs_every_stage_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = check(str(out), "--cpu")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in out.iterdir()) == FILES
    summary = json.loads((out / "figures.json").read_text())
    assert summary["on_gpu"] is False
    results = summary["stages"]
    assert list(results) == ALL_STAGES
    for name in ("compile", "batch-search", "vgg16-224"):
        assert results[name]["status"] == "SKIP" and "on the CPU" in results[name]["note"]
    skipped = ("preflight", "compile", "batch-search", "vgg16-224", "report")
    ran = [n for n in ALL_STAGES if n not in skipped]
    assert all(results[n]["status"] == "PASS" for n in ran), results
    # the overhead benchmark exits 1 where its ratio misses 1.02: a goal, not a failure
    assert all(results[n]["rc"] == 0 for n in ran if n != "overhead"), results
    assert results["overhead"]["rc"] in (0, 1)
    found = statuses(summary)
    assert "FAIL" not in found.values()
    for name in ("smoke", "variants", "classic"):
        assert found[f"{name}: every job ok on cpu"] == "PASS"
    assert found["lenet5-relu__s0: operator trace"] == "PASS"
    assert found["smoke [inference]: rows ok or oom"] == "PASS"
    assert found["bench infer: rows ok or oom"] == "PASS"
    assert found["variants: NVML, energy, MFU and GPU memory"] == "SKIP"
    assert done.stdout.rstrip().splitlines()[-1].startswith("whole check")
    names = [row[0] for row in summary["figures"]]
    assert "harness / bare loop (outside clock)" in names
    assert {"bench infer: lenet5 fp32", "bench infer: lenet5 amp-bf16"} <= set(names)
    assert "cifar10-classic, whole suite (projected)" in names
    rows = stage_rows((out / "figures.md").read_text())
    assert list(rows) == [*ALL_STAGES, "whole check"]
    for name in ALL_STAGES:
        estimate, _, _, measured, result = rows[name]
        assert float(estimate) > 0
        assert result.startswith(results[name]["status"] + ": ")
        assert (measured == "") == (results[name].get("wall_s") is None)
    with tarfile.open(out / "work.tar.gz") as archive:
        runs = [n for n in archive.getnames() if n.endswith("/run.json")]
    assert len(runs) == 3  # smoke, variants, classic
    assert "gpu-variants" in (out / "report.html").read_text()


def test_a_stage_stopped_by_its_limit_is_a_fail_and_every_file_is_still_written(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    done = check(str(out), "--cpu", "--stages", "classic", "--stage-timeout", "classic=0.5")
    assert done.returncode == 1, done.stdout + done.stderr
    assert sorted(p.name for p in out.iterdir()) == [f for f in FILES if f != "doctor.json"]
    summary = json.loads((out / "figures.json").read_text())
    stopped = summary["stages"]["classic"]
    assert (stopped["status"], stopped["rc"]) == ("FAIL", TIMED_OUT)
    assert stopped["note"].startswith("stopped at its limit of 0.5 s")
    found = statuses(summary)
    assert found["stage classic"] == "FAIL"
    assert found["stage smoke"] == "SKIP"
    assert found["classic: every job ok on cpu"] == "FAIL"
    assert found["report.html written"] == "FAIL"
    assert "check FAIL  stage classic: stopped at its limit of 0.5 s" in done.stdout
    rows = stage_rows((out / "figures.md").read_text())
    estimate, _, limit, measured, result = rows["classic"]
    classic = next(s for s in stages.STAGES if s.name == "classic")
    assert float(estimate) == classic.estimate.seconds
    assert (limit, result.split(":")[0]) == ("0.5", "FAIL")
    assert 0.5 <= float(measured) < 0.5 + 6  # the limit, then SIGTERM's grace at most
    assert "No report: no stage wrote a run directory" in (out / "report.html").read_text()
    assert "python -m bench run --suite cifar10-classic " in (out / "check.log").read_text()


def planted_run(work: Path, stage: str, job_ids: list[str]) -> None:
    """A run directory as a stage killed after creating it leaves it: run.json planning
    ``job_ids``, no record."""
    path = work / "runs" / stage / "machine" / f"0001_{stage}"
    path.mkdir(parents=True)
    RunDir.create(path, {"suite": {"name": stage}, "jobs": [{"job_id": j} for j in job_ids]})


@pytest.mark.parametrize("stage", ["variants", "batch-search", "vgg16-224", "classic"])
def test_a_run_without_job_records_is_a_fail_line_not_a_crash(tmp_path: Path, stage: str) -> None:
    planted_run(tmp_path, stage, ["model__s0"])
    outcome = gpu_check.Outcome()
    outcome.stages[stage] = {"rc": TIMED_OUT}
    gpu_check.evaluate(outcome, tmp_path, False, {})
    found = {c["check"]: (c["status"], c["figure"]) for c in outcome.checks}
    assert found[f"{stage}: every job ok on cpu"] == ("FAIL", "0 of 1 jobs")


def test_zero_jobs_are_not_every_job_ok(tmp_path: Path) -> None:
    planted_run(tmp_path, "variants", [])
    outcome = gpu_check.Outcome()
    outcome.stages["variants"] = {"rc": 0}
    gpu_check.evaluate(outcome, tmp_path, False, {})
    found = {c["check"]: (c["status"], c["figure"]) for c in outcome.checks}
    assert found["variants: every job ok on cpu"] == ("FAIL", "0 of 0 jobs")
    assert outcome.failed


def test_a_stage_that_wrote_no_run_directory_is_a_fail_line(tmp_path: Path) -> None:
    outcome = gpu_check.Outcome()
    outcome.stages["smoke"] = {"rc": 1}
    gpu_check.evaluate(outcome, tmp_path, True, {})
    found = {c["check"]: (c["status"], c["figure"]) for c in outcome.checks}
    assert found["smoke: every job ok on cuda"] == ("FAIL", "no run directory written")


def test_the_h100_estimates_add_up_to_at_most_two_thirds_of_eight_minutes() -> None:
    estimates = [s.estimate.seconds for s in stages.STAGES]
    total = stages.PREFLIGHT_ESTIMATE.seconds + sum(estimates) + stages.REPORT_ESTIMATE.seconds
    assert stages.total_estimate_s() == pytest.approx(total)
    assert gpu_check.BUDGET_S == 480
    assert total <= budget.BUDGET_SHARE * gpu_check.BUDGET_S == 320
    assert all(e > budget.PROCESS_S for e in estimates)
    for stage in stages.STAGES:
        assert stage.estimate.timeout_s >= 2 * stage.estimate.seconds + 15


def test_the_readme_states_each_stages_estimate_and_limit() -> None:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## GPU acceptance run") : text.index("## Inference and profiling")]
    rows = {
        cells[1].strip(): [c.strip() for c in cells[-3:-1]]
        for cells in (line.split("|") for line in section.splitlines() if line.startswith("| "))
    }
    for stage in stages.STAGES:
        assert rows[stage.name] == [f"{stage.estimate.seconds:g}", str(stage.estimate.timeout_s)]
    assert rows["preflight"] == [f"{stages.PREFLIGHT_ESTIMATE.seconds:g}", ""]
    report = stages.REPORT_ESTIMATE
    assert rows["report"] == [f"{report.seconds:g}", str(report.timeout_s)]
    assert rows["whole check"] == [f"{stages.total_estimate_s():.1f}", f"{gpu_check.BUDGET_S:g}"]
    assert rows["whole check"] == [f"{stages.total_estimate_s():g}", f"{gpu_check.BUDGET_S:g}"]


def test_the_stage_order_is_what_they_prove() -> None:
    assert stages.STAGE_NAMES == (
        "doctor", "smoke", "variants", "classic", "compile", "overhead", "infer",
        "batch-search", "vgg16-224",
    )  # fmt: skip


def test_an_estimate_follows_the_stage_settings() -> None:
    """FLOPs of the variants stage: three jobs of resnet18-cifar, 2 epochs of 51,200 training
    and 10,240 test images; the compile stage: one such job."""
    forward, step = budget.FLOPS[("resnet18-cifar", (3, 32, 32), 10)]
    one_job = 2 * (51_200 * step + 10_240 * forward)
    by_name = {s.name: s for s in stages.STAGES}
    assert by_name["variants"].estimate.flops == 3 * one_job
    assert by_name["compile"].estimate.flops == one_job
    compile_s = by_name["compile"].estimate.seconds
    assert compile_s > budget.COMPILE_S + budget.PROCESS_S
    rate = 989.4e12 * budget.ACHIEVED["bf16"]
    steps = 2 * (100 + 20)
    fixed = budget.PROCESS_S + budget.JOB_S + budget.COMPILE_S
    profile = (2 * forward + step) / budget.CPU_FLOPS_PER_S
    assert compile_s == round(fixed + profile + one_job / rate + steps * budget.STEP_S, 1)


def test_the_budget_tables_are_the_projects_own_figures() -> None:
    """FLOPs per image as the static profile counts them (its counter, on the meta device:
    shapes only, as fast for VGG16 at 224 px as for LeNet-5), counted for the default shapes
    the registry gives, and the benchmark's and inference timing's settings, as the budget
    restates them."""
    import torch

    from bench.data.datasets import SYNTHETIC_DEFAULTS
    from bench.data.digits import read_digits
    from bench.measure.inference import WARMUP_PASSES
    from bench.measure.static_profile import _count_flops, meta_model

    for (name, input_size, classes), counts in budget.FLOPS.items():
        model = meta_model(name, num_classes=classes, in_channels=input_size[0])
        x = torch.empty((1, *input_size), device="meta")
        with torch.no_grad():
            forward = _count_flops(model.eval(), x, backward=False)
        assert (forward, _count_flops(model.train(), x, backward=True)) == counts, name
    for model in ("lenet5", "resnet18-cifar", "resnet50"):  # the infer and overhead stages'
        assert (model, *budget.default_shape(model)) in budget.FLOPS, model
    assert budget.default_shape("resnet50") == ((3, 224, 224), 1000)
    assert budget.INFERENCE_WARMUP == WARMUP_PASSES
    train, test = read_digits()
    assert budget.FULL_SIZES["digits"] == (len(train.labels), len(test.labels))
    synthetic = (SYNTHETIC_DEFAULTS["train_size"], SYNTHETIC_DEFAULTS["test_size"])
    assert budget.FULL_SIZES["synthetic"] == synthetic
    sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))
    try:
        import test_fast_path as bench_case
    finally:
        sys.path.remove(str(ROOT / "tests" / "benchmarks"))
    model, image_size, train_images, batch, _ = bench_case.CASES["cuda"]
    assert (model, tuple(image_size)) == ("resnet18-cifar", (3, 32, 32))
    assert stages.OVERHEAD_WORK[:2] + stages.OVERHEAD_WORK[3:] == (model, train_images, batch)


def test_preflight_names_missing_packages_and_the_line_that_installs_them(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\ndependencies = ["fvcore>=0.1.5", "no-such-package-here>=1", "numpy<1"]\n'
        '[project.optional-dependencies]\ndev = ["pytest>=8", "ruff>=0.5"]\n'
    )
    problem, notes = preflight.missing_packages(tmp_path)
    assert problem == (
        "missing Python packages: no-such-package-here; install them from a folder of wheels "
        f"with: {sys.executable} -m pip install --no-index --find-links wheels "
        "no-such-package-here (build the folder on a machine with network: PYTHONPATH=. "
        "python scripts/gpu_check_wheels.py wheels)"
    )
    assert any(n.startswith("numpy ") and n.endswith("bench asks numpy<1") for n in notes)


def test_preflight_walks_what_the_projects_packages_require() -> None:
    assert preflight.missing_packages() == (None, [])
    found = preflight.requirements(preflight.project_requirements())
    # fvcore's own requirements, and the overhead stage's test tools, not ruff
    assert {"iopath", "yacs", "termcolor", "portalocker", "pytest-benchmark"} <= set(found.found)
    assert "ruff" not in found.found
    # torch's own requirements are left to importing torch
    assert "sympy" not in found.found and "torch" in found.found


def test_a_compile_that_cannot_run_skips_the_compiled_variant_with_the_reason(
    tmp_path: Path,
) -> None:
    """Here no GPU runs the one-operation compile: the reason is its error's last line; the
    compile stage is then skipped with it, not run."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine's GPU compiles it")
    reason = preflight.compile_problem()
    assert reason is not None
    assert reason.startswith("torch.compile of one operation failed: RuntimeError: ")
    args = gpu_check.parse_args([str(tmp_path / "out"), "--stages", "compile"])
    outcome = gpu_check.Outcome()
    assert not gpu_check.run_stages(args, tmp_path, time.monotonic() + 480, outcome, reason)
    assert outcome.stages["compile"]["status"] == "SKIP"
    assert outcome.stages["compile"]["note"] == reason
    assert outcome.stages["smoke"]["note"] == "not selected (--stages)"
    assert not (tmp_path / "compile.stdout").exists()


def test_the_wheel_folder_holds_the_pure_python_packages_the_stages_need() -> None:
    import gpu_check_wheels

    pins = dict(p.split("==") for p in gpu_check_wheels.pure_pins())
    from importlib.metadata import version

    for name in ("fvcore", "iopath", "yacs", "termcolor", "tabulate", "portalocker"):
        assert pins[name] == version(name)
    assert not {"torch", "torchvision", "numpy", "pandas"} & set(pins)


def test_a_stopped_command_takes_its_whole_process_group_with_it(tmp_path: Path) -> None:
    """A child whose own child holds the output open: stopped at its limit, both end, and the
    call returns at once rather than waiting for the grandchild."""
    script = (
        "import subprocess, sys, time\n"
        "print(subprocess.Popen(['sleep', '60']).pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    start = time.monotonic()
    with (tmp_path / "out").open("w+") as out:
        status = run_bounded([sys.executable, "-c", script], 1.0, out, out)
        out.seek(0)
        grandchild = int(out.read())
    assert status == TIMED_OUT
    assert time.monotonic() - start < 1.0 + 5
    while time.monotonic() - start < 10 and _alive(grandchild):
        time.sleep(0.05)
    assert not _alive(grandchild)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--stages", "smoke,nope"], "argument --stages: no stage 'nope'; the stages: doctor, "),
        (["--stage-timeout", "smoke"], "argument --stage-timeout: expected NAME=SECONDS, got "),
        (["--stage-timeout", "smoke=-1"], "argument --stage-timeout: expected a positive number"),
        (["--budget", "nan"], "argument --budget: expected a positive number of seconds"),
    ],
)
def test_usage_mistakes_are_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        gpu_check.main([str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert err.startswith(f"gpu-check: error: {message}"), err


def test_a_folder_that_holds_a_check_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "figures.json").write_text("{}")
    with pytest.raises(SystemExit) as stop:
        gpu_check.main([str(tmp_path), "--cpu"])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err == f"gpu-check: error: {tmp_path} already holds a check; give a new folder\n"
