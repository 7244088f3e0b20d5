"""A suite run from start to end: validate, load data, run each job, store, report, record history.

Everything the user can get wrong (suite file, flags, data location, device) is checked before
the run directory is created or any training starts. With ``--shard I/N`` the run holds only
that shard's jobs (see ``bench.suite.shard``); under torchrun (``WORLD_SIZE`` > 1) every process
runs the same jobs together and rank 0 alone writes the run directory (see
``bench.run.distributed``).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.data.imageset import DataSplits
from bench.data.pipeline import dataset_key, load_splits
from bench.errors import BenchError
from bench.measure.doctor import take_snapshot
from bench.measure.environment import capture_environment
from bench.recipes.common import Artifact
from bench.results.records import EpochRecord, JobRecord, utc_now
from bench.results.rundir import Run, RunDir, TraceFiles, new_run_dir
from bench.run.distributed import Distributed, RanksDisagreeError, check_batch_split
from bench.run.job import JobEnvironment, Notice, TelemetryCsv, resolve_device, run_job
from bench.run.progress import Progress
from bench.suite.matrix import Job, Suite, build_suite, load_suite
from bench.suite.shard import Shard, parse_shard, shard_job_ids


@dataclass(frozen=True)
class RunRequest:
    """What ``bench run`` was asked to do."""

    suite: str | None
    overrides: Sequence[str]
    models: str | None
    seeds: Sequence[int] | None
    data_dir: Path
    download: bool
    out: Path
    resume: Path | None
    dry_run: bool
    quiet: bool
    report: bool
    history_db: Path | None
    argv: Sequence[str]
    shard: Shard | None = None


def run_suite(request: RunRequest) -> int:
    """Run (or resume) a suite; 0 when every job ended ``ok``, 1 when some failed, 130 when
    interrupted."""
    dist = Distributed.from_env()
    main = dist is None or dist.is_main
    progress = Progress(quiet=request.quiet or not main)
    run_dir = RunDir.open(request.resume) if request.resume is not None else None
    previous = run_dir.read() if run_dir is not None else None
    full, shard = _suite(request, previous)
    suite = _shard_of(full, shard)
    if request.dry_run:
        if main:
            print(format_matrix(suite, f" (shard {shard} of {len(full.jobs)})" if shard else ""))
        return 0
    if not suite.jobs:
        if main:
            print(f"shard {shard} of suite {suite.name} holds none of its {len(full.jobs)} jobs")
        return 0
    done = previous.finished_job_ids() if previous else set()
    pending = [job for job in suite.jobs if job.job_id not in done]
    devices = {resolve_device(job.config.device).type for job in pending}
    if dist is not None:
        for job in pending:
            check_batch_split(job.config.batch_size, dist.world_size, f"job {job.job_id}")
    env = JobEnvironment(
        datasets=_load_datasets(pending, request), wrap_batches=progress.batches, dist=dist
    )
    if dist is not None:
        dist.start(cuda="cuda" in devices)
    if not main:
        run_dir = None
    elif run_dir is None:
        run_dir = _create_run_dir(suite, request, shard)
    elif done:
        progress.say(f"resuming {run_dir.path}: {len(done)} finished, {len(pending)} to run")
    try:
        code = _run_jobs(pending, run_dir, env, request, progress)
    except KeyboardInterrupt:
        if run_dir is not None:
            print(
                f"interrupted; finish with: python -m bench run --resume {run_dir.path}",
                file=sys.stderr,
            )
        return 130
    return dist.finish(code) if dist is not None else code


def _run_jobs(
    pending: Sequence[Job],
    run_dir: RunDir | None,
    env: JobEnvironment,
    request: RunRequest,
    progress: Progress,
) -> int:
    """Run ``pending`` in order, then write tables, report and history (into ``run_dir``: none
    on the processes other than rank 0). A job that ended differently on the processes of a
    distributed run stops the run."""
    stopped = False
    try:
        for index, job in enumerate(pending, start=1):
            progress.job_started(index, len(pending), job.job_id)
            _run_and_store(run_dir, job, env, progress)
    except RanksDisagreeError as err:
        stopped = True
        if run_dir is not None:
            print(
                f"{err}; the run stops here, finish it with: python -m bench run --resume "
                f"{run_dir.path}",
                file=sys.stderr,
            )
    if run_dir is None:
        return 1 if stopped else 0
    run = run_dir.read()
    run_dir.write_tables(run)
    _finish(run, request)
    failed = [j for j in run.jobs if j["status"] != "ok"]
    return 1 if failed or stopped else 0


def _run_and_store(
    run_dir: RunDir | None, job: Job, env: JobEnvironment, progress: Progress
) -> None:
    """Run one job, storing what it yields (nothing without a run_dir); an interrupt that lands
    while a record is being stored is passed into the job so that it still records itself as
    ``interrupted``."""
    items = run_job(job, env)
    try:
        for item in items:
            _store(run_dir, job.job_id, item, progress)
    except KeyboardInterrupt:
        try:
            final = items.throw(KeyboardInterrupt())
        except (KeyboardInterrupt, StopIteration):
            raise KeyboardInterrupt from None
        _store(run_dir, job.job_id, final, progress)
        raise


def _suite(request: RunRequest, run: Run | None) -> tuple[Suite, Shard | None]:
    """The whole suite (from the request, or from the run to resume) and its shard."""
    if run is not None:
        info, where = run.info, str(run.info_path)
        suite = build_suite(run.required("suite"), where, overrides=info.get("overrides", []))
        try:
            shard = parse_shard(info["shard"]) if info.get("shard") else None
        except ValueError as err:
            raise BenchError(f"{where}: field 'shard': {err}") from None
        return suite, shard
    assert request.suite is not None
    suite = load_suite(
        request.suite, overrides=request.overrides, models=request.models, seeds=request.seeds
    )
    return suite, request.shard


def _shard_of(suite: Suite, shard: Shard | None) -> Suite:
    """``suite`` with only the jobs of ``shard`` (all of them without one)."""
    if shard is None:
        return suite
    chosen = set(shard_job_ids([job.job_id for job in suite.jobs], shard))
    return dataclasses.replace(suite, jobs=tuple(j for j in suite.jobs if j.job_id in chosen))


def _create_run_dir(suite: Suite, request: RunRequest, shard: Shard | None) -> RunDir:
    environment = capture_environment(Path(__file__).resolve().parent)
    path = new_run_dir(request.out, environment["machine_id"], suite.name, environment["commit"])
    return RunDir.create(
        path,
        {
            "created_utc": utc_now(),
            "command": list(request.argv),
            "suite": dict(suite.document),
            "overrides": list(request.overrides),
            **({"shard": str(shard)} if shard else {}),
            "environment": environment,
            "doctor": take_snapshot(request.data_dir),
            "jobs": [
                {"job_id": j.job_id, "model": j.model, "seed": j.seed, "variant": j.variant}
                for j in suite.jobs
            ],
        },
    )


def _load_datasets(jobs: Sequence[Job], request: RunRequest) -> dict[str, DataSplits]:
    """Each distinct data set of ``jobs``, loaded once."""
    datasets: dict[str, DataSplits] = {}
    for job in jobs:
        key = dataset_key(job.config)
        if key not in datasets:
            datasets[key] = load_splits(job.config.dataset, request.data_dir, request.download)
    return datasets


def _store(
    run_dir: RunDir | None,
    job_id: str,
    item: EpochRecord | JobRecord | Artifact | TelemetryCsv | TraceFiles | Notice,
    progress: Progress,
) -> None:
    if run_dir is None:
        return
    if isinstance(item, Artifact):
        run_dir.save_array(job_id, item.name, item.array)
        return
    if isinstance(item, Notice):
        print(item.text, file=sys.stderr, flush=True)
        return
    if isinstance(item, TelemetryCsv):
        run_dir.save_telemetry(job_id, item.text)
        return
    if isinstance(item, TraceFiles):
        run_dir.save_trace(job_id, item)
        return
    run_dir.append(item)
    if isinstance(item, EpochRecord):
        progress.epoch_done(item)
    else:
        progress.job_done(item)


def _finish(run: Run, request: RunRequest) -> None:
    """Report, history, and where to find them, from the run as read back once."""
    lines = [f"results: {run.results_csv}"]
    if request.report:
        from bench.report import write_report

        paths = write_report([run], run.path)
        lines.append(f"report:  {paths.html}")
    db = request.history_db or run.path.parent.parent / "history.sqlite"
    if str(db) != "none":
        from bench.regress.history import record_results
        from bench.results.run_results import results_of

        record_results(db, results_of(run))
        lines.append(f"history: {db}")
    for line in lines:
        print(line, flush=True)


def format_matrix(suite: Suite, note: str = "") -> str:
    """The expanded job matrix as a text table (``--dry-run``), ``note`` after its job count."""
    header = ("job", "model", "seed", "variant", "dataset", "recipe", "epochs", "batch", "device")
    rows = [
        (
            j.job_id,
            j.model,
            str(j.seed),
            j.variant or "-",
            j.config.dataset.name,
            j.config.recipe,
            str(j.config.epochs),
            str(j.config.batch_size),
            j.config.device,
        )
        for j in suite.jobs
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in (header, *rows)
    ]
    return f"suite {suite.name}: {len(rows)} jobs{note}\n" + "\n".join(lines)
